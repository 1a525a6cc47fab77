//! The durable queue: every accepted message stays here until each recipient has it, has
//! failed for good, or the queue has given up — and in the last two cases the sender gets a
//! delivery status notification (RFC 3464), unless the sender is the null sender.
//!
//! Retries back off exponentially with jitter from `first_retry` up to `max_retry_interval`,
//! and stop after `give_up_after` (conformance 37, 38). Time comes from a [`Clock`], so tests run
//! the whole schedule at once.

mod dsn;
pub mod spool;
pub mod trace;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, unix_seconds};
use crate::courier::{Courier, DeliveryProblem, DeliveryRecord, Outcome};
use crate::envelope::domain_of;
pub use spool::Spool;
pub use trace::Traces;

/// A queued message's envelope and state (`<id>.json`), one recipient of it, and where that
/// recipient stands: the admin protocol's types, so `queue list|show` print what the spool holds.
pub use outpost_relay_api::{
    QueueItem as Item, QueueRecipient as Recipient, RecipientStatus as Status, Route,
};

/// A recipient as queued: where to deliver, the address the sender used if it differs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The address to deliver to.
    pub address: String,
    /// The address the sender used, when it differs (an alias).
    pub original: Option<String>,
    /// Why the relay carries the message there.
    pub route: Route,
}

impl Destination {
    /// A recipient a user submitted mail for.
    pub fn submitted(address: impl Into<String>) -> Self {
        Destination { address: address.into(), original: None, route: Route::Submitted }
    }
}

/// Why a message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The queue holds `max_messages` already (the client should retry later: 452).
    #[error("the queue is full")]
    Full,
    /// The disk refused (full, read-only...): the client should retry later (451).
    #[error("cannot write to the queue: {0}")]
    Io(#[from] std::io::Error),
}

/// Retry settings, from the config's `[queue]`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The wait before the second attempt.
    pub first_retry: Duration,
    /// The longest wait.
    pub max_retry_interval: Duration,
    /// When to give up, counted from acceptance.
    pub give_up_after: Duration,
    /// The most messages held.
    pub max_messages: usize,
    /// When a sender is told, once, that a message is delayed.
    pub delay_notice_after: Duration,
}

impl Schedule {
    /// The wait after attempt number `attempts` (1-based), before jitter.
    pub fn delay(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        self.first_retry.saturating_mul(factor).min(self.max_retry_interval)
    }
}

/// Who the bounces come from, and who signs them.
#[derive(Debug, Clone)]
pub struct Postmaster {
    /// The relay's host name (`Reporting-MTA`).
    pub hostname: String,
    /// The `From:` of bounces, at a local domain so they can be DKIM-signed.
    pub address: String,
}

/// Signs outgoing bounces (the DKIM signer, behind a closure so the queue does not know it).
pub type BounceSigner = Arc<dyn Fn(&[u8]) -> Option<String> + Send + Sync>;

/// Where the bounce for an envelope sender goes: the sender itself, or for a forwarded message
/// (an SRS address of ours) the original sender; `None` sends none (a forged SRS address).
pub type ReturnPath = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How the queue makes bounces.
#[derive(Clone)]
pub struct Bounces {
    /// Signs them.
    pub sign: BounceSigner,
    /// Addresses them.
    pub return_path: ReturnPath,
}

impl std::fmt::Debug for Bounces {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Bounces").finish_non_exhaustive()
    }
}

impl Bounces {
    /// Bounces signed by `sign`, to the envelope sender as it is (a relay that does not forward).
    pub fn to_sender(sign: BounceSigner) -> Bounces {
        Bounces { sign, return_path: Arc::new(|sender: &str| Some(sender.to_string())) }
    }
}

/// The queue.
pub struct Queue {
    spool: Spool,
    courier: Arc<dyn Courier>,
    clock: Arc<dyn Clock>,
    schedule: Schedule,
    postmaster: Postmaster,
    bounces: Bounces,
    /// Items being worked on, by id, with a way to wake their task early (`queue retry`) or
    /// end it (`queue delete`).
    active: Mutex<HashMap<String, Arc<Handle>>>,
    /// Delivery records of finished items, newest last, for `status`.
    recent: Mutex<Vec<(String, String, DeliveryRecord)>>,
    /// Recipients delivered and bounced, per hour, for `status`'s last 24 hours.
    tally: Mutex<Tally>,
    /// When the queue was made (the relay's start).
    started: u64,
    /// Test messages the app follows.
    traces: Traces,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Queue")
            .field("spool", &self.spool)
            .field("courier", &self.courier)
            .finish()
    }
}

