//! Certificates made with the openssl CLI, a TLS echo server on the runtime's listener, and a
//! rustls client trusting chosen roots.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use runtime::listen::{ListenAddress, Listener, UnixSocketOptions, bind};
use runtime::tls::{MaybeTls, ReloadableTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
pub const ANY_VERSION: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

pub fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// A temp dir of certificates and keys.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        Pki {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl` in the dir with whitespace-separated arguments.
    pub fn openssl(&self, command: &str) {
        let args: Vec<&str> = command.split_whitespace().collect();
        let output = Command::new("openssl")
            .args(&args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `<name>.pem` and `<name>.key` (P-256, PKCS#8): a self-signed server certificate for
    /// `localhost` whose subject CN is `name`, so tests can tell certificates apart.
    pub fn self_signed(&self, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
        self.openssl(&format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {key} \
             -out {cert} -days 30 -subj /CN={name} -addext subjectAltName=DNS:localhost \
             -addext basicConstraints=critical,CA:FALSE"
        ));
        (self.path(&cert), self.path(&key))
    }

    /// `<name>.pem`/`<name>.key` signed by `issuer` (`<issuer>.pem`/`<issuer>.key`): an
    /// intermediate CA when `ca`, else a server certificate for `localhost`.
    pub fn signed(&self, name: &str, issuer: &str, ca: bool, serial: u32) -> (PathBuf, PathBuf) {
        let (cert, key, csr, ext) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        let extensions = if ca {
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        } else {
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"
        };
        std::fs::write(self.path(&ext), extensions).unwrap();
        self.openssl(&format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {key} \
             -out {csr} -subj /CN={name}"
        ));
        self.openssl(&format!(
            "x509 -req -in {csr} -CA {issuer}.pem -CAkey {issuer}.key -set_serial {serial} \
             -days 30 -extfile {ext} -out {cert}"
        ));
        (self.path(&cert), self.path(&key))
    }

    /// A root CA `<name>.pem`/`<name>.key`.
    pub fn root(&self, name: &str) -> PathBuf {
        let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
        self.openssl(&format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {key} \
             -out {cert} -days 30 -subj /CN={name}"
        ));
        self.path(&cert)
    }

    /// Concatenates files into `name`, as a fullchain.pem is made.
    pub fn concat(&self, name: &str, parts: &[&Path]) -> PathBuf {
        let text: Vec<u8> = parts
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        std::fs::write(self.path(name), text).unwrap();
        self.path(name)
    }
}

/// Replaces `to` with a copy of `from` by rename, as deploy hooks do.
pub fn install(from: &Path, to: &Path) {
    let temporary = to.with_extension("new");
    std::fs::copy(from, &temporary).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

/// The DER of the first certificate in a PEM file.
pub fn der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

pub fn connector(roots: &[&Path], versions: &[&'static SupportedProtocolVersion]) -> TlsConnector {
    let mut store = RootCertStore::empty();
    for root in roots {
        for cert in CertificateDer::pem_file_iter(root).unwrap() {
            store.add(cert.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Client handshake for `localhost` over a fresh connection.
pub async fn connect(
    address: SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    starttls(tcp, connector).await
}

pub async fn starttls(
    tcp: TcpStream,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").unwrap().to_owned();
    connector.connect(name, tcp).await
}

/// The certificate the server presented.
pub fn served(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// A TCP listener on a free loopback port, as the daemons get it from `runtime::listen`.
pub fn tcp_listener() -> (Listener, SocketAddr) {
    let bound = bind(
        &ListenAddress::Tcp("127.0.0.1:0".parse().unwrap()),
        &UnixSocketOptions::default(),
    )
    .unwrap();
    let listener = Listener::from_bound(bound).unwrap();
    let ListenAddress::Tcp(address) = *listener.address() else {
        panic!("not tcp")
    };
    (listener, address)
}

/// Implicit TLS with the certificate current at each accept, echoing whatever arrives.
pub fn echo_server(tls: Arc<ReloadableTls>) -> SocketAddr {
    let (listener, address) = tcp_listener();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = tls.acceptor();
            tokio::spawn(async move {
                let Ok(mut stream) =
                    MaybeTls::implicit(stream, &acceptor, Duration::from_secs(10)).await
                else {
                    return;
                };
                let mut buffer = [0u8; 1024];
                while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                    if stream.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// Sends a line and returns the line that comes back.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, text: &str) -> String {
    stream
        .write_all(format!("{text}\n").as_bytes())
        .await
        .unwrap();
    read_line(stream).await
}

/// One line, read a byte at a time so nothing after it is consumed (STARTTLS hands the rest
/// of the socket to TLS).
pub async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut line = Vec::new();
    loop {
        let byte = stream.read_u8().await.unwrap();
        if byte == b'\n' {
            return String::from_utf8(line)
                .unwrap()
                .trim_end_matches('\r')
                .to_string();
        }
        line.push(byte);
    }
}
