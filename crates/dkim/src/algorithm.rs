//! Names from the DKIM tag vocabulary: signing algorithm (a=) and canonicalization (c=).

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// Signing algorithm, as written in `a=` (rsa-sha1 is deliberately absent, RFC 8301).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6376).
    RsaSha256,
    /// PureEd25519 over the SHA-256 digest (RFC 8463).
    Ed25519Sha256,
}

impl Algorithm {
    /// The `a=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The `k=` value of the matching DNS key record.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa",
            Algorithm::Ed25519Sha256 => "ed25519",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("rsa-sha256") {
            Ok(Algorithm::RsaSha256)
        } else if t.eq_ignore_ascii_case("ed25519-sha256") {
            Ok(Algorithm::Ed25519Sha256)
        } else {
            Err(ParseError {
                what: "algorithm",
                value: s.to_string(),
            })
        }
    }
}

/// One canonicalization algorithm (RFC 6376 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canonicalization {
    /// Bytes as they are (only trailing empty body lines are dropped).
    Simple,
    /// Whitespace-tolerant: survives re-folding and trailing-space changes in transit.
    Relaxed,
}

impl Canonicalization {
    /// The name used in `c=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Canonicalization::Simple => "simple",
            Canonicalization::Relaxed => "relaxed",
        }
    }
}

impl fmt::Display for Canonicalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Canonicalization {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("simple") {
            Ok(Canonicalization::Simple)
        } else if t.eq_ignore_ascii_case("relaxed") {
            Ok(Canonicalization::Relaxed)
        } else {
            Err(ParseError {
                what: "canonicalization",
                value: s.to_string(),
            })
        }
    }
}

/// The `c=` pair: header canonicalization, then body canonicalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalizationPair {
    /// Applied to the signed header fields and the DKIM-Signature itself.
    pub header: Canonicalization,
    /// Applied to the body before `bh=` is computed.
    pub body: Canonicalization,
}

impl Default for CanonicalizationPair {
    /// relaxed/relaxed: what survives real-world forwarding best.
    fn default() -> Self {
        CanonicalizationPair {
            header: Canonicalization::Relaxed,
            body: Canonicalization::Relaxed,
        }
    }
}

impl fmt::Display for CanonicalizationPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.header, self.body)
    }
}

impl FromStr for CanonicalizationPair {
    type Err = ParseError;

    /// `"header/body"`, or a single name meaning `name/simple` (RFC 6376 §3.5, c=).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError {
            what: "canonicalization",
            value: s.to_string(),
        };
        let (header, body) = match s.split_once('/') {
            Some((h, b)) => (h.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => (s.parse().map_err(|_| bad())?, Canonicalization::Simple),
        };
        Ok(CanonicalizationPair { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_round_trips() {
        for a in [Algorithm::RsaSha256, Algorithm::Ed25519Sha256] {
            assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
        }
        assert!("rsa-sha1".parse::<Algorithm>().is_err());
        assert_eq!("ED25519-SHA256".parse(), Ok(Algorithm::Ed25519Sha256));
    }

    #[test]
    fn pair_parses_rfc_forms() {
        use Canonicalization::*;
        let p = |s: &str| s.parse::<CanonicalizationPair>();
        assert_eq!(
            p("relaxed"),
            Ok(CanonicalizationPair {
                header: Relaxed,
                body: Simple
            })
        );
        assert_eq!(
            p("simple/relaxed"),
            Ok(CanonicalizationPair {
                header: Simple,
                body: Relaxed
            })
        );
        assert_eq!(p("relaxed/relaxed"), Ok(CanonicalizationPair::default()));
        for bad in ["", "/", "relaxed/", "nofws", "simple/simple/simple"] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            CanonicalizationPair::default().to_string(),
            "relaxed/relaxed"
        );
        assert_eq!(
            p("relaxed").map(|c| c.to_string()),
            Ok("relaxed/simple".into())
        );
    }
}