/// How many finished deliveries `status` remembers.
const RECENT: usize = 100;

/// What the queue can do to an item's task from outside.
#[derive(Debug, Default)]
struct Handle {
    /// Try now.
    wake: Notify,
    /// Remove the item, undelivered.
    delete: CancellationToken,
}

/// Recipients settled per hour over the last day: 24 buckets, each for one hour since the epoch.
#[derive(Debug, Default)]
struct Tally {
    /// (hour, delivered, bounced), at most 24, oldest first.
    hours: std::collections::VecDeque<(u64, u64, u64)>,
}

impl Tally {
    fn add(&mut self, now: u64, outcome: Outcome) {
        let hour = now / 3600;
        if self.hours.back().is_none_or(|&(last, _, _)| last != hour) {
            self.hours.push_back((hour, 0, 0));
        }
        let bucket = self.hours.back_mut().expect("just pushed");
        match outcome {
            Outcome::Delivered => bucket.1 += 1,
            Outcome::Permanent | Outcome::Temporary => bucket.2 += 1,
        }
        self.forget_before(now);
    }

    fn forget_before(&mut self, now: u64) {
        let first = (now / 3600).saturating_sub(23);
        while self.hours.front().is_some_and(|&(hour, _, _)| hour < first) {
            self.hours.pop_front();
        }
    }

    /// The counts of the last 24 hours (whole hours: the current one and the 23 before it).
    fn last_day(&mut self, now: u64, started: u64) -> outpost_relay_api::DeliveryCounts {
        self.forget_before(now);
        let since = ((now / 3600).saturating_sub(23) * 3600).max(started);
        let (delivered, bounced) = self
            .hours
            .iter()
            .fold((0, 0), |(delivered, bounced), &(_, d, b)| (delivered + d, bounced + b));
        outpost_relay_api::DeliveryCounts { since, delivered, bounced }
    }
}

impl Queue {
    /// A queue over `spool`; call [`Queue::resume`] to pick up what an earlier run left.
    pub fn new(
        spool: Spool,
        courier: Arc<dyn Courier>,
        clock: Arc<dyn Clock>,
        schedule: Schedule,
        postmaster: Postmaster,
        bounces: Bounces,
        shutdown: CancellationToken,
    ) -> Arc<Queue> {
        Arc::new(Queue {
            traces: Traces::new(spool.dir(), clock.clone()),
            started: unix_seconds(clock.now()),
            tally: Mutex::new(Tally::default()),
            spool,
            courier,
            clock,
            schedule,
            postmaster,
            bounces,
            active: Mutex::new(HashMap::new()),
            recent: Mutex::new(Vec::new()),
            tasks: TaskTracker::new(),
            shutdown,
        })
    }

    /// Starts delivering every item found in the spool (after a restart, conformance 36).
    pub fn resume(self: &Arc<Self>) -> std::io::Result<usize> {
        let items = self.spool.load()?;
        let count = items.len();
        for item in items {
            self.start(item);
        }
        Ok(count)
    }

