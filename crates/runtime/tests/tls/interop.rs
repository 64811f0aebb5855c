//! OpenSSL's `s_client` as the peer: implicit TLS, STARTTLS in SMTP form, and the TLS 1.3
//! floor refusing a TLS 1.2-only client.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use runtime::tls::{MaybeTls, ReloadableTls, TlsInfo, TlsSettings, TlsVersion};
use tokio::io::AsyncWriteExt;

use crate::support::{Pki, read_line, tcp_listener};

/// Runs `openssl s_client` with `input` on stdin; `-ign_eof` keeps it reading until the
/// server closes.
fn s_client(args: Vec<String>, input: &'static [u8]) -> Output {
    let mut child = Command::new("openssl")
        .arg("s_client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn client_args(port: u16, cert: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "localhost",
        "-CAfile",
        &cert.display().to_string(),
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-brief",
        "-ign_eof",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test]
async fn openssl_client_implicit_tls() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let tls = ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap();
    for (extra, version) in [(&[][..], "TLSv1.3"), (&["-tls1_2"][..], "TLSv1.2")] {
        let (listener, address) = tcp_listener();
        let acceptor = tls.acceptor();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = MaybeTls::implicit(stream, &acceptor, Duration::from_secs(10))
                .await
                .unwrap();
            stream.write_all(b"220 mx ESMTP\r\n").await.unwrap();
            let line = read_line(&mut stream).await;
            stream
                .write_all(format!("250 got {line}\r\n").as_bytes())
                .await
                .unwrap();
            stream.shutdown().await.unwrap();
            stream.tls_info().unwrap()
        });
        let args = client_args(address.port(), &cert, extra);
        let output = tokio::task::spawn_blocking(move || s_client(args, b"PING\r\n"))
            .await
            .unwrap();
        let info = server.await.unwrap();
        check(&output, &info, version);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("220 mx ESMTP\r\n250 got PING"), "{stdout}");
    }
}

/// `openssl s_client -starttls smtp` reads the greeting, sends EHLO, looks for STARTTLS in
/// the reply, sends it and expects 220, then handshakes on the same connection.
#[tokio::test]
async fn openssl_client_starttls_smtp() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let tls = ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap();
    let (listener, address) = tcp_listener();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = MaybeTls::from(stream);
        stream.write_all(b"220 mx ESMTP\r\n").await.unwrap();
        assert!(read_line(&mut stream).await.starts_with("EHLO "));
        stream
            .write_all(b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            .await
            .unwrap();
        assert_eq!(read_line(&mut stream).await, "STARTTLS");
        stream
            .write_all(b"220 2.0.0 Ready to start TLS\r\n")
            .await
            .unwrap();
        let mut stream = stream
            .upgrade(&acceptor, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(read_line(&mut stream).await, "QUIT");
        stream.write_all(b"221 2.0.0 Bye\r\n").await.unwrap();
        stream.shutdown().await.unwrap();
        stream.tls_info().unwrap()
    });
    let args = client_args(address.port(), &cert, &["-starttls", "smtp"]);
    let output = tokio::task::spawn_blocking(move || s_client(args, b"QUIT\r\n"))
        .await
        .unwrap();
    let info = server.await.unwrap();
    check(&output, &info, "TLSv1.3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("221 2.0.0 Bye"), "{stdout}");
}

#[tokio::test]
async fn openssl_tls12_client_refused_by_a_tls13_floor() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let mut settings = TlsSettings::new(&cert, &key);
    settings.min_version = TlsVersion::Tls13;
    let tls = ReloadableTls::load(settings).unwrap();
    let (listener, address) = tcp_listener();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        MaybeTls::implicit(stream, &acceptor, Duration::from_secs(10))
            .await
            .map(|_| ())
    });
    let args = client_args(address.port(), &cert, &["-tls1_2"]);
    let output = tokio::task::spawn_blocking(move || s_client(args, b""))
        .await
        .unwrap();
    assert!(!output.status.success());
    let error = server.await.unwrap().unwrap_err();
    assert!(
        error.to_string().contains("peer is incompatible"),
        "{error}"
    );
}

/// The client's view (`-brief` on stderr) agrees with the server's `TlsInfo`.
fn check(output: &Output, info: &TlsInfo, version: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Verification: OK"), "{stderr}");
    assert!(
        stderr.contains(&format!("Protocol version: {version}")),
        "{stderr}"
    );
    assert_eq!(info.version, version);
    // OpenSSL names TLS 1.3 suites without rustls' "13" (TLS_AES_256_GCM_SHA384).
    let suite = info.cipher.replacen("TLS13_", "TLS_", 1);
    if version == "TLSv1.3" {
        assert!(
            stderr.contains(&format!("Ciphersuite: {suite}")),
            "{stderr} vs {info:?}"
        );
    }
}
