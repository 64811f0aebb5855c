//! `postern-dkim genkey`: make a signing key (mode 0600, never overwriting) and print the DNS
//! record to publish and the lines to add to the configuration.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use dkim::{Algorithm, SigningKey};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyAlgorithm {
    Rsa,
    Ed25519,
}

#[derive(Debug, Args)]
pub struct GenkeyArgs {
    /// Signing domain (d=), e.g. example.com.
    #[arg(long)]
    domain: String,
    /// Selector (s=), e.g. 2026a; publish the key under SELECTOR._domainkey.DOMAIN.
    #[arg(long)]
    selector: String,
    /// Key algorithm; RSA is what every verifier understands, ed25519 is best added as a
    /// second signature (dual signing).
    #[arg(long, value_enum, default_value_t = KeyAlgorithm::Rsa)]
    algorithm: KeyAlgorithm,
    /// RSA key size in bits: 2048, 3072 or 4096 (DNS providers may limit TXT size; 2048 fits
    /// everywhere).
    #[arg(long, default_value_t = 2048)]
    bits: usize,
    /// Where to write the private key [default: DOMAIN.SELECTOR.key in the current directory].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: &GenkeyArgs) -> anyhow::Result<()> {
    let domain = args.domain.trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || args.selector.is_empty() {
        bail!("--domain and --selector must not be empty");
    }
    let algorithm = match args.algorithm {
        KeyAlgorithm::Rsa => Algorithm::RsaSha256,
        KeyAlgorithm::Ed25519 => Algorithm::Ed25519Sha256,
    };
    if matches!(algorithm, Algorithm::RsaSha256) && ![2048, 3072, 4096].contains(&args.bits) {
        bail!("--bits must be 2048, 3072 or 4096");
    }
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{domain}.{}.key", args.selector)));
    let (key, pem) = SigningKey::generate(algorithm, args.bits).context("generating the key")?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing key is never overwritten)",
                path.display()
            )
        })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    let absolute = std::fs::canonicalize(&path).unwrap_or(path);

    let name = format!("{}._domainkey.{domain}.", args.selector);
    let value = key.dns_record_value();
    println!(
        "; private key written to {} (mode 0600)",
        absolute.display()
    );
    println!(
        "; DNS record for d={domain} s={} ({algorithm}):",
        args.selector
    );
    println!("{}", dkim::dns_txt_zone_lines(&name, &value));
    println!();
    println!("; the same value on one line, for DNS providers' web forms:");
    println!("{value}");
    println!();
    println!("; in /etc/postern/dkim.toml:");
    println!("[keys.{}]", config_key_name(&domain, &args.selector));
    println!("domain = \"{domain}\"");
    println!("selector = \"{}\"", args.selector);
    println!("file = \"{}\"", absolute.display());
    Ok(())
}

fn config_key_name(domain: &str, selector: &str) -> String {
    format!("{domain}-{selector}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
