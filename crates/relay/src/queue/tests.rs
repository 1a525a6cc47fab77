//! The queue with a scripted courier and a fake clock: retries, give-up, bounces, restarts.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::*;
use crate::clock::FakeClock;
use crate::courier::Delivery;

/// A courier that answers from a script and remembers what it was given.
#[derive(Debug, Default)]
struct ScriptedCourier {
    script: Mutex<VecDeque<Outcome>>,
    delivered: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl ScriptedCourier {
    fn with(outcomes: &[Outcome]) -> Arc<ScriptedCourier> {
        Arc::new(ScriptedCourier {
            script: Mutex::new(outcomes.iter().copied().collect()),
            ..Default::default()
        })
    }

    fn deliveries(&self) -> Vec<(String, String, Vec<u8>)> {
        self.delivered.lock().unwrap().clone()
    }
}

impl Courier for ScriptedCourier {
    fn deliver<'a>(
        &'a self,
        from: &'a str,
        _domain: &'a str,
        recipients: &'a [String],
        message: &'a [u8],
    ) -> Delivery<'a> {
        Box::pin(async move {
            recipients
                .iter()
                .map(|recipient| {
                    // Bounces (to the sender) are always delivered, so tests can read them.
                    let outcome = if from.is_empty() {
                        Outcome::Delivered
                    } else {
                        self.script.lock().unwrap().pop_front().unwrap_or(Outcome::Delivered)
                    };
                    if outcome == Outcome::Delivered {
                        self.delivered.lock().unwrap().push((
                            from.to_string(),
                            recipient.clone(),
                            message.to_vec(),
                        ));
                    }
                    DeliveryRecord {
                        at: 0,
                        outcome,
                        host: Some("mx.example.net".into()),
                        ip: Some("203.0.113.25".parse().unwrap()),
                        tls_version: Some("TLSv1.3".into()),
                        tls_cipher: None,
                        reply: match outcome {
                            Outcome::Delivered => "250 2.0.0 ok".into(),
                            Outcome::Temporary => "451 4.3.0 try later".into(),
                            Outcome::Permanent => "550 5.1.1 no such user".into(),
                        },
                        problem: None,
                        mta_sts: false,
                    }
                })
                .collect()
        })
    }
}

fn schedule() -> Schedule {
    Schedule {
        first_retry: Duration::from_secs(60),
        max_retry_interval: Duration::from_secs(2 * 3600),
        delay_notice_after: Duration::from_secs(4 * 3600),
        give_up_after: Duration::from_secs(5 * 86_400),
        max_messages: 10,
    }
}

fn queue(directory: &std::path::Path, courier: Arc<ScriptedCourier>) -> Arc<Queue> {
    Queue::new(
        Spool::open(directory).unwrap(),
        courier,
        Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))),
        schedule(),
        Postmaster {
            hostname: "mail.example.com".into(),
            address: "postmaster@example.com".into(),
        },
        Bounces::to_sender(Arc::new(|_: &[u8]| Some("DKIM-Signature: v=1; test\r\n".to_string()))),
        CancellationToken::new(),
    )
}

/// A queue over `directory` with `courier` and `clock`, whose bounces are not signed.
fn unsigned_queue(
    directory: &std::path::Path,
    courier: Arc<dyn Courier>,
    clock: Arc<FakeClock>,
) -> Arc<Queue> {
    Queue::new(
        Spool::open(directory).unwrap(),
        courier,
        clock,
        schedule(),
        Postmaster {
            hostname: "mail.example.com".into(),
            address: "postmaster@example.com".into(),
        },
        Bounces::to_sender(Arc::new(|_: &[u8]| None)),
        CancellationToken::new(),
    )
}

const MESSAGE: &[u8] = b"From: alice@example.com\r\nSubject: hello\r\n\r\nHi.\r\n";

async fn settle(queue: &Arc<Queue>) {
    for _ in 0..10_000 {
        if queue.is_empty() {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the queue did not settle");
}

#[test]
fn delays_double_up_to_the_maximum() {
    let schedule = schedule();
    let delays: Vec<u64> = (1..=10).map(|attempt| schedule.delay(attempt).as_secs()).collect();
    assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3840, 7200, 7200, 7200]);
}

