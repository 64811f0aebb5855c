//! When to try a deferred recipient again and when a message has been queued too long.
//!
//! Exponential backoff from `min_backoff`, doubling per failed attempt, capped at
//! `max_backoff` (Postfix's `minimal_backoff_time` 300 s and `maximal_backoff_time` 4000 s),
//! and a queue lifetime after which what is still pending bounces (Postfix's
//! `maximal_queue_lifetime`, 5 days; bounces themselves get `bounce_lifetime`). Time is a
//! parameter: nothing here reads the clock.

use std::time::Duration;

use crate::envelope::Envelope;
use crate::time::Timestamp;

/// The retry schedule and lifetimes of queued messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt (default 5 minutes).
    pub min_backoff: Duration,
    /// Longest wait between attempts (default 4000 s).
    pub max_backoff: Duration,
    /// How long a message may stay queued before its pending recipients bounce (default 5
    /// days).
    pub lifetime: Duration,
    /// The lifetime of messages with the null sender (bounces): nobody can be told about
    /// their failure, so there is no point keeping them as long (default 5 days, like
    /// Postfix's `bounce_queue_lifetime`).
    pub bounce_lifetime: Duration,
    /// Send a "delayed" notice once a message has waited this long, if set (default off, as
    /// Postfix's `delay_warning_time = 0`).
    pub delay_warning: Option<Duration>,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_backoff: Duration::from_secs(300),
            max_backoff: Duration::from_secs(4000),
            lifetime: 5 * DAY,
            bounce_lifetime: 5 * DAY,
            delay_warning: None,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt: `min_backoff · 2^(attempts−1)`,
    /// at most `max_backoff` (and never less than `min_backoff`).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        let cap = self.max_backoff.max(self.min_backoff);
        self.min_backoff.saturating_mul(factor).min(cap)
    }

    /// When to try again after the `attempts`-th failed attempt, made at `now`.
    pub fn next_attempt(&self, attempts: u32, now: Timestamp) -> Timestamp {
        now.saturating_add(self.backoff(attempts))
    }

    /// Whether a message that arrived at `arrival` has outlived [`lifetime`](Self::lifetime).
    pub fn expired(&self, arrival: Timestamp, now: Timestamp) -> bool {
        now.since(arrival) >= self.lifetime
    }

    /// Whether `envelope` has outlived its lifetime: [`bounce_lifetime`](Self::bounce_lifetime)
    /// for the null sender, [`lifetime`](Self::lifetime) otherwise.
    pub fn envelope_expired(&self, envelope: &Envelope, now: Timestamp) -> bool {
        now.since(envelope.arrival) >= self.lifetime_of(envelope)
    }

    /// The lifetime that applies to `envelope`.
    pub fn lifetime_of(&self, envelope: &Envelope) -> Duration {
        if envelope.is_null_sender() {
            self.bounce_lifetime
        } else {
            self.lifetime
        }
    }

    /// Until when `envelope` will be retried (its DSN's `Will-Retry-Until`).
    pub fn retry_until(&self, envelope: &Envelope) -> Timestamp {
        envelope.arrival.saturating_add(self.lifetime_of(envelope))
    }

    /// Whether a "delayed" notice is due for a message that arrived at `arrival`.
    pub fn delay_warning_due(&self, arrival: Timestamp, now: Timestamp) -> bool {
        self.delay_warning
            .is_some_and(|after| now.since(arrival) >= after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_min_and_stops_at_max() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (0..8).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(secs, [300, 300, 600, 1200, 2400, 4000, 4000, 4000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(4000));
        let now = Timestamp::from_unix(1_000_000);
        assert_eq!(p.next_attempt(3, now).unix(), 1_001_200);
    }

    #[test]
    fn max_below_min_means_min() {
        let p = RetryPolicy {
            min_backoff: Duration::from_secs(600),
            max_backoff: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1), Duration::from_secs(600));
        assert_eq!(p.backoff(9), Duration::from_secs(600));
    }

    #[test]
    fn expiry_and_delay_warning() {
        let p = RetryPolicy {
            delay_warning: Some(Duration::from_secs(4 * 3600)),
            ..RetryPolicy::default()
        };
        let arrival = Timestamp::from_unix(1_000_000);
        let five_days = 5 * 24 * 3600;
        assert!(!p.expired(arrival, Timestamp::from_unix(1_000_000 + five_days - 1)));
        assert!(p.expired(arrival, Timestamp::from_unix(1_000_000 + five_days)));
        assert!(
            !p.expired(arrival, Timestamp::from_unix(10)),
            "clock behind arrival"
        );
        assert!(!p.delay_warning_due(arrival, Timestamp::from_unix(1_000_000 + 4 * 3600 - 1)));
        assert!(p.delay_warning_due(arrival, Timestamp::from_unix(1_000_000 + 4 * 3600)));
        assert!(!RetryPolicy::default().delay_warning_due(arrival, Timestamp::MAX));
    }
}
