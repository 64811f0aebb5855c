//! Logging to stderr, one line per event with `key=value` fields; under systemd the journal's
//! `<N>` priority prefix replaces the timestamp and level.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber. `level` is `error`, `warn`, `info`, `debug`, `trace` or any
/// `EnvFilter` directive (`info,milter=debug`); a non-empty `RUST_LOG` overrides it. A second
/// call does nothing.
pub fn init(level: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(level),
    }
    .or_else(|_| EnvFilter::try_new(level))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let format = LineFormat {
        journal: stderr_is_journal(),
    };
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .event_format(format)
        .with_writer(std::io::stderr)
        .try_init();
}

/// systemd sets `JOURNAL_STREAM=dev:ino` for the stderr it connects to the journal; a
/// redirected stderr (e.g. `--check-config 2>file` from a unit's shell) no longer matches.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(stat) => dev.parse() == Ok(stat.st_dev) && ino.parse() == Ok(stat.st_ino),
        Err(_) => false,
    }
}

/// `2026-05-01T12:00:00.123Z  INFO span{a=1}: message key=value`, or `<6>message key=value`
/// for the journal.
#[derive(Debug, Clone, Copy)]
struct LineFormat {
    journal: bool,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        if self.journal {
            write!(writer, "<{}>", priority(level))?;
        } else {
            write!(writer, "{} {:>5} ", Timestamp(SystemTime::now()), level)?;
        }
        let mut line = String::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.push_str(span.name());
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    line.push('{');
                    line.push_str(fields);
                    line.push('}');
                }
                line.push_str(": ");
            }
        }
        ctx.field_format()
            .format_fields(Writer::new(&mut line), event)?;
        // One event, one line: a multi-line value (a list of config errors) stays together.
        writeln!(writer, "{}", line.replace('\n', "\\n"))
    }
}

/// sd-daemon(3) priorities: err, warning, info, debug.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// RFC 3339 UTC with milliseconds.
struct Timestamp(SystemTime);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since_epoch = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since_epoch.as_secs();
        let (year, month, day) = civil_date(seconds / 86_400);
        let time = seconds % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            time / 3600,
            time / 60 % 60,
            time % 60,
            since_epoch.subsec_millis()
        )
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01, counting in 400-year eras that
/// start on March 1st so the leap day falls at the end of a year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn capture(journal: bool, emit: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("debug"))
            .event_format(LineFormat { journal })
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn journal_lines_carry_priority_and_fields() {
        let out = capture(true, || {
            tracing::error!(peer = "192.0.2.1:25", "connection failed");
            tracing::warn!(sessions = 2, "deadline passed");
            tracing::info!("ready");
            tracing::debug!("detail\nsecond line");
        });
        assert_eq!(
            out,
            "<3>connection failed peer=\"192.0.2.1:25\"\n<4>deadline passed sessions=2\n<6>ready\n<7>detail\\nsecond line\n"
        );
    }

    #[test]
    fn terminal_lines_carry_timestamp_level_and_spans() {
        let out = capture(false, || {
            let span = tracing::info_span!("session", id = 7);
            let _entered = span.enter();
            tracing::info!(bytes = 12, "received");
        });
        let (timestamp, rest) = out.split_once(' ').unwrap();
        assert_eq!(timestamp.len(), "2026-05-01T12:00:00.123Z".len(), "{out}");
        assert!(timestamp.ends_with('Z'));
        assert_eq!(rest, " INFO session{id=7}: received bytes=12\n");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs: u64, millis: u64| {
            Timestamp(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
                .to_string()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn init_twice_is_harmless() {
        init("off");
        init("debug");
    }
}
