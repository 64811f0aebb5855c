//! Just enough DER to show what webpki does not expose: the certificate's expiry and its
//! subject's common name. Anything malformed gives `None`, never a panic: the certificate has
//! already been accepted by webpki, this only feeds the log.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OBJECT_ID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`, present in every v3 certificate.
const VERSION: u8 = 0xa0;
/// 2.5.4.3, id-at-commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// What the log shows about a certificate.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub not_after: Option<Time>,
    pub common_name: Option<String>,
}

/// A certificate time, UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Time {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Time {
    pub fn unix_seconds(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    pub fn to_system_time(self) -> SystemTime {
        let seconds = self.unix_seconds();
        let offset = Duration::from_secs(seconds.unsigned_abs());
        if seconds >= 0 {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Reads notAfter and the subject CN from a DER certificate.
pub(super) fn inspect(certificate: &[u8]) -> Facts {
    let Some((validity, subject)) = validity_and_subject(certificate) else {
        return Facts::default();
    };
    Facts {
        not_after: not_after(validity),
        common_name: common_name(subject),
    }
}

/// Walks Certificate → TBSCertificate → (version, serial, signature, issuer) to validity and
/// subject (RFC 5280 section 4.1).
fn validity_and_subject(certificate: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut outer = certificate;
    let mut certificate = expect(&mut outer, SEQUENCE)?;
    let mut tbs = expect(&mut certificate, SEQUENCE)?;
    let (mut tag, _) = next(&mut tbs)?;
    if tag == VERSION {
        (tag, _) = next(&mut tbs)?;
    }
    if tag != INTEGER {
        return None;
    }
    expect(&mut tbs, SEQUENCE)?; // signature algorithm
    expect(&mut tbs, SEQUENCE)?; // issuer
    let validity = expect(&mut tbs, SEQUENCE)?;
    let subject = expect(&mut tbs, SEQUENCE)?;
    Some((validity, subject))
}

fn not_after(mut validity: &[u8]) -> Option<Time> {
    next(&mut validity)?; // notBefore
    let (tag, text) = next(&mut validity)?;
    parse_time(tag, text)
}

/// Name → RDNs (SET) → AttributeTypeAndValue (SEQUENCE of OID and string); the last CN wins,
/// as it is the most specific.
fn common_name(mut name: &[u8]) -> Option<String> {
    let mut found = None;
    while !name.is_empty() {
        let mut rdn = expect(&mut name, SET)?;
        while !rdn.is_empty() {
            let mut attribute = expect(&mut rdn, SEQUENCE)?;
            let oid = expect(&mut attribute, OBJECT_ID)?;
            let (_, value) = next(&mut attribute)?;
            if oid == COMMON_NAME {
                found = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    found
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`, the two
/// forms RFC 5280 allows.
fn parse_time(tag: u8, text: &[u8]) -> Option<Time> {
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let (yy, rest) = digits.split_at(2);
            let yy: i64 = yy.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, rest)
        }
        (GENERALIZED_TIME, 14) => {
            let (yyyy, rest) = digits.split_at(4);
            (yyyy.parse().ok()?, rest)
        }
        _ => return None,
    };
    let field = |i: usize| rest.get(i..i + 2).and_then(|s| s.parse::<u8>().ok());
    let time = Time {
        year,
        month: field(0)?,
        day: field(2)?,
        hour: field(4)?,
        minute: field(6)?,
        second: field(8)?,
    };
    let valid = (1..=12).contains(&time.month)
        && (1..=31).contains(&time.day)
        && time.hour < 24
        && time.minute < 60
        && time.second < 61;
    valid.then_some(time)
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar. Counting years from March puts
/// the leap day at the end of the year, so month lengths follow a fixed pattern.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (year, month) = if month <= 2 {
        (year - 1, i64::from(month) + 9)
    } else {
        (year, i64::from(month) - 3)
    };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468: days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// One TLV: the tag and the content, advancing `input` past it.
fn next<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        let length = bytes
            .iter()
            .fold(0usize, |length, &b| (length << 8) | usize::from(b));
        (length, rest)
    };
    let (content, rest) = rest.split_at_checked(length)?;
    *input = rest;
    Some((tag, content))
}

fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    match next(input)? {
        (found, content) if found == tag => Some(content),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn both_time_forms() {
        let utc = parse_time(UTC_TIME, b"261222084445Z").unwrap();
        assert_eq!(utc.to_string(), "2026-12-22T08:44:45Z");
        assert_eq!(utc.unix_seconds(), 1_797_929_085);
        let old = parse_time(UTC_TIME, b"991231235959Z").unwrap();
        assert_eq!(old.to_string(), "1999-12-31T23:59:59Z");
        let generalized = parse_time(GENERALIZED_TIME, b"21260101000000Z").unwrap();
        assert_eq!(generalized.to_string(), "2126-01-01T00:00:00Z");
        for bad in [
            &b"261222084445"[..],
            b"2612220844Z",
            b"261322084445Z",
            b"26122208444xZ",
            b"",
        ] {
            assert_eq!(parse_time(UTC_TIME, bad), None, "{bad:?}");
        }
        assert_eq!(parse_time(GENERALIZED_TIME, b"261222084445Z"), None);
    }

    #[test]
    fn garbage_gives_nothing() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x82, 0xff, 0xff, 0x30],
            &[0x30, 0x03, 0x30, 0x01, 0x02],
            &[0x31, 0x00],
        ] {
            let facts = inspect(input);
            assert_eq!(facts.not_after, None);
            assert_eq!(facts.common_name, None);
        }
    }

    #[test]
    fn common_name_from_a_name() {
        // SET { SEQ { OID 2.5.4.10, "Org" } }, SET { SEQ { OID 2.5.4.3, "mx" } }
        let name = [
            0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x01, b'O', //
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, b'm', b'x',
        ];
        assert_eq!(common_name(&name).as_deref(), Some("mx"));
        assert_eq!(common_name(&name[..12]), None);
    }
}
