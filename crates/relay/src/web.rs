//! The relay's two small web listeners, and nothing else on them:
//! - port 80: ACME HTTP-01 answers; every other request is redirected to HTTPS;
//! - port 443: ACME TLS-ALPN-01 (answered in the handshake, see [`crate::tls`]), the MTA-STS
//!   policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3) and
//!   Thunderbird-style autoconfig at `https://autoconfig.<domain>/mail/config-v1.1.xml` (also
//!   under `/.well-known/autoconfig/`), so a mail program sets itself up from the address.
//!
//! One request per connection (`Connection: close`), GET and HEAD only, the request head within
//! 8 KiB and 10 s; the connection limits are the SMTP listeners'.

use std::sync::Arc;
use std::time::Duration;

use outpost_relay_api::ListenerMode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::acme::Acme;

/// The longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the web listeners serve.
#[derive(Debug)]
pub struct Site {
    /// The mail host.
    pub hostname: String,
    /// The domains served.
    pub domains: Vec<String>,
    /// The MTA-STS policy text (the same for every domain: the mx is the mail host).
    pub mta_sts_policy: String,
    /// The submission ports configured (465 implicit TLS, 587 STARTTLS), for autoconfig.
    pub submissions_port: Option<u16>,
    /// See `submissions_port`.
    pub submission_port: Option<u16>,
    /// The ACME manager, for HTTP-01 answers.
    pub acme: Option<Acme>,
}

/// A parsed request head: only what the site looks at.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    head_only: bool,
    path: String,
    query: String,
    host: String,
}

/// What the site answers.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: u16,
    content_type: &'static str,
    location: Option<String>,
    body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            location: None,
            body: body.into(),
        }
    }
}

/// Serves one connection on `mode` (HTTP or HTTPS).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    site: Arc<Site>,
    mode: ListenerMode,
) {
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => match parse(&head) {
            Ok(request) => {
                let mut response = match mode {
                    ListenerMode::Http => site.http(&request),
                    _ => site.https(&request),
                };
                if request.head_only {
                    response.body.clear();
                }
                response
            }
            Err(status) => Response::text(status, "bad request\n"),
        },
        Ok(Err(status)) => Response::text(status, "bad request\n"),
        Err(_) => Response::text(408, "request timeout\n"),
    };
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, write(&mut stream, &response)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.shutdown()).await;
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, u16> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await.map_err(|_| 400u16)?;
        if read == 0 {
            return Err(400);
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(431);
        }
    }
}

fn parse(head: &[u8]) -> Result<Request, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (method, target, version) = (request_line.next(), request_line.next(), request_line.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return Err(400);
    };
    if request_line.next().is_some() || !version.starts_with("HTTP/1.") {
        return Err(400);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(405),
    };
    let mut host = String::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("host")
        {
            // Without the port, lower case.
            let value = value.trim();
            let value = value
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(value, |(name, _)| name);
            host = value.trim_end_matches('.').to_ascii_lowercase();
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err(400);
    }
    Ok(Request { head_only, path: path.to_string(), query: query.to_string(), host })
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, response: &Response) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    if response.status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(response.body.as_bytes()).await?;
    stream.flush().await
}

impl Site {
    /// The names this site answers for: the mail host and each domain's `mta-sts.` and
    /// `autoconfig.` names.
    fn serves(&self, host: &str) -> bool {
        host == self.hostname
            || self.domains.iter().any(|domain| {
                host.strip_suffix(domain.as_str())
                    .is_some_and(|prefix| prefix == "mta-sts." || prefix == "autoconfig.")
            })
    }

    fn http(&self, request: &Request) -> Response {
        if let Some(token) = request.path.strip_prefix("/.well-known/acme-challenge/") {
            return match self.acme.as_ref().and_then(|acme| acme.http_answer(token)) {
                Some(answer) => Response {
                    status: 200,
                    content_type: "application/octet-stream",
                    location: None,
                    body: answer,
                },
                None => Response::text(404, "no such challenge\n"),
            };
        }
        // Everything else is HTTPS's; a name that is not ours goes to the mail host.
        let host = if self.serves(&request.host) { &request.host } else { &self.hostname };
        let mut location = format!("https://{host}{}", request.path);
        if !request.query.is_empty() {
            location.push('?');
            location.push_str(&request.query);
        }
        Response {
            status: 301,
            location: Some(location),
            ..Response::text(301, "moved to HTTPS\n")
        }
    }

