//! The **CAA** resource record as served: flags, tag and value kept as raw
//! bytes, so malformed or unexpected properties can be shown exactly.
//!
//! # References
//!
//! - [RFC 8659](https://www.rfc-editor.org/rfc/rfc8659) — DNS Certification
//!   Authority Authorization (CAA) Resource Record (November 2019)
//! - [RFC 3597](https://www.rfc-editor.org/rfc/rfc3597) — Handling of Unknown
//!   DNS Resource Record Types (September 2003), for the generic `\#` form

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::escape::{escape_bytes, serde_escaped};

/// One CAA record exactly as served (RFC 8659 §4.1).
///
/// Nothing is normalised: the tag keeps its case and the value its bytes,
/// because a diagnosis must show what the CA saw. Serialised, `tag` and
/// `value` travel as their lossless escaped presentation strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaaRecord {
    /// The flags octet. Bit 0 (value 128) is Issuer Critical; the other bits
    /// are reserved and ignored by RFC 8659, but some CAs treat 1 as critical.
    pub flags: u8,
    /// The property tag, as served (matching is case-insensitive, §4.1.1).
    #[serde(with = "serde_escaped")]
    pub tag: Vec<u8>,
    /// The property value, as served; not length-limited to 255 (§4.1.1).
    #[serde(with = "serde_escaped")]
    pub value: Vec<u8>,
}

/// Why CAA RDATA could not be parsed (or built).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum RdataError {
    /// No bytes at all: even the flags octet is missing.
    #[error("CAA RDATA is empty")]
    Empty,
    /// Only the flags octet is present.
    #[error("CAA RDATA ends before the tag length")]
    MissingTagLength,
    /// RFC 8659 §4.1.1: "The tag length MUST be at least 1."
    #[error("CAA tag length is 0")]
    ZeroTagLength,
    /// The tag length points past the end of the RDATA.
    #[error("CAA tag length {tag_len} exceeds the {available} bytes left")]
    TagOverrun {
        /// The tag length octet.
        tag_len: u8,
        /// Bytes left after the two header octets.
        available: usize,
    },
    /// A tag longer than 255 bytes cannot be encoded in one length octet.
    #[error("CAA tag of {len} bytes does not fit a length octet")]
    TagTooLong {
        /// Length of the tag in bytes.
        len: usize,
    },
}

impl CaaRecord {
    /// Flags bit 0 (the most significant bit): Issuer Critical (RFC 8659 §4.1).
    pub const ISSUER_CRITICAL: u8 = 0b1000_0000;

    /// Builds a record from its parts, unchecked (tests and suggestions).
    pub fn new(flags: u8, tag: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            flags,
            tag: tag.into(),
            value: value.into(),
        }
    }

    /// Parses wire RDATA: Flags (1) | Tag Length (1, ≥ 1) | Tag | Value
    /// (RFC 8659 §4.1.1). Never panics; the value may be empty.
    pub fn from_rdata(rdata: &[u8]) -> Result<Self, RdataError> {
        let (&flags, rest) = rdata.split_first().ok_or(RdataError::Empty)?;
        let (&tag_len, rest) = rest.split_first().ok_or(RdataError::MissingTagLength)?;
        if tag_len == 0 {
            return Err(RdataError::ZeroTagLength);
        }
        if usize::from(tag_len) > rest.len() {
            return Err(RdataError::TagOverrun {
                tag_len,
                available: rest.len(),
            });
        }
        let (tag, value) = rest.split_at(usize::from(tag_len));
        Ok(Self::new(flags, tag, value))
    }

    /// Encodes the record back to wire RDATA (RFC 8659 §4.1.1).
    pub fn to_rdata(&self) -> Result<Vec<u8>, RdataError> {
        let tag_len = u8::try_from(self.tag.len()).map_err(|_| RdataError::TagTooLong {
            len: self.tag.len(),
        })?;
        if tag_len == 0 {
            return Err(RdataError::ZeroTagLength);
        }
        let mut out = Vec::with_capacity(2 + self.tag.len() + self.value.len());
        out.push(self.flags);
        out.push(tag_len);
        out.extend_from_slice(&self.tag);
        out.extend_from_slice(&self.value);
        Ok(out)
    }

    /// Whether the Issuer Critical bit (128) is set (RFC 8659 §4.1).
    pub fn is_issuer_critical(&self) -> bool {
        self.flags & Self::ISSUER_CRITICAL != 0
    }

    /// Whether the tag equals `name`, ignoring ASCII case (RFC 8659 §4.1.1:
    /// "Matching of tags is case insensitive").
    pub fn tag_is(&self, name: &str) -> bool {
        self.tag.eq_ignore_ascii_case(name.as_bytes())
    }

    /// The tag lower-cased and escaped, for messages and classification.
    pub fn tag_display(&self) -> String {
        escape_bytes(&self.tag.to_ascii_lowercase())
    }

    /// Presentation form, e.g. `0 issue "letsencrypt.org"` (RFC 8659 §4.1.1).
    ///
    /// The value is a quoted character-string with zone-file escapes. A tag
    /// that is not 1-255 ASCII letters and digits cannot be written that way,
    /// so such records use the RFC 3597 generic form `\# <len> <hex>`.
    pub fn presentation(&self) -> String {
        let tag_ok =
            (1..=255).contains(&self.tag.len()) && self.tag.iter().all(u8::is_ascii_alphanumeric);
        if tag_ok {
            let tag = String::from_utf8_lossy(&self.tag);
            return format!("{} {} \"{}\"", self.flags, tag, escape_bytes(&self.value));
        }
        match self.to_rdata() {
            Ok(rdata) => {
                let mut out = format!("\\# {}", rdata.len());
                if !rdata.is_empty() {
                    out.push(' ');
                }
                for byte in rdata {
                    let _ = write!(out, "{byte:02x}");
                }
                out
            }
            // Not representable on the wire at all; show the parts escaped.
            Err(_) => format!(
                "{} \"{}\" \"{}\"",
                self.flags,
                escape_bytes(&self.tag),
                escape_bytes(&self.value)
            ),
        }
    }

    /// A full zone-file line: `example.com. CAA 0 issue "letsencrypt.org"`.
    /// `owner` gets a trailing dot if it lacks one.
    pub fn zone_line(&self, owner: &str) -> String {
        format!("{} CAA {}", absolute(owner), self.presentation())
    }
}

