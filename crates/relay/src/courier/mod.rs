//! Couriers take a message to the servers of one recipient domain and say, per recipient,
//! whether it was delivered, failed for now, or failed for good. The queue decides what happens
//! next; a courier never touches the queue.

pub mod mta_sts;
pub mod smtp;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// How one delivery attempt for one recipient ended (RFC 5321 §4.2.1 reply classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The recipient's server took it (2xx).
    Delivered,
    /// Try again later (4xx, timeouts, unreachable servers, DNS trouble).
    Temporary,
    /// Never going to work (5xx, a domain that does not exist or accepts no mail).
    Permanent,
}

/// What happened in one attempt, kept and shown by `queue show` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// When (seconds since the epoch).
    pub at: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// The server's host name (an MX name), if one was reached.
    pub host: Option<String>,
    /// Its IP address.
    pub ip: Option<String>,
    /// TLS version, if the connection was encrypted.
    pub tls_version: Option<String>,
    /// TLS cipher suite.
    pub tls_cipher: Option<String>,
    /// The server's reply (or what went wrong before one).
    pub reply: String,
}

/// A future returned by a courier.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Vec<DeliveryRecord>> + Send + 'a>>;

/// Delivers a message to the recipients of one domain.
pub trait Courier: Send + Sync + std::fmt::Debug {
    /// Delivers `message` from `from` (empty for the null sender) to `recipients`, all at
    /// `domain`; returns one record per recipient, in order.
    fn deliver<'a>(
        &'a self,
        from: &'a str,
        domain: &'a str,
        recipients: &'a [String],
        message: &'a [u8],
    ) -> Delivery<'a>;
}
