//! A wrapper for SASL data whose `Debug` never shows it.

use std::fmt;

/// SASL initial responses and continuation lines (base64 text as the client sent it). Its
/// `Debug` prints `Secret(..)` so that events can be logged without leaking passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the SASL mechanism and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("AHVzZXIAcGFzcw==");
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert_eq!(secret.expose(), "AHVzZXIAcGFzcw==");
    }
}
