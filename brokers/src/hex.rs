//! Hex text, as captured broker messages are kept in files (one message per line).

/// The bytes of a hex string (either case, no separators); the error says where it broke.
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", s.len()));
    }
    (0..s.len() / 2)
        .map(|i| {
            s.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("not hex at character {}", 2 * i + 1))
        })
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_and_says_where_it_broke() {
        assert_eq!(super::decode("00ffA0"), Ok(vec![0, 255, 160]));
        assert_eq!(super::decode(""), Ok(vec![]));
        assert!(super::decode("abc").is_err_and(|e| e.contains("odd")));
        assert!(super::decode("0g").is_err_and(|e| e.contains("character 1")));
    }

    #[test]
    fn encodes_lowercase_and_round_trips() {
        assert_eq!(super::encode(&[0, 255, 160, 9]), "00ffa009");
        assert_eq!(super::decode(&super::encode(b"kite")), Ok(b"kite".to_vec()));
    }
}
