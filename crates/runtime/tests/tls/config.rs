//! What `--check-config` prints for each way the `[tls]` files can be wrong, and the key
//! formats and file layouts that load.

use std::path::{Path, PathBuf};

use runtime::config::{self, ConfigErrors};
use runtime::tls::{RawTls, ReloadableTls, TlsSettings, TlsVersion};

use crate::support::Pki;

fn validate(cert: &Path, key: &Path, min_version: Option<&str>) -> Result<TlsSettings, String> {
    let mut errors = ConfigErrors::new(Path::new("/etc/postern/mta.toml"));
    let raw = RawTls {
        cert_file: cert.to_path_buf(),
        key_file: key.to_path_buf(),
        min_version: min_version.map(str::to_string),
    };
    let settings = TlsSettings::validate(raw, "tls", &mut errors);
    errors.into_result(settings).map_err(|e| e.to_string())
}

/// The one error line: `file: key: path: reason`.
fn error_line(cert: &Path, key: &Path) -> String {
    let text = validate(cert, key, None).unwrap_err();
    assert_eq!(text.lines().count(), 1, "{text}");
    text
}

#[test]
fn each_bad_file_is_named_under_its_key() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let (other_cert, other_key) = pki.self_signed("other");
    let write = |name: &str, text: &[u8]| -> PathBuf {
        std::fs::write(pki.path(name), text).unwrap();
        pki.path(name)
    };

    let missing = pki.path("missing.pem");
    let text = error_line(&missing, &key);
    let expected = format!(
        "/etc/postern/mta.toml: tls.cert_file: {}: cannot read: ",
        missing.display()
    );
    assert!(text.starts_with(&expected), "{text}");

    let garbage = write("garbage.pem", b"this is not a certificate\n");
    let text = error_line(&garbage, &key);
    assert!(
        text.contains(&format!(
            "tls.cert_file: {}: no certificate found",
            garbage.display()
        )),
        "{text}"
    );

    pki.openssl(&format!(
        "x509 -in {} -outform der -out mx.der",
        cert.display()
    ));
    let text = error_line(&pki.path("mx.der"), &key);
    assert!(
        text.contains("tls.cert_file") && text.contains("is DER, not PEM"),
        "{text}"
    );

    let truncated = std::fs::read_to_string(&cert).unwrap();
    let truncated = write(
        "truncated.pem",
        truncated
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    let text = error_line(&truncated, &key);
    assert!(
        text.contains("tls.cert_file")
            && text.contains("not valid PEM: missing \"-----END CERTIFICATE-----\""),
        "{text}"
    );

    let not_x509 = write(
        "not-x509.pem",
        b"-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    );
    let text = error_line(&not_x509, &key);
    assert!(
        text.contains("tls.cert_file") && text.contains("not valid X.509"),
        "{text}"
    );

    let text = error_line(&cert, &cert);
    assert!(
        text.contains(&format!(
            "tls.key_file: {}: no private key found",
            cert.display()
        )),
        "{text}"
    );

    pki.openssl(&format!(
        "pkey -in {} -aes256 -passout pass:secret -out encrypted.key",
        key.display()
    ));
    let text = error_line(&cert, &pki.path("encrypted.key"));
    assert!(
        text.contains("tls.key_file") && text.contains("the private key is encrypted"),
        "{text}"
    );

    pki.openssl(&format!(
        "ec -in {} -aes256 -passout pass:secret -out legacy-encrypted.key",
        key.display()
    ));
    let text = error_line(&cert, &pki.path("legacy-encrypted.key"));
    assert!(text.contains("the private key is encrypted"), "{text}");

    pki.openssl("genpkey -algorithm ed448 -out ed448.key");
    let text = error_line(&cert, &pki.path("ed448.key"));
    assert!(
        text.contains("tls.key_file") && text.contains("unsupported private key"),
        "{text}"
    );

    let text = error_line(&cert, &other_key);
    let expected = format!(
        "tls.key_file: {}: does not match the first certificate in {}",
        other_key.display(),
        cert.display()
    );
    assert!(text.contains(&expected), "{text}");

    // The intermediate first: the key matches the second certificate, not the first.
    let reversed = pki.concat("reversed.pem", &[&other_cert, &cert]);
    let text = error_line(&reversed, &key);
    assert!(
        text.contains("the server's certificate must come first"),
        "{text}"
    );

    let text = validate(&cert, &key, Some("TLSv1.1")).unwrap_err();
    assert!(
        text.contains("tls.min_version: \"TLSv1.1\": expected \"TLSv1.2\" or \"TLSv1.3\""),
        "{text}"
    );
}

#[test]
fn key_formats_and_combined_files_load() {
    require_openssl!();
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    assert_eq!(
        validate(&cert, &key, None).unwrap().min_version,
        TlsVersion::Tls12
    );
    assert_eq!(
        validate(&cert, &key, Some("TLSv1.3")).unwrap().min_version,
        TlsVersion::Tls13
    );

    // SEC1 "EC PRIVATE KEY", as older tools write it.
    pki.openssl(&format!("ec -in {} -out sec1.key", key.display()));
    assert!(
        std::fs::read_to_string(pki.path("sec1.key"))
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    validate(&cert, &pki.path("sec1.key"), None).unwrap();

    // PKCS#1 "RSA PRIVATE KEY", as opendkim-genkey and old certbot setups have it.
    pki.openssl("genrsa -traditional -out rsa.key 2048");
    pki.openssl("req -x509 -key rsa.key -out rsa.pem -days 30 -subj /CN=rsa -addext subjectAltName=DNS:localhost");
    assert!(
        std::fs::read_to_string(pki.path("rsa.key"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    validate(&pki.path("rsa.pem"), &pki.path("rsa.key"), None).unwrap();

    // Ed25519.
    pki.openssl(
        "req -x509 -newkey ed25519 -nodes -keyout ed.key -out ed.pem -days 30 -subj /CN=ed",
    );
    validate(&pki.path("ed.pem"), &pki.path("ed.key"), None).unwrap();

    // Key and chain in one file, either order (Postfix's smtpd_tls_chain_files style).
    let combined = pki.concat("combined.pem", &[&key, &cert]);
    validate(&combined, &combined, None).unwrap();
    let combined = pki.concat("combined2.pem", &[&cert, &key]);
    validate(&combined, &combined, None).unwrap();
}

#[test]
fn tls_table_from_a_config_file() {
    require_openssl!();
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        tls: RawTls,
    }
    let pki = Pki::new();
    let (cert, key) = pki.self_signed("mx");
    let file = pki.path("mta.toml");
    std::fs::write(
        &file,
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nmin_version = \"TLSv1.3\"\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let raw: Raw = config::load(&file).unwrap();
    let mut errors = ConfigErrors::new(&file);
    let settings = TlsSettings::validate(raw.tls, "tls", &mut errors);
    assert!(errors.is_empty(), "{errors}");
    assert_eq!(settings.min_version, TlsVersion::Tls13);

    std::fs::write(
        &file,
        "[tls]\ncert_file = \"a\"\nkey_file = \"b\"\nciphers = \"HIGH\"\n",
    )
    .unwrap();
    let errors = config::load::<Raw>(&file).unwrap_err();
    assert!(
        errors.to_string().contains("unknown field `ciphers`"),
        "{errors}"
    );
}

/// What the load log shows: names from subjectAltName, expiry as OpenSSL reads it, including
/// a date past 2049 (GeneralizedTime).
#[test]
fn summary_agrees_with_openssl() {
    require_openssl!();
    let pki = Pki::new();
    pki.openssl(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem \
         -days 36500 -subj /CN=mx.example.org -addext subjectAltName=DNS:mx.example.org,DNS:example.org",
    );
    let tls = ReloadableTls::load(TlsSettings::new(pki.path("c.pem"), pki.path("k.pem"))).unwrap();
    let summary = tls.certificate();
    assert_eq!(summary.names, ["mx.example.org", "example.org"]);
    assert_eq!(summary.not_after_text(), openssl_not_after(&pki, "c.pem"));
    assert!(summary.not_after_text().starts_with("21"), "{summary}");
    assert!(
        summary
            .to_string()
            .starts_with("mx.example.org, example.org; 1 certificate(s)"),
        "{summary}"
    );

    // No subjectAltName: the common name stands in.
    pki.openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k2.pem -out c2.pem -days 3 -subj /O=Org/CN=legacy.example");
    let tls =
        ReloadableTls::load(TlsSettings::new(pki.path("c2.pem"), pki.path("k2.pem"))).unwrap();
    let summary = tls.certificate();
    assert_eq!(summary.names, ["legacy.example"]);
    assert_eq!(summary.not_after_text(), openssl_not_after(&pki, "c2.pem"));
    assert!(summary.not_after().unwrap() > std::time::SystemTime::now());
}

/// `openssl x509 -enddate` ("notAfter=Dec 22 08:44:45 2026 GMT") as RFC 3339.
fn openssl_not_after(pki: &Pki, cert: &str) -> String {
    let output = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in", cert])
        .current_dir(pki.path(""))
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let fields: Vec<&str> = text
        .trim()
        .trim_start_matches("notAfter=")
        .split_whitespace()
        .collect();
    let [month, day, time, year, "GMT"] = fields[..] else {
        panic!("{text}")
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == month).unwrap() + 1;
    format!(
        "{year}-{month:02}-{:02}T{time}Z",
        day.parse::<u8>().unwrap()
    )
}
