//! [`Secret`]: a password whose `Debug` does not show it.

use std::fmt;

/// Bytes that must not end up in logs: a password from a SASL exchange.
///
/// `Debug` prints `Secret(<redacted>)`; the only way to the bytes is [`Secret::expose`]. The
/// buffer is overwritten with zeros when dropped (best effort: earlier copies made by the
/// allocator while growing are out of reach).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Call this only where they are used, e.g. to verify a hash.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for byte in &mut self.0 {
            // Volatile-free best effort; `black_box` keeps the loop from being elided.
            *byte = std::hint::black_box(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_hides_the_bytes() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), b"hunter2");
    }
}
