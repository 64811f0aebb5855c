//! Independent verifiers for our signatures: dkimpy and OpenDKIM's test mode, both served
//! keys from a file instead of DNS.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// TXT records the verifiers see instead of DNS: `selector._domainkey.domain -> value`.
#[derive(Debug, Default, Clone)]
pub struct KeyRecords {
    records: Vec<(String, String)>,
}

impl KeyRecords {
    pub fn add(&mut self, domain: &str, selector: &str, value: &str) {
        self.records
            .push((format!("{selector}._domainkey.{domain}"), value.to_string()));
    }

    /// Writes the "name value" file both verifiers read.
    pub fn write(&self, path: &Path) {
        let mut text = String::new();
        for (name, value) in &self.records {
            writeln!(text, "{name} {value}").unwrap();
        }
        fs::write(path, text).unwrap();
    }
}

/// Verifies every signature of each message with dkimpy; returns its report, Err if any failed.
pub fn dkimpy(keys_file: &Path, messages: &[PathBuf]) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/verify_dkimpy.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(keys_file)
        .args(messages)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

/// Verifies each message with a real OpenDKIM verifier, fed over the milter protocol as
/// Postfix would feed it, requiring `dkim=pass` for `expected_signatures` signatures and no
/// other DKIM result in its Authentication-Results header.
///
/// (OpenDKIM's `-t` test mode is not used: it assumes the MTA stripped the space after each
/// header colon and puts one back, which breaks simple header canonicalization of a field
/// written `Name:value`.)
pub fn opendkim(
    work: &Path,
    keys_file: &Path,
    messages: &[PathBuf],
    expected_signatures: usize,
) -> Result<String, String> {
    let dir = work.join(format!("opendkim-verifier-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let verifier = crate::opendkim::OpenDkim::start_verifier(&dir, keys_file);
    let mut report = String::new();
    let mut failed = false;
    for message in messages {
        let data = fs::read(message).unwrap();
        let replies = crate::milter_replay::replay(verifier.socket(), &data)?;
        let results: Vec<String> = replies
            .iter()
            .filter_map(|reply| match reply {
                milter::Reply::InsertHeader { name, value, .. }
                | milter::Reply::AddHeader { name, value }
                    if name.eq_ignore_ascii_case(b"Authentication-Results") =>
                {
                    Some(String::from_utf8_lossy(value).into_owned())
                }
                _ => None,
            })
            .collect();
        let text = results.join("\n");
        let passes = text.matches("dkim=pass").count();
        let others = text.matches("dkim=").count() - passes;
        let ok = passes == expected_signatures && others == 0;
        failed |= !ok;
        writeln!(
            report,
            "{} {} ({passes} dkim=pass)",
            if ok { "pass" } else { "fail" },
            message.display()
        )
        .unwrap();
        if !ok {
            writeln!(report, "{text}\nreplies: {replies:?}").unwrap();
        }
    }
    if failed { Err(report) } else { Ok(report) }
}
