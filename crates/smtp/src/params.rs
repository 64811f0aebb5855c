//! ESMTP parameters of MAIL and RCPT: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
//! (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461) and AUTH= (RFC 4954), decoded into types.
//! A parameter whose extension is not on offer is refused like an unknown one.

use crate::reply::Reply;
use crate::settings::Settings;

/// Longest ENVID in octets after decoding (RFC 3461 4.4).
pub const MAX_ENVID: usize = 100;
/// Longest ORCPT value in octets (RFC 3461 4.2).
pub const MAX_ORCPT: usize = 500;

/// Why a parameter list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A keyword (or keyword=value) not known or not offered: 555 5.5.4.
    #[error("unsupported parameter {0}")]
    Unsupported(String),
    /// A known keyword with a bad value: 501 5.5.4.
    #[error("malformed parameter {0}")]
    Malformed(String),
    /// A keyword given twice: 501 5.5.4.
    #[error("duplicate parameter {0}")]
    Duplicate(String),
}

impl ParamError {
    /// What the client is told.
    pub fn reply(&self) -> Reply {
        match self {
            Self::Unsupported(name) => Reply::unknown_parameter(name),
            Self::Malformed(name) => Reply::syntax_error(&format!("malformed parameter {name}")),
            Self::Duplicate(name) => Reply::syntax_error(&format!("duplicate parameter {name}")),
        }
    }
}

/// `BODY=`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `7BIT`
    SevenBit,
    /// `8BITMIME`
    EightBitMime,
    /// `BINARYMIME`: must be sent with BDAT.
    BinaryMime,
}

/// `RET=`: what a DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `FULL`: the whole message.
    Full,
    /// `HDRS`: headers only.
    Headers,
}

/// `NOTIFY=`: `NEVER`, or any of the other three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Notify {
    /// `NEVER` (alone).
    pub never: bool,
    /// `SUCCESS`
    pub success: bool,
    /// `FAILURE`
    pub failure: bool,
    /// `DELAY`
    pub delay: bool,
}

/// `ORCPT=addr-type;address`, xtext decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRecipient {
    /// Usually `rfc822` (or `utf-8`).
    pub addr_type: String,
    /// The original address.
    pub address: String,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=`: the client's estimate of the message size.
    pub size: Option<u64>,
    /// `BODY=`
    pub body: Option<Body>,
    /// `SMTPUTF8`: UTF-8 addresses and headers in this transaction.
    pub smtputf8: bool,
    /// `RET=`
    pub ret: Option<Ret>,
    /// `ENVID=`, decoded.
    pub envid: Option<String>,
    /// `AUTH=`, decoded: the authenticated submitter or `<>`.
    pub auth: Option<String>,
}

/// Parameters of RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=`
    pub notify: Option<Notify>,
    /// `ORCPT=`
    pub orcpt: Option<OriginalRecipient>,
}

/// Which parameters the client may use: those of the extensions we advertised, none after
/// plain HELO.
#[derive(Debug, Clone, Copy, Default)]
#[allow(clippy::struct_excessive_bools)]
pub(crate) struct Offered {
    size: bool,
    eight_bit_mime: bool,
    binarymime: bool,
    smtputf8: bool,
    dsn: bool,
    auth: bool,
}

impl Offered {
    pub(crate) fn new(settings: &Settings, esmtp: bool, tls_active: bool) -> Self {
        if !esmtp {
            return Self::default();
        }
        let ext = &settings.extensions;
        Self {
            size: ext.size,
            eight_bit_mime: ext.eight_bit_mime,
            binarymime: ext.binarymime && ext.chunking,
            smtputf8: ext.smtputf8,
            dsn: ext.dsn,
            auth: settings.auth_offered(tls_active),
        }
    }
}

/// Splits `KEY[=value]` words; the key is upper-cased and bounded for use in replies.
fn words(text: &str) -> impl Iterator<Item = (String, Option<&str>)> {
    text.split(' ').filter(|w| !w.is_empty()).map(|word| {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (word, None),
        };
        let key: String = key.chars().take(32).collect();
        (key.to_ascii_uppercase(), value)
    })
}

