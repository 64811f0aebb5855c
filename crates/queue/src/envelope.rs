//! The envelope of a queued message: who sent it, how it arrived, and each recipient with its
//! own delivery state, so that a partly delivered message never repeats a delivered recipient.
//!
//! A recipient is `Pending` until it is `Delivered` or `Failed` (permanently, or because the
//! message expired); `bounce_sent`/`delay_sent` record that the sender was told, so a restart
//! does not tell them twice. The delivery loop changes states with the `mark_*` methods and
//! writes the result with `Queue::update`.

use crate::id::QueueId;
use crate::retry::RetryPolicy;
use crate::time::Timestamp;

/// `BODY=` of MAIL FROM (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `7BIT`
    SevenBit,
    /// `8BITMIME`
    EightBitMime,
    /// `BINARYMIME`: must be relayed with BDAT.
    BinaryMime,
}

/// `RET=` of MAIL FROM (RFC 3461): what a DSN should return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `FULL`
    Full,
    /// `HDRS`
    Headers,
}

/// `NOTIFY=` of RCPT TO (RFC 3461): `NEVER` alone, or any of the other three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Notify {
    /// `NEVER`
    pub never: bool,
    /// `SUCCESS`
    pub success: bool,
    /// `FAILURE`
    pub failure: bool,
    /// `DELAY`
    pub delay: bool,
}

/// `ORCPT=addr-type;address` of RCPT TO, xtext decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRecipient {
    /// Usually `rfc822` (or `utf-8`).
    pub addr_type: String,
    /// The address as the client gave it.
    pub address: String,
}

/// Parameters of MAIL FROM that delivery and DSNs need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=`: the client's estimate.
    pub size: Option<u64>,
    /// `BODY=`
    pub body: Option<Body>,
    /// `SMTPUTF8`
    pub smtputf8: bool,
    /// `RET=`
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext decoded.
    pub envid: Option<String>,
}

/// How the message reached us: for the log, `queue show` and the Received header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's IP address; `None` for local submission.
    pub client_address: Option<String>,
    /// The client's verified reverse DNS name, if any.
    pub client_name: Option<String>,
    /// What it said in HELO/EHLO/LHLO.
    pub helo: Option<String>,
    /// The SMTP AUTH identity, if it authenticated.
    pub auth_user: Option<String>,
    /// Which listener took it (the config's listener name, or e.g. `sendmail`).
    pub listener: String,
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA`, … (RFC 3848).
    pub protocol: String,
    /// Whether the session was encrypted.
    pub tls: bool,
}

/// Where one recipient stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientState {
    /// Not delivered yet.
    Pending {
        /// Failed attempts so far.
        attempts: u32,
        /// Not to be tried before this.
        next_attempt: Timestamp,
        /// What the last failed attempt got (`451 4.3.0 … (in reply to RCPT TO)`).
        last_reply: Option<String>,
    },
    /// Accepted by the next hop or the mailbox.
    Delivered {
        /// When.
        at: Timestamp,
        /// The accepting reply.
        reply: String,
    },
    /// Given up: a permanent failure, or the message expired while this was pending.
    Failed {
        /// When.
        at: Timestamp,
        /// The permanent reply, or for an expiry the last temporary one.
        reply: String,
        /// Failed because the queue lifetime ran out, not by a permanent reply.
        expired: bool,
    },
}

/// One recipient and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as given in RCPT TO (after alias expansion, if the MTA does that first).
    pub address: String,
    /// `ORCPT=`
    pub orcpt: Option<OriginalRecipient>,
    /// `NOTIFY=`; `None` when not given (then failures are reported, and delays).
    pub notify: Option<Notify>,
    /// Where it stands.
    pub state: RecipientState,
    /// A failure notice (bounce) naming this recipient has been queued.
    pub bounce_sent: bool,
    /// A delay notice naming this recipient has been queued.
    pub delay_sent: bool,
}

/// A queued message's envelope, as stored in `env/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The queue id (also the file names).
    pub id: QueueId,
    /// When the message was received.
    pub arrival: Timestamp,
    /// MAIL FROM; empty for the null sender `<>`.
    pub sender: String,
    /// MAIL FROM parameters.
    pub params: MailParams,
    /// How it arrived.
    pub origin: Origin,
    /// Held (quarantined): the delivery loop leaves it alone until released.
    pub held: bool,
    /// The recipients, in RCPT order.
    pub recipients: Vec<Recipient>,
}

/// A recipient of a message being received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// The address.
    pub address: String,
    /// `ORCPT=`
    pub orcpt: Option<OriginalRecipient>,
    /// `NOTIFY=`
    pub notify: Option<Notify>,
}

