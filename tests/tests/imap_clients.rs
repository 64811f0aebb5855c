//! postern-mda's IMAP server driven by two real client libraries, Python's imaplib and
//! imapclient (`tests/imap/scenario.py`): every command of the issue, STARTTLS and implicit
//! TLS, a folder renamed with children, modified UTF-7 and UTF-8 names, a 10 MB APPEND with
//! partial FETCH, CONDSTORE/QRESYNC resync, and IDLE seeing another session's MOVE and an LMTP
//! delivery within a second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postern_tests::bench::start_mda_with;
use postern_tests::mta_stack::self_signed;
use postern_tests::workdir::WorkDir;
use postern_tests::{free_port, wait_until};

pub fn imap_config(dir: &Path, port: u16, tls_port: u16) -> String {
    let (cert, key) = self_signed(dir, "imap.test");
    format!(
        "\n[imap]\nlisten = [\"127.0.0.1:{port}\"]\nlisten_tls = [\"127.0.0.1:{tls_port}\"]\n\n\
         [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        cert.display(),
        key.display()
    )
}

#[test]
fn imaplib_and_imapclient_scenario() {
    let work = WorkDir::new("imap-clients");
    let dir = work.path();
    let (port, tls_port) = (free_port(), free_port());
    let user = "bob@imap.test".to_string();
    let _mda = start_mda_with(
        dir,
        std::slice::from_ref(&user),
        "info",
        &imap_config(dir, port, tls_port),
    );
    assert!(wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
    }));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("imap/scenario.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            "127.0.0.1",
            &port.to_string(),
            &tls_port.to_string(),
            &user,
            "secret",
        ])
        .arg(dir.join("lmtp.sock"))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "scenario failed:\n{stdout}\n{}\n--- postern-mda log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("mda.log")).unwrap_or_default()
    );
}
