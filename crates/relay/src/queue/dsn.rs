//! Delivery status notifications (RFC 3464, in a multipart/report of RFC 6522): a readable
//! explanation, the machine-readable status per recipient concerned, and the original message
//! (a bounce) or its headers (a "delayed" notice).

use std::time::SystemTime;

use super::{Item, Postmaster, Recipient, Status};
use crate::clock::rfc5322;

/// The largest original attached in full; bigger ones are cut to their headers.
const MAX_ATTACHED: usize = 256 * 1024;

/// What a notification reports.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// The recipients failed for good, or were given up on (`Action: failed`).
    Failed,
    /// The recipients are still being retried, until `until` (`Action: delayed`).
    Delayed {
        /// When the relay gives up.
        until: SystemTime,
    },
}

/// Renders the notification of `kind` for `failed` recipients of `item`.
pub fn render(
    postmaster: &Postmaster,
    item: &Item,
    failed: &[&Recipient],
    kind: Kind,
    original: &[u8],
    bounce_id: &str,
    now: SystemTime,
) -> Vec<u8> {
    let boundary = format!("outpost-dsn-{bounce_id}");
    let mut explanation = String::from(match kind {
        Kind::Failed => {
            "This is the mail system at the Outpost relay.\r\n\r\nYour message could not be delivered to:\r\n\r\n"
        }
        Kind::Delayed { .. } => {
            "This is the mail system at the Outpost relay.\r\n\r\nYour message has not been delivered yet to the recipients below. This is only a\r\nwarning: you need not send it again. Outpost keeps trying and will tell you if it gives up.\r\n\r\n"
        }
    });
    let mut fields = format!(
        "Reporting-MTA: dns; {}\r\nX-Outpost-Queue-ID: {}\r\nArrival-Date: {}\r\n",
        postmaster.hostname,
        item.id,
        rfc5322(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(item.created))
    );
    for recipient in failed {
        let last = recipient.records.last();
        let reply = last.map_or("no reply", |record| record.reply.as_str());
        let (why, status, action) = match (kind, recipient.status) {
            (Kind::Delayed { .. }, _) => ("not delivered yet", "4.0.0", "delayed"),
            (Kind::Failed, Status::GaveUp) => {
                ("kept failing until Outpost gave up trying", "4.4.7", "failed")
            }
            (Kind::Failed, _) => ("was refused", "5.0.0", "failed"),
        };
        explanation.push_str(&format!(
            "  {}: {why}.\r\n    The last answer was: {reply}\r\n",
            recipient.address
        ));
        fields.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {action}\r\nStatus: {}\r\n",
            recipient.address,
            enhanced_status(reply).unwrap_or(status)
        ));
        if let Kind::Delayed { until } = kind {
            fields.push_str(&format!("Will-Retry-Until: {}\r\n", rfc5322(until)));
        }
        if let Some(host) = last.and_then(|record| record.host.as_deref()) {
            fields.push_str(&format!(
                "Remote-MTA: dns; {host}\r\nDiagnostic-Code: smtp; {reply}\r\n"
            ));
        }
    }
    let whole = matches!(kind, Kind::Failed) && original.len() <= MAX_ATTACHED;
    let (attachment_type, attachment) = if whole {
        ("message/rfc822", original)
    } else {
        let headers_end = original
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map_or(original.len().min(MAX_ATTACHED), |end| end + 4);
        ("text/rfc822-headers", &original[..headers_end])
    };
    let subject = match kind {
        Kind::Delayed { .. } => "Delayed mail: Outpost is still trying to deliver it",
        Kind::Failed if failed.iter().all(|recipient| recipient.status == Status::GaveUp) => {
            "Undelivered mail: delivery kept failing"
        }
        Kind::Failed => "Undelivered mail returned to sender",
    };
    let mut message = format!(
        "From: Mail Delivery System <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{bounce_id}@{host}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{explanation}\r\n\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{fields}\r\n\
         --{boundary}\r\nContent-Type: {attachment_type}\r\n\r\n",
        from = postmaster.address,
        to = item.from,
        date = rfc5322(now),
        host = postmaster.hostname,
    )
    .into_bytes();
    message.extend_from_slice(attachment);
    if !attachment.ends_with(b"\r\n") {
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    message
}

/// The enhanced status code (`5.1.1`) at the start of a reply's text, if any.
fn enhanced_status(reply: &str) -> Option<&str> {
    let code = reply.split_whitespace().nth(1)?;
    let parts: Vec<&str> = code.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit())))
    .then_some(code)
}
