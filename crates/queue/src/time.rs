//! Points in time as whole seconds since the Unix epoch: what the envelope stores (as TOML
//! datetimes in UTC) and what the retry policy computes with.
//!
//! The envelope file writes them with `Display` (RFC 3339, `Z`), which is a TOML offset
//! datetime. The queue never reads the clock for a decision: callers pass `now`, so tests are
//! deterministic. Whole seconds because that is what the file shows and what a retry schedule
//! needs; sub-second precision would make a loaded envelope differ from the one written.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use toml::value::{Datetime, Offset};

/// Seconds since 1970-01-01T00:00:00Z, at most 9999-12-31T23:59:59Z (the largest TOML year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar, the offset of the
/// March-based day count below.
const EPOCH_DAYS: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;
const SECS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The epoch itself.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// 9999-12-31T23:59:59Z: arithmetic saturates here so every value can be written.
    pub const MAX: Timestamp = Timestamp(253_402_300_799);

    /// The current time. The only place the crate reads the clock, and only for callers.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// A timestamp `secs` after the epoch (clamped to [`MAX`](Self::MAX)).
    pub fn from_unix(secs: u64) -> Timestamp {
        Timestamp(secs.min(Self::MAX.0))
    }

    /// Seconds since the epoch.
    pub fn unix(self) -> u64 {
        self.0
    }

    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }

    /// `self + d`, saturating at [`MAX`](Self::MAX).
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp::from_unix(self.0.saturating_add(d.as_secs()))
    }

    /// How long after `earlier` this is; zero if it is not later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }

    /// Year, month (1–12), day, hour, minute, second in UTC.
    pub fn to_civil(self) -> (i64, u8, u8, u8, u8, u8) {
        let secs = i64::try_from(self.0).unwrap_or(i64::MAX);
        let days = secs.div_euclid(SECS_PER_DAY);
        let rem = secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        // rem < 86400, so each part fits in u8.
        let hour = u8::try_from(rem / 3600).unwrap_or(0);
        let minute = u8::try_from(rem % 3600 / 60).unwrap_or(0);
        let second = u8::try_from(rem % 60).unwrap_or(0);
        (y, m, d, hour, minute, second)
    }

    /// Reads a TOML offset datetime; local dates and times (no offset) are refused because
    /// they do not name one instant. Fractions of a second are dropped.
    pub(crate) fn from_toml(dt: &Datetime) -> Result<Timestamp, String> {
        let (Some(date), Some(time), Some(offset)) = (dt.date, dt.time, dt.offset) else {
            return Err(format!("{dt} is not a date and time with an offset"));
        };
        let second = time.second.unwrap_or(0);
        if !(1..=12).contains(&date.month)
            || date.day == 0
            || date.day > days_in_month(i64::from(date.year), date.month)
            || time.hour > 23
            || time.minute > 59
            || second > 59
        {
            return Err(format!("{dt} is not a valid date and time"));
        }
        let days = days_from_civil(i64::from(date.year), date.month, date.day);
        let mut secs = days * SECS_PER_DAY
            + i64::from(time.hour) * 3600
            + i64::from(time.minute) * 60
            + i64::from(second);
        if let Offset::Custom { minutes } = offset {
            secs -= i64::from(minutes) * 60;
        }
        u64::try_from(secs)
            .ok()
            .filter(|s| *s <= Self::MAX.0)
            .map(Timestamp)
            .ok_or_else(|| format!("{dt} is before 1970 or after 9999"))
    }
}

impl From<SystemTime> for Timestamp {
    /// Times before the epoch become the epoch.
    fn from(t: SystemTime) -> Timestamp {
        Timestamp::from_unix(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC: `2026-03-25T10:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, hour, minute, second) = self.to_civil();
        write!(f, "{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}Z")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01. Counting years from March puts the leap day last, so the day of
/// the year follows from the month by one linear formula; 400-year eras repeat exactly.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let march_month = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_DAYS
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + EPOCH_DAYS;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z - era * DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(1_774_432_800).to_string(),
            "2026-03-25T10:00:00Z"
        );
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(
            Timestamp::from_unix(u64::MAX),
            Timestamp::MAX,
            "clamped so every value can be written"
        );
    }

    #[test]
    fn toml_round_trip_over_many_days() {
        // Every day boundary around leap years and century rules, plus odd times of day.
        let mut t = 0u64;
        while t < Timestamp::MAX.unix() {
            for extra in [0, 1, 59, 3599, 86_399] {
                let ts = Timestamp::from_unix(t + extra);
                let text = ts.to_string();
                let dt: Datetime = text.parse().expect("toml datetime");
                assert_eq!(Timestamp::from_toml(&dt), Ok(ts), "{text}");
                assert_eq!(dt.to_string(), text);
            }
            t += 86_400 * 97 + 13;
        }
    }

    #[test]
    fn offsets_and_bad_datetimes() {
        let parse = |s: &str| Timestamp::from_toml(&s.parse::<Datetime>().expect("datetime"));
        assert_eq!(
            parse("2026-03-25T12:00:00+02:00"),
            parse("2026-03-25T10:00:00Z")
        );
        assert_eq!(
            parse("2026-03-25T10:00:00.999Z"),
            parse("2026-03-25T10:00:00Z")
        );
        assert!(parse("2026-03-25T10:00:00").is_err(), "local time");
        assert!(parse("2026-03-25").is_err(), "date only");
        assert!(parse("1969-12-31T23:59:59Z").is_err());
        assert!(parse("1970-01-01T00:30:00+01:00").is_err());
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix(100);
        assert_eq!(t.saturating_add(Duration::from_secs(5)).unix(), 105);
        assert_eq!(Timestamp::MAX.saturating_add(Duration::MAX), Timestamp::MAX);
        assert_eq!(t.since(Timestamp::from_unix(40)), Duration::from_secs(60));
        assert_eq!(Timestamp::from_unix(40).since(t), Duration::ZERO);
    }
}
