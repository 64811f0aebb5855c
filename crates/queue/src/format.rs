//! The envelope file: TOML, so `postern-mta queue show` can print it and an administrator can
//! read it, with TOML's string escaping carrying addresses with spaces, quotes, control
//! characters or UTF-8 unchanged.
//!
//! Writing is done here rather than by a serializer so the layout is fixed: one key per line,
//! every string a basic string on one line with line breaks and other control characters
//! escaped, so `grep` and `queue show` see one line per value whatever an address contains.
//! Reading is strict: a `version` it does not know, an unknown key, a missing one, a state
//! with fields of another state, or a value out of range is an error naming the problem, and
//! `Queue::open` moves such a file to `corrupt/` rather than guess. The file structs are
//! separate from the API types so the format can stay put while the API changes.
//!
//! ```toml
//! version = 1
//! id = "69C3B2200000A001"
//! arrival = 2026-03-25T10:00:00Z
//! sender = "alice@example.net"
//! held = false
//!
//! [params]
//! size = 1234
//! body = "8BITMIME"
//! smtputf8 = false
//! ret = "HDRS"
//! envid = "QQ314159"
//!
//! [origin]
//! client_address = "192.0.2.7"
//! client_name = "mail.example.net"
//! helo = "mail.example.net"
//! auth_user = "alice"
//! listener = "submission"
//! protocol = "ESMTPSA"
//! tls = true
//!
//! [[recipient]]
//! address = "bob@example.org"
//! orcpt = "rfc822;Bob@example.org"
//! notify = "FAILURE,DELAY"
//! state = "pending"
//! attempts = 2
//! next_attempt = 2026-03-25T10:15:00Z
//! reply = "451 4.7.1 Try again later (in reply to RCPT TO)"
//! bounce_sent = false
//! delay_sent = false
//!
//! [[recipient]]
//! address = "\"carol smith\"@example.org"
//! state = "delivered"
//! at = 2026-03-25T10:00:02Z
//! reply = "250 2.0.0 Ok: queued as 4ABC"
//! bounce_sent = false
//! delay_sent = false
//!
//! [[recipient]]
//! address = "dave@example.com"
//! notify = "NEVER"
//! state = "failed"
//! at = 2026-03-25T10:00:03Z
//! reply = "550 5.1.1 <dave@example.com>: User unknown (in reply to RCPT TO)"
//! expired = false
//! bounce_sent = true
//! delay_sent = false
//! ```

use std::fmt::Write as _;

use serde::Deserialize;
use toml::value::Datetime;

use crate::envelope::{
    Body, Envelope, MailParams, Notify, Origin, OriginalRecipient, Recipient, RecipientState, Ret,
};
use crate::time::Timestamp;

/// The format version this code writes and reads.
pub const FORMAT_VERSION: i64 = 1;

