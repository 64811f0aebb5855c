//! Building and signing the DKIM-Signature header field (RFC 6376 §3.5, §5).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::algorithm::CanonicalizationPair;
use crate::error::SignError;
use crate::fold::Folder;
use crate::header::{self, canonicalize_header};
use crate::key::SigningKey;
use crate::tags;

/// The header field name of a signature.
pub const SIGNATURE_HEADER: &str = "DKIM-Signature";

/// Header fields signed by default when present.
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Description",
    "Resent-Date",
    "Resent-From",
    "Resent-To",
    "Resent-Cc",
    "Resent-Message-ID",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
    "Sender",
    "Autocrypt",
];

/// Header fields signed once more than they occur, so none can be added in transit.
pub const DEFAULT_OVERSIGNED_HEADERS: &[&str] = &[
    "From",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// What to sign with, apart from the key and the message.
#[derive(Debug, Clone)]
pub struct SignatureTemplate {
    /// `d=`, the signing domain.
    pub domain: String,
    /// `s=`, the selector.
    pub selector: String,
    /// `c=`.
    pub canonicalization: CanonicalizationPair,
    /// Candidate header names, in `h=` order; absent ones are skipped.
    pub headers: Vec<String>,
    /// Names signed once more than they occur (absent ones get one null entry).
    /// A name here that is not in `headers` is signed as well, after them.
    pub oversign: Vec<String>,
    /// `i=`, the agent or user identifier; its domain must be `d=` or a subdomain.
    pub identity: Option<String>,
    /// Seconds after `t=` for `x=`.
    pub expire_after: Option<u64>,
}

/// A signature header ready to prepend to the message.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Always `"DKIM-Signature"`.
    pub name: &'static str,
    /// Everything after the colon, with the leading space, folded with CRLF TAB.
    pub value: String,
}

/// Signs a message: `headers` are its fields in order as (name, raw value after the colon,
/// folding lines joined by CRLF); `body_hash` comes from [`crate::BodyHasher`] run with
/// `template.canonicalization.body`.
pub fn sign(
    key: &SigningKey,
    template: &SignatureTemplate,
    headers: &[(&[u8], &[u8])],
    body_hash: &[u8; 32],
    now_unix: u64,
) -> Result<Signed, SignError> {
    check_token("d=", &template.domain)?;
    check_token("s=", &template.selector)?;
    let identity = match &template.identity {
        Some(i) => Some(encode_identity(i, &template.domain)?),
        None => None,
    };
    let expires = match template.expire_after {
        Some(0) => return Err(SignError::Template("x= must be later than t=".into())),
        Some(secs) => Some(now_unix.saturating_add(secs)),
        None => None,
    };
    let h_names = h_list(template, headers)?;

    let mut f = Folder::new(SIGNATURE_HEADER);
    f.tag("v=1;", 0);
    f.tag(&format!("a={};", key.algorithm()), 0);
    f.tag(&format!("c={};", template.canonicalization), 0);
    f.tag(&format!("d={};", template.domain), 0);
    f.tag(&format!("s={};", template.selector), 0);
    if let Some(i) = &identity {
        f.tag(&format!("i={i};"), 0);
    }
    f.tag(&format!("t={now_unix};"), 0);
    if let Some(x) = expires {
        f.tag(&format!("x={x};"), 0);
    }
    let mut names = h_names.iter();
    if let Some(first) = names.next() {
        let mut piece = format!("h={first}");
        for name in names {
            piece.push(':');
            f.cont_or_tag(&piece);
            piece = name.clone();
        }
        piece.push(';');
        f.cont_or_tag(&piece);
    }
    f.tag(&format!("bh={};", STANDARD.encode(body_hash)), 0);
    f.tag("b=", 8);

    // Hash input: the selected fields, then this header with b= empty and no final CRLF.
    let c = template.canonicalization.header;
    let mut data = Vec::with_capacity(1024);
    let selected = header::select(
        headers,
        &h_names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for (name, value) in selected {
        canonicalize_header(c, name, value, &mut data);
    }
    canonicalize_header(
        c,
        SIGNATURE_HEADER.as_bytes(),
        f.as_str().as_bytes(),
        &mut data,
    );
    data.truncate(data.len().saturating_sub(2));

    let signature = key.sign_data(&data)?;
    f.fill(&STANDARD.encode(signature));
    Ok(Signed {
        name: SIGNATURE_HEADER,
        value: f.into_string(),
    })
}

impl Folder {
    /// `h=` pieces: the first starts the tag, later ones continue it.
    fn cont_or_tag(&mut self, piece: &str) {
        if piece.starts_with("h=") {
            self.tag(piece, 0);
        } else {
            self.cont(piece);
        }
    }
}

/// The names of `h=`: candidates once per instance, oversigned ones once more.
fn h_list(
    template: &SignatureTemplate,
    headers: &[(&[u8], &[u8])],
) -> Result<Vec<String>, SignError> {
    let mut candidates: Vec<&str> = Vec::new();
    for name in template.headers.iter().chain(&template.oversign) {
        let name = name.trim();
        if !candidates.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            check_header_name(name)?;
            candidates.push(name);
        }
    }
    let mut h = Vec::new();
    for name in candidates {
        let oversigned = template
            .oversign
            .iter()
            .any(|o| o.trim().eq_ignore_ascii_case(name));
        let times = header::count(headers, name) + usize::from(oversigned);
        h.extend(std::iter::repeat_n(name.to_string(), times));
    }
    if !h.iter().any(|n| n.eq_ignore_ascii_case("from")) {
        return Err(SignError::Template(
            "h= must include From (RFC 6376 §5.4)".into(),
        ));
    }
    Ok(h)
}

/// d= and s= values: non-empty, no whitespace or tag-list syntax.
fn check_token(tag: &str, value: &str) -> Result<(), SignError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || !c.is_ascii());
    if ok {
        Ok(())
    } else {
        Err(SignError::Template(format!(
            "{tag}{value:?} is not a domain or selector"
        )))
    }
}

/// Header names: printable ASCII without ':' (RFC 5322 ftext) and without ';' (tag syntax).
fn check_header_name(name: &str) -> Result<(), SignError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b':' && b != b';');
    if ok {
        Ok(())
    } else {
        Err(SignError::Template(format!(
            "{name:?} is not a header field name"
        )))
    }
}

/// i= in dkim-quoted-printable (RFC 6376 §2.11), after checking its domain against d=.
fn encode_identity(identity: &str, domain: &str) -> Result<String, SignError> {
    let Some((_, idomain)) = identity.rsplit_once('@') else {
        return Err(SignError::Template(format!("i={identity:?} has no @")));
    };
    let d = domain.to_ascii_lowercase();
    let idomain = idomain.to_ascii_lowercase();
    if idomain != d && !idomain.ends_with(&format!(".{d}")) {
        return Err(SignError::Template(format!(
            "i= domain {idomain:?} is not d={domain} or a subdomain of it"
        )));
    }
    let mut out = String::with_capacity(identity.len());
    for b in identity.bytes() {
        if matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    Ok(out)
}

/// `(d lowercased, s)` of an existing DKIM-Signature value, if both are there.
pub fn existing_signature_ids(header_value: &[u8]) -> Option<(String, String)> {
    let list = tags::parse(header_value)?;
    let d = String::from_utf8(tags::without_fws(tags::get(&list, "d")?)).ok()?;
    let s = String::from_utf8(tags::without_fws(tags::get(&list, "s")?)).ok()?;
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() || s.is_empty() {
        return None;
    }
    Some((d, s))
}