impl NewRecipient {
    /// A recipient without DSN parameters.
    pub fn new(address: impl Into<String>) -> NewRecipient {
        NewRecipient {
            address: address.into(),
            orcpt: None,
            notify: None,
        }
    }
}

/// The envelope of a message being received, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnvelope {
    /// When the message arrived.
    pub arrival: Timestamp,
    /// MAIL FROM; empty for the null sender.
    pub sender: String,
    /// MAIL FROM parameters.
    pub params: MailParams,
    /// How it arrived.
    pub origin: Origin,
    /// Queue it held.
    pub held: bool,
    /// The recipients, in RCPT order; at least one.
    pub recipients: Vec<NewRecipient>,
}

impl NewEnvelope {
    /// The queued envelope: every recipient pending, due at once.
    pub(crate) fn into_envelope(self, id: QueueId) -> Envelope {
        let arrival = self.arrival;
        Envelope {
            id,
            arrival,
            sender: self.sender,
            params: self.params,
            origin: self.origin,
            held: self.held,
            recipients: self
                .recipients
                .into_iter()
                .map(|r| Recipient {
                    address: r.address,
                    orcpt: r.orcpt,
                    notify: r.notify,
                    state: RecipientState::Pending {
                        attempts: 0,
                        next_attempt: arrival,
                        last_reply: None,
                    },
                    bounce_sent: false,
                    delay_sent: false,
                })
                .collect(),
        }
    }
}

impl Recipient {
    /// Whether it still waits for delivery.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, RecipientState::Pending { .. })
    }

    /// Whether it is pending and may be tried at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        matches!(self.state, RecipientState::Pending { next_attempt, .. } if next_attempt <= now)
    }

    /// Records acceptance. Returns false (and changes nothing) unless it was pending: a
    /// delivered or failed recipient keeps its final state.
    pub fn mark_delivered(&mut self, at: Timestamp, reply: impl Into<String>) -> bool {
        if !self.is_pending() {
            return false;
        }
        self.state = RecipientState::Delivered {
            at,
            reply: reply.into(),
        };
        true
    }

    /// Records a temporary failure at `now` and schedules the next attempt by `policy`.
    /// Returns false (and changes nothing) unless it was pending.
    pub fn mark_deferred(
        &mut self,
        now: Timestamp,
        reply: impl Into<String>,
        policy: &RetryPolicy,
    ) -> bool {
        let RecipientState::Pending { attempts, .. } = self.state else {
            return false;
        };
        let attempts = attempts.saturating_add(1);
        self.state = RecipientState::Pending {
            attempts,
            next_attempt: policy.next_attempt(attempts, now),
            last_reply: Some(reply.into()),
        };
        true
    }

    /// Records a permanent failure. Returns false (and changes nothing) unless it was
    /// pending.
    pub fn mark_failed(&mut self, at: Timestamp, reply: impl Into<String>) -> bool {
        if !self.is_pending() {
            return false;
        }
        self.state = RecipientState::Failed {
            at,
            reply: reply.into(),
            expired: false,
        };
        true
    }

    /// Whether its sender asked to hear about failures (`NOTIFY` absent or with `FAILURE`).
    pub fn notify_failure(&self) -> bool {
        self.notify.is_none_or(|n| n.failure)
    }

    /// Whether its sender asked to hear about delays (`NOTIFY` absent or with `DELAY`).
    pub fn notify_delay(&self) -> bool {
        self.notify.is_none_or(|n| n.delay)
    }
}

impl Envelope {
    /// Whether MAIL FROM was `<>` (a bounce or other notice: never bounced itself).
    pub fn is_null_sender(&self) -> bool {
        self.sender.is_empty()
    }