/// Parses the words after `MAIL FROM:<path>`.
pub(crate) fn parse_mail(text: &str, offered: Offered) -> Result<MailParams, ParamError> {
    let mut params = MailParams::default();
    for (key, value) in words(text) {
        let malformed = || ParamError::Malformed(key.clone());
        let duplicate = || ParamError::Duplicate(key.clone());
        match key.as_str() {
            "SIZE" if offered.size => {
                let value = value.filter(|v| is_number(v)).ok_or_else(malformed)?;
                let size = value.parse().map_err(|_| malformed())?;
                set(&mut params.size, size).ok_or_else(duplicate)?;
            }
            "BODY" if offered.eight_bit_mime || offered.binarymime => {
                let value = value.ok_or_else(malformed)?.to_ascii_uppercase();
                let body = match value.as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" if offered.eight_bit_mime => Body::EightBitMime,
                    "BINARYMIME" if offered.binarymime => Body::BinaryMime,
                    "8BITMIME" | "BINARYMIME" => {
                        return Err(ParamError::Unsupported(format!("BODY={value}")));
                    }
                    _ => return Err(malformed()),
                };
                set(&mut params.body, body).ok_or_else(duplicate)?;
            }
            "SMTPUTF8" if offered.smtputf8 => {
                if value.is_some() {
                    return Err(malformed());
                }
                if std::mem::replace(&mut params.smtputf8, true) {
                    return Err(duplicate());
                }
            }
            "RET" if offered.dsn => {
                let ret = match value.map(str::to_ascii_uppercase).as_deref() {
                    Some("FULL") => Ret::Full,
                    Some("HDRS") => Ret::Headers,
                    _ => return Err(malformed()),
                };
                set(&mut params.ret, ret).ok_or_else(duplicate)?;
            }
            "ENVID" if offered.dsn => {
                let envid = value
                    .and_then(xtext_decode)
                    .filter(|v| !v.is_empty() && v.len() <= MAX_ENVID)
                    .ok_or_else(malformed)?;
                set(&mut params.envid, envid).ok_or_else(duplicate)?;
            }
            "AUTH" if offered.auth => {
                let auth = value.and_then(xtext_decode).ok_or_else(malformed)?;
                set(&mut params.auth, auth).ok_or_else(duplicate)?;
            }
            _ => return Err(ParamError::Unsupported(key)),
        }
    }
    // Non-ASCII values need SMTPUTF8, wherever in the list it was given.
    if !params.smtputf8 && !text.is_ascii() {
        return Err(ParamError::Malformed("(non-ASCII)".to_owned()));
    }
    Ok(params)
}

/// Parses the words after `RCPT TO:<path>`.
pub(crate) fn parse_rcpt(
    text: &str,
    offered: Offered,
    utf8: bool,
) -> Result<RcptParams, ParamError> {
    if !utf8 && !text.is_ascii() {
        return Err(ParamError::Malformed("(non-ASCII)".to_owned()));
    }
    let mut params = RcptParams::default();
    for (key, value) in words(text) {
        let malformed = || ParamError::Malformed(key.clone());
        let duplicate = || ParamError::Duplicate(key.clone());
        match key.as_str() {
            "NOTIFY" if offered.dsn => {
                let notify = value.and_then(parse_notify).ok_or_else(malformed)?;
                set(&mut params.notify, notify).ok_or_else(duplicate)?;
            }
            "ORCPT" if offered.dsn => {
                let (addr_type, address) = value
                    .filter(|v| v.len() <= MAX_ORCPT)
                    .and_then(|v| v.split_once(';'))
                    .ok_or_else(malformed)?;
                let type_ok = !addr_type.is_empty()
                    && addr_type
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                let address = xtext_decode(address)
                    .filter(|a| type_ok && !a.is_empty())
                    .ok_or_else(malformed)?;
                let orcpt = OriginalRecipient {
                    addr_type: addr_type.to_owned(),
                    address,
                };
                set(&mut params.orcpt, orcpt).ok_or_else(duplicate)?;
            }
            _ => return Err(ParamError::Unsupported(key)),
        }
    }
    Ok(params)
}

/// Stores `value` unless the slot is taken (`None` then means "duplicate").
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