#[tokio::test]
async fn a_message_is_on_disk_before_put_returns_and_gone_once_delivered() {
    let directory = tempfile::tempdir().unwrap();
    let courier = ScriptedCourier::with(&[Outcome::Temporary]);
    let queue = queue(directory.path(), courier.clone());
    let id = queue
        .put(
            new_id(SystemTime::UNIX_EPOCH),
            "alice@example.com",
            &[Destination::submitted("bob@example.net")],
            Some("alice@example.com".into()),
            MESSAGE,
        )
        .unwrap();
    // Conformance 36: durable before 250.
    assert!(directory.path().join(format!("{id}.msg")).exists());
    assert_eq!(Spool::open(directory.path()).unwrap().item(&id).unwrap().id, id);
    settle(&queue).await;
    assert_eq!(courier.deliveries().len(), 1, "delivered once, after one temporary failure");
    assert_eq!(Spool::open(directory.path()).unwrap().count().unwrap(), 0);
    let recent = queue.recent();
    assert_eq!(recent.last().unwrap().2.outcome, Outcome::Delivered);
    let day = queue.last_day();
    assert_eq!((day.delivered, day.bounced), (1, 0), "a retry is not counted, the delivery is");
    assert_eq!(day.since, 1_800_000_000, "the relay started less than a day ago");
}

/// A courier whose servers never answer.
#[derive(Debug, Default)]
struct SilentCourier {
    calls: std::sync::atomic::AtomicUsize,
}

impl Courier for SilentCourier {
    fn deliver<'a>(
        &'a self,
        _from: &'a str,
        _domain: &'a str,
        _recipients: &'a [String],
        _message: &'a [u8],
    ) -> Delivery<'a> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_deleted_message_leaves_the_spool_undelivered_and_nobody_is_told() {
    let directory = tempfile::tempdir().unwrap();
    let courier = Arc::new(SilentCourier::default());
    let clock =
        Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)));
    let queue = unsigned_queue(directory.path(), courier.clone(), clock);
    let id = queue
        .put(
            new_id(SystemTime::UNIX_EPOCH),
            "alice@example.com",
            &[Destination::submitted("bob@example.net")],
            None,
            MESSAGE,
        )
        .unwrap();
    for _ in 0..1000 {
        if courier.calls.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        courier.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "an attempt is under way"
    );
    assert!(!queue.delete("no-such-id"));
    assert!(queue.delete(&id));
    settle(&queue).await;
    assert_eq!(Spool::open(directory.path()).unwrap().count().unwrap(), 0, "gone from the spool");
    assert!(!queue.delete(&id), "a second delete finds nothing");
    assert!(queue.recent().is_empty(), "not a delivery");
    assert_eq!(courier.calls.load(std::sync::atomic::Ordering::SeqCst), 1, "no bounce was sent");
    let day = queue.last_day();
    assert_eq!((day.delivered, day.bounced), (0, 0));
}

#[test]
fn the_last_day_counts_whole_hours_and_forgets_older_ones() {
    let mut tally = Tally::default();
    let start: u64 = 1_800_000_000; // a whole hour (500 000 × 3600)
    tally.add(start, Outcome::Delivered);
    tally.add(start + 10, Outcome::Permanent);
    tally.add(start + 3600, Outcome::Delivered);
    let day = tally.last_day(start + 3700, 0);
    assert_eq!((day.since, day.delivered, day.bounced), (start + 3600 - 23 * 3600, 2, 1));
    // 23 hours after the second hour, the first one has gone.
    let day = tally.last_day(start + 24 * 3600, 0);
    assert_eq!((day.delivered, day.bounced), (1, 0));
    assert_eq!(tally.last_day(start + 48 * 3600, 0).delivered, 0);
    assert_eq!(tally.last_day(start + 3700, start).since, start, "not before the start");
}

