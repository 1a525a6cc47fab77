//! The running relay's control socket: how `queue retry|delete` and `cert renew --now` reach it, with
//! no file to poll and nothing in the spool for root to trip over.
//!
//! A Unix socket at `/var/lib/outpost/control.sock` (next to the status file), mode 0600 and
//! owned by the service user, so only that user and root can use it. One
//! [`ControlRequest`] JSON line in, one [`Response`]`<`[`ControlReply`]`>` line out.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use outpost_relay_api::{AdminError, ControlReply, ControlRequest, ErrorKind, Response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use crate::acme::Acme;
use crate::queue::Queue;

/// The socket's file name, in the directory of the status file.
pub const SOCKET: &str = "control.sock";

/// The longest request line.
const MAX_LINE: u64 = 4096;

/// What the socket can act on.
#[derive(Debug, Clone)]
pub struct Handles {
    /// The queue.
    pub queue: Arc<Queue>,
    /// The ACME manager, when the config has `[tls.acme]`.
    pub acme: Option<Acme>,
}

/// Listens on `path` until `shutdown`; a stale socket from an earlier run is replaced.
pub fn listen(path: &Path, handles: Handles, shutdown: CancellationToken) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_dir() => {
            return Err(std::io::Error::other(format!("{} is a directory", path.display())));
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    let listener = UnixListener::bind(path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let path = path.to_path_buf();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            let handles = handles.clone();
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), answer(stream, &handles)).await;
            });
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn answer(stream: tokio::net::UnixStream, handles: &Handles) {
    use tokio::io::AsyncReadExt;
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if tokio::io::BufReader::new(read.take(MAX_LINE)).read_line(&mut line).await.is_err() {
        return;
    }
    let response = match serde_json::from_str::<ControlRequest>(line.trim_end()) {
        Ok(request) => act(request, handles),
        Err(error) => Response::error(AdminError {
            kind: ErrorKind::InvalidArgument,
            message: format!("not a control request: {error}"),
        }),
    };
    if let Ok(mut reply) = serde_json::to_vec(&response) {
        reply.push(b'\n');
        let _ = write.write_all(&reply).await;
    }
}

fn act(request: ControlRequest, handles: &Handles) -> Response<ControlReply> {
    match request {
        ControlRequest::QueueRetry { id } => {
            if handles.queue.retry_now(&id) {
                Response::ok(ControlReply::Retrying)
            } else {
                Response::error(AdminError {
                    kind: ErrorKind::NotFound,
                    message: format!("no queued message {id} (it may have been delivered)"),
                })
            }
        }
        ControlRequest::QueueDelete { id } => {
            if handles.queue.delete(&id) {
                Response::ok(ControlReply::Deleted)
            } else {
                Response::error(AdminError {
                    kind: ErrorKind::NotFound,
                    message: format!("no queued message {id} (it may have been delivered)"),
                })
            }
        }
        ControlRequest::TraceWatch { message_id } => {
            match handles.queue.traces().watch(&message_id) {
                Ok(watch) => Response::ok(ControlReply::Watching(watch)),
                Err(error) => Response::error(AdminError {
                    kind: ErrorKind::InvalidArgument,
                    message: error.to_string(),
                }),
            }
        }
        ControlRequest::TraceShow { message_id } => match handles.queue.trace(&message_id) {
            Some(trace) => Response::ok(ControlReply::Traced(Box::new(trace))),
            None => Response::error(AdminError {
                kind: ErrorKind::NotFound,
                message: format!(
                    "no trace of {message_id}: not submitted yet, not announced with `trace watch`, or older than an hour"
                ),
            }),
        },
        ControlRequest::CertRenew => match &handles.acme {
            Some(acme) => {
                acme.renew_now();
                Response::ok(ControlReply::Renewing)
            }
            None => Response::error(AdminError {
                kind: ErrorKind::NotConfigured,
                message: "the relay does not get its certificate over ACME ([tls.acme] is not in the config)".into(),
            }),
        },
    }
}

/// Sends `request` to the relay listening at `path` and returns its reply (admin commands).
pub fn ask(path: &Path, request: &ControlRequest) -> Result<ControlReply, AdminError> {
    let not_running = |error: std::io::Error| AdminError {
        kind: ErrorKind::NotRunning,
        message: format!(
            "cannot reach the running relay at {} (is it running?): {error}",
            path.display()
        ),
    };
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(not_running)?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(not_running)?;
    let mut line = serde_json::to_vec(request)
        .map_err(|error| AdminError { kind: ErrorKind::Other, message: error.to_string() })?;
    line.push(b'\n');
    stream.write_all(&line).map_err(not_running)?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).map_err(not_running)?;
    let response: Response<ControlReply> =
        serde_json::from_str(reply.trim_end()).map_err(|error| AdminError {
            kind: ErrorKind::Other,
            message: format!("the relay's reply is unreadable: {error}"),
        })?;
    match response.reply {
        outpost_relay_api::Reply::Ok(reply) => Ok(reply),
        outpost_relay_api::Reply::Error(error) => Err(error),
    }
}

/// The socket of a relay whose status file lives in `state_root`.
pub fn socket_path(state_root: &Path) -> PathBuf {
    state_root.join(SOCKET)
}
