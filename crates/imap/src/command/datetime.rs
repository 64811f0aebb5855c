//! IMAP dates (`1-Feb-1994`, SEARCH) and date-times (`"17-Jul-1996 02:44:25 -0700"`, APPEND
//! and INTERNALDATE), with the arithmetic needed to compare them.

use std::fmt;

use super::reader::{Reader, Result, bad};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date, valid by construction when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Four-digit year.
    pub year: u16,
    /// 1-12.
    pub month: u8,
    /// 1-31, within the month.
    pub day: u8,
}

/// A date and time with its zone offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// The local date.
    pub date: Date,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// 0-60 (a leap second is kept).
    pub second: u8,
    /// Offset from UTC in minutes, `-0700` is -420.
    pub zone_minutes: i16,
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(i64::from(year)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// A date if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Days from 1970-01-01 (negative before), for comparisons.
    pub fn days_since_epoch(&self) -> i64 {
        // Count from 1 March of year 0 so that the leap day is the last day of the year.
        let month = i64::from(self.month.clamp(1, 12));
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era_year = year.rem_euclid(400);
        let era = (year - era_year) / 400;
        let month_from_march = (month + 9) % 12;
        let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = era_year * 365 + era_year / 4 - era_year / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let days = days + 719_468;
        let era = days.div_euclid(146_097);
        let day_of_era = days.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date {
            year: u16::try_from(year.clamp(0, 9999)).unwrap_or(0),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }
}

impl DateTime {
    /// Unix seconds of this moment (the zone applied).
    pub fn timestamp(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }

    /// The moment `timestamp` in the zone `zone_minutes` east of UTC.
    pub fn from_timestamp(timestamp: i64, zone_minutes: i16) -> DateTime {
        let local = timestamp + i64::from(zone_minutes) * 60;
        let seconds = local.rem_euclid(86_400);
        DateTime {
            date: Date::from_days_since_epoch(local.div_euclid(86_400)),
            hour: u8::try_from(seconds / 3600).unwrap_or(0),
            minute: u8::try_from(seconds / 60 % 60).unwrap_or(0),
            second: u8::try_from(seconds % 60).unwrap_or(0),
            zone_minutes,
        }
    }
}

impl fmt::Display for Date {
    /// `1-Feb-1994`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let month = MONTHS
            .get(usize::from(self.month).wrapping_sub(1))
            .unwrap_or(&"Jan");
        write!(f, "{}-{}-{:04}", self.day, month, self.year)
    }
}

impl fmt::Display for DateTime {
    /// The date-time as in INTERNALDATE, without the quotes: `17-Jul-1996 02:44:25 -0700`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let month = MONTHS
            .get(usize::from(self.date.month).wrapping_sub(1))
            .unwrap_or(&"Jan");
        let sign = if self.zone_minutes < 0 { '-' } else { '+' };
        let zone = self.zone_minutes.unsigned_abs();
        write!(
            f,
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            month,
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            zone / 60,
            zone % 60
        )
    }
}

/// Exactly `count` digits.
fn digits(r: &mut Reader<'_>, count: usize) -> Result<u16> {
    let mut value = 0u16;
    for _ in 0..count {
        match r.peek() {
            Some(b) if b.is_ascii_digit() => {
                r.eat(b);
                value = value * 10 + u16::from(b - b'0');
            }
            _ => return bad("invalid date"),
        }
    }
    Ok(value)
}

/// `date-month "-" date-year` after the day and its dash.
fn month_year_day(r: &mut Reader<'_>, day: u16) -> Result<Date> {
    let name = r.take_while(|b| b.is_ascii_alphabetic());
    let Some(month) = MONTHS
        .iter()
        .position(|m| m.as_bytes().eq_ignore_ascii_case(name))
    else {
        return bad("invalid month");
    };
    r.expect(b'-', "invalid date")?;
    let year = digits(r, 4)?;
    let month = u8::try_from(month + 1).unwrap_or(1);
    match Date::new(year, month, u8::try_from(day).unwrap_or(0)) {
        Some(date) => Ok(date),
        None => bad("invalid date"),
    }
}

