//! The `issue` / `issuewild` property value: the RFC 8659 §4.2 ABNF, parsed
//! exactly, and the RFC 8657 §4 `validationmethods` list.
//!
//! ```text
//! issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
//! issuer-domain-name = label *("." label)
//! label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//! parameters = (parameter *WSP ";" *WSP parameters) / parameter
//! parameter = tag *WSP "=" *WSP value
//! tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//! value = *(%x21-3A / %x3C-7E)
//! ```
//!
//! RFC 8659 §4.2: "An issue Property Tag where the issue-value does not match
//! the ABNF grammar MUST be treated the same as one specifying an empty
//! issuer-domain-name." The parser therefore rejects anything off-grammar
//! (trailing dot, empty parameter, non-ASCII, ...) and says where.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A parsed `issue` / `issuewild` value (RFC 8659 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IssueValue {
    /// The issuer domain name with surrounding whitespace removed, case kept.
    /// `None` means "no issuer": the property authorises nobody.
    pub issuer_domain: Option<String>,
    /// Parameters in the order served. Their meaning is the issuer's alone
    /// (RFC 8659 §4.2); RFC 8657 defines `accounturi` and `validationmethods`.
    pub parameters: Vec<Parameter>,
}

/// One `tag=value` parameter of an issue value (RFC 8659 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Parameter {
    /// Parameter tag, case kept.
    pub tag: String,
    /// Parameter value; may be empty.
    pub value: String,
}

/// Where and why an issue value left the RFC 8659 §4.2 grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct ValueError {
    /// Byte offset into the value where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub kind: ValueErrorKind,
}

/// The ways an issue value can fail the RFC 8659 §4.2 ABNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum ValueErrorKind {
    /// A byte above 0x7F: the grammar is ASCII only.
    #[error("non-ASCII byte 0x{byte:02x}")]
    NonAscii {
        /// The offending byte.
        byte: u8,
    },
    /// An ASCII byte the grammar does not allow here (e.g. `%`, a space
    /// inside a name, a control character).
    #[error("unexpected character 0x{byte:02x}")]
    UnexpectedByte {
        /// The offending byte.
        byte: u8,
    },
    /// `letsencrypt.org.`: issuer domain names are written without the
    /// trailing dot of an absolute DNS name.
    #[error("issuer domain name ends with a dot")]
    IssuerTrailingDot,
    /// An empty label in the issuer domain name (`.ca` or `ca..org`).
    #[error("issuer domain name has an empty label")]
    IssuerEmptyLabel,
    /// A label that starts or ends with a hyphen.
    #[error("issuer domain name label starts or ends with a hyphen")]
    IssuerLabelHyphen,
    /// `;` not followed by a parameter (`ca; ;` or `ca; a=b;`).
    #[error("empty parameter after ';'")]
    EmptyParameter,
    /// A parameter tag that starts or ends with a hyphen.
    #[error("parameter tag starts or ends with a hyphen")]
    ParameterTagHyphen,
    /// A parameter tag not followed by `=`.
    #[error("parameter without '='")]
    MissingEquals,
}

const fn is_wsp(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// `value = *(%x21-3A / %x3C-7E)`: visible ASCII except `;`.
const fn is_parameter_value_byte(byte: u8) -> bool {
    matches!(byte, 0x21..=0x3a | 0x3c..=0x7e)
}

/// Small cursor over the value bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_wsp(&mut self) {
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
    }

    /// Consumes bytes while `accept` holds and returns them as a string
    /// (every accepted class here is ASCII, so the conversion is lossless).
    fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> (usize, String) {
        let start = self.pos;
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        let taken = self.bytes.get(start..self.pos).unwrap_or_default();
        (start, String::from_utf8_lossy(taken).into_owned())
    }

    fn unexpected(&self) -> ValueError {
        let byte = self.peek().unwrap_or_default();
        let kind = if byte.is_ascii() {
            ValueErrorKind::UnexpectedByte { byte }
        } else {
            ValueErrorKind::NonAscii { byte }
        };
        ValueError {
            offset: self.pos,
            kind,
        }
    }
}

/// Checks `label *("." label)` with `label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`
/// over a run already limited to letters, digits, `-` and `.`.
fn check_issuer_domain(start: usize, run: &str) -> Result<(), ValueError> {
    let mut offset = start;
    let label_count = run.split('.').count();
    for (index, label) in run.split('.').enumerate() {
        let error = |kind| ValueError { offset, kind };
        if label.is_empty() {
            return Err(error(if index + 1 == label_count && index > 0 {
                ValueErrorKind::IssuerTrailingDot
            } else {
                ValueErrorKind::IssuerEmptyLabel
            }));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(error(ValueErrorKind::IssuerLabelHyphen));
        }
        offset += label.len() + 1;
    }
    Ok(())
}

