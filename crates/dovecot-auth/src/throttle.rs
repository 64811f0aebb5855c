//! [`FailureThrottle`]: per-client-address failure counting, pure (the clock is passed in).
//!
//! Two measures, as in Dovecot: every failed attempt is answered only after a fixed delay
//! (`auth_failure_delay`, 2 s), which slows down a client that waits for answers; and an
//! address with too many failures within a window is locked out for a while, which stops
//! one that does not wait.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Settings for [`FailureThrottle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleOptions {
    /// How long to hold back each `FAIL` (Dovecot: 2 s).
    pub failure_delay: Duration,
    /// Failures within `window` that trigger a lockout.
    pub max_failures: u32,
    /// The window over which failures are counted, from the first one.
    pub window: Duration,
    /// How long a locked-out address stays locked out.
    pub lockout: Duration,
    /// IPv6 addresses are grouped by this prefix length (one end site usually owns a whole
    /// /64, so counting single addresses would be pointless).
    pub ipv6_prefix: u8,
    /// Most addresses tracked at once; beyond it the least recently seen is forgotten.
    pub max_tracked: usize,
}

impl Default for ThrottleOptions {
    fn default() -> Self {
        Self {
            failure_delay: Duration::from_secs(2),
            max_failures: 10,
            window: Duration::from_secs(10 * 60),
            lockout: Duration::from_secs(15 * 60),
            ipv6_prefix: 64,
            max_tracked: 65_536,
        }
    }
}

/// Whether an address may try to authenticate now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allow,
    /// Locked out: fail the request without checking the password.
    Locked {
        /// Time left until the lockout ends.
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

/// Failure counts per client address (or IPv6 prefix).
#[derive(Debug, Clone)]
pub struct FailureThrottle {
    options: ThrottleOptions,
    records: HashMap<IpAddr, Record>,
}

impl FailureThrottle {
    /// An empty throttle.
    pub fn new(options: ThrottleOptions) -> Self {
        Self {
            options,
            records: HashMap::new(),
        }
    }

    /// Whether `ip` may attempt to authenticate at `now`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Admission {
        let Some(record) = self.records.get(&self.key(ip)) else {
            return Admission::Allow;
        };
        match record.locked_until {
            Some(until) if until > now => Admission::Locked {
                retry_after: until.saturating_duration_since(now),
            },
            _ => Admission::Allow,
        }
    }

    /// Counts a failed attempt by `ip` at `now`; returns how long to hold back the `FAIL`.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Duration {
        let key = self.key(ip);
        if !self.records.contains_key(&key) && self.records.len() >= self.options.max_tracked {
            self.make_room(now);
        }
        let options = &self.options;
        let record = self.records.entry(key).or_insert(Record {
            failures: 0,
            window_start: now,
            locked_until: None,
            last_seen: now,
        });
        let lock_expired = record.locked_until.is_some_and(|until| until <= now);
        if lock_expired || now.saturating_duration_since(record.window_start) > options.window {
            record.failures = 0;
            record.window_start = now;
            record.locked_until = None;
        }
        record.failures = record.failures.saturating_add(1);
        record.last_seen = now;
        if record.failures >= options.max_failures && record.locked_until.is_none() {
            record.locked_until = now.checked_add(options.lockout);
        }
        options.failure_delay
    }

    /// A successful login by `ip` clears its failures (but not an active lockout, which
    /// [`check`](Self::check) should have prevented reaching this point).
    pub fn record_success(&mut self, ip: IpAddr, now: Instant) {
        let key = self.key(ip);
        if let Some(record) = self.records.get(&key)
            && record.locked_until.is_none_or(|until| until <= now)
        {
            self.records.remove(&key);
        }
    }

    /// Forgets records whose window and lockout are both over. Call now and then.
    pub fn prune(&mut self, now: Instant) {
        let window = self.options.window;
        self.records
            .retain(|_, record| !Self::expired(record, window, now));
    }

    /// Number of addresses tracked.
    pub fn tracked(&self) -> usize {
        self.records.len()
    }

    fn expired(record: &Record, window: Duration, now: Instant) -> bool {
        let window_over = now.saturating_duration_since(record.window_start) > window;
        let lock_over = record.locked_until.is_none_or(|until| until <= now);
        window_over && lock_over
    }

    fn make_room(&mut self, now: Instant) {
        self.prune(now);
        if self.records.len() < self.options.max_tracked {
            return;
        }
        let stalest = self
            .records
            .iter()
            .min_by_key(|(_, record)| record.last_seen)
            .map(|(&key, _)| key);
        if let Some(key) = stalest {
            self.records.remove(&key);
        }
    }

    /// The counting key: IPv4 (and IPv4-mapped IPv6) as is, IPv6 cut to its prefix.
    fn key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return IpAddr::V4(v4);
                }
                let prefix = u32::from(self.options.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ThrottleOptions {
        ThrottleOptions {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            max_tracked: 4,
            ..ThrottleOptions::default()
        }
    }

    #[test]
    fn locks_out_after_max_failures_within_the_window() {
        let start = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut throttle = FailureThrottle::new(options());
        for second in 0..2 {
            let now = start + Duration::from_secs(second);
            assert_eq!(throttle.record_failure(ip, now), Duration::from_secs(2));
            assert_eq!(throttle.check(ip, now), Admission::Allow);
        }
        throttle.record_failure(ip, start + Duration::from_secs(10));
        assert_eq!(
            throttle.check(ip, start + Duration::from_secs(20)),
            Admission::Locked {
                retry_after: Duration::from_secs(290)
            }
        );
        assert_eq!(
            throttle.check(ip, start + Duration::from_secs(310)),
            Admission::Allow
        );
        // After the lockout, counting starts over.
        throttle.record_failure(ip, start + Duration::from_secs(311));
        assert_eq!(
            throttle.check(ip, start + Duration::from_secs(312)),
            Admission::Allow
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let start = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut throttle = FailureThrottle::new(options());
        for minute in 0..5 {
            throttle.record_failure(ip, start + Duration::from_secs(61 * minute));
        }
        assert_eq!(
            throttle.check(ip, start + Duration::from_secs(300)),
            Admission::Allow
        );
    }

    #[test]
    fn success_clears_and_ipv6_groups_by_prefix() {
        let start = Instant::now();
        let mut throttle = FailureThrottle::new(options());
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        throttle.record_failure(a, start);
        throttle.record_failure(b, start);
        throttle.record_failure(a, start);
        assert!(matches!(throttle.check(b, start), Admission::Locked { .. }));
        let c: IpAddr = "198.51.100.9".parse().unwrap();
        throttle.record_failure(c, start);
        throttle.record_success(c, start);
        assert_eq!(throttle.tracked(), 1);
    }

    #[test]
    fn memory_is_bounded() {
        let start = Instant::now();
        let mut throttle = FailureThrottle::new(options());
        for n in 0..100u32 {
            let ip = IpAddr::V4(n.into());
            throttle.record_failure(ip, start + Duration::from_millis(u64::from(n)));
        }
        assert_eq!(throttle.tracked(), 4);
        throttle.prune(start + Duration::from_secs(3600));
        assert_eq!(throttle.tracked(), 0);
    }
}