#[tokio::test]
async fn a_permanent_failure_bounces_with_the_original_attached() {
    // Conformance 37.
    let directory = tempfile::tempdir().unwrap();
    let courier = ScriptedCourier::with(&[Outcome::Permanent]);
    let queue = queue(directory.path(), courier.clone());
    queue
        .put(
            new_id(SystemTime::UNIX_EPOCH),
            "alice@example.com",
            &[Destination::submitted("nobody@example.net")],
            None,
            MESSAGE,
        )
        .unwrap();
    settle(&queue).await;
    let deliveries = courier.deliveries();
    assert_eq!(deliveries.len(), 1, "only the bounce is delivered");
    let (from, to, bounce) = &deliveries[0];
    assert_eq!((from.as_str(), to.as_str()), ("", "alice@example.com"));
    let bounce = String::from_utf8_lossy(bounce);
    assert!(bounce.starts_with("DKIM-Signature: v=1; test\r\n"), "bounces are signed");
    assert!(bounce.contains("Content-Type: multipart/report; report-type=delivery-status"));
    assert!(bounce.contains(
        "Final-Recipient: rfc822; nobody@example.net\r\nAction: failed\r\nStatus: 5.1.1"
    ));
    assert!(
        bounce.contains(
            "Content-Type: message/rfc822\r\n\r\nFrom: alice@example.com\r\nSubject: hello"
        )
    );
    let day = queue.last_day();
    assert_eq!((day.delivered, day.bounced), (1, 1), "the refusal, and the bounce delivered");
}

#[tokio::test]
async fn the_queue_gives_up_after_the_configured_time_and_says_so() {
    // Conformance 38, with a fake clock: five days of retries.
    let directory = tempfile::tempdir().unwrap();
    let courier = ScriptedCourier::with(&[Outcome::Temporary; 200]);
    let queue = queue(directory.path(), courier.clone());
    queue
        .put(
            new_id(SystemTime::UNIX_EPOCH),
            "alice@example.com",
            &[Destination::submitted("slow@example.net")],
            None,
            MESSAGE,
        )
        .unwrap();
    settle(&queue).await;
    let remaining = courier.script.lock().unwrap().len();
    let attempts = 200 - remaining;
    // 60 s doubling to 2 h: about 66 attempts fit in five days.
    assert!((55..=80).contains(&attempts), "{attempts} attempts");
    let deliveries = courier.deliveries();
    assert_eq!(deliveries.len(), 2, "one delayed notice, then the bounce");
    let delayed = String::from_utf8_lossy(&deliveries[0].2).into_owned();
    assert!(delayed.contains("Action: delayed"), "{delayed}");
    let bounce = String::from_utf8_lossy(&deliveries[1].2).into_owned();
    assert!(bounce.contains("Subject: Undelivered mail: delivery kept failing"));
    assert!(bounce.contains("Status: 4.3.0"), "{bounce}");
}

