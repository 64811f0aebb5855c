//! The queue manager: which queued message is due when, delivering its due recipients (local
//! ones over LMTP; remote ones wait for outbound delivery), recording each recipient's
//! outcome durably before the next step, bouncing permanent failures and expired mail to the
//! sender (never a bounce), and removing finished messages.
//!
//! State is on disk; the schedule in memory is rebuilt from the queue at start, so a crash
//! or kill -9 resumes where it was and a delivered recipient is never delivered again
//! (its state is fsynced before the message is looked at again).

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue::{Envelope, QueueId, RecipientState, RetryPolicy, Timestamp};
use tokio::sync::{Notify, Semaphore};
use tokio::task::block_in_place;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::delivery::{self, Outcome};
use crate::server::Shared;

/// When each queued message is next due; which ones are being delivered now.
#[derive(Debug)]
pub struct Scheduler {
    due: Mutex<BTreeSet<(Timestamp, QueueId)>>,
    active: Mutex<HashSet<QueueId>>,
    notify: Notify,
    slots: Arc<Semaphore>,
    pub retry: RetryPolicy,
}

impl Scheduler {
    pub fn new(config: &Config) -> Self {
        Scheduler {
            due: Mutex::new(BTreeSet::new()),
            active: Mutex::new(HashSet::new()),
            notify: Notify::new(),
            slots: Arc::new(Semaphore::new(config.queue.delivery_concurrency)),
            retry: RetryPolicy {
                min_backoff: config.queue.min_backoff,
                max_backoff: config.queue.max_backoff,
                lifetime: config.queue.lifetime,
                bounce_lifetime: config.queue.lifetime,
                delay_warning: None,
            },
        }
    }

    /// A message was queued (or released, or flushed): try it now.
    pub fn wake(&self, id: &QueueId) {
        self.schedule(*id, Timestamp::now());
        self.notify.notify_one();
    }

    /// Schedules every queued message now (`postern-mta queue flush`).
    pub fn flush_all(&self) {
        if let Ok(mut due) = self.due.lock() {
            let ids: Vec<QueueId> = due.iter().map(|(_, id)| *id).collect();
            due.clear();
            let now = Timestamp::now();
            for id in ids {
                due.insert((now, id));
            }
        }
        self.notify.notify_one();
    }

    pub(crate) fn schedule(&self, id: QueueId, at: Timestamp) {
        if let Ok(mut due) = self.due.lock() {
            due.retain(|(_, other)| *other != id);
            due.insert((at, id));
        }
    }

    /// Forgets a message (deleted by the operator).
    pub fn forget(&self, id: &QueueId) {
        if let Ok(mut due) = self.due.lock() {
            due.retain(|(_, other)| other != id);
        }
    }

    /// Whether a delivery of `id` (or an operator's change to it) runs now.
    pub fn is_active(&self, id: &QueueId) -> bool {
        self.active.lock().is_ok_and(|a| a.contains(id))
    }

    /// Takes `id` for exclusive work (a delivery pass, or `queue hold|delete`); `false` if
    /// someone has it. Every claim is ended with [`unclaim`](Self::unclaim).
    pub fn try_claim(&self, id: QueueId) -> bool {
        self.active.lock().is_ok_and(|mut a| a.insert(id))
    }

    pub fn unclaim(&self, id: &QueueId) {
        if let Ok(mut active) = self.active.lock() {
            active.remove(id);
        }
    }

    /// The messages due at `now`, taken off the schedule, and when the next one is due.
    fn take_due(&self, now: Timestamp) -> (Vec<QueueId>, Option<Timestamp>) {
        let Ok(mut due) = self.due.lock() else {
            return (Vec::new(), None);
        };
        let active = self.active.lock().map(|a| a.clone()).unwrap_or_default();
        let mut ready = Vec::new();
        let mut later = BTreeSet::new();
        while let Some(first) = due.pop_first() {
            if first.0 > now {
                due.insert(first);
                break;
            }
            if active.contains(&first.1) {
                // Tried again as soon as the running delivery ends (it reschedules).
                later.insert(first);
            } else {
                ready.push(first.1);
            }
        }
        let next = due.first().map(|(at, _)| *at);
        due.extend(later);
        (ready, next)
    }
}

