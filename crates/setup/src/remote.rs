//! The server as the engine's steps see it: something that runs shell commands as root and
//! takes files. [`Session`] is the real one (SSH); tests use [`fake::FakeServer`], which records
//! what a step asked for and answers from a script, so the order, idempotence and reports of
//! every step are checked without a server (the test bed's real server checks the rest).

use std::future::Future;

use crate::ssh::{self, Output, Session, Stream};

/// A place to run commands as root.
pub trait Remote: Send + Sync {
    /// Runs `command` in a POSIX shell as root, feeding `stdin`, calling `on_line` for each
    /// line printed as it is printed.
    fn run(
        &self,
        command: &str,
        stdin: &[u8],
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> impl Future<Output = Result<Output, ssh::Error>> + Send;

    /// Writes `bytes` to `path` with `mode`, atomically (a temporary file beside it, then a
    /// rename).
    fn upload(
        &self,
        bytes: &[u8],
        path: &str,
        mode: u32,
    ) -> impl Future<Output = Result<(), ssh::Error>> + Send;
}

impl Remote for Session {
    fn run(
        &self,
        command: &str,
        stdin: &[u8],
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> impl Future<Output = Result<Output, ssh::Error>> + Send {
        Session::run(self, command, stdin, on_line)
    }

    fn upload(
        &self,
        bytes: &[u8],
        path: &str,
        mode: u32,
    ) -> impl Future<Output = Result<(), ssh::Error>> + Send {
        Session::upload(self, bytes, path, mode)
    }
}

#[cfg(test)]
pub mod fake {
    //! A scripted server for unit tests.

    use std::sync::Mutex;

    use super::*;

    /// What the fake was asked to do, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Request {
        /// A command, with its standard input.
        Run { command: String, stdin: Vec<u8> },
        /// An upload.
        Upload { path: String, mode: u32, bytes: Vec<u8> },
    }

    /// Answers each command with the last rule added whose pattern it contains (so a test can
    /// override a general rule with a later, more specific one); anything else succeeds
    /// silently.
    #[derive(Debug, Default)]
    pub struct FakeServer {
        rules: Vec<(String, Output)>,
        requests: Mutex<Vec<Request>>,
    }

    impl FakeServer {
        /// A server on which every command succeeds and prints nothing.
        pub fn new() -> Self {
            FakeServer::default()
        }

        /// Commands containing `pattern` exit with `status` and print `stdout`.
        pub fn answer(mut self, pattern: &str, status: u32, stdout: &str) -> Self {
            let output =
                Output { status: Some(status), stdout: stdout.to_string(), stderr: String::new() };
            self.rules.push((pattern.to_string(), output));
            self
        }

        /// Commands containing `pattern` fail with `stderr`.
        pub fn fail(mut self, pattern: &str, stderr: &str) -> Self {
            let output = Output { status: Some(1), stdout: String::new(), stderr: stderr.into() };
            self.rules.push((pattern.to_string(), output));
            self
        }

        /// Everything asked so far.
        pub fn requests(&self) -> Vec<Request> {
            self.requests.lock().expect("requests").clone()
        }

        /// The commands run so far.
        pub fn commands(&self) -> Vec<String> {
            self.requests()
                .into_iter()
                .filter_map(|request| match request {
                    Request::Run { command, .. } => Some(command),
                    Request::Upload { .. } => None,
                })
                .collect()
        }

        /// The paths uploaded so far.
        pub fn uploads(&self) -> Vec<String> {
            self.requests()
                .into_iter()
                .filter_map(|request| match request {
                    Request::Upload { path, .. } => Some(path),
                    Request::Run { .. } => None,
                })
                .collect()
        }
    }

    impl Remote for FakeServer {
        async fn run(
            &self,
            command: &str,
            stdin: &[u8],
            on_line: &mut (dyn FnMut(Stream, &str) + Send),
        ) -> Result<Output, ssh::Error> {
            self.requests
                .lock()
                .expect("requests")
                .push(Request::Run { command: command.to_string(), stdin: stdin.to_vec() });
            let output = self
                .rules
                .iter()
                .rev()
                .find(|(pattern, _)| command.contains(pattern.as_str()))
                .map_or_else(
                    || Output { status: Some(0), stdout: String::new(), stderr: String::new() },
                    |(_, output)| output.clone(),
                );
            for line in output.stdout.lines() {
                on_line(Stream::Stdout, line);
            }
            Ok(output)
        }

        async fn upload(&self, bytes: &[u8], path: &str, mode: u32) -> Result<(), ssh::Error> {
            self.requests.lock().expect("requests").push(Request::Upload {
                path: path.to_string(),
                mode,
                bytes: bytes.to_vec(),
            });
            Ok(())
        }
    }
}