#[tokio::test]
async fn a_refused_recipient_bounces_at_once_and_a_slow_one_gets_one_delayed_notice() {
    // nobody@example.net is refused in the first round; slow@example.org fails 20 times (about
    // 28 hours) before it is delivered.
    let directory = tempfile::tempdir().unwrap();
    let mut script = vec![Outcome::Permanent];
    script.extend([Outcome::Temporary; 20]);
    let courier = ScriptedCourier::with(&script);
    let queue = queue(directory.path(), courier.clone());
    queue
        .put(
            new_id(SystemTime::UNIX_EPOCH),
            "alice@example.com",
            &[
                Destination::submitted("nobody@example.net"),
                Destination::submitted("slow@example.org"),
            ],
            None,
            MESSAGE,
        )
        .unwrap();
    settle(&queue).await;
    let deliveries = courier.deliveries();
    let texts: Vec<String> = deliveries
        .iter()
        .map(|(_, _, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    assert_eq!(deliveries.len(), 3, "the bounce, the delayed notice, the message: {texts:#?}");
    // The bounce first, for the refused recipient only, while the other was still retried.
    assert_eq!((deliveries[0].0.as_str(), deliveries[0].1.as_str()), ("", "alice@example.com"));
    assert!(texts[0].contains("Final-Recipient: rfc822; nobody@example.net\r\nAction: failed"));
    assert!(!texts[0].contains("slow@example.org"), "{}", texts[0]);
    // Then one "delayed" notice for the slow one (after 4 h), never repeated.
    assert!(texts[1].contains("Subject: Delayed mail"), "{}", texts[1]);
    assert!(texts[1].contains(
        "Final-Recipient: rfc822; slow@example.org\r\nAction: delayed\r\nStatus: 4.3.0\r\nWill-Retry-Until: "
    ));
    assert!(!texts[1].contains("nobody@example.net"), "{}", texts[1]);
    assert!(texts[1].contains("Content-Type: text/rfc822-headers"), "only the headers");
    // Then the message itself; no second bounce for the refused one.
    assert_eq!(deliveries[2].1, "slow@example.org");
}

/// A courier that finds the domain paused the first time, then delivers; it notes the time of
/// each call.
#[derive(Debug)]
struct PausedCourier {
    clock: Arc<FakeClock>,
    until: u64,
    calls: Mutex<Vec<u64>>,
}

impl Courier for PausedCourier {
    fn deliver<'a>(
        &'a self,
        _from: &'a str,
        _domain: &'a str,
        recipients: &'a [String],
        _message: &'a [u8],
    ) -> Delivery<'a> {
        Box::pin(async move {
            let mut calls = self.calls.lock().unwrap();
            calls.push(unix_seconds(self.clock.now()));
            let paused = calls.len() == 1;
            recipients
                .iter()
                .map(|_| DeliveryRecord {
                    at: unix_seconds(self.clock.now()),
                    outcome: if paused { Outcome::Temporary } else { Outcome::Delivered },
                    host: None,
                    ip: None,
                    tls_version: None,
                    tls_cipher: None,
                    reply: "not tried".into(),
                    problem: paused.then_some(DeliveryProblem::Deferred { until: self.until }),
                    mta_sts: false,
                })
                .collect()
        })
    }
}

#[tokio::test]
async fn a_paused_domain_is_tried_when_its_pause_ends() {
    let directory = tempfile::tempdir().unwrap();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = Arc::new(FakeClock::new(start));
    let until = 1_800_000_000 + 600;
    let courier = Arc::new(PausedCourier { clock: clock.clone(), until, calls: Mutex::default() });
    let queue = unsigned_queue(directory.path(), courier.clone(), clock);
    queue
        .put(
            new_id(start),
            "alice@example.com",
            &[Destination::submitted("bob@example.net")],
            None,
            MESSAGE,
        )
        .unwrap();
    settle(&queue).await;
    let calls = courier.calls.lock().unwrap().clone();
    // Not at the first retry (60 s): when the pause is over.
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[1] >= until, "tried at {} before the pause ended at {until}", calls[1]);
    let recent = queue.recent();
    assert_eq!(recent.last().unwrap().2.outcome, Outcome::Delivered);
}

#[tokio::test]
async fn the_null_sender_never_gets_a_bounce() {
    let directory = tempfile::tempdir().unwrap();
    let courier = ScriptedCourier::with(&[Outcome::Permanent]);
    // Bounces are delivered by the scripted courier, so script the null sender's failure by
    // hand: a null-sender item whose recipient is refused.
    let queue = queue(directory.path(), courier.clone());
    let mut item = Item {
        id: new_id(SystemTime::UNIX_EPOCH),
        from: String::new(),
        user: None,
        created: 1_800_000_000,
        attempts: 1,
        next_attempt: 0,
        recipients: vec![Recipient {
            address: "x@example.net".into(),
            original: None,
            route: Route::Submitted,
            status: Status::Failed,
            records: Vec::new(),
            bounced: false,
        }],
        delay_notified: false,
    };
    queue.spool.create(&item, MESSAGE).unwrap();
    queue.active.lock().unwrap().insert(item.id.clone(), Arc::new(Handle::default()));
    item.attempts = 1;
    queue.finish(item, Arc::new(MESSAGE.to_vec())).await;
    settle(&queue).await;
    assert!(courier.deliveries().is_empty(), "no bounce for a bounce");
}