    /// Queues a message durably; when this returns `Ok`, the caller may say `250`.
    pub fn put(
        self: &Arc<Self>,
        id: String,
        from: &str,
        recipients: &[Destination],
        user: Option<String>,
        message: &[u8],
    ) -> Result<String, PutError> {
        if self.active.lock().expect("queue lock").len() >= self.schedule.max_messages {
            return Err(PutError::Full);
        }
        let now = unix_seconds(self.clock.now());
        let item = Item {
            id: id.clone(),
            from: from.to_string(),
            user,
            created: now,
            attempts: 0,
            next_attempt: now,
            recipients: recipients
                .iter()
                .map(|destination| Recipient {
                    address: destination.address.clone(),
                    original: destination.original.clone(),
                    route: destination.route,
                    status: Status::Pending,
                    records: Vec::new(),
                    bounced: false,
                })
                .collect(),
            delay_notified: false,
        };
        self.spool.create(&item, message)?;
        self.start(item);
        Ok(id)
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.active.lock().expect("queue lock").len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes an item for an attempt now; false if there is no such item.
    pub fn retry_now(&self, id: &str) -> bool {
        match self.active.lock().expect("queue lock").get(id) {
            Some(handle) => {
                handle.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// Removes an item without delivering it, and tells nobody (an attempt under way is
    /// abandoned, as at shutdown); false if there is no such item. Its task removes it from the
    /// spool before it lets go of it.
    pub fn delete(&self, id: &str) -> bool {
        match self.active.lock().expect("queue lock").get(id) {
            Some(handle) => {
                handle.delete.cancel();
                true
            }
            None => false,
        }
    }

    /// Recipients delivered and bounced over the last 24 hours.
    pub fn last_day(&self) -> outpost_relay_api::DeliveryCounts {
        let now = unix_seconds(self.clock.now());
        self.tally.lock().expect("queue lock").last_day(now, self.started)
    }

    /// When the queue started (the relay's start, seconds since the epoch).
    pub fn started(&self) -> u64 {
        self.started
    }

    /// The test messages the app follows (`trace watch|show`).
    pub fn traces(&self) -> &Traces {
        &self.traces
    }

    /// The trace of a watched message: its item from the spool while queued, kept after.
    pub fn trace(&self, message_id: &str) -> Option<outpost_relay_api::Trace> {
        self.traces.show(message_id, |id| self.spool.item(id).ok())
    }

    /// The latest finished deliveries: (queue id, recipient, record), newest last.
    pub fn recent(&self) -> Vec<(String, String, DeliveryRecord)> {
        self.recent.lock().expect("queue lock").clone()
    }

    /// Waits for every item's task to stop (after shutdown was requested).
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn start(self: &Arc<Self>, item: Item) {
        let handle = Arc::new(Handle::default());
        self.active.lock().expect("queue lock").insert(item.id.clone(), handle.clone());
        let queue = self.clone();
        self.tasks.spawn(async move {
            let id = item.id.clone();
            let deleted = handle.delete.clone();
            tokio::select! {
                biased;
                _ = deleted.cancelled() => queue.forget(&id).await,
                _ = queue.clone().run(item, &handle) => {}
            }
        });
    }

    /// `queue delete`: the item leaves the spool and the queue, undelivered.
    async fn forget(self: &Arc<Self>, id: &str) {
        let (queue, id) = (self.clone(), id.to_string());
        blocking(move || {
            match queue.spool.remove(&id) {
                Ok(()) => tracing::info!(%id, "deleted from the queue, undelivered"),
                Err(error) => {
                    tracing::error!(%id, %error, "cannot remove a deleted message from the spool")
                }
            }
            queue.active.lock().expect("queue lock").remove(&id);
        })
        .await;
    }

    /// Works on one item until it is finished or the relay shuts down.
    async fn run(self: Arc<Self>, mut item: Item, handle: &Handle) {
        let spool = self.spool.clone();
        let id = item.id.clone();
        let message = match blocking(move || spool.message(&id)).await {
            Ok(message) => Arc::new(message),
            Err(error) => {
                tracing::error!(id = %item.id, %error, "cannot read a queued message; leaving it for inspection");
                self.active.lock().expect("queue lock").remove(&item.id);
                return;
            }
        };
        loop {
            let now = unix_seconds(self.clock.now());
            if item.next_attempt > now {
                let wait = Duration::from_secs(item.next_attempt - now);
                tokio::select! {
                    _ = self.clock.sleep(wait) => {}
                    _ = handle.wake.notified() => {}
                    _ = self.shutdown.cancelled() => return,
                }
            }
            // A delivery in flight is abandoned at shutdown: the item is still on disk and
            // resumes at the next start.
            let deferred = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return,
                deferred = self.attempt(&mut item, &message) => deferred,
            };
            let pending =
                item.recipients.iter().any(|recipient| recipient.status == Status::Pending);
            let now = self.clock.now();
            let age = Duration::from_secs(unix_seconds(now).saturating_sub(item.created));
            if pending {
                // Not tried (every domain paused): the round does not count, and the next one
                // is when the pause ends.
                let next = match deferred {
                    Some(until) => Duration::from_secs(until.saturating_sub(unix_seconds(now))),
                    None => jitter(self.schedule.delay(item.attempts)),
                };
                if age + next > self.schedule.give_up_after {
                    for recipient in item
                        .recipients
                        .iter_mut()
                        .filter(|recipient| recipient.status == Status::Pending)
                    {
                        recipient.status = Status::GaveUp;
                        self.tally
                            .lock()
                            .expect("queue lock")
                            .add(unix_seconds(now), Outcome::Permanent);
                    }
                } else {
                    // Whoever failed for good hears it now, not when the others are settled.
                    self.notify_sender(&mut item, &message, Notice::Failed).await;
                    if !item.delay_notified && age >= self.schedule.delay_notice_after {
                        self.notify_sender(&mut item, &message, Notice::Delayed).await;
                    }
                    item.next_attempt = unix_seconds(now + next.max(Duration::from_secs(1)));
                    let (spool, saved) = (self.spool.clone(), item.clone());
                    if let Err(error) = blocking(move || spool.update(&saved)).await {
                        tracing::error!(id = %item.id, %error, "cannot save the queue state; will retry anyway");
                    }
                    continue;
                }
            }
            self.finish(item, message).await;
            return;
        }
    }

    /// One round: every pending recipient, grouped by domain. Returns when the next round may
    /// be (seconds since the epoch) if no recipient was tried because every domain is paused.
    async fn attempt(&self, item: &mut Item, message: &[u8]) -> Option<u64> {
        item.attempts += 1;
        let mut domains: Vec<String> = item
            .recipients
            .iter()
            .filter(|recipient| recipient.status == Status::Pending)
            .map(|recipient| domain_of(&recipient.address))
            .collect();
        domains.sort();
        domains.dedup();
        let (mut tried, mut paused_until) = (false, 0);
        for domain in domains {
            let indexes: Vec<usize> = (0..item.recipients.len())
                .filter(|&index| {
                    item.recipients[index].status == Status::Pending
                        && domain_of(&item.recipients[index].address) == domain
                })
                .collect();
            let addresses: Vec<String> =
                indexes.iter().map(|&index| item.recipients[index].address.clone()).collect();
            let records = self.courier.deliver(&item.from, &domain, &addresses, message).await;
            for (index, record) in indexes.into_iter().zip(records) {
                let recipient = &mut item.recipients[index];
                if let Some(DeliveryProblem::Deferred { until }) = record.problem {
                    paused_until = paused_until.max(until);
                    // One record says it; a pause that goes on adds no more.
                    if recipient.records.last().is_some_and(|last| {
                        matches!(last.problem, Some(DeliveryProblem::Deferred { .. }))
                    }) {
                        recipient.records.pop();
                    }
                    recipient.records.push(record);
                    continue;
                }
                tried = true;
                tracing::info!(
                    id = %item.id, to = %recipient.address, attempt = item.attempts, outcome = ?record.outcome,
                    host = record.host.as_deref().unwrap_or("-"), ip = ?record.ip,
                    tls = record.tls_version.as_deref().unwrap_or("none"), reply = %record.reply, "delivery attempt"
                );
                recipient.status = match record.outcome {
                    Outcome::Delivered => Status::Delivered,
                    Outcome::Permanent => Status::Failed,
                    Outcome::Temporary => Status::Pending,
                };
                if record.outcome != Outcome::Temporary {
                    let now = unix_seconds(self.clock.now());
                    self.tally.lock().expect("queue lock").add(now, record.outcome);
                }
                recipient.records.push(record);
            }
        }
        if tried {
            return None;
        }
        item.attempts -= 1;
        Some(paused_until)
    }

    /// Tells the sender about the recipients `notice` concerns that it has not been told of:
    /// a bounce for those that failed, or the one "delayed" notice for those still pending.
    async fn notify_sender(
        self: &Arc<Self>,
        item: &mut Item,
        message: &Arc<Vec<u8>>,
        notice: Notice,
    ) {
        let concerned = |recipient: &Recipient| match notice {
            Notice::Failed => {
                matches!(recipient.status, Status::Failed | Status::GaveUp) && !recipient.bounced
            }
            Notice::Delayed => recipient.status == Status::Pending,
        };
        let concerned: Vec<Recipient> =
            item.recipients.iter().filter(|recipient| concerned(recipient)).cloned().collect();
        if concerned.is_empty() {
            return;
        }
        match notice {
            Notice::Failed => {
                for recipient in item
                    .recipients
                    .iter_mut()
                    .filter(|recipient| matches!(recipient.status, Status::Failed | Status::GaveUp))
                {
                    recipient.bounced = true;
                }
            }
            Notice::Delayed => item.delay_notified = true,
        }
        let return_path =
            (!item.from.is_empty()).then(|| (self.bounces.return_path)(&item.from)).flatten();
        let Some(return_path) = return_path else {
            match item.from.is_empty() {
                true => {
                    tracing::info!(id = %item.id, "not bouncing a message from the null sender")
                }
                false => {
                    tracing::warn!(id = %item.id, from = %item.from, "not bouncing: the sender is an SRS address that does not check out")
                }
            }
            return;
        };
        let bounce_id = new_id(self.clock.now());
        let until = SystemTime::UNIX_EPOCH
            + Duration::from_secs(item.created)
            + self.schedule.give_up_after;
        let kind = match notice {
            Notice::Failed => dsn::Kind::Failed,
            Notice::Delayed => dsn::Kind::Delayed { until },
        };
        let concerned: Vec<&Recipient> = concerned.iter().collect();
        let bounce = dsn::render(
            &self.postmaster,
            item,
            &concerned,
            kind,
            message,
            &bounce_id,
            self.clock.now(),
        );
        let signed = match (self.bounces.sign)(&bounce) {
            Some(headers) => [headers.as_bytes(), &bounce].concat(),
            None => bounce,
        };
        let original = (return_path != item.from).then(|| item.from.clone());
        let to = Destination { address: return_path.clone(), original, route: Route::Bounce };
        let (queue, id) = (self.clone(), bounce_id.clone());
        match blocking(move || queue.put(id, "", &[to], None, &signed)).await {
            Ok(id) => {
                tracing::info!(id = %item.id, bounce = %id, to = %return_path, notice = ?notice, "sent a delivery status notification")
            }
            Err(error) => {
                tracing::error!(id = %item.id, %error, "cannot queue the delivery status notification")
            }
        }
    }

    /// Every recipient is settled: bounce what failed and was not bounced yet, forget the item.
    async fn finish(self: &Arc<Self>, mut item: Item, message: Arc<Vec<u8>>) {
        {
            let mut recent = self.recent.lock().expect("queue lock");
            for recipient in &item.recipients {
                if let Some(record) = recipient.records.last() {
                    recent.push((item.id.clone(), recipient.address.clone(), record.clone()));
                }
            }
            let excess = recent.len().saturating_sub(RECENT);
            recent.drain(..excess);
        }
        self.notify_sender(&mut item, &message, Notice::Failed).await;
        let queue = self.clone();
        blocking(move || {
            queue.traces.finished(&item);
            queue.active.lock().expect("queue lock").remove(&item.id);
            if let Err(error) = queue.spool.remove(&item.id) {
                tracing::error!(id = %item.id, %error, "cannot remove a finished message from the spool");
            }
        })
        .await;
    }
}

/// What a notice to the sender is about.
#[derive(Debug, Clone, Copy)]
enum Notice {
    /// Recipients that failed for good (or were given up on).
    Failed,
    /// Recipients still being retried after `delay_notice_after`.
    Delayed,
}

/// Runs file work (reads, writes and their fsyncs) on a blocking thread, off the runtime's.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("the queue's file work panicked")
}

/// ±20 % random jitter, so retries from many messages do not arrive together.
fn jitter(delay: Duration) -> Duration {
    let factor = 0.8 + rand::random::<f64>() * 0.4;
    Duration::from_secs_f64(delay.as_secs_f64() * factor).max(Duration::from_secs(1))
}

/// A queue id for a message accepted at `now`: time-ordered, unique, safe in file names.
pub fn new_id(now: SystemTime) -> String {
    let since = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{:011x}{:08x}", since.as_millis(), rand::random::<u32>())
}

#[cfg(test)]
mod tests;
