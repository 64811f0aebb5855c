//! The decisions that make the MTA a safe MX and MSA, without I/O: which recipients are ours,
//! who may relay, which HELO names and senders are acceptable, and who may send as whom.
//! The session asks; whether a local mailbox exists is checked afterwards (LMTP probe).

use std::net::IpAddr;

use runtime::config::IpNetwork;
use smtp::{ForwardPath, Host, PathFlags, Reply, ReversePath};

use crate::aliases::{Aliases, Resolved};
use crate::sender_login::SenderLogins;

/// Settings the decisions read.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Domains we accept mail for, lower case.
    pub local_domains: Vec<String>,
    /// Clients that may relay without authenticating.
    pub mynetworks: Vec<IpNetwork>,
    /// Separator of `user+detail`.
    pub delimiter: String,
    pub aliases: Aliases,
    pub sender_logins: SenderLogins,
}

/// Who is asking.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// `None` for local UNIX-socket clients (sendmail), which are trusted like mynetworks.
    pub ip: Option<IpAddr>,
    /// The SASL login, once authenticated.
    pub login: Option<String>,
}

/// Where a recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// Ours: delivered over LMTP to these addresses (after alias expansion).
    Local(Vec<String>),
    /// Someone else's: relayed (outbound delivery).
    Remote(String),
}

impl Policy {
    /// Whether `domain` is one of ours (case-insensitive, a trailing dot ignored).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        self.local_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Whether this client may send to remote domains.
    pub fn may_relay(&self, client: &Client) -> bool {
        client.login.is_some()
            || match client.ip {
                None => true,
                Some(ip) => self.mynetworks.iter().any(|n| n.contains(ip)),
            }
    }

    /// RCPT: where the recipient goes, or the refusal. Legacy routing forms (`%`, `!`, source
    /// routes, `"a@b"@c`) never reach a local mailbox: they are relay attempts and need relay
    /// permission like any remote address.
    pub fn recipient(
        &self,
        client: &Client,
        to: &ForwardPath,
        flags: PathFlags,
    ) -> Result<Recipient, Reply> {
        let Some(mailbox) = to.mailbox() else {
            // RCPT TO:<Postmaster> must always work (RFC 5321 4.5.1).
            let domain = self
                .local_domains
                .first()
                .map_or("localhost", String::as_str);
            return Ok(self.local(&format!("postmaster@{domain}")));
        };
        let address = format!("{}@{}", mailbox.local_part, mailbox.host);
        let local_domain = match &mailbox.host {
            Host::Domain(domain) => self.is_local_domain(domain),
            _ => false,
        };
        if local_domain && !flags.any() {
            let address = format!("{}@{}", mailbox.local_part_unquoted(), mailbox.host);
            return Ok(self.local(&address));
        }
        if self.may_relay(client) {
            return Ok(Recipient::Remote(address));
        }
        Err(Reply::new(
            554,
            Some((5, 7, 1)),
            format!("<{address}>: Relay access denied"),
        ))
    }

    fn local(&self, address: &str) -> Recipient {
        let is_local = |d: &str| self.is_local_domain(d);
        match self.aliases.expand(address, &is_local, &self.delimiter) {
            Ok(Resolved::Targets(targets)) => Recipient::Local(targets),
            // An alias error is a config problem: deliver to the address itself, which the
            // LMTP check then accepts or refuses.
            Ok(Resolved::Itself) | Err(_) => Recipient::Local(vec![address.to_string()]),
        }
    }

    /// MAIL FROM: syntax-level checks (`reject_non_fqdn_sender`), legacy routing, and for an
    /// authenticated client the send-as check (`reject_sender_login_mismatch`).
    pub fn sender(
        &self,
        client: &Client,
        from: &ReversePath,
        flags: PathFlags,
        check_login: bool,
    ) -> Result<(), Reply> {
        let Some(mailbox) = from.mailbox() else {
            return Ok(()); // <>: bounces must always be accepted
        };
        let address = format!("{}@{}", mailbox.local_part_unquoted(), mailbox.host);
        if flags.any() {
            return Err(Reply::new(
                553,
                Some((5, 1, 7)),
                format!("<{address}>: Sender address rejected: routing syntax not accepted"),
            ));
        }
        if let Host::Domain(domain) = &mailbox.host
            && !domain.trim_end_matches('.').contains('.')
        {
            return Err(Reply::new(
                504,
                Some((5, 5, 2)),
                format!("<{address}>: Sender address rejected: need fully-qualified address"),
            ));
        }
        if check_login
            && let Some(login) = &client.login
            && !self.sender_logins.allows(login, &address)
        {
            return Err(Reply::new(
                553,
                Some((5, 7, 1)),
                format!("<{address}>: Sender address rejected: not owned by user {login}"),
            ));
        }
        Ok(())
    }

