//! The CA's own words: Boulder's problem types and detail strings
//! (`va/va.go` `detailedError`, `va/http.go`).

use std::fmt::Write as _;

use serde::Serialize;

/// ACME problem type (`urn:ietf:params:acme:error:<type>`, RFC 8555 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemType {
    /// `connection`.
    Connection,
    /// `unauthorized`.
    Unauthorized,
    /// `malformed`.
    Malformed,
    /// `tls`.
    Tls,
    /// `dns`.
    Dns,
}

impl ProblemType {
    /// The full URN.
    pub fn urn(self) -> &'static str {
        match self {
            Self::Connection => "urn:ietf:params:acme:error:connection",
            Self::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            Self::Malformed => "urn:ietf:params:acme:error:malformed",
            Self::Tls => "urn:ietf:params:acme:error:tls",
            Self::Dns => "urn:ietf:params:acme:error:dns",
        }
    }
}

/// What Let's Encrypt would report for this attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaProblem {
    /// Problem type.
    #[serde(rename = "type")]
    pub problem_type: ProblemType,
    /// Detail text, in Boulder's format.
    pub detail: String,
}

impl CaProblem {
    pub(crate) fn new(problem_type: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem_type,
            detail: detail.into(),
        }
    }
}

/// Go's `strconv.Quote` (what Boulder's `%q` prints): double quotes, `\"`,
/// `\\`, C escapes, `\xNN` for other control bytes, `\uNNNN` for non-printable
/// code points; printable Unicode is kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint` (letters, marks, numbers,
/// punctuation, symbols and U+0020): rejects controls, format characters,
/// non-ASCII spaces, surrogates and private use.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !matches!(u,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0xe000..=0xf8ff | 0x000f_0000..=0x0010_ffff)
}

/// `<ip>: <detail>` (Boulder's `ipError`).
pub(crate) fn with_ip(ip: Option<std::net::IpAddr>, detail: &str) -> String {
    match ip {
        Some(ip) => format!("{ip}: {detail}"),
        None => detail.to_owned(),
    }
}

/// Boulder's mismatch text (`validateHTTP01`).
pub fn key_authorization_mismatch(expected: &str, got: &str) -> String {
    format!(
        "The key authorization file from the server did not match this challenge. Expected {} (got {})",
        go_quote(expected),
        go_quote(got)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("abc"), "\"abc\"");
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("\u{0}\u{1b}"), "\"\\x00\\x1b\"");
        assert_eq!(go_quote("é☃"), "\"é☃\"");
        assert_eq!(go_quote("\u{a0}\u{200b}"), "\"\\u00a0\\u200b\"");
        assert_eq!(go_quote("\u{fffd}"), "\"\u{fffd}\"");
    }

    #[test]
    fn mismatch_text() {
        assert_eq!(
            key_authorization_mismatch("tok.thumb", "<html>"),
            "The key authorization file from the server did not match this challenge. Expected \"tok.thumb\" (got \"<html>\")"
        );
    }
}
