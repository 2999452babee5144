//! A secret value that does not leak by accident.

use zeroize::Zeroizing;

/// A password, API secret, TOTP seed or token. Its bytes are zeroed when it is dropped;
/// `Debug` prints only a mask; it has no `Display` and no `Serialize`, so it reaches a log, a
/// response or a file only through [`Secret::expose`], called where it is sent to a broker.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The plaintext, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What a listing may show: the last four characters of a long secret (enough to tell two
    /// apart), nothing of a short one.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 12 {
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("****{tail}")
        } else {
            "****".to_string()
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_mask_never_show_the_secret() {
        let s = Secret::new("s3cr3t-api-secret-value");
        assert_eq!(s.masked(), "****alue");
        assert_eq!(format!("{s:?}"), "Secret(****alue)");
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert_eq!(Secret::new("123456").masked(), "****", "a short secret shows nothing");
        assert_eq!(s.expose(), "s3cr3t-api-secret-value");
    }
}