fn is_number(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn parse_notify(value: &str) -> Option<Notify> {
    let mut notify = Notify::default();
    for item in value.split(',') {
        let flag = match item.to_ascii_uppercase().as_str() {
            "NEVER" => &mut notify.never,
            "SUCCESS" => &mut notify.success,
            "FAILURE" => &mut notify.failure,
            "DELAY" => &mut notify.delay,
            _ => return None,
        };
        if std::mem::replace(flag, true) {
            return None;
        }
    }
    let others = notify.success || notify.failure || notify.delay;
    (notify.never != others).then_some(notify)
}

/// Decodes xtext (RFC 3461 4): `+XX` is a hex octet; `+` and `=` are not allowed bare.
/// Non-ASCII passes through (only reachable under SMTPUTF8, RFC 6533).
pub fn xtext_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => {
                let high = hex_digit(bytes.next()?)?;
                let low = hex_digit(bytes.next()?)?;
                out.push(high << 4 | low);
            }
            b'=' | ..=32 | 127 => return None,
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Offered {
        let mut settings = Settings::smtp("mx.example.org");
        settings.extensions.dsn = true;
        settings.extensions.binarymime = true;
        settings.auth_mechanisms = vec!["PLAIN".into()];
        Offered::new(&settings, true, true)
    }

    #[test]
    fn mail_parameters() {
        let params = parse_mail(
            "SIZE=1000 body=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B314 AUTH=e+3Dmc2@example.com",
            all(),
        )
        .unwrap();
        assert_eq!(
            params,
            MailParams {
                size: Some(1000),
                body: Some(Body::EightBitMime),
                smtputf8: true,
                ret: Some(Ret::Headers),
                envid: Some("QQ+314".into()),
                auth: Some("e=mc2@example.com".into()),
            }
        );
        assert_eq!(parse_mail("", all()), Ok(MailParams::default()));
    }

    #[test]
    fn mail_parameter_errors() {
        let error = |text| parse_mail(text, all()).unwrap_err();
        assert_eq!(error("SIZE=abc"), ParamError::Malformed("SIZE".into()));
        assert_eq!(error("SIZE"), ParamError::Malformed("SIZE".into()));
        assert_eq!(error("SIZE=1 SIZE=2"), ParamError::Duplicate("SIZE".into()));
        assert_eq!(
            error("SIZE=99999999999999999999"),
            ParamError::Malformed("SIZE".into())
        );
        assert_eq!(error("BODY=9BIT"), ParamError::Malformed("BODY".into()));
        assert_eq!(error("XFOO=1"), ParamError::Unsupported("XFOO".into()));
        assert_eq!(
            error("SMTPUTF8=yes"),
            ParamError::Malformed("SMTPUTF8".into())
        );
        assert_eq!(error("ENVID=a+2"), ParamError::Malformed("ENVID".into()));
        assert_eq!(error("RET=ALL"), ParamError::Malformed("RET".into()));
    }

    #[test]
    fn parameters_of_extensions_not_offered() {
        let helo = Offered::default();
        assert_eq!(
            parse_mail("SIZE=10", helo),
            Err(ParamError::Unsupported("SIZE".into()))
        );
        let settings = Settings::smtp("mx.example.org");
        let plain = Offered::new(&settings, true, false);
        assert_eq!(
            parse_mail("BODY=BINARYMIME", plain),
            Err(ParamError::Unsupported("BODY=BINARYMIME".into()))
        );
        assert_eq!(
            parse_mail("RET=FULL", plain),
            Err(ParamError::Unsupported("RET".into()))
        );
        assert_eq!(
            parse_rcpt("NOTIFY=NEVER", plain, false),
            Err(ParamError::Unsupported("NOTIFY".into()))
        );
    }

    #[test]
    fn rcpt_parameters() {
        let params = parse_rcpt(
            "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+40example.org",
            all(),
            false,
        )
        .unwrap();
        assert_eq!(
            params.notify,
            Some(Notify {
                success: true,
                failure: true,
                ..Notify::default()
            })
        );
        assert_eq!(
            params.orcpt,
            Some(OriginalRecipient {
                addr_type: "rfc822".into(),
                address: "Bob@example.org".into()
            })
        );
        for bad in [
            "NOTIFY=NEVER,DELAY",
            "NOTIFY=",
            "NOTIFY=DELAY,DELAY",
            "ORCPT=bob",
        ] {
            assert!(
                matches!(parse_rcpt(bad, all(), false), Err(ParamError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn replies_for_errors() {
        assert_eq!(
            ParamError::Unsupported("XFOO".into()).reply().to_string(),
            "555 5.5.4 Unsupported parameter XFOO"
        );
        assert_eq!(ParamError::Malformed("SIZE".into()).reply().code, 501);
    }
}
