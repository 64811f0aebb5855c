//! Recent deliveries, to make an LMTP client's retry harmless: when a client lost our 250
//! (it crashed, or the connection broke after the final dot) it sends the same message to the
//! same recipient again, and delivering it again would put a second copy in the mailbox.
//!
//! A message is known by the SHA-256 of its LMTP DATA bytes. Those bytes carry the client's
//! own Received header with its queue id and time, so two different messages never share
//! them; the same bytes to the same recipient within the window is a retry, answered 250
//! without a second copy. Kept in memory: a retry after *our* restart delivers again (the
//! at-least-once of every MTA/MDA pair), a retry after the client's restart does not.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// At most this many deliveries are remembered (about 100 bytes each).
const MAX_ENTRIES: usize = 200_000;

pub type Digest = [u8; 32];

#[derive(Debug, Default)]
pub struct RecentDeliveries {
    /// (message digest, recipient lower-cased) → when it was delivered.
    seen: HashMap<(Digest, String), Instant>,
    /// Insertion order, for expiry.
    order: VecDeque<(Instant, (Digest, String))>,
}

impl RecentDeliveries {
    /// Whether `digest` was delivered to `recipient` within `window` of `now`.
    pub fn contains(
        &mut self,
        digest: &Digest,
        recipient: &str,
        window: Duration,
        now: Instant,
    ) -> bool {
        self.expire(window, now);
        self.seen
            .contains_key(&(*digest, recipient.to_ascii_lowercase()))
    }

    /// Records a delivery.
    pub fn insert(&mut self, digest: Digest, recipient: &str, window: Duration, now: Instant) {
        self.expire(window, now);
        let key = (digest, recipient.to_ascii_lowercase());
        if self.seen.insert(key.clone(), now).is_none() {
            self.order.push_back((now, key));
        }
        while self.order.len() > MAX_ENTRIES {
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
    }

    fn expire(&mut self, window: Duration, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) <= window {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_within_the_window_is_recognized_per_recipient() {
        let mut recent = RecentDeliveries::default();
        let window = Duration::from_secs(600);
        let t0 = Instant::now();
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert!(!recent.contains(&a, "alice@example.org", window, t0));
        recent.insert(a, "Alice@Example.org", window, t0);
        assert!(recent.contains(&a, "alice@example.org", window, t0));
        assert!(!recent.contains(&a, "bob@example.org", window, t0));
        assert!(!recent.contains(&b, "alice@example.org", window, t0));
        let later = t0 + Duration::from_secs(601);
        assert!(!recent.contains(&a, "alice@example.org", window, later));
        assert!(recent.seen.is_empty() && recent.order.is_empty());
    }
}
