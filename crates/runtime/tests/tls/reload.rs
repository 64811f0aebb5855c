//! Replacing the certificate under a running server: explicit reloads, bad replacements that
//! must not take effect, and `watch` noticing renewals done by rename and by symlink.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::tls::{ReloadableTls, TlsProblem, TlsSettings};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use crate::support::{
    ANY_VERSION, Pki, connect, connector, der, echo, echo_server, install, served,
};

#[tokio::test]
async fn reload_changes_new_handshakes_and_leaves_open_connections_alone() {
    require_openssl!();
    let pki = Pki::new();
    let (old_cert, old_key) = pki.self_signed("old");
    let (new_cert, new_key) = pki.self_signed("new");
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    install(&old_cert, &cert);
    install(&old_key, &key);

    let tls = Arc::new(ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap());
    let address = echo_server(tls.clone());
    let client = connector(&[&old_cert, &new_cert], ANY_VERSION);
    let mut before = connect(address, &client).await.unwrap();
    assert_eq!(served(&before), der(&old_cert));
    assert_eq!(echo(&mut before, "one").await, "one");

    install(&new_cert, &cert);
    install(&new_key, &key);
    tls.reload().unwrap();

    let mut after = connect(address, &client).await.unwrap();
    assert_eq!(served(&after), der(&new_cert));
    assert_eq!(echo(&mut after, "two").await, "two");
    assert_eq!(echo(&mut before, "still here").await, "still here");
    assert_eq!(served(&before), der(&old_cert));
}

#[tokio::test]
async fn bad_replacements_keep_the_running_certificate() {
    require_openssl!();
    let pki = Pki::new();
    let (good_cert, good_key) = pki.self_signed("good");
    let (other_cert, other_key) = pki.self_signed("other");
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    install(&good_cert, &cert);
    install(&good_key, &key);
    let tls = Arc::new(ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap());
    let address = echo_server(tls.clone());
    let client = connector(&[&good_cert, &other_cert], ANY_VERSION);
    let still_good = || async {
        let mut stream = connect(address, &client).await.unwrap();
        assert_eq!(served(&stream), der(&good_cert));
        assert_eq!(echo(&mut stream, "ok").await, "ok");
    };

    // Half a renewal: the new certificate with the old key.
    install(&other_cert, &cert);
    let error = tls.reload().unwrap_err();
    assert!(
        matches!(error.problem(), TlsProblem::KeyMismatch { .. }),
        "{error}"
    );
    assert_eq!(error.config_key(), "key_file");
    still_good().await;

    std::fs::write(&cert, "garbage\n").unwrap();
    let error = tls.reload().unwrap_err();
    assert!(
        matches!(error.problem(), TlsProblem::NoCertificate),
        "{error}"
    );
    assert_eq!(error.config_key(), "cert_file");
    still_good().await;

    install(&good_cert, &cert);
    std::fs::remove_file(&key).unwrap();
    let error = tls.reload().unwrap_err();
    assert!(matches!(error.problem(), TlsProblem::Read(_)), "{error}");
    still_good().await;

    // Pointing the settings at files that do not load changes nothing either.
    let missing = TlsSettings::new(pki.path("missing.pem"), &other_key);
    assert!(tls.reload_with(missing).is_err());
    assert_eq!(tls.settings().cert_file, cert);
    still_good().await;

    install(&other_cert, &cert);
    install(&other_key, &key);
    tls.reload().unwrap();
    let stream = connect(address, &client).await.unwrap();
    assert_eq!(served(&stream), der(&other_cert));
}

/// certbot keeps `live/<name>/fullchain.pem` and `privkey.pem` as symlinks into `archive/` and
/// repoints them on renewal; acme.sh deploy hooks copy over the files. `watch` sees both.
#[tokio::test]
async fn watch_picks_up_renewals_within_its_interval() {
    require_openssl!();
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let pki = Pki::new();
    let (first_cert, first_key) = pki.self_signed("first");
    let (second_cert, second_key) = pki.self_signed("second");
    let (third_cert, third_key) = pki.self_signed("third");
    let (fourth_cert, fourth_key) = pki.self_signed("fourth");
    let (cert, key) = (pki.path("fullchain.pem"), pki.path("privkey.pem"));
    repoint(&first_cert, &cert);
    repoint(&first_key, &key);

    let tls = Arc::new(ReloadableTls::load(TlsSettings::new(&cert, &key)).unwrap());
    let address = echo_server(tls.clone());
    let client = connector(
        &[&first_cert, &second_cert, &third_cert, &fourth_cert],
        ANY_VERSION,
    );
    let shutdown = CancellationToken::new();
    let interval = Duration::from_millis(100);
    let watcher = tokio::spawn({
        let (tls, shutdown) = (tls.clone(), shutdown.clone());
        async move { tls.watch(interval, shutdown).await }
    });

    repoint(&second_cert, &cert);
    repoint(&second_key, &key);
    let took = wait_for(address, &client, &second_cert).await;
    // One interval plus the settle time; the margin is for a busy test machine.
    assert!(took < interval * 10, "{took:?}");

    // The certificate arrives first; the pair does not match until the key follows.
    install(&third_cert, &cert);
    tokio::time::sleep(interval * 3).await;
    assert!(serves(address, &client, &second_cert).await);
    install(&third_key, &key);
    wait_for(address, &client, &third_cert).await;

    // Overwritten in place, same inode.
    std::fs::write(&key, std::fs::read(&fourth_key).unwrap()).unwrap();
    std::fs::write(&cert, std::fs::read(&fourth_cert).unwrap()).unwrap();
    wait_for(address, &client, &fourth_cert).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), watcher)
        .await
        .unwrap()
        .unwrap();
}

/// Points the symlink `link` at `target` by renaming a new link over it, as certbot does.
fn repoint(target: &Path, link: &Path) {
    let temporary = link.with_extension("link");
    std::os::unix::fs::symlink(target, &temporary).unwrap();
    std::fs::rename(&temporary, link).unwrap();
}

async fn serves(address: SocketAddr, client: &TlsConnector, expected: &Path) -> bool {
    let stream = connect(address, client).await.unwrap();
    served(&stream) == der(expected)
}

/// Waits until new handshakes get `expected`, returning how long that took.
async fn wait_for(address: SocketAddr, client: &TlsConnector, expected: &Path) -> Duration {
    let started = Instant::now();
    while !serves(address, client, expected).await {
        assert!(started.elapsed() < Duration::from_secs(5), "no reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}
