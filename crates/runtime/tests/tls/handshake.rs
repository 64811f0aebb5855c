//! Handshakes with a rustls client: implicit TLS, STARTTLS after plaintext, chains, the
//! protocol floor, and a client that never speaks.

use std::sync::Arc;
use std::time::Duration;

use runtime::tls::{MaybeTls, ReloadableTls, TlsSettings, TlsVersion};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{
    ANY_VERSION, Pki, TLS12, connect, connector, der, echo, read_line, served, starttls,
    tcp_listener,
};

#[tokio::test]
async fn implicit_tls_with_a_rustls_client() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let tls = ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap();
    let summary = tls.certificate();
    assert_eq!(summary.names, ["localhost"]);
    assert_eq!(summary.chain_length, 1);

    let (listener, address) = tcp_listener();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = MaybeTls::implicit(stream, &acceptor, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(stream.is_tls());
        let info = stream.tls_info().unwrap();
        stream.write_all(b"220 mx ESMTP\r\n").await.unwrap();
        assert_eq!(read_line(&mut stream).await, "QUIT");
        stream.shutdown().await.unwrap();
        info
    });

    let mut client = connect(address, &connector(&[&cert], ANY_VERSION))
        .await
        .unwrap();
    assert_eq!(served(&client), der(&cert));
    assert_eq!(read_line(&mut client).await, "220 mx ESMTP");
    client.write_all(b"QUIT\r\n").await.unwrap();
    let info = server.await.unwrap();
    assert_eq!(info.version, "TLSv1.3");
    assert!(info.cipher.starts_with("TLS13_"), "{info:?}");
    assert!([128, 256].contains(&info.cipher_bits), "{info:?}");
    assert!(info.key_exchange.is_some(), "{info:?}");
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn tls12_client_and_what_it_negotiated() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let tls = ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap();
    let (listener, address) = tcp_listener();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let stream = MaybeTls::implicit(stream, &acceptor, Duration::from_secs(5))
            .await
            .unwrap();
        stream.tls_info().unwrap()
    });
    let _client = connect(address, &connector(&[&cert], TLS12)).await.unwrap();
    let info = server.await.unwrap();
    assert_eq!(info.version, "TLSv1.2");
    assert!(info.cipher.starts_with("TLS_ECDHE_ECDSA_WITH_"), "{info:?}");
    let bits = if info.cipher.contains("AES_128") {
        128
    } else {
        256
    };
    assert_eq!(info.cipher_bits, bits);
}

#[tokio::test]
async fn min_version_tls13_refuses_a_tls12_client() {
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
        MaybeTls::implicit(stream, &acceptor, Duration::from_secs(5))
            .await
            .map(|_| ())
    });
    assert!(connect(address, &connector(&[&cert], TLS12)).await.is_err());
    assert!(server.await.unwrap().is_err());
}

/// The SMTP shape of STARTTLS: greeting and command in plaintext, the reply, then the
/// handshake on the same socket and the session going on encrypted.
#[tokio::test]
async fn starttls_upgrades_a_plain_session() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let tls = Arc::new(ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap());
    let (listener, address) = tcp_listener();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = MaybeTls::from(stream);
        stream.write_all(b"220 mx ESMTP\r\n").await.unwrap();
        assert_eq!(read_line(&mut stream).await, "STARTTLS");
        assert!(!stream.is_tls());
        assert_eq!(stream.tls_info(), None);
        stream
            .write_all(b"220 2.0.0 Ready to start TLS\r\n")
            .await
            .unwrap();
        let mut stream = stream
            .upgrade(&tls.acceptor(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(read_line(&mut stream).await, "EHLO client.example");
        stream.write_all(b"250 mx\r\n").await.unwrap();
        let info = stream.tls_info().unwrap();
        let again = stream
            .upgrade(&tls.acceptor(), Duration::from_secs(5))
            .await;
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        info
    });

    let mut tcp = TcpStream::connect(address).await.unwrap();
    assert_eq!(read_line(&mut tcp).await, "220 mx ESMTP");
    tcp.write_all(b"STARTTLS\r\n").await.unwrap();
    assert_eq!(read_line(&mut tcp).await, "220 2.0.0 Ready to start TLS");
    let mut client = starttls(tcp, &connector(&[&cert], ANY_VERSION))
        .await
        .unwrap();
    assert_eq!(echo(&mut client, "EHLO client.example").await, "250 mx");
    assert_eq!(server.await.unwrap().version, "TLSv1.3");
}

/// certbot's fullchain.pem: the server's certificate, then the intermediate a client that
/// knows only the root needs.
#[tokio::test]
async fn chain_file_sends_the_intermediate() {
    require_openssl!();
    let pki = Pki::new();
    let root = pki.root("root");
    let (intermediate, _) = pki.signed("intermediate", "root", true, 2);
    let (leaf, key) = pki.signed("leaf", "intermediate", false, 3);
    let fullchain = pki.concat("fullchain.pem", &[&leaf, &intermediate]);

    let tls = Arc::new(ReloadableTls::load(TlsSettings::new(&fullchain, &key)).unwrap());
    assert_eq!(tls.certificate().chain_length, 2);
    let address = crate::support::echo_server(tls.clone());
    let client = connector(&[&root], ANY_VERSION);
    let mut stream = connect(address, &client).await.unwrap();
    assert_eq!(served(&stream), der(&leaf));
    assert_eq!(stream.get_ref().1.peer_certificates().unwrap().len(), 2);
    assert_eq!(echo(&mut stream, "hello").await, "hello");

    // Without the intermediate the same client cannot build a path to its root.
    tls.reload_with(TlsSettings::new(&leaf, &key)).unwrap();
    assert_eq!(tls.certificate().chain_length, 1);
    let error = connect(address, &client).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn silent_client_times_out_the_handshake() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let tls = ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap();
    let (listener, address) = tcp_listener();
    let _client = TcpStream::connect(address).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let started = std::time::Instant::now();
    let error = MaybeTls::implicit(stream, &tls.acceptor(), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(5));
}
