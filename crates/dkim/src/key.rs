//! Private signing keys: PEM loading, generation, public halves, the signing primitive.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKey as RsaPublicKey};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::algorithm::Algorithm;
use crate::error::{KeyError, SignError};
use crate::pem;

enum KeyPair {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A DKIM private key (RSA or Ed25519). `Debug` shows only the kind and size.
pub struct SigningKey {
    pair: KeyPair,
    /// The decoded `p=` value, computed once.
    public: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SigningKey");
        d.field("algorithm", &self.algorithm());
        if let Some(bits) = self.rsa_bits() {
            d.field("bits", &bits);
        }
        d.finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PEM private key: `RSA PRIVATE KEY` (PKCS#1, as opendkim-genkey writes) or
    /// `PRIVATE KEY` (PKCS#8 v1 or v2, RSA or Ed25519). Encrypted keys are refused.
    ///
    /// aws-lc-rs refuses RSA keys under 2048 bits.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let block = pem::find_private_key(pem)?;
        let pair = if block.label == "RSA PRIVATE KEY" {
            KeyPair::Rsa(RsaKeyPair::from_der(&block.der).map_err(rejected)?)
        } else {
            match RsaKeyPair::from_pkcs8(&block.der) {
                Ok(rsa) => KeyPair::Rsa(rsa),
                Err(rsa_err) => match Ed25519KeyPair::from_pkcs8(&block.der) {
                    Ok(ed) => KeyPair::Ed25519(ed),
                    Err(_) if rsa_err.description_() != "WrongAlgorithm" => {
                        return Err(rejected(rsa_err));
                    }
                    Err(ed_err) => return Err(rejected(ed_err)),
                },
            }
        };
        Self::new(pair)
    }

    /// A fresh key and its PKCS#8 PEM (`PRIVATE KEY`). `rsa_bits` is ignored for Ed25519;
    /// for RSA it must be 2048, 3072 or 4096 (what aws-lc-rs generates).
    pub fn generate(
        algorithm: Algorithm,
        rsa_bits: usize,
    ) -> Result<(SigningKey, String), KeyError> {
        let (pair, der) = match algorithm {
            Algorithm::RsaSha256 => {
                let size = match rsa_bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    other => return Err(KeyError::UnsupportedRsaSize(other)),
                };
                let pair = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate)?;
                let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KeyError::Generate)?;
                let der = der.as_ref().to_vec();
                (KeyPair::Rsa(pair), der)
            }
            Algorithm::Ed25519Sha256 => {
                let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
                // v1 (seed only) is what `openssl genpkey -algorithm ed25519` writes.
                let der = pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?;
                let der = der.as_ref().to_vec();
                (KeyPair::Ed25519(pair), der)
            }
        };
        let pem = pem::encode("PRIVATE KEY", &der);
        Ok((Self::new(pair)?, pem))
    }

    fn new(pair: KeyPair) -> Result<SigningKey, KeyError> {
        let public = match &pair {
            KeyPair::Rsa(rsa) => {
                let bits = rsa.public_modulus_len() * 8;
                if !(2048..=8192).contains(&bits) {
                    return Err(KeyError::UnsupportedRsaSize(bits));
                }
                let spki: PublicKeyX509Der<'_> = rsa
                    .public_key()
                    .as_der()
                    .map_err(|_| KeyError::Rejected("cannot encode the public key".into()))?;
                spki.as_ref().to_vec()
            }
            KeyPair::Ed25519(ed) => ed.public_key().as_ref().to_vec(),
        };
        Ok(SigningKey { pair, public })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            KeyPair::Rsa(_) => Algorithm::RsaSha256,
            KeyPair::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// Modulus size for RSA keys.
    pub fn rsa_bits(&self) -> Option<usize> {
        match &self.pair {
            KeyPair::Rsa(rsa) => Some(rsa.public_modulus_len() * 8),
            KeyPair::Ed25519(_) => None,
        }
    }

    /// The decoded `p=`: SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for Ed25519.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// The TXT record value to publish at `selector._domainkey.domain`.
    pub fn dns_record_value(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            STANDARD.encode(&self.public)
        )
    }

    /// Whether a decoded `p=` is this key's public half. RSA accepts SubjectPublicKeyInfo
    /// and bare PKCS#1 RSAPublicKey; Ed25519 only the raw 32 bytes (RFC 8463).
    pub fn matches_public_key(&self, p_decoded: &[u8]) -> bool {
        match &self.pair {
            KeyPair::Rsa(rsa) => {
                p_decoded == self.public.as_slice()
                    || RsaPublicKey::from_der(p_decoded)
                        .is_ok_and(|p| p.as_ref() == rsa.public_key().as_ref())
            }
            KeyPair::Ed25519(_) => p_decoded == self.public.as_slice(),
        }
    }

    /// Signs the canonicalized header data (RSA: PKCS#1 v1.5 over SHA-256 of it;
    /// Ed25519: PureEd25519 over its SHA-256 digest, RFC 8463 §3).
    pub(crate) fn sign_data(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.pair {
            KeyPair::Rsa(rsa) => {
                let mut sig = vec![0u8; rsa.public_modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), data, &mut sig)
                    .map_err(|_| SignError::Crypto)?;
                Ok(sig)
            }
            KeyPair::Ed25519(ed) => {
                let digest = Sha256::digest(data);
                ed.try_sign(digest.as_slice())
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| SignError::Crypto)
            }
        }
    }
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> KeyError {
    let why = match e.description_() {
        "TooSmall" => "RSA key under 2048 bits (the minimum aws-lc-rs signs with)",
        "TooLarge" => "RSA key over 8192 bits",
        "WrongAlgorithm" => "not an RSA or Ed25519 key",
        "InvalidEncoding" => "invalid DER encoding",
        "InconsistentComponents" => "inconsistent key components",
        other => other,
    };
    KeyError::Rejected(why.to_string())
}
