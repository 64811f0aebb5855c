//! The `Received:` trace header (RFC 5321 4.4) the MTA prepends to every message, laid out as
//! Postfix does so log-reading tools and people recognize it, with the RFC 3848 protocol
//! names (ESMTP, ESMTPS, ESMTPA, ESMTPSA).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the header says about the connection.
#[derive(Debug, Clone, Default)]
pub struct Trace<'a> {
    /// The HELO/EHLO name, as given (already checked to be printable).
    pub helo: &'a str,
    /// The client's IP address, `None` for local submissions.
    pub client_ip: Option<std::net::IpAddr>,
    /// The client's verified reverse-DNS name, or `unknown`.
    pub client_name: Option<&'a str>,
    /// Our host name.
    pub hostname: &'a str,
    /// EHLO (not HELO) was used.
    pub esmtp: bool,
    /// TLS version and cipher, if encrypted.
    pub tls: Option<(&'a str, &'a str)>,
    /// The client authenticated.
    pub authenticated: bool,
    pub queue_id: &'a str,
    /// Named only when the message has exactly one recipient (as Postfix does).
    pub single_recipient: Option<&'a str>,
    /// The submitting user's uid, for local submissions (the sendmail command).
    pub local_uid: Option<u32>,
}

/// The RFC 3848 `with` keyword.
pub fn protocol(esmtp: bool, tls: bool, authenticated: bool) -> &'static str {
    match (esmtp, tls, authenticated) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    }
}

/// The header's value (after `Received: `), folded, CRLF-free at the end.
pub fn received_value(trace: &Trace<'_>, now: SystemTime) -> String {
    let mut out = String::new();
    if let (None, Some(uid)) = (trace.client_ip, trace.local_uid) {
        // Postfix's form for mail from its sendmail command: no "from" part.
        let _ = write!(
            out,
            "by {} (Postern, from userid {uid})\r\n\tid {}",
            trace.hostname, trace.queue_id
        );
        if let Some(rcpt) = trace.single_recipient {
            let _ = write!(out, "\r\n\tfor <{rcpt}>");
        }
        let _ = write!(out, "; {}", rfc5322_date(now));
        return out;
    }
    match trace.client_ip {
        Some(ip) => {
            let _ = write!(
                out,
                "from {} ({} [{ip}])",
                trace.helo,
                trace.client_name.unwrap_or("unknown")
            );
        }
        None => {
            let _ = write!(out, "from {} (local submission)", trace.helo);
        }
    }
    if let Some((version, cipher)) = trace.tls {
        let _ = write!(out, "\r\n\t(using {version} with cipher {cipher})");
    }
    let _ = write!(
        out,
        "\r\n\tby {} (Postern) with {} id {}",
        trace.hostname,
        protocol(trace.esmtp, trace.tls.is_some(), trace.authenticated),
        trace.queue_id
    );
    if let Some(rcpt) = trace.single_recipient {
        let _ = write!(out, "\r\n\tfor <{rcpt}>");
    }
    let _ = write!(out, "; {}", rfc5322_date(now));
    out
}

/// `Sun, 22 Nov 2026 10:00:00 +0000 (UTC)`.
pub fn rfc5322_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = i64::try_from(secs / 86_400).unwrap_or_default();
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or_default())
        .unwrap_or(&"Thu");
    let month = MONTHS
        .get(usize::try_from(month - 1).unwrap_or_default())
        .unwrap_or(&"Jan");
    format!(
        "{weekday}, {day} {month} {year} {:02}:{:02}:{:02} +0000 (UTC)",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian
/// (Howard Hinnant's algorithm, in integers).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(
            rfc5322_date(UNIX_EPOCH),
            "Thu, 1 Jan 1970 00:00:00 +0000 (UTC)"
        );
        let t = UNIX_EPOCH + Duration::from_secs(1_795_341_600);
        assert_eq!(rfc5322_date(t), "Sun, 22 Nov 2026 10:00:00 +0000 (UTC)");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000 (UTC)");
    }

    #[test]
    fn header_layout() {
        let trace = Trace {
            helo: "client.example.net",
            client_ip: Some("192.0.2.7".parse().unwrap()),
            client_name: None,
            hostname: "mx.example.org",
            esmtp: true,
            tls: Some(("TLSv1.3", "TLS13_AES_256_GCM_SHA384")),
            authenticated: true,
            queue_id: "4ABC",
            single_recipient: Some("a@example.org"),
            local_uid: None,
        };
        let t = UNIX_EPOCH + Duration::from_secs(1_795_341_600);
        assert_eq!(
            received_value(&trace, t),
            "from client.example.net (unknown [192.0.2.7])\r\n\t\
             (using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\t\
             by mx.example.org (Postern) with ESMTPSA id 4ABC\r\n\t\
             for <a@example.org>; Sun, 22 Nov 2026 10:00:00 +0000 (UTC)"
        );
        let local = Trace {
            client_ip: None,
            local_uid: Some(0),
            single_recipient: None,
            ..trace
        };
        assert_eq!(
            received_value(&local, t),
            "by mx.example.org (Postern, from userid 0)\r\n\tid 4ABC; Sun, 22 Nov 2026 10:00:00 +0000 (UTC)"
        );
        assert_eq!(protocol(false, true, true), "SMTP");
        assert_eq!(protocol(true, false, false), "ESMTP");
    }
}
