//! Queue ids: 16 uppercase hex digits, `{secs:08X}{micros:05X}{seq:03X}`, so that sorting the
//! names sorts by arrival and the id alone says when a message came in.
//!
//! Uniqueness does not rest on the clock: the receive path creates `data/<id>` with `O_EXCL`
//! and takes the next id when the name exists (a clock stepped back, a second process). Within
//! one process ids are strictly increasing even when the clock stands still or goes back.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::time::Timestamp;

/// The id of one queued message; its text form names its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId {
    secs: u32,
    micros: u32,
    seq: u16,
}

const MICROS_PER_SEC: u32 = 1_000_000;
const MAX_SEQ: u16 = 0xFFF;
/// Length of the text form.
pub const QUEUE_ID_LEN: usize = 16;

impl QueueId {
    /// When the id was made (the second of arrival, give or take the receive's duration).
    pub fn timestamp(self) -> Timestamp {
        Timestamp::from_unix(u64::from(self.secs))
    }

    /// The id `time` would get as the first of its microsecond.
    fn at(time: SystemTime) -> QueueId {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        QueueId {
            secs: u32::try_from(since.as_secs()).unwrap_or(u32::MAX),
            micros: since.subsec_micros(),
            seq: 0,
        }
    }

    /// The next id in sort order (saturating at the largest one).
    fn successor(self) -> QueueId {
        if self.seq < MAX_SEQ {
            return QueueId {
                seq: self.seq + 1,
                ..self
            };
        }
        if self.micros + 1 < MICROS_PER_SEC {
            return QueueId {
                micros: self.micros + 1,
                seq: 0,
                ..self
            };
        }
        match self.secs.checked_add(1) {
            Some(secs) => QueueId {
                secs,
                micros: 0,
                seq: 0,
            },
            None => self,
        }
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}{:05X}{:03X}", self.secs, self.micros, self.seq)
    }
}

/// A string that is not a queue id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a queue id (16 uppercase hex digits)")]
pub struct BadQueueId(pub String);

impl FromStr for QueueId {
    type Err = BadQueueId;

    /// Only the exact form [`Display`](fmt::Display) writes: other files in the queue
    /// directories (editor backups, stray copies) are never taken for messages.
    fn from_str(s: &str) -> Result<QueueId, BadQueueId> {
        let bad = || BadQueueId(s.to_owned());
        if s.len() != QUEUE_ID_LEN || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')) {
            return Err(bad());
        }
        let field = |range: std::ops::Range<usize>| {
            s.get(range)
                .and_then(|part| u32::from_str_radix(part, 16).ok())
                .ok_or_else(bad)
        };
        let id = QueueId {
            secs: field(0..8)?,
            micros: field(8..13)?,
            seq: u16::try_from(field(13..16)?).map_err(|_| bad())?,
        };
        if id.micros >= MICROS_PER_SEC {
            return Err(bad());
        }
        Ok(id)
    }
}

/// Hands out strictly increasing ids within one process.
#[derive(Debug, Default)]
pub(crate) struct IdGenerator {
    last: Mutex<Option<QueueId>>,
}

impl IdGenerator {
    /// An id for something arriving at `now`, later than every id this generator gave.
    pub(crate) fn next(&self, now: SystemTime) -> QueueId {
        let candidate = QueueId::at(now);
        // A poisoned lock only means another thread panicked holding a Copy value.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let id = match *last {
            Some(prev) if candidate <= prev => prev.successor(),
            _ => candidate,
        };
        *last = Some(id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_form_round_trips_and_sorts_like_the_ids() {
        let generator = IdGenerator::default();
        let start = UNIX_EPOCH + Duration::from_micros(1_774_432_800_999_998);
        let mut ids = Vec::new();
        for step in 0..5000u64 {
            // The clock moves, stands still, and steps back.
            let t = start + Duration::from_micros(step % 7) - Duration::from_micros(step % 3);
            ids.push(generator.next(t));
        }
        for pair in ids.windows(2) {
            let [a, b] = pair else { continue };
            assert!(a < b, "{a} < {b}");
            assert!(a.to_string() < b.to_string());
        }
        for id in &ids {
            let text = id.to_string();
            assert_eq!(text.len(), QUEUE_ID_LEN);
            assert_eq!(text.parse::<QueueId>().as_ref(), Ok(id));
            assert_eq!(id.timestamp().unix() / 10, 177_443_280);
        }
    }

    #[test]
    fn rolls_over_microseconds_and_seconds() {
        let id = QueueId {
            secs: 7,
            micros: 999_999,
            seq: MAX_SEQ,
        };
        assert_eq!(id.successor().to_string(), "0000000800000000");
        let id = QueueId {
            secs: 7,
            micros: 5,
            seq: MAX_SEQ,
        };
        assert_eq!(id.successor().to_string(), "0000000700006000");
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "69C3A1F00A2B300",
            "69C3A1F00A2B30011",
            "69c3a1f00a2b3001",
            "69C3A1F0FFFFF001",
            "69C3A1F00A2B300G",
            "69C3A1F00A2B300\u{e9}",
            "+9C3A1F00A2B3001",
        ] {
            assert!(bad.parse::<QueueId>().is_err(), "{bad:?}");
        }
        assert!("69C3A1F00A2B3001".parse::<QueueId>().is_ok());
        assert!(
            "69C3A1F0F4240001".parse::<QueueId>().is_err(),
            "micros 1000000"
        );
        assert!("69C3A1F0F423F001".parse::<QueueId>().is_ok());
    }
}
