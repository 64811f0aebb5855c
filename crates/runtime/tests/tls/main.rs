//! `runtime::tls` in real handshakes over loopback: rustls and OpenSSL clients, STARTTLS,
//! reload and watch with certificates replaced the way certbot does it, and the config errors
//! an operator sees. Certificates are made with the `openssl` CLI; without it the tests say
//! so and pass.

// Test helpers outside #[test] fns: clippy's allow-*-in-tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Skips the test when the `openssl` CLI is missing.
macro_rules! require_openssl {
    () => {
        if !crate::support::have_openssl() {
            eprintln!("skipped: the openssl CLI is not installed");
            return;
        }
    };
}

mod config;
mod handshake;
mod interop;
mod reload;
mod support;