    fn https(&self, request: &Request) -> Response {
        if request.path == "/.well-known/mta-sts.txt"
            && let Some(domain) = request.host.strip_prefix("mta-sts.")
            && self.domains.iter().any(|served| served == domain)
        {
            return Response::text(200, self.mta_sts_policy.clone());
        }
        if request.path == "/mail/config-v1.1.xml"
            || request.path == "/.well-known/autoconfig/mail/config-v1.1.xml"
        {
            // The domain from the name asked for, or from the address Thunderbird sends.
            let from_host = request.host.strip_prefix("autoconfig.").map(str::to_string);
            let from_address = query_value(&request.query, "emailaddress")
                .and_then(|address| address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()));
            let domain = from_host
                .filter(|domain| self.domains.contains(domain))
                .or(from_address.filter(|domain| self.domains.contains(domain)));
            if let Some(domain) = domain {
                return Response {
                    status: 200,
                    content_type: "application/xml; charset=utf-8",
                    location: None,
                    body: self.autoconfig(&domain),
                };
            }
        }
        Response::text(404, "not found\n")
    }

    /// Thunderbird's autoconfig format (its wiki's "Autoconfiguration" page): the outgoing
    /// servers this relay offers. Mail arrives in the user's own mailbox, so no incoming server.
    fn autoconfig(&self, domain: &str) -> String {
        let server = |port: u16, socket: &str| {
            format!(
                "    <outgoingServer type=\"smtp\">\n      <hostname>{}</hostname>\n      <port>{port}</port>\n      <socketType>{socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILADDRESS%</username>\n    </outgoingServer>\n",
                xml_escape(&self.hostname)
            )
        };
        let mut servers = String::new();
        if let Some(port) = self.submissions_port {
            servers.push_str(&server(port, "SSL"));
        }
        if let Some(port) = self.submission_port {
            servers.push_str(&server(port, "STARTTLS"));
        }
        let domain = xml_escape(domain);
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  <emailProvider id=\"{domain}\">\n    <domain>{domain}</domain>\n    <displayName>{domain}</displayName>\n    <displayShortName>{domain}</displayShortName>\n{servers}  </emailProvider>\n</clientConfig>\n"
        )
    }
}

/// A query parameter's value, percent-decoded (`%40` is how `@` arrives).
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                match u8::from_str_radix(text.get(index + 1..index + 3).unwrap_or(""), 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            hostname: "mail.example.com".into(),
            domains: vec!["example.com".into()],
            mta_sts_policy: outpost_relay_api::mta_sts_policy(
                "testing",
                &["mail.example.com"],
                604_800,
            ),
            submissions_port: Some(465),
            submission_port: Some(587),
            acme: None,
        }
    }

    fn get(host: &str, target: &str) -> Request {
        parse(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t").as_bytes()).unwrap()
    }

    #[test]
    fn requests_are_parsed_strictly() {
        let request = get("MTA-STS.Example.com.:443", "/.well-known/mta-sts.txt?x=1");
        assert_eq!(request.host, "mta-sts.example.com");
        assert_eq!(request.path, "/.well-known/mta-sts.txt");
        assert_eq!(request.query, "x=1");
        assert_eq!(parse(b"POST / HTTP/1.1\r\nHost: a"), Err(405));
        assert_eq!(parse(b"GET / HTTP/2\r\nHost: a"), Err(400));
        assert_eq!(parse(b"GET http://a/ HTTP/1.1"), Err(400));
        assert_eq!(parse(b"GET / HTTP/1.1 extra"), Err(400));
        assert_eq!(parse(&[0xff, 0xfe]), Err(400));
    }

    #[test]
    fn the_policy_is_served_only_on_each_domains_mta_sts_name() {
        let site = site();
        let response = site.https(&get("mta-sts.example.com", "/.well-known/mta-sts.txt"));
        assert_eq!(response.status, 200);
        assert_eq!(
            response.body,
            "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"
        );
        assert_eq!(site.https(&get("mta-sts.other.com", "/.well-known/mta-sts.txt")).status, 404);
        assert_eq!(site.https(&get("mail.example.com", "/.well-known/mta-sts.txt")).status, 404);
        assert_eq!(site.https(&get("mail.example.com", "/")).status, 404, "nothing else");
    }

    #[test]
    fn autoconfig_names_the_submission_ports() {
        let site = site();
        for (host, target) in [
            ("autoconfig.example.com", "/mail/config-v1.1.xml"),
            ("autoconfig.example.com", "/.well-known/autoconfig/mail/config-v1.1.xml"),
            ("mail.example.com", "/mail/config-v1.1.xml?emailaddress=me%40example.com"),
        ] {
            let response = site.https(&get(host, target));
            assert_eq!(response.status, 200, "{host}{target}");
            assert!(response.body.contains("<hostname>mail.example.com</hostname>"));
            assert!(response.body.contains("<port>465</port>\n      <socketType>SSL"));
            assert!(response.body.contains("<port>587</port>\n      <socketType>STARTTLS"));
            assert!(response.body.contains("<domain>example.com</domain>"));
        }
        assert_eq!(site.https(&get("autoconfig.other.com", "/mail/config-v1.1.xml")).status, 404);
    }

    #[test]
    fn plain_http_redirects_to_https_on_our_names_only() {
        let site = site();
        let response = site.http(&get("autoconfig.example.com", "/mail/config-v1.1.xml?a=b"));
        assert_eq!(response.status, 301);
        assert_eq!(
            response.location.as_deref(),
            Some("https://autoconfig.example.com/mail/config-v1.1.xml?a=b")
        );
        let elsewhere = site.http(&get("evil.test", "/x"));
        assert_eq!(elsewhere.location.as_deref(), Some("https://mail.example.com/x"));
        assert_eq!(
            site.http(&get("mail.example.com", "/.well-known/acme-challenge/t")).status,
            404
        );
    }

    #[tokio::test]
    async fn a_connection_gets_one_answer_and_is_closed() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(serve(server, Arc::new(site()), ListenerMode::Https));
        client
            .write_all(
                b"HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        task.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Connection: close\r\n"));
        assert!(answer.ends_with("\r\n\r\n"), "HEAD has no body: {answer}");
        // A head that never ends is cut off at 8 KiB.
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(serve(server, Arc::new(site()), ListenerMode::Http));
        client.write_all(&[b'a'; 9000]).await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        task.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    }
}
