//! Zone-file escaping of raw bytes (RFC 1035 §5.1), so that CAA tags and
//! values can be shown exactly as served.
//!
//! The escaped form only contains printable ASCII (0x20-0x7E): `"` and `\`
//! are backslash-escaped and every other byte outside that range becomes
//! `\DDD` (three decimal digits). It is lossless: [`unescape`] gives back the
//! original bytes. It is *not* HTML-escaped; renderers do that themselves.

use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serializer};

/// Escapes `bytes` the way zone files write a quoted character-string,
/// without the surrounding quotes (RFC 1035 §5.1). Never assumes UTF-8.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
    out
}

/// Why an escaped string could not be turned back into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnescapeError {
    /// The text ends with a lone backslash.
    #[error("escaped text ends with a lone backslash")]
    TrailingBackslash,
    /// A `\DDD` escape is not three decimal digits or is above 255.
    #[error("invalid \\DDD escape at offset {offset}")]
    InvalidDecimalEscape {
        /// Byte offset of the backslash in the escaped text.
        offset: usize,
    },
}

/// Reverses [`escape_bytes`]: `\DDD` is a decimal byte, `\X` is `X`, and any
/// other character stands for its own UTF-8 bytes (RFC 1035 §5.1).
pub fn unescape(text: &str) -> Result<Vec<u8>, UnescapeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'\\' {
            out.push(byte);
            index += 1;
            continue;
        }
        let Some(&next) = bytes.get(index + 1) else {
            return Err(UnescapeError::TrailingBackslash);
        };
        if next.is_ascii_digit() {
            let digits = bytes
                .get(index + 1..index + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit))
                .ok_or(UnescapeError::InvalidDecimalEscape { offset: index })?;
            let value = digits
                .iter()
                .fold(0_u16, |acc, d| acc * 10 + u16::from(d - b'0'));
            let value = u8::try_from(value)
                .map_err(|_| UnescapeError::InvalidDecimalEscape { offset: index })?;
            out.push(value);
            index += 4;
        } else {
            out.push(next);
            index += 2;
        }
    }
    Ok(out)
}

/// Serde adapter: raw bytes travel as their escaped presentation string, so
/// JSON reports stay readable and lossless.
pub(crate) mod serde_escaped {
    use super::{Deserialize, Deserializer, Serializer, escape_bytes, unescape};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&escape_bytes(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        unescape(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_zone_files() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("plain ascii", b"letsencrypt.org", "letsencrypt.org"),
            ("quote and backslash", b"a\"b\\c", "a\\\"b\\\\c"),
            ("control bytes", b"\x00\x09\x7f", "\\000\\009\\127"),
            ("utf-8 is not assumed", "é".as_bytes(), "\\195\\169"),
            ("invalid utf-8", b"\xff", "\\255"),
            ("space stays", b"a b", "a b"),
        ];
        for (name, raw, escaped) in cases {
            assert_eq!(escape_bytes(raw), *escaped, "{name}");
            assert_eq!(unescape(escaped).as_deref(), Ok(*raw), "{name}");
        }
    }

    #[test]
    fn rejects_broken_escapes() {
        assert_eq!(unescape("abc\\"), Err(UnescapeError::TrailingBackslash));
        assert_eq!(
            unescape("\\25"),
            Err(UnescapeError::InvalidDecimalEscape { offset: 0 })
        );
        assert_eq!(
            unescape("x\\256"),
            Err(UnescapeError::InvalidDecimalEscape { offset: 1 })
        );
    }
}
