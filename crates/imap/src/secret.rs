//! A wrapper for credentials whose `Debug` never shows them.

use std::fmt;

/// A password or SASL response. `Debug` prints `<redacted>`, so that commands can be logged
/// without leaking credentials; the value itself is the public field.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(pub T);

impl<T> Secret<T> {
    /// The value, for the authentication code and nothing else.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret(String::from("hunter2"));
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(
            format!("{:?}", Some(Secret(vec![1u8, 2]))),
            "Some(<redacted>)"
        );
        assert_eq!(secret.expose(), "hunter2");
    }
}