impl IssueValue {
    /// Parses an issue value per the RFC 8659 §4.2 ABNF. Never panics.
    ///
    /// An `Err` means the record must be treated as naming no issuer.
    pub fn parse(bytes: &[u8]) -> Result<Self, ValueError> {
        let mut cursor = Cursor { bytes, pos: 0 };
        cursor.skip_wsp();

        let mut issuer_domain = None;
        if cursor.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            let (start, run) =
                cursor.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            check_issuer_domain(start, &run)?;
            issuer_domain = Some(run);
            cursor.skip_wsp();
        }

        let mut parameters = Vec::new();
        match cursor.peek() {
            None => {
                return Ok(Self {
                    issuer_domain,
                    parameters,
                });
            }
            Some(b';') => cursor.pos += 1,
            Some(_) => return Err(cursor.unexpected()),
        }

        cursor.skip_wsp();
        if cursor.peek().is_none() {
            return Ok(Self {
                issuer_domain,
                parameters,
            });
        }
        loop {
            parameters.push(parse_parameter(&mut cursor)?);
            cursor.skip_wsp();
            match cursor.peek() {
                None => break,
                Some(b';') => {
                    cursor.pos += 1;
                    cursor.skip_wsp();
                }
                Some(_) => return Err(cursor.unexpected()),
            }
        }
        Ok(Self {
            issuer_domain,
            parameters,
        })
    }

    /// Canonical text: `issuer; tag=value; tag=value`, or `;` when there is
    /// neither issuer nor parameter. Parsing it gives back an equal value.
    pub fn render(&self) -> String {
        let mut out = self.issuer_domain.clone().unwrap_or_default();
        if self.parameters.is_empty() {
            if out.is_empty() {
                out.push(';');
            }
            return out;
        }
        for parameter in &self.parameters {
            out.push_str("; ");
            out.push_str(&parameter.tag);
            out.push('=');
            out.push_str(&parameter.value);
        }
        out
    }

    /// Values of every parameter whose tag is exactly `tag`.
    ///
    /// RFC 8657 defines its tags in lower case and Let's Encrypt compares
    /// them exactly, so no case folding happens here.
    pub fn parameter_values<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.parameters
            .iter()
            .filter(move |p| p.tag == tag)
            .map(|p| p.value.as_str())
    }
}

/// Parses one `tag *WSP "=" *WSP value` at the cursor.
fn parse_parameter(cursor: &mut Cursor<'_>) -> Result<Parameter, ValueError> {
    match cursor.peek() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        Some(b';') | None => {
            return Err(ValueError {
                offset: cursor.pos,
                kind: ValueErrorKind::EmptyParameter,
            });
        }
        Some(_) => return Err(cursor.unexpected()),
    }
    let (start, tag) = cursor.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
    if tag.ends_with('-') {
        return Err(ValueError {
            offset: start,
            kind: ValueErrorKind::ParameterTagHyphen,
        });
    }
    cursor.skip_wsp();
    match cursor.peek() {
        Some(b'=') => cursor.pos += 1,
        None | Some(b';') => {
            return Err(ValueError {
                offset: cursor.pos,
                kind: ValueErrorKind::MissingEquals,
            });
        }
        Some(_) => return Err(cursor.unexpected()),
    }
    cursor.skip_wsp();
    let (_, value) = cursor.take_while(is_parameter_value_byte);
    Ok(Parameter { tag, value })
}

