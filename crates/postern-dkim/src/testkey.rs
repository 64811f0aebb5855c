//! `postern-dkim testkey`: look each configured selector up in DNS and say whether the
//! published public key matches the private key (like `opendkim-testkey`).

use std::net::SocketAddr;

use clap::Args;
use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::config::{Config, DomainKey};

#[derive(Debug, Args)]
pub struct TestkeyArgs {
    /// Ask this DNS server (IP:PORT) instead of the system resolvers, e.g. an authoritative
    /// server before the record has propagated.
    #[arg(long, value_name = "IP:PORT")]
    nameserver: Option<SocketAddr>,
}

/// What DNS says about one key.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Matches,
    Mismatch,
    Revoked,
    NotFound(String),
    Invalid(String),
}

/// Checks every key; prints one line each; Ok(true) when all match.
pub fn run(config: &Config, args: &TestkeyArgs) -> anyhow::Result<bool> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let resolver = match args.nameserver {
            Some(address) => {
                let mut connection = ConnectionConfig::udp();
                connection.port = address.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![connection, tcp]);
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![server]),
                    TokioRuntimeProvider::default(),
                )
                .build()?
            }
            None => Resolver::builder_tokio()?.build()?,
        };
        let mut all_ok = true;
        for key in config.keys() {
            let name = format!("{}._domainkey.{}.", key.selector, key.domain);
            let status = match resolver.txt_lookup(name.as_str()).await {
                Ok(lookup) => {
                    let records: Vec<String> = lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::TXT(txt) => Some(
                                txt.txt_data
                                    .iter()
                                    .map(|part| String::from_utf8_lossy(part).into_owned())
                                    .collect::<String>(),
                            ),
                            _ => None,
                        })
                        .collect();
                    status_of(&key, &records)
                }
                Err(e) => KeyStatus::NotFound(e.to_string()),
            };
            all_ok &= status == KeyStatus::Matches;
            println!("{}", describe(&key, &name, &status));
        }
        Ok(all_ok)
    })
}

/// Compares the TXT records found at the key's name with the private key.
pub fn status_of(key: &DomainKey, records: &[String]) -> KeyStatus {
    let dkim_records: Vec<&String> = records.iter().filter(|r| r.contains("p=")).collect();
    match dkim_records.as_slice() {
        [] => KeyStatus::NotFound("no DKIM record (TXT with p=)".into()),
        [record] => match dkim::parse_dns_record(record) {
            Ok(parsed) if parsed.public_key.is_empty() => KeyStatus::Revoked,
            Ok(parsed) if key.key.matches_public_key(&parsed.public_key) => KeyStatus::Matches,
            Ok(_) => KeyStatus::Mismatch,
            Err(e) => KeyStatus::Invalid(e.to_string()),
        },
        more => KeyStatus::Invalid(format!(
            "{} DKIM records: verifiers treat that as an error",
            more.len()
        )),
    }
}

fn describe(key: &DomainKey, name: &str, status: &KeyStatus) -> String {
    let what = format!("key {} ({name}, {})", key.name, key.key.algorithm());
    match status {
        KeyStatus::Matches => format!("{what}: OK, DNS matches {}", key.file.display()),
        KeyStatus::Mismatch => format!(
            "{what}: MISMATCH, the published key is not the public half of {}",
            key.file.display()
        ),
        KeyStatus::Revoked => format!("{what}: REVOKED, the record has an empty p="),
        KeyStatus::NotFound(why) => format!("{what}: NOT FOUND: {why}"),
        KeyStatus::Invalid(why) => format!("{what}: INVALID record: {why}"),
    }
}