    /// Indices of the recipients that may be tried at `now`.
    pub fn due(&self, now: Timestamp) -> impl Iterator<Item = usize> + '_ {
        self.recipients
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.is_due(now))
            .map(|(i, _)| i)
    }

    /// The earliest next attempt of a pending recipient; `None` when none is pending.
    pub fn next_attempt(&self) -> Option<Timestamp> {
        self.recipients
            .iter()
            .filter_map(|r| match r.state {
                RecipientState::Pending { next_attempt, .. } => Some(next_attempt),
                _ => None,
            })
            .min()
    }

    /// Gives up on every pending recipient at `now` because the message outlived its
    /// lifetime; their last reply becomes the failure's. Returns how many were pending.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let mut expired = 0;
        for r in &mut self.recipients {
            if let RecipientState::Pending { last_reply, .. } = &mut r.state {
                let reply = last_reply
                    .take()
                    .unwrap_or_else(|| "no delivery attempt was made".to_owned());
                r.state = RecipientState::Failed {
                    at: now,
                    reply,
                    expired: true,
                };
                expired += 1;
            }
        }
        expired
    }

    /// Whether recipient `r` of this envelope still needs to appear in a failure notice.
    pub fn needs_bounce(&self, r: &Recipient) -> bool {
        !self.is_null_sender()
            && matches!(r.state, RecipientState::Failed { .. })
            && !r.bounce_sent
            && r.notify_failure()
    }

    /// Whether recipient `r` of this envelope still needs to appear in a delay notice.
    pub fn needs_delay_notice(&self, r: &Recipient) -> bool {
        !self.is_null_sender() && r.is_pending() && !r.delay_sent && r.notify_delay()
    }

    /// Whether nothing is left to do: no recipient pending and every failure reported (or
    /// not to be reported). Then the message can be removed.
    pub fn is_finished(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| !r.is_pending() && !self.needs_bounce(r))
    }

    /// Checks what the file format requires, so that nothing is written that could not be
    /// read back.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.recipients.is_empty() {
            return Err("no recipients".into());
        }
        for r in &self.recipients {
            if r.address.is_empty() {
                return Err("empty recipient address".into());
            }
            if let Some(n) = r.notify
                && (n.never && (n.success || n.failure || n.delay)
                    || !(n.never || n.success || n.failure || n.delay))
            {
                return Err(format!("invalid NOTIFY for {:?}", r.address));
            }
            if let Some(o) = &r.orcpt
                && (o.addr_type.is_empty() || o.addr_type.contains(';'))
            {
                return Err(format!("invalid ORCPT type for {:?}", r.address));
            }
        }
        if self.params.size.is_some_and(|s| i64::try_from(s).is_err()) {
            return Err("SIZE too large".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(sender: &str, notify: Option<Notify>) -> Envelope {
        NewEnvelope {
            arrival: Timestamp::from_unix(1000),
            sender: sender.into(),
            params: MailParams::default(),
            origin: Origin::default(),
            held: false,
            recipients: vec![
                NewRecipient {
                    notify,
                    ..NewRecipient::new("a@example.org")
                },
                NewRecipient::new("b@example.org"),
            ],
        }
        .into_envelope("69C3A1F00A2B3001".parse().expect("id"))
    }

    #[test]
    fn delivered_recipients_stay_delivered() {
        let policy = RetryPolicy::default();
        let mut env = envelope("s@example.net", None);
        let now = Timestamp::from_unix(1000);
        assert_eq!(env.due(now).collect::<Vec<_>>(), [0, 1]);
        let [a, b] = env.recipients.as_mut_slice() else {
            panic!("two recipients")
        };
        assert!(a.mark_delivered(now, "250 2.0.0 OK"));
        assert!(b.mark_deferred(now, "451 4.3.0 later", &policy));
        assert!(
            !a.mark_deferred(now, "451", &policy),
            "no way back to pending"
        );
        assert!(!a.mark_failed(now, "550"));
        assert_eq!(env.due(now).count(), 0);
        assert_eq!(env.next_attempt(), Some(Timestamp::from_unix(1300)));
        assert_eq!(env.due(Timestamp::from_unix(1300)).collect::<Vec<_>>(), [1]);
        assert!(!env.is_finished());
        assert_eq!(env.expire(Timestamp::from_unix(9000)), 1);
        let Some(Recipient {
            state: RecipientState::Failed { reply, expired, .. },
            ..
        }) = env.recipients.get(1)
        else {
            panic!("expired recipient is failed")
        };
        assert_eq!((reply.as_str(), *expired), ("451 4.3.0 later", true));
        assert!(!env.is_finished(), "the bounce is still owed");
        if let Some(b) = env.recipients.get_mut(1) {
            b.bounce_sent = true;
        }
        assert!(env.is_finished());
    }

    #[test]
    fn who_gets_told() {
        let never = Notify {
            never: true,
            ..Notify::default()
        };
        let mut env = envelope("s@example.net", Some(never));
        env.expire(Timestamp::from_unix(2000));
        let [a, b] = env.recipients.as_slice() else {
            panic!("two")
        };
        assert!(!env.needs_bounce(a), "NOTIFY=NEVER");
        assert!(env.needs_bounce(b), "NOTIFY absent");
        let mut bounce = envelope("", None);
        bounce.expire(Timestamp::from_unix(2000));
        assert!(bounce.recipients.iter().all(|r| !bounce.needs_bounce(r)));
        assert!(bounce.is_finished(), "a bounce is never bounced");
    }
}