    /// HELO/EHLO name: always a valid domain or address literal; with `strict` (port 25)
    /// also fully qualified, like `reject_invalid_helo_hostname` and
    /// `reject_non_fqdn_helo_hostname`.
    pub fn helo(&self, name: &str, strict: bool) -> Result<(), Reply> {
        let Ok(host) = Host::parse(name, true) else {
            return Err(Reply::new(
                501,
                Some((5, 5, 2)),
                format!("<{}>: Helo command rejected: Invalid name", printable(name)),
            ));
        };
        if strict
            && let Host::Domain(domain) = &host
            && !domain.trim_end_matches('.').contains('.')
        {
            return Err(Reply::new(
                504,
                Some((5, 5, 2)),
                format!("<{domain}>: Helo command rejected: need fully-qualified hostname"),
            ));
        }
        Ok(())
    }
}

/// For replies and logs: at most 100 characters, control characters replaced.
pub fn printable(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            local_domains: vec!["example.org".into(), "example.net".into()],
            mynetworks: vec!["10.0.0.0/8".parse().unwrap()],
            delimiter: "+".into(),
            aliases: Aliases::parse(
                "postmaster: root\nroot: admin@example.org\nteam: ann, bob\n",
                &["example.org".to_string()],
            )
            .unwrap(),
            sender_logins: SenderLogins::parse("ann@example.org: team@example.org\n").unwrap(),
        }
    }

    fn outsider() -> Client {
        Client {
            ip: Some("192.0.2.7".parse().unwrap()),
            login: None,
        }
    }

    fn rcpt(policy: &Policy, client: &Client, text: &str) -> Result<Recipient, Reply> {
        let (path, flags) = ForwardPath::parse(text, true).unwrap();
        policy.recipient(client, &path, flags)
    }

    #[test]
    fn local_recipients_and_aliases() {
        let p = policy();
        assert_eq!(
            rcpt(&p, &outsider(), "<Alice@Example.ORG>"),
            Ok(Recipient::Local(vec!["Alice@Example.ORG".into()]))
        );
        assert_eq!(
            rcpt(&p, &outsider(), "<Postmaster>"),
            Ok(Recipient::Local(vec!["admin@example.org".into()]))
        );
        assert_eq!(
            rcpt(&p, &outsider(), "<team@example.org>"),
            Ok(Recipient::Local(vec![
                "ann@example.org".into(),
                "bob@example.org".into()
            ]))
        );
    }

    #[test]
    fn open_relay_battery_is_refused_for_outsiders() {
        let p = policy();
        for attempt in [
            "<victim@remote.test>",
            "<victim%remote.test@example.org>",
            "<victim@remote.test@example.org>",
            "<\"victim@remote.test\"@example.org>",
            "<@example.org:victim@remote.test>",
            "<@example.org,@relay.test:victim@remote.test>",
            "<remote.test!victim@example.org>",
            "<victim@[192.0.2.1]>",
            "<victim@[IPv6:2001:db8::1]>",
            "<\"victim%remote.test\"@example.org>",
        ] {
            let Ok((path, flags)) = ForwardPath::parse(attempt, true) else {
                continue; // a syntax error refuses it too
            };
            let verdict = p.recipient(&outsider(), &path, flags);
            match verdict {
                Err(reply) => assert_eq!(reply.code, 554, "{attempt}"),
                Ok(Recipient::Local(to)) => {
                    // Only a plain local address may be local.
                    assert!(!flags.any(), "{attempt} -> {to:?}");
                    assert!(
                        to.iter().all(|a| !a.contains('%') && !a.contains('!')),
                        "{attempt}"
                    );
                }
                Ok(Recipient::Remote(_)) => panic!("{attempt} relayed for an outsider"),
            }
        }
    }

    #[test]
    fn relay_for_authenticated_and_mynetworks() {
        let p = policy();
        let authed = Client {
            login: Some("ann@example.org".into()),
            ..outsider()
        };
        let inside = Client {
            ip: Some("10.1.2.3".parse().unwrap()),
            login: None,
        };
        let local = Client::default();
        for client in [&authed, &inside, &local] {
            assert_eq!(
                rcpt(&p, client, "<x@remote.test>"),
                Ok(Recipient::Remote("x@remote.test".into()))
            );
        }
    }

    #[test]
    fn sender_checks() {
        let p = policy();
        let ann = Client {
            login: Some("ann@example.org".into()),
            ..outsider()
        };
        let from = |text: &str| ReversePath::parse(text, true).unwrap();
        let check = |client: &Client, text: &str| {
            let (path, flags) = from(text);
            p.sender(client, &path, flags, true).map_err(|r| r.code)
        };
        assert_eq!(check(&ann, "<>"), Ok(()));
        assert_eq!(check(&ann, "<ann@example.org>"), Ok(()));
        assert_eq!(check(&ann, "<team@example.org>"), Ok(()));
        assert_eq!(check(&ann, "<bob@example.org>"), Err(553));
        assert_eq!(check(&outsider(), "<bob@example.org>"), Ok(()));
        assert_eq!(check(&outsider(), "<bob@localhost>"), Err(504));
        assert_eq!(check(&outsider(), "<a%b@example.org>"), Err(553));
    }

    #[test]
    fn helo_names() {
        let p = policy();
        assert!(p.helo("mail.example.org", true).is_ok());
        assert!(p.helo("[192.0.2.1]", true).is_ok());
        assert_eq!(p.helo("laptop", true).unwrap_err().code, 504);
        assert!(p.helo("laptop", false).is_ok());
        assert_eq!(p.helo("bad name!", false).unwrap_err().code, 501);
    }
}
