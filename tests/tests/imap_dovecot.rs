//! Interop: postern-mda and a stock Dovecot on one Maildir at once — what a migration in
//! either direction looks like. Mail Dovecot's LMTP delivered is served by postern-mda with
//! the same UIDs, UIDVALIDITY and content; flags and keywords set through either are seen by
//! the other; appends, deliveries and expunges on either side keep the UIDs in agreement
//! (`tests/imap/dovecot_compat.py`). Needs root and Dovecot (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use postern_tests::dovecot::{DovecotBuilder, VMAIL_UID, passwd_line};
use postern_tests::workdir::WorkDir;
use postern_tests::{free_port, wait_until};

#[test]
fn postern_and_dovecot_share_one_maildir() {
    let work = WorkDir::new("imap-dovecot");
    let dir = work.path();
    let user = "bob@imap.test";
    let home = dir.join("vmail/bob");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(VMAIL_UID), Some(VMAIL_UID)).unwrap();
    let line = passwd_line(user, "{PLAIN}secret", &home.display().to_string(), "");
    let dovecot = DovecotBuilder::new(&dir.join("dovecot"))
        .passwd([line.clone()])
        .lmtp()
        .imap()
        .start();

    // postern-mda on the same passwd-file line: its files are chowned to the vmail uid.
    std::fs::write(dir.join("users"), format!("{line}\n")).unwrap();
    let port = free_port();
    let d = dir.display();
    let config = format!(
        "[daemon]\nshutdown_timeout = \"2s\"\n\n\
         [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\n\n\
         [auth]\nlisten = [\"unix:{d}/auth.sock\"]\n\n\
         [users]\npasswd_file = \"{d}/users\"\n\n\
         [mail]\nmaildir = \"Maildir\"\n\n\
         [imap]\nlisten = [\"127.0.0.1:{port}\"]\n"
    );
    std::fs::write(dir.join("mda.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("mda.log")).unwrap();
    let mut mda = Command::new(postern_tests::binaries::path("postern-mda"))
        .arg("--config")
        .arg(dir.join("mda.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("imap/dovecot_compat.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            &port.to_string(),
            &dovecot.imap_port().to_string(),
            user,
            "secret",
        ])
        .arg(dir.join("lmtp.sock"))
        .arg(dovecot.lmtp_socket())
        .output()
        .unwrap();
    let _ = mda.kill();
    let _ = mda.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "dovecot compat failed:\n{stdout}\n{}\n--- postern-mda log:\n{}\n--- dovecot log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("mda.log")).unwrap_or_default(),
        dovecot.log()
    );
}