/// Runs the queue until shutdown: a scan at start, then whatever is due.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let scheduler = &shared.scheduler;
    match block_in_place(|| shared.spool.scan()) {
        Ok(found) => {
            let count = found.len();
            for (id, at) in found {
                scheduler.schedule(id, at);
            }
            info!(messages = count, "queue scanned");
        }
        Err(e) => warn!(error = %e, "cannot scan the queue"),
    }
    loop {
        let (ready, next) = scheduler.take_due(Timestamp::now());
        tracing::debug!(ready = ready.len(), next = ?next, "queue run");
        for id in ready {
            let Ok(permit) = scheduler.slots.clone().acquire_owned().await else {
                return;
            };
            if !scheduler.try_claim(id) {
                // The operator is changing it: look again shortly.
                scheduler.schedule(id, Timestamp::now().saturating_add(Duration::from_secs(1)));
                continue;
            }
            let shared = shared.clone();
            tokio::spawn(async move {
                let next = deliver_message(&shared, id).await;
                shared.scheduler.unclaim(&id);
                if let Some(at) = next {
                    shared.scheduler.schedule(id, at);
                    shared.scheduler.notify.notify_one();
                }
                drop(permit);
            });
        }
        let wait = next.map_or(Duration::from_secs(60), |at| {
            at.to_system_time()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
                .max(Duration::from_millis(10))
                .min(Duration::from_secs(60))
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = scheduler.notify.notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One pass over one message; returns when it is due next (`None`: removed, held or gone).
async fn deliver_message(shared: &Shared, id: QueueId) -> Option<Timestamp> {
    let mut envelope = match block_in_place(|| shared.spool.load(&id)) {
        Ok(envelope) => envelope,
        Err(e) => {
            warn!(queue_id = %id, error = %e, "cannot read queued message");
            return None;
        }
    };
    if envelope.held {
        return None;
    }
    let now = Timestamp::now();
    tracing::debug!(queue_id = %id, due = envelope.due(now).count(), "delivery pass");
    let retry = shared.scheduler.retry;
    let config = shared.config.load();
    let due: Vec<usize> = envelope.due(now).collect();
    let (local, remote): (Vec<usize>, Vec<usize>) = due.into_iter().partition(|&i| {
        envelope
            .recipients
            .get(i)
            .and_then(|r| r.address.rsplit_once('@'))
            .is_some_and(|(_, domain)| config.policy.is_local_domain(domain))
    });
    let mut log = Vec::new();
    if !local.is_empty() {
        let addresses: Vec<String> = local
            .iter()
            .filter_map(|&i| envelope.recipients.get(i).map(|r| r.address.clone()))
            .collect();
        let outcomes = delivery::deliver_lmtp(shared, &config, &envelope, &addresses).await;
        for (&i, outcome) in local.iter().zip(outcomes) {
            let Some(recipient) = envelope.recipients.get_mut(i) else {
                continue;
            };
            let (status, reply) = match &outcome {
                Outcome::Delivered(reply) => {
                    recipient.mark_delivered(now, reply.clone());
                    ("sent", reply)
                }
                Outcome::Deferred(reply) => {
                    recipient.mark_deferred(now, reply.clone(), &retry);
                    ("deferred", reply)
                }
                Outcome::Failed(reply) => {
                    recipient.mark_failed(now, reply.clone());
                    ("bounced", reply)
                }
            };
            log.push(Delivery {
                to: recipient.address.clone(),
                relay: "lmtp",
                status,
                reply: reply.clone(),
            });
        }
    }
    for &i in &remote {
        if let Some(recipient) = envelope.recipients.get_mut(i) {
            let reply = "451 4.4.0 outbound delivery is not enabled on this server yet";
            recipient.mark_deferred(now, reply, &retry);
            log.push(Delivery {
                to: recipient.address.clone(),
                relay: "none",
                status: "deferred",
                reply: reply.into(),
            });
        }
    }
    if retry.envelope_expired(&envelope, now) {
        let expired = envelope.expire(now);
        if expired > 0 {
            info!(queue_id = %id, recipients = expired, "message expired in the queue");
        }
    }
    finish(shared, &config, &mut envelope, now, &log)
}

/// One recipient's outcome, logged once it is on disk: a "sent" line in the log means the
/// recipient will not be delivered again, even after a crash.
struct Delivery {
    to: String,
    relay: &'static str,
    status: &'static str,
    reply: String,
}

/// Records the envelope, queues a bounce for new failures, removes a finished message.
fn finish(
    shared: &Shared,
    config: &Config,
    envelope: &mut Envelope,
    now: Timestamp,
    log: &[Delivery],
) -> Option<Timestamp> {
    let id = envelope.id;
    let log_outcomes = || {
        for d in log {
            info!(queue_id = %id, to = %d.to, relay = d.relay, status = d.status, reply = %d.reply, "delivery");
        }
    };
    let finished = |envelope: &Envelope| {
        envelope.recipients.iter().all(|r| match r.state {
            RecipientState::Pending { .. } => false,
            _ => !envelope.needs_bounce(r),
        })
    };
    // Done with nothing to report: removing the envelope (durably) records the outcome, one
    // fsync instead of an update and then a removal.
    if finished(envelope) {
        match block_in_place(|| shared.spool.remove(&id)) {
            Ok(()) => {
                log_outcomes();
                info!(queue_id = %id, "removed");
                return None;
            }
            Err(e) => warn!(queue_id = %id, error = %e, "cannot remove finished message"),
        }
    }
    // The outcome is durable before anything else happens: a crash now never repeats a
    // delivered recipient.
    if let Err(e) = block_in_place(|| shared.spool.update(envelope)) {
        warn!(queue_id = %id, error = %e, "cannot record delivery state; retrying later");
        return Some(now.saturating_add(Duration::from_secs(60)));
    }
    log_outcomes();
    if envelope.recipients.iter().any(|r| envelope.needs_bounce(r)) {
        match block_in_place(|| shared.spool.bounce(envelope, &config.hostname)) {
            Ok(Some(bounce_id)) => {
                info!(queue_id = %id, bounce = %bounce_id, to = %envelope.sender, "sender non-delivery notification");
                shared.scheduler.wake(&bounce_id);
                if let Err(e) = block_in_place(|| shared.spool.update(envelope)) {
                    warn!(queue_id = %id, error = %e, "cannot record that the bounce was sent");
                }
            }
            Ok(None) => {}
            Err(e) => {
                warn!(queue_id = %id, error = %e, "cannot queue the bounce; retrying later");
                return Some(now.saturating_add(Duration::from_secs(300)));
            }
        }
    }
    if finished(envelope) {
        match block_in_place(|| shared.spool.remove(&id)) {
            Ok(()) => info!(queue_id = %id, "removed"),
            Err(e) => warn!(queue_id = %id, error = %e, "cannot remove finished message"),
        }
        return None;
    }
    envelope.next_attempt()
}
