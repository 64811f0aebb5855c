//! Parsers for the value kinds every daemon's configuration has: file modes, durations and
//! sizes. Each returns the reason as a `String`, ready for
//! [`ConfigErrors::push`](super::ConfigErrors::push).

use std::time::Duration;

/// An octal file mode: `"0660"`, `"660"` or `"0o660"`, at most `0o7777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let octal =
        !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| matches!(b, b'0'..=b'7'));
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if octal && mode <= 0o7777 => Ok(mode),
        _ => Err(format!("{text:?} is not an octal file mode like \"0660\"")),
    }
}

/// A duration: a number of seconds (`"30"`), or numbers with units `ms`, `s`, `m`, `h`, `d`,
/// `w`, possibly combined (`"1h30m"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "{text:?} is not a duration: expected seconds or a number with a unit (ms, s, m, h, d, w), like \"30s\" or \"5m\""
        )
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Duration::from_secs).map_err(|_| invalid());
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let (number, after) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        let (unit, after) = after.split_at(
            after
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(after.len()),
        );
        rest = after;
        let number: u32 = number.parse().map_err(|_| invalid())?;
        let one = match unit {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            "w" => Duration::from_secs(7 * 86_400),
            _ => return Err(invalid()),
        };
        total = one
            .checked_mul(number)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(invalid)?;
    }
    Ok(total)
}

/// A size in bytes: `"65536"`, or with a binary unit `k`, `M`, `G`, `T` (case-insensitive,
/// optionally followed by `B` or `iB`): `"64k"` is 65536, `"10M"` is 10485760.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "{text:?} is not a size: expected bytes or a number with a unit (k, M, G), like \"64k\" or \"10M\""
        )
    };
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let unit = unit
        .strip_suffix("iB")
        .or_else(|| unit.strip_suffix('B').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(invalid()),
    };
    let number: u64 = number.parse().map_err(|_| invalid())?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert_eq!(parse_mode("02770"), Ok(0o2770));
        for bad in ["", "0o", "0999", "rw-rw----", "017777", "-660", "+660"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_mode("0999"),
            Err("\"0999\" is not an octal file mode like \"0660\"".to_string())
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "s",
            "5x",
            "1h30",
            "-5s",
            "5 s",
            "1.5h",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("5x"),
            Err("\"5x\" is not a duration: expected seconds or a number with a unit (ms, s, m, h, d, w), like \"30s\" or \"5m\"".to_string())
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "M", "10X", "1.5M", "-1", "10 M", "B", "10BB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_size("99999999999T"),
            Err("\"99999999999T\" is too large".to_string())
        );
    }
}
