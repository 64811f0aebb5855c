//! DKIM signing (RFC 6376, RFC 8463 Ed25519) for a milter: streaming body canonicalization
//! and hashing, header selection, the DKIM-Signature field, and key handling. No I/O.
//!
//! The daemon feeds the body in chunks to a [`BodyHasher`], keeps the header fields as
//! `(name, raw value)` pairs, and calls [`sign`] at end of message. Keys are loaded with
//! [`SigningKey::from_pem`] and published with [`SigningKey::dns_record_value`].
#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

mod algorithm;
mod body;
mod dns;
mod error;
mod fold;
mod header;
mod key;
mod pem;
mod sign;
mod tags;

#[cfg(test)]
mod tests;

pub use algorithm::{Algorithm, Canonicalization, CanonicalizationPair};
pub use body::BodyHasher;
pub use dns::{DnsKeyRecord, dns_txt_zone_lines, parse_dns_record};
pub use error::{KeyError, ParseError, SignError};
pub use key::SigningKey;
pub use sign::{
    DEFAULT_OVERSIGNED_HEADERS, DEFAULT_SIGNED_HEADERS, SIGNATURE_HEADER, SignatureTemplate,
    Signed, existing_signature_ids, sign,
};
