//! One client connection: a TCP stream that may become TLS, with the buffered reading SMTP
//! needs (command lines with a length limit, and the bytes of DATA).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How much room each read asks for.
const READ_SIZE: usize = 4096;

/// The stream under a session: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum Stream {
    /// Before STARTTLS.
    Plain(TcpStream),
    /// After STARTTLS, or from the start on port 465.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(context, bytes),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, bytes),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(context),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}

/// What went wrong while reading.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection.
    Closed,
    /// Nothing arrived in time.
    Timeout,
    /// A command line was longer than allowed.
    TooLong,
    /// The socket failed.
    Io(io::Error),
}

/// TLS parameters of an encrypted connection, for the Received header and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// E.g. `TLSv1.3`.
    pub version: String,
    /// E.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
}

/// A connection with its read buffer.
#[derive(Debug)]
pub struct Connection {
    stream: Option<Stream>,
    buffer: Vec<u8>,
    /// Where unread bytes start in `buffer`.
    start: usize,
    timeout: Duration,
}

impl Connection {
    /// Wraps a stream; every read waits at most `timeout`.
    pub fn new(stream: Stream, timeout: Duration) -> Self {
        Connection { stream: Some(stream), buffer: Vec::new(), start: 0, timeout }
    }

    fn stream(&mut self) -> &mut Stream {
        self.stream.as_mut().expect("the stream is only absent during a TLS handshake")
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    /// The negotiated TLS version and cipher, if encrypted.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let Some(Stream::Tls(stream)) = &self.stream else { return None };
        let (_, session) = stream.get_ref();
        Some(TlsInfo {
            version: session.protocol_version().map_or("TLS".into(), tls_version_name),
            cipher: session
                .negotiated_cipher_suite()
                .map_or("unknown".into(), |suite| format!("{:?}", suite.suite())),
        })
    }

    /// Bytes received but not yet read (a client that pipelined ahead).
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Drops buffered bytes (used after STARTTLS: bytes sent before the handshake must never be
    /// read as if they came inside TLS — CVE-2011-0411).
    pub fn discard_buffered(&mut self) -> usize {
        let dropped = self.buffered();
        self.buffer.clear();
        self.start = 0;
        dropped
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self) -> Result<(), ReadError> {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        // Read straight into the buffer's spare room: a stack array here would live inside
        // every idle session's future (16 KiB each at 1,000 sessions adds up).
        self.buffer.reserve(READ_SIZE);
        let timeout = self.timeout;
        let stream =
            self.stream.as_mut().expect("the stream is only absent during a TLS handshake");
        let read = tokio::time::timeout(timeout, stream.read_buf(&mut self.buffer))
            .await
            .map_err(|_| ReadError::Timeout)?
            .map_err(ReadError::Io)?;
        if read == 0 {
            return Err(ReadError::Closed);
        }
        Ok(())
    }

    /// Reads one line ending in LF, returned without its line ending (CRLF or LF). A line of
    /// more than `limit` bytes before its ending is an error.
    pub async fn read_line(&mut self, limit: usize) -> Result<String, ReadError> {
        loop {
            let unread = &self.buffer[self.start..];
            if let Some(position) = unread.iter().position(|&byte| byte == b'\n') {
                let mut line = &unread[..position];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                if line.len() > limit {
                    return Err(ReadError::TooLong);
                }
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += position + 1;
                return Ok(text);
            }
            if unread.len() > limit + 2 {
                return Err(ReadError::TooLong);
            }
            self.fill().await?;
        }
    }

    /// Feeds received bytes to `consume` until it reports it is done (returns `Some(n)`, having
    /// used `n` bytes of the slice it was given); bytes after that stay buffered.
    pub async fn read_until(
        &mut self,
        mut consume: impl FnMut(&[u8]) -> Option<usize>,
    ) -> Result<(), ReadError> {
        loop {
            let unread = &self.buffer[self.start..];
            if !unread.is_empty() {
                match consume(unread) {
                    Some(used) => {
                        self.start += used;
                        return Ok(());
                    }
                    None => self.start = self.buffer.len(),
                }
            }
            self.fill().await?;
        }
    }

    /// Writes bytes and flushes them.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.stream();
        stream.write_all(bytes).await?;
        stream.flush().await
    }

    /// Upgrades to TLS (after the 220 reply to STARTTLS).
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor, timeout: Duration) -> io::Result<()> {
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(io::Error::other("the connection is already encrypted"));
        };
        let tls = tokio::time::timeout(timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.stream = Some(Stream::Tls(Box::new(tls)));
        Ok(())
    }

    /// Closes the connection politely (TLS close_notify, TCP FIN).
    pub async fn shutdown(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
        }
    }
}

/// The usual name of a TLS version, as in `Received` headers and logs.
pub fn tls_version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}