/// An envelope file that cannot be read (or an envelope that cannot be written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    /// Checked by [`VersionProbe`] first; here so that the key is known.
    #[serde(rename = "version")]
    _version: i64,
    id: String,
    arrival: Datetime,
    sender: String,
    held: bool,
    params: RawParams,
    origin: RawOrigin,
    #[serde(rename = "recipient")]
    recipients: Vec<RawRecipient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    body: Option<String>,
    smtputf8: bool,
    #[serde(default)]
    ret: Option<String>,
    #[serde(default)]
    envid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrigin {
    #[serde(default)]
    client_address: Option<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    helo: Option<String>,
    #[serde(default)]
    auth_user: Option<String>,
    listener: String,
    protocol: String,
    tls: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipient {
    address: String,
    #[serde(default)]
    orcpt: Option<String>,
    #[serde(default)]
    notify: Option<String>,
    state: String,
    #[serde(default)]
    attempts: Option<i64>,
    #[serde(default)]
    next_attempt: Option<Datetime>,
    #[serde(default)]
    at: Option<Datetime>,
    #[serde(default)]
    reply: Option<String>,
    #[serde(default)]
    expired: Option<bool>,
    bounce_sent: bool,
    delay_sent: bool,
}

/// Only the version, read first so that a newer file is reported as such rather than as
/// "unknown key".
#[derive(Deserialize)]
struct VersionProbe {
    version: Option<toml::Value>,
}

/// The envelope as file text. Refuses an envelope that could not be read back.
pub fn to_text(env: &Envelope) -> Result<String, FormatError> {
    env.validate().map_err(FormatError)?;
    let mut out = Out(String::with_capacity(512 + 256 * env.recipients.len()));
    out.int("version", FORMAT_VERSION);
    out.str("id", &env.id.to_string());
    out.time("arrival", env.arrival);
    out.str("sender", &env.sender);
    out.bool("held", env.held);

    out.table("[params]");
    if let Some(size) = env.params.size {
        out.int("size", i64::try_from(size).unwrap_or(i64::MAX));
    }
    out.opt_str("body", env.params.body.map(body_name));
    out.bool("smtputf8", env.params.smtputf8);
    out.opt_str("ret", env.params.ret.map(ret_name));
    out.opt_str("envid", env.params.envid.as_deref());

    let origin = &env.origin;
    out.table("[origin]");
    out.opt_str("client_address", origin.client_address.as_deref());
    out.opt_str("client_name", origin.client_name.as_deref());
    out.opt_str("helo", origin.helo.as_deref());
    out.opt_str("auth_user", origin.auth_user.as_deref());
    out.str("listener", &origin.listener);
    out.str("protocol", &origin.protocol);
    out.bool("tls", origin.tls);

    for r in &env.recipients {
        out.table("[[recipient]]");
        out.str("address", &r.address);
        if let Some(o) = &r.orcpt {
            out.str("orcpt", &format!("{};{}", o.addr_type, o.address));
        }
        if let Some(n) = r.notify {
            out.str("notify", &notify_text(n));
        }
        match &r.state {
            RecipientState::Pending {
                attempts,
                next_attempt,
                last_reply,
            } => {
                out.str("state", "pending");
                out.int("attempts", i64::from(*attempts));
                out.time("next_attempt", *next_attempt);
                out.opt_str("reply", last_reply.as_deref());
            }
            RecipientState::Delivered { at, reply } => {
                out.str("state", "delivered");
                out.time("at", *at);
                out.str("reply", reply);
            }
            RecipientState::Failed { at, reply, expired } => {
                out.str("state", "failed");
                out.time("at", *at);
                out.str("reply", reply);
                out.bool("expired", *expired);
            }
        }
        out.bool("bounce_sent", r.bounce_sent);
        out.bool("delay_sent", r.delay_sent);
    }
    Ok(out.0)
}

/// The file being written. `fmt::Write` into a `String` cannot fail.
struct Out(String);

impl Out {
    fn table(&mut self, header: &str) {
        let _ = write!(self.0, "\n{header}\n");
    }

    fn int(&mut self, key: &str, value: i64) {
        let _ = writeln!(self.0, "{key} = {value}");
    }

    fn bool(&mut self, key: &str, value: bool) {
        let _ = writeln!(self.0, "{key} = {value}");
    }

    /// RFC 3339 with `Z`: a TOML offset datetime.
    fn time(&mut self, key: &str, value: Timestamp) {
        let _ = writeln!(self.0, "{key} = {value}");
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    /// A TOML basic string: quotes and backslashes escaped, control characters (C0, DEL,
    /// C1) as escapes, everything else, UTF-8 included, as it is.
    fn str(&mut self, key: &str, value: &str) {
        let s = &mut self.0;
        let _ = write!(s, "{key} = \"");
        for c in value.chars() {
            let _ = match c {
                '"' => s.write_str("\\\""),
                '\\' => s.write_str("\\\\"),
                '\n' => s.write_str("\\n"),
                '\r' => s.write_str("\\r"),
                '\t' => s.write_str("\\t"),
                c if c.is_control() => write!(s, "\\u{:04X}", u32::from(c)),
                c => s.write_char(c),
            };
        }
        s.push_str("\"\n");
    }
}

/// Reads an envelope file's text.
pub fn parse(text: &str) -> Result<Envelope, FormatError> {
    let err = |msg: String| FormatError(msg);
    let probe: VersionProbe =
        toml::from_str(text).map_err(|e| err(format!("not a TOML envelope: {e}")))?;
    match probe.version {
        Some(toml::Value::Integer(FORMAT_VERSION)) => {}
        Some(toml::Value::Integer(v)) => {
            return Err(err(format!("unsupported envelope version {v}")));
        }
        Some(_) => return Err(err("unsupported envelope version: not an integer".into())),
        None => return Err(err("no version".into())),
    }
    let raw: RawEnvelope = toml::from_str(text).map_err(|e| err(format!("{e}")))?;
    let env = Envelope {
        id: raw.id.parse().map_err(|e| err(format!("id: {e}")))?,
        arrival: Timestamp::from_toml(&raw.arrival).map_err(|e| err(format!("arrival: {e}")))?,
        sender: raw.sender,
        params: MailParams {
            size: raw
                .params
                .size
                .map(|s| u64::try_from(s).map_err(|_| err(format!("params.size: {s}"))))
                .transpose()?,
            body: raw.params.body.as_deref().map(parse_body).transpose()?,
            smtputf8: raw.params.smtputf8,
            ret: raw.params.ret.as_deref().map(parse_ret).transpose()?,
            envid: raw.params.envid,
        },
        origin: Origin {
            client_address: raw.origin.client_address,
            client_name: raw.origin.client_name,
            helo: raw.origin.helo,
            auth_user: raw.origin.auth_user,
            listener: raw.origin.listener,
            protocol: raw.origin.protocol,
            tls: raw.origin.tls,
        },
        held: raw.held,
        recipients: raw
            .recipients
            .into_iter()
            .enumerate()
            .map(|(i, r)| parse_recipient(r).map_err(|e| err(format!("recipient {}: {e}", i + 1))))
            .collect::<Result<_, _>>()?,
    };
    env.validate().map_err(err)?;
    Ok(env)
}

fn parse_recipient(raw: RawRecipient) -> Result<Recipient, String> {
    let time = |name: &str, dt: Option<Datetime>| {
        dt.ok_or_else(|| format!("{name} missing"))
            .and_then(|dt| Timestamp::from_toml(&dt).map_err(|e| format!("{name}: {e}")))
    };
    let state = match raw.state.as_str() {
        "pending" => {
            if raw.at.is_some() || raw.expired.is_some() {
                return Err("a pending recipient has no at/expired".into());
            }
            let attempts = raw.attempts.ok_or("attempts missing")?;
            RecipientState::Pending {
                attempts: u32::try_from(attempts).map_err(|_| format!("attempts: {attempts}"))?,
                next_attempt: time("next_attempt", raw.next_attempt)?,
                last_reply: raw.reply,
            }
        }
        "delivered" | "failed" => {
            if raw.attempts.is_some() || raw.next_attempt.is_some() {
                return Err(format!("a {} recipient has no attempts", raw.state));
            }
            let at = time("at", raw.at)?;
            let reply = raw.reply.ok_or("reply missing")?;
            if raw.state == "delivered" {
                if raw.expired.is_some() {
                    return Err("a delivered recipient has no expired".into());
                }
                RecipientState::Delivered { at, reply }
            } else {
                RecipientState::Failed {
                    at,
                    reply,
                    expired: raw.expired.ok_or("expired missing")?,
                }
            }
        }
        other => return Err(format!("unknown state {other:?}")),
    };
    let orcpt = raw
        .orcpt
        .map(|o| match o.split_once(';') {
            Some((addr_type, address)) if !addr_type.is_empty() => Ok(OriginalRecipient {
                addr_type: addr_type.to_owned(),
                address: address.to_owned(),
            }),
            _ => Err(format!("orcpt {o:?} is not type;address")),
        })
        .transpose()?;
    Ok(Recipient {
        address: raw.address,
        orcpt,
        notify: raw.notify.as_deref().map(parse_notify).transpose()?,
        state,
        bounce_sent: raw.bounce_sent,
        delay_sent: raw.delay_sent,
    })
}

fn body_name(b: Body) -> &'static str {
    match b {
        Body::SevenBit => "7BIT",
        Body::EightBitMime => "8BITMIME",
        Body::BinaryMime => "BINARYMIME",
    }
}

fn parse_body(s: &str) -> Result<Body, FormatError> {
    match s {
        "7BIT" => Ok(Body::SevenBit),
        "8BITMIME" => Ok(Body::EightBitMime),
        "BINARYMIME" => Ok(Body::BinaryMime),
        _ => Err(FormatError(format!("params.body: {s:?}"))),
    }
}

fn ret_name(r: Ret) -> &'static str {
    match r {
        Ret::Full => "FULL",
        Ret::Headers => "HDRS",
    }
}

fn parse_ret(s: &str) -> Result<Ret, FormatError> {
    match s {
        "FULL" => Ok(Ret::Full),
        "HDRS" => Ok(Ret::Headers),
        _ => Err(FormatError(format!("params.ret: {s:?}"))),
    }
}

/// `NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`, as in RCPT TO.
fn notify_text(n: Notify) -> String {
    if n.never {
        return "NEVER".into();
    }
    [
        (n.success, "SUCCESS"),
        (n.failure, "FAILURE"),
        (n.delay, "DELAY"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(",")
}

fn parse_notify(s: &str) -> Result<Notify, String> {
    let mut n = Notify::default();
    for word in s.split(',') {
        let flag = match word {
            "NEVER" => &mut n.never,
            "SUCCESS" => &mut n.success,
            "FAILURE" => &mut n.failure,
            "DELAY" => &mut n.delay,
            _ => return Err(format!("notify {s:?}")),
        };
        if *flag {
            return Err(format!("notify {s:?} repeats {word}"));
        }
        *flag = true;
    }
    Ok(n)
}