impl fmt::Display for IssueValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Parses a `validationmethods` value (RFC 8657 §4):
/// `value = [*(label ",") label]`, `label = 1*(ALPHA / DIGIT / "-")`.
///
/// Returns `None` when the list is off-grammar; an empty value is an empty
/// list (which allows no method at all).
pub fn parse_validation_methods(value: &str) -> Option<Vec<&str>> {
    if value.is_empty() {
        return Some(Vec::new());
    }
    value
        .split(',')
        .map(|label| {
            let ok = !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            ok.then_some(label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(name: &str, params: &[(&str, &str)]) -> IssueValue {
        IssueValue {
            issuer_domain: (!name.is_empty()).then(|| name.to_owned()),
            parameters: params
                .iter()
                .map(|(tag, value)| Parameter {
                    tag: (*tag).to_owned(),
                    value: (*value).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn accepts_the_grammar() {
        let cases: &[(&str, &str, IssueValue)] = &[
            (
                "plain issuer",
                "letsencrypt.org",
                issuer("letsencrypt.org", &[]),
            ),
            (
                "surrounding whitespace",
                " \tletsencrypt.org \t",
                issuer("letsencrypt.org", &[]),
            ),
            ("empty value", "", issuer("", &[])),
            ("only semicolon", ";", issuer("", &[])),
            ("semicolon with spaces", "  ;  ", issuer("", &[])),
            (
                "issuer and bare semicolon",
                "ca.example;",
                issuer("ca.example", &[]),
            ),
            (
                "case kept",
                "LetsEncrypt.ORG",
                issuer("LetsEncrypt.ORG", &[]),
            ),
            ("hyphens inside labels", "a--b.c-d", issuer("a--b.c-d", &[])),
            (
                "one parameter",
                "pki.goog; cansignhttpexchanges=yes",
                issuer("pki.goog", &[("cansignhttpexchanges", "yes")]),
            ),
            (
                "spaces around equals",
                "ca ;a = b ; c=d ",
                issuer("ca", &[("a", "b"), ("c", "d")]),
            ),
            (
                "empty parameter value",
                "ca; a=",
                issuer("ca", &[("a", "")]),
            ),
            (
                "equals inside value",
                "ca; a==b",
                issuer("ca", &[("a", "=b")]),
            ),
            (
                "parameters without issuer",
                "; a=b",
                issuer("", &[("a", "b")]),
            ),
            (
                "account uri",
                "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1",
                issuer(
                    "letsencrypt.org",
                    &[(
                        "accounturi",
                        "https://acme-v02.api.letsencrypt.org/acme/acct/1",
                    )],
                ),
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(
                IssueValue::parse(text.as_bytes()).as_ref(),
                Ok(expected),
                "{name}"
            );
        }
    }

    #[test]
    fn rejects_off_grammar_values() {
        use ValueErrorKind as K;
        let cases: &[(&str, &[u8], usize, ValueErrorKind)] = &[
            (
                "trailing dot",
                b"letsencrypt.org.",
                16,
                K::IssuerTrailingDot,
            ),
            (
                "percent signs",
                b"%%%%%",
                0,
                K::UnexpectedByte { byte: b'%' },
            ),
            (
                "leading dot",
                b".letsencrypt.org",
                0,
                K::UnexpectedByte { byte: b'.' },
            ),
            ("double dot", b"ca..org", 3, K::IssuerEmptyLabel),
            ("hyphen at label end", b"ca-.org", 0, K::IssuerLabelHyphen),
            (
                "non-ascii",
                "l\u{e9}tsencrypt.org".as_bytes(),
                1,
                K::NonAscii { byte: 0xc3 },
            ),
            (
                "space inside issuer",
                b"lets encrypt.org",
                5,
                K::UnexpectedByte { byte: b'e' },
            ),
            ("empty parameter", b"ca.example; ;", 12, K::EmptyParameter),
            (
                "trailing semicolon after parameter",
                b"ca; a=b;",
                8,
                K::EmptyParameter,
            ),
            ("double semicolon", b";;", 1, K::EmptyParameter),
            ("parameter without equals", b"ca; a", 5, K::MissingEquals),
            (
                "parameter tag hyphen",
                b"ca; a-=b",
                4,
                K::ParameterTagHyphen,
            ),
            (
                "space inside parameter value",
                b"ca; a=b c",
                8,
                K::UnexpectedByte { byte: b'c' },
            ),
            ("control byte", b"ca\x00", 2, K::UnexpectedByte { byte: 0 }),
            (
                "parameters without semicolon",
                b"ca a=b",
                3,
                K::UnexpectedByte { byte: b'a' },
            ),
        ];
        for (name, text, offset, kind) in cases {
            assert_eq!(
                IssueValue::parse(text),
                Err(ValueError {
                    offset: *offset,
                    kind: *kind
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn renders_canonically() {
        let cases = [
            ("", ";"),
            (";", ";"),
            ("ca", "ca"),
            ("ca;", "ca"),
            (" ca ; a = b;c=d", "ca; a=b; c=d"),
            ("; a=b", "; a=b"),
        ];
        for (text, rendered) in cases {
            let value = IssueValue::parse(text.as_bytes()).unwrap();
            assert_eq!(value.render(), rendered, "{text:?}");
            assert_eq!(
                IssueValue::parse(rendered.as_bytes()),
                Ok(value),
                "{text:?}"
            );
        }
    }

    #[test]
    fn parses_validation_method_lists() {
        assert_eq!(parse_validation_methods("http-01"), Some(vec!["http-01"]));
        assert_eq!(
            parse_validation_methods("dns-01,http-01"),
            Some(vec!["dns-01", "http-01"])
        );
        assert_eq!(parse_validation_methods(""), Some(vec![]));
        assert_eq!(parse_validation_methods("dns-01,"), None);
        assert_eq!(parse_validation_methods(",dns-01"), None);
        assert_eq!(parse_validation_methods("dns_01"), None);
        assert_eq!(parse_validation_methods("dns-01,,http-01"), None);
    }
}