impl fmt::Display for CaaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.presentation())
    }
}

/// `owner` with exactly one trailing dot (an absolute zone-file name).
pub(crate) fn absolute(owner: &str) -> String {
    let trimmed = owner.trim_end_matches('.');
    format!("{trimmed}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wire_rdata() {
        // flags 0 | tag length 5 | "issue" | "letsencrypt.org"
        let rdata = b"\x00\x05issueletsencrypt.org";
        let record = CaaRecord::from_rdata(rdata).unwrap();
        assert_eq!(record, CaaRecord::new(0, "issue", "letsencrypt.org"));
        assert_eq!(record.to_rdata().unwrap(), rdata);
    }

    #[test]
    fn rejects_broken_rdata() {
        let cases: &[(&str, &[u8], RdataError)] = &[
            ("empty", b"", RdataError::Empty),
            ("flags only", b"\x80", RdataError::MissingTagLength),
            (
                "zero tag length",
                b"\x00\x00issue",
                RdataError::ZeroTagLength,
            ),
            (
                "tag length past the end",
                b"\x00\x09issue",
                RdataError::TagOverrun {
                    tag_len: 9,
                    available: 5,
                },
            ),
        ];
        for (name, rdata, error) in cases {
            assert_eq!(CaaRecord::from_rdata(rdata), Err(*error), "{name}");
        }
    }

    #[test]
    fn empty_value_is_allowed() {
        let record = CaaRecord::from_rdata(b"\x00\x05issue").unwrap();
        assert!(record.value.is_empty());
        assert_eq!(record.presentation(), "0 issue \"\"");
    }

    #[test]
    fn renders_presentation_form() {
        let cases = [
            (
                "plain issue",
                CaaRecord::new(0, "issue", "letsencrypt.org"),
                "0 issue \"letsencrypt.org\"",
            ),
            (
                "tag case kept",
                CaaRecord::new(128, "ISSUE", ";"),
                "128 ISSUE \";\"",
            ),
            (
                "quote in value",
                CaaRecord::new(0, "tbs", "a\"b"),
                "0 tbs \"a\\\"b\"",
            ),
            (
                "non-ascii value",
                CaaRecord::new(0, "issue", "ca.\u{e9}"),
                "0 issue \"ca.\\195\\169\"",
            ),
            (
                "hyphen in tag needs generic form",
                CaaRecord::new(0, "a-b", "x"),
                "\\# 6 0003612d6278",
            ),
            ("empty tag", CaaRecord::new(0, "", ""), "0 \"\" \"\""),
        ];
        for (name, record, text) in cases {
            assert_eq!(record.presentation(), text, "{name}");
        }
        assert_eq!(
            CaaRecord::new(0, "issue", "letsencrypt.org").zone_line("example.com"),
            "example.com. CAA 0 issue \"letsencrypt.org\""
        );
    }
}
