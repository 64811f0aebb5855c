//! Connections per user and per client address, as Dovecot's `mail_max_userip_connections`
//! and Postfix's per-client limits: a slot is held while the connection lives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts of open IMAP connections by key.
#[derive(Debug, Default)]
pub struct ConnectionLimits {
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

/// One counted connection; dropping it gives the slot back.
#[derive(Debug)]
pub struct Slot {
    key: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl ConnectionLimits {
    /// A slot for `user` if fewer than `limit` are taken (0: no limit).
    pub fn take_user(&self, user: &str, limit: usize) -> Option<Slot> {
        self.take(format!("user:{user}"), limit)
    }

    /// A slot for the client address.
    pub fn take_ip(&self, ip: IpAddr, limit: usize) -> Option<Slot> {
        self.take(format!("ip:{ip}"), limit)
    }

    fn take(&self, key: String, limit: usize) -> Option<Slot> {
        let mut counts = self.counts.lock().ok()?;
        let count = counts.entry(key.clone()).or_insert(0);
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            key,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock()
            && let Some(count) = counts.get_mut(&self.key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_returned() {
        let limits = ConnectionLimits::default();
        let a = limits.take_user("bob", 2).unwrap();
        let _b = limits.take_user("bob", 2).unwrap();
        assert!(limits.take_user("bob", 2).is_none());
        assert!(limits.take_user("alice", 2).is_some());
        drop(a);
        assert!(limits.take_user("bob", 2).is_some());
    }
}
