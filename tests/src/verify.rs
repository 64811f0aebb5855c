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

/// Verifies each message with OpenDKIM in test mode (`opendkim -t`), requiring `dkim=pass`
/// for `expected_signatures` signatures and no failure in its Authentication-Results.
pub fn opendkim(
    work: &Path,
    keys_file: &Path,
    messages: &[PathBuf],
    expected_signatures: usize,
) -> Result<String, String> {
    let conf = work.join("opendkim-verify.conf");
    fs::write(
        &conf,
        format!(
            "Mode v\nTestPublicKeys {}\nRequireSafeKeys false\nSyslog no\n\
             AlwaysAddARHeader yes\nAuthservID verifier.postern.test\n",
            keys_file.display()
        ),
    )
    .unwrap();
    let mut report = String::new();
    let mut failed = false;
    for message in messages {
        let out = Command::new("opendkim")
            .arg("-vvv")
            .arg("-x")
            .arg(&conf)
            .arg("-t")
            .arg(message)
            .output()
            .map_err(|e| format!("opendkim: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let passes = text.matches("dkim=pass").count();
        let ok = out.status.success()
            && passes == expected_signatures
            && !text.contains("dkim=fail")
            && !text.contains("dkim=neutral")
            && !text.contains("dkim=permerror");
        failed |= !ok;
        writeln!(
            report,
            "{} {} ({passes} dkim=pass)",
            if ok { "pass" } else { "fail" },
            message.display()
        )
        .unwrap();
        if !ok {
            report.push_str(&text);
        }
    }
    if failed { Err(report) } else { Ok(report) }
}