fn date_text(r: &mut Reader<'_>) -> Result<Date> {
    let day = r.take_while(|b| b.is_ascii_digit());
    if day.is_empty() || day.len() > 2 {
        return bad("invalid date");
    }
    let day = day.iter().fold(0u16, |v, &b| v * 10 + u16::from(b - b'0'));
    r.expect(b'-', "invalid date")?;
    month_year_day(r, day)
}

/// date: `1-Feb-1994` or the same in quotes.
pub(crate) fn date(r: &mut Reader<'_>) -> Result<Date> {
    if r.eat(b'"') {
        let date = date_text(r)?;
        r.expect(b'"', "invalid date")?;
        Ok(date)
    } else {
        date_text(r)
    }
}

/// date-time: `"17-Jul-1996 02:44:25 -0700"`; the day may be ` 7`, `07` or `7`.
pub(crate) fn date_time(r: &mut Reader<'_>) -> Result<DateTime> {
    r.expect(b'"', "expected a date-time")?;
    r.eat(b' ');
    let date = date_text(r)?;
    r.sp()?;
    let hour = digits(r, 2)?;
    r.expect(b':', "invalid time")?;
    let minute = digits(r, 2)?;
    r.expect(b':', "invalid time")?;
    let second = digits(r, 2)?;
    r.sp()?;
    let negative = match r.peek() {
        Some(b'+') => false,
        Some(b'-') => true,
        _ => return bad("invalid zone"),
    };
    r.eat(if negative { b'-' } else { b'+' });
    let zone_hours = digits(r, 2)?;
    let zone_mins = digits(r, 2)?;
    r.expect(b'"', "invalid date-time")?;
    if hour > 23 || minute > 59 || second > 60 || zone_mins > 59 {
        return bad("invalid time");
    }
    let zone = i16::try_from(zone_hours * 60 + zone_mins).unwrap_or(0);
    Ok(DateTime {
        date,
        hour: u8::try_from(hour).unwrap_or(0),
        minute: u8::try_from(minute).unwrap_or(0),
        second: u8::try_from(second).unwrap_or(0),
        zone_minutes: if negative { -zone } else { zone },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_date(text: &str) -> Result<Date> {
        date(&mut Reader::new(text.as_bytes()))
    }

    fn parse_date_time(text: &str) -> Result<DateTime> {
        date_time(&mut Reader::new(text.as_bytes()))
    }

    #[test]
    fn dates_in_every_form() {
        let expected = Date::new(1994, 2, 1).unwrap();
        for text in ["1-Feb-1994", "01-Feb-1994", "\"1-feb-1994\"", "01-FEB-1994"] {
            assert_eq!(parse_date(text).unwrap(), expected, "{text}");
        }
        for text in [
            "31-Feb-1994",
            "1-Foo-1994",
            "1-Feb-94",
            "123-Feb-1994",
            "0-Jan-2000",
        ] {
            assert!(parse_date(text).is_err(), "{text}");
        }
        assert!(parse_date("29-Feb-2000").is_ok());
        assert!(parse_date("29-Feb-1900").is_err());
    }

    #[test]
    fn epoch_days() {
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(Date::new(2000, 3, 1).unwrap().days_since_epoch(), 11_017);
        assert_eq!(Date::new(1969, 12, 31).unwrap().days_since_epoch(), -1);
        for days in [-700_000, -1, 0, 59, 60, 11_016, 20_000, 2_900_000] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
    }

    #[test]
    fn date_time_with_zone() {
        let dt = parse_date_time("\"17-Jul-1996 02:44:25 -0700\"").unwrap();
        assert_eq!(dt.zone_minutes, -420);
        assert_eq!(dt.timestamp(), 837_596_665);
        assert_eq!(dt.to_string(), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(DateTime::from_timestamp(837_596_665, -420), dt);
        let padded = parse_date_time("\" 7-Jul-1996 02:44:25 +0000\"").unwrap();
        assert_eq!(padded.date.day, 7);
        assert_eq!(padded.to_string(), "07-Jul-1996 02:44:25 +0000");
        for text in [
            "\"17-Jul-1996 24:00:00 +0000\"",
            "\"17-Jul-1996 02:44 +0000\"",
            "17-Jul-1996",
        ] {
            assert!(parse_date_time(text).is_err(), "{text}");
        }
    }
}
