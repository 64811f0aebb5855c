//! `postern-mta --check-config` on the shipped example and on broken files: every problem is
//! named with file, key and reason, and the exit code is EX_CONFIG (78).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_postern-mta");

fn check(config: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg("--check-config")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn example_config_passes_once_its_files_exist() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=mail.example.org", "-keyout"])
        .arg(d.join("privkey.pem"))
        .arg("-out")
        .arg(d.join("fullchain.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/postern/mta.toml");
    let text = std::fs::read_to_string(example).unwrap().replace(
        "/etc/letsencrypt/live/mail.example.org",
        &d.display().to_string(),
    );
    let config = d.join("mta.toml");
    std::fs::write(&config, text).unwrap();
    let out = check(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

#[test]
fn every_problem_is_named_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mta.toml");
    std::fs::write(
        &config,
        r#"
[mta]
hostname = "localhost"
local_domains = ["example.org", "not a domain"]
mynetworks = ["10.0.0.0/33"]
bare_line_ends = "maybe"
smtpd_milters = ["nowhere"]

[dns]
nameservers = ["dns.example"]

[[listener]]
name = "smtp"
listen = ["127.0.0.1:2525"]
tls = "none"
require_tls = true
reject_unknown_client_hostname = true

[[listener]]
name = "submission"
listen = ["127.0.0.1:2587"]
tls = "starttls"
auth = true
"#,
    )
    .unwrap();
    let out = check(&config);
    assert_eq!(out.status.code(), Some(78));
    let errors = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    for expected in [
        "mta.hostname",
        "mta.local_domains[1]",
        "mta.mynetworks[0]",
        "mta.bare_line_ends",
        "mta.smtpd_milters[0]",
        "dns.nameservers[0]",
        "listener[0].require_tls",
        "listener[1].tls",
        "listener[1].auth",
    ] {
        assert!(
            errors
                .lines()
                .any(|l| l.contains(&file) && l.contains(expected)),
            "no line naming {expected}:\n{errors}"
        );
    }
    // A typo is an error, not a silently ignored key.
    std::fs::write(
        &config,
        "[mta]\nhostname = \"mx.example.org\"\nlocal_domain = [\"example.org\"]\n",
    )
    .unwrap();
    let out = check(&config);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("local_domain"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
