//! Couriers take a message to the servers of one recipient domain and say, per recipient,
//! whether it was delivered, failed for now, or failed for good. The queue decides what happens
//! next; a courier never touches the queue.

pub mod destinations;
pub mod mta_sts;
pub mod smtp;

use std::future::Future;
use std::pin::Pin;

/// How an attempt ended and what it saw: admin-protocol types, kept in the spool as they are.
pub use outpost_relay_api::{DeliveryProblem, DeliveryRecord, Outcome};

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
