//! The DATA phase (RFC 5321 §4.1.1.4): un-dot-stuffing, the `<CRLF>.<CRLF>` terminator, the
//! size limit, and the checks that defeat SMTP smuggling.
//!
//! Only `CR LF . CR LF` ends a message. A bare LF or a bare CR anywhere is refused outright
//! (conformance 29, 30): receivers disagree about what they mean, and that disagreement is what
//! SMTP smuggling exploits. A message over the size limit is read to its end and discarded, so
//! the session stays usable (31) and nothing in it is ever read as a command (32).

/// How a DATA phase ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The message, un-dot-stuffed, ending with CRLF (or empty).
    Message(Vec<u8>),
    /// More than the limit arrived; the bytes were discarded.
    TooBig,
    /// A bare CR or LF arrived: the connection must be closed.
    BadLineEnding,
}

/// A streaming reader of DATA bytes.
#[derive(Debug)]
pub struct Reader {
    limit: usize,
    message: Vec<u8>,
    too_big: bool,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (also right after `DATA`, so `.CRLF` alone is an empty message).
    LineStart,
    /// Inside a line.
    Text,
    /// Just after a CR inside a line.
    Cr,
    /// A `.` at the start of a line.
    Dot,
    /// `.` then CR at the start of a line.
    DotCr,
}

impl Reader {
    /// A reader keeping at most `limit` bytes of message.
    pub fn new(limit: usize) -> Self {
        Reader { limit, message: Vec::new(), too_big: false, state: State::LineStart }
    }

    /// Consumes bytes. Returns `Some((outcome, used))` once the message has ended (or must be
    /// refused), having used `used` bytes; `None` if it needs more.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<(Outcome, usize)> {
        for (index, &byte) in bytes.iter().enumerate() {
            let used = index + 1;
            match (self.state, byte) {
                (State::Cr, b'\n') => {
                    self.push(byte);
                    self.state = State::LineStart;
                }
                (State::Cr, _) | (State::DotCr, _) if byte != b'\n' => {
                    return Some((Outcome::BadLineEnding, used));
                }
                (State::DotCr, _) => {
                    // `.` CR LF at the start of a line: the end.
                    let outcome = if self.too_big {
                        Outcome::TooBig
                    } else {
                        Outcome::Message(std::mem::take(&mut self.message))
                    };
                    return Some((outcome, used));
                }
                (_, b'\n') => return Some((Outcome::BadLineEnding, used)),
                (State::LineStart, b'.') => self.state = State::Dot,
                (State::Dot, b'\r') => self.state = State::DotCr,
                (_, b'\r') => {
                    // A dot-stuffed line's leading dot is dropped (`..x` → `.x`).
                    self.push(byte);
                    self.state = State::Cr;
                }
                (_, _) => {
                    self.push(byte);
                    self.state = State::Text;
                }
            }
        }
        None
    }

    fn push(&mut self, byte: u8) {
        if self.message.len() >= self.limit {
            self.too_big = true;
            self.message = Vec::new();
        }
        if !self.too_big {
            self.message.push(byte);
        }
    }
}

/// Why a message's header section cannot be accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// A line in the header section is not `Name: value` or a continuation (RFC 5322 §2.2).
    Malformed(String),
    /// No `From:` header, or more than one (RFC 5322 §3.6).
    From,
    /// Too many `Received:` headers: a mail loop (RFC 5321 §6.3).
    Loop,
}

/// The most `Received:` headers a message may carry before it is taken for a loop.
pub const MAX_HOPS: usize = 50;

/// What the relay needs from a message's header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The `From:` address's domain, lower case.
    pub from_domain: String,
    /// The `Message-ID:` (as written, brackets included), if there is one.
    pub message_id: Option<String>,
}