#[tokio::test]
async fn queued_messages_are_delivered_after_a_restart() {
    let directory = tempfile::tempdir().unwrap();
    let stopped = CancellationToken::new();
    stopped.cancel();
    // A relay that accepted a message and stopped before delivering it.
    let first = Queue::new(
        Spool::open(directory.path()).unwrap(),
        ScriptedCourier::with(&[]),
        Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH)),
        schedule(),
        Postmaster { hostname: "h".into(), address: "p@example.com".into() },
        Bounces::to_sender(Arc::new(|_: &[u8]| None)),
        stopped,
    );
    let id = first
        .put(
            new_id(SystemTime::UNIX_EPOCH),
            "alice@example.com",
            &[Destination::submitted("bob@example.net")],
            None,
            MESSAGE,
        )
        .unwrap();
    first.wait().await;
    assert!(directory.path().join(format!("{id}.msg")).exists());
    // A leftover of a crash before the rename: a temporary file.
    std::fs::write(directory.path().join(".orphan.msg.1.0.tmp"), b"x").unwrap();
    let courier = ScriptedCourier::with(&[]);
    let second = queue(directory.path(), courier.clone());
    assert_eq!(second.resume().unwrap(), 1);
    settle(&second).await;
    assert_eq!(courier.deliveries().len(), 1);
    assert!(!directory.path().join(".orphan.msg.1.0.tmp").exists());
}

#[tokio::test]
async fn a_full_queue_refuses_new_messages() {
    // Conformance 39.
    let directory = tempfile::tempdir().unwrap();
    let stopped = CancellationToken::new();
    stopped.cancel();
    let queue = Queue::new(
        Spool::open(directory.path()).unwrap(),
        ScriptedCourier::with(&[]),
        Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH)),
        Schedule { max_messages: 2, ..schedule() },
        Postmaster { hostname: "h".into(), address: "p@example.com".into() },
        Bounces::to_sender(Arc::new(|_: &[u8]| None)),
        stopped,
    );
    for _ in 0..2 {
        queue
            .put(
                new_id(SystemTime::UNIX_EPOCH),
                "a@example.com",
                &[Destination::submitted("b@example.net")],
                None,
                MESSAGE,
            )
            .unwrap();
    }
    assert!(matches!(
        queue.put(
            new_id(SystemTime::UNIX_EPOCH),
            "a@example.com",
            &[Destination::submitted("b@example.net")],
            None,
            MESSAGE
        ),
        Err(PutError::Full)
    ));
}

#[tokio::test]
async fn a_forwarded_message_bounces_to_its_original_sender_and_a_bad_srs_sender_to_nobody() {
    let directory = tempfile::tempdir().unwrap();
    let courier = ScriptedCourier::with(&[Outcome::Permanent, Outcome::Permanent]);
    let queue = Queue::new(
        Spool::open(directory.path()).unwrap(),
        courier.clone(),
        Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))),
        schedule(),
        Postmaster {
            hostname: "mail.example.com".into(),
            address: "postmaster@example.com".into(),
        },
        Bounces {
            sign: Arc::new(|_: &[u8]| None),
            // What the inbound router does: our SRS address back to the original sender.
            return_path: Arc::new(|sender: &str| match sender {
                "SRS0=good=AA=sender.test=alice@example.com" => Some("alice@sender.test".into()),
                _ => None,
            }),
        },
        CancellationToken::new(),
    );
    let forwarded = Destination {
        address: "me@gmail.test".into(),
        original: Some("hello@example.com".into()),
        route: Route::Forwarded,
    };
    for from in ["SRS0=good=AA=sender.test=alice@example.com", "SRS0=bad=AA=x.test=y@example.com"] {
        queue
            .put(
                new_id(SystemTime::UNIX_EPOCH),
                from,
                std::slice::from_ref(&forwarded),
                None,
                MESSAGE,
            )
            .unwrap();
    }
    settle(&queue).await;
    let bounces: Vec<(String, String)> = courier
        .deliveries()
        .into_iter()
        .filter(|(from, _, _)| from.is_empty())
        .map(|(from, to, _)| (from, to))
        .collect();
    assert_eq!(
        bounces,
        [(String::new(), "alice@sender.test".to_string())],
        "one bounce, to the original sender; none for an SRS address that does not check out"
    );
}
