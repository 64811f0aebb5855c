//! Helpers for the end-to-end and interop tests: private instances of the real peers
//! (Postfix, OpenDKIM), an SMTP sink and client, and the verifiers (dkimpy, OpenDKIM).
//!
//! Everything runs on loopback and in temporary directories; nothing touches the
//! machine-wide configuration of the peers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod auth_stub;
pub mod bench;
pub mod binaries;
pub mod corpus;
pub mod dkim_daemon;
pub mod dns_stub;
pub mod dovecot;
pub mod imap_client;
pub mod milter_replay;
pub mod mta_stack;
pub mod opendkim;
pub mod oracle;
pub mod postfix;
pub mod sink;
pub mod smtp_client;
pub mod verify;
pub mod workdir;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free loopback TCP port (bound, read, released: good enough for private test instances).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ready()
}