/// Checks the header section and returns what the relay needs of it.
pub fn check_headers(message: &[u8]) -> Result<Headers, HeaderProblem> {
    let mut from: Vec<String> = Vec::new();
    let mut received = 0;
    let mut message_id = None;
    let mut current: Option<(String, String)> = None;
    let mut finish =
        |header: Option<(String, String)>, from: &mut Vec<String>, received: &mut usize| {
            if let Some((name, value)) = header {
                if name.eq_ignore_ascii_case("from") {
                    from.push(value);
                } else if name.eq_ignore_ascii_case("received") {
                    *received += 1;
                } else if name.eq_ignore_ascii_case("message-id") {
                    message_id.get_or_insert_with(|| value.trim().to_string());
                }
            }
        };
    for line in message.split(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            match current.as_mut() {
                Some((_, value)) => value.push_str(&text),
                None => return Err(HeaderProblem::Malformed(text.into_owned())),
            }
            continue;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(HeaderProblem::Malformed(text.into_owned()));
        };
        if name.is_empty() || !name.bytes().all(|byte| (33..=126).contains(&byte)) {
            return Err(HeaderProblem::Malformed(text.into_owned()));
        }
        finish(current.take(), &mut from, &mut received);
        current = Some((name.to_string(), value.to_string()));
    }
    finish(current.take(), &mut from, &mut received);
    if received > MAX_HOPS {
        return Err(HeaderProblem::Loop);
    }
    let [from] = from.as_slice() else { return Err(HeaderProblem::From) };
    // The address is inside <...> if there is a display name; take the last @ either way.
    let address = from
        .rsplit_once('<')
        .map_or(from.as_str(), |(_, rest)| rest.split('>').next().unwrap_or(rest));
    let domain = address
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().trim_end_matches(['>', ' ', ';']).to_lowercase());
    let from_domain = domain.filter(|domain| !domain.is_empty()).ok_or(HeaderProblem::From)?;
    Ok(Headers { from_domain, message_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the outcome and the bytes left over.
    fn read(input: &[u8], step: usize, limit: usize) -> (Option<Outcome>, Vec<u8>) {
        let mut reader = Reader::new(limit);
        let mut offset = 0;
        while offset < input.len() {
            let end = (offset + step).min(input.len());
            if let Some((outcome, used)) = reader.feed(&input[offset..end]) {
                return (Some(outcome), input[offset + used..].to_vec());
            }
            offset = end;
        }
        (None, Vec::new())
    }

    fn message(input: &[u8]) -> Vec<u8> {
        for step in [1, 3, 1000] {
            let (outcome, _) = read(input, step, 1 << 20);
            assert!(matches!(outcome, Some(Outcome::Message(_))), "step {step}: {outcome:?}");
        }
        match read(input, 1000, 1 << 20).0 {
            Some(Outcome::Message(bytes)) => bytes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dot_stuffing_is_undone() {
        // Conformance 28.
        assert_eq!(message(b"a\r\n..x\r\n..\r\n.\r\n"), b"a\r\n.x\r\n.\r\n");
    }

    #[test]
    fn an_empty_message_ends_at_once() {
        // The smtp-proto quirk (STACK.md §7): `.` right after DATA must end the message.
        assert_eq!(message(b".\r\n"), b"");
    }

    #[test]
    fn bytes_after_the_terminator_stay_for_the_next_command() {
        let (outcome, rest) = read(b"hi\r\n.\r\nQUIT\r\n", 1000, 100);
        assert_eq!(outcome, Some(Outcome::Message(b"hi\r\n".to_vec())));
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[test]
    fn bare_lf_and_cr_are_refused_and_never_end_the_message() {
        // Conformance 29 and 30: the smuggling shapes from the SMTP smuggling research.
        for input in [
            &b"a\n.\n"[..],
            b"xxx\n.\nMAIL FROM:<a@b.c>\r\n.\r\n",
            b"a\r\n.\n",
            b"abc\rdef\r\n.\r\n",
            b"a\r.\r\n",
            b"a\r\n.\r.\r\n",
        ] {
            let (outcome, _) = read(input, 1, 100);
            assert_eq!(outcome, Some(Outcome::BadLineEnding), "{input:?}");
        }
    }

    #[test]
    fn an_oversized_message_is_read_to_its_end_and_dropped() {
        // Conformance 31: the session continues after the real terminator.
        let big = [b"x".repeat(500), b"\r\n.\r\nNOOP\r\n".to_vec()].concat();
        let (outcome, rest) = read(&big, 7, 100);
        assert_eq!(outcome, Some(Outcome::TooBig));
        assert_eq!(rest, b"NOOP\r\n");
        // Conformance 32: a smuggled command inside an oversized message is never a command.
        let smuggled = [b"x".repeat(500), b"\n.\nHELP\r\n.\r\n".to_vec()].concat();
        assert_eq!(read(&smuggled, 7, 100).0, Some(Outcome::BadLineEnding));
    }

    #[test]
    fn headers_are_checked_and_the_from_domain_found() {
        let ok = b"From: Alice <alice@Example.COM>\r\nSubject: hi\r\n there\r\nMessage-ID:\r\n <1@example.com>\r\n\r\nbody\r\n";
        assert_eq!(
            check_headers(ok),
            Ok(Headers {
                from_domain: "example.com".into(),
                message_id: Some("<1@example.com>".into())
            })
        );
        assert_eq!(
            check_headers(b"From: bob@example.org\r\n\r\n").map(|h| h.from_domain),
            Ok("example.org".into())
        );
        // Conformance 33.
        assert!(matches!(
            check_headers(b"From: a@example.com\r\nthis is not a header\r\n\r\n"),
            Err(HeaderProblem::Malformed(_))
        ));
        assert!(matches!(
            check_headers(b" leading continuation\r\n\r\n"),
            Err(HeaderProblem::Malformed(_))
        ));
        assert_eq!(check_headers(b"Subject: no from\r\n\r\n"), Err(HeaderProblem::From));
        assert_eq!(
            check_headers(b"From: a@x.com\r\nFrom: b@y.com\r\n\r\n"),
            Err(HeaderProblem::From)
        );
        let looped =
            format!("{}From: a@example.com\r\n\r\n", "Received: x\r\n".repeat(MAX_HOPS + 1));
        assert_eq!(check_headers(looped.as_bytes()), Err(HeaderProblem::Loop));
    }
}
