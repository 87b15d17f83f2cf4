//! Hostname input: what is malformed input (exit 2, nothing to diagnose) versus
//! a well-formed name a CA's identifier policy refuses (the `identifier_rejected`
//! finding). Never performs I/O; whether the last label is a TLD of the root in
//! use is a DNS question the runner asks.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::ca::CaProfile;

/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire, which leaves 253
/// characters in presentation form without the trailing dot.
pub const MAX_NAME_LEN: usize = 253;
/// RFC 1035 §2.3.4: labels are 63 octets or less.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a hostname argument cannot be diagnosed at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("hostname is empty")]
    Empty,
    #[error(
        "hostname is {len} characters long; DNS names are at most {MAX_NAME_LEN} (RFC 1035 §2.3.4)"
    )]
    TooLong { len: usize },
    #[error("hostname {name:?} has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel { name: String },
    #[error(
        "label {label:?} is {len} octets long; labels are at most {MAX_LABEL_LEN} (RFC 1035 §2.3.4)"
    )]
    LabelTooLong { label: String, len: usize },
    #[error(
        "hostname {name:?} contains {ch:?}, which is not allowed in a hostname (letters, digits, '-' and '.' only)"
    )]
    BadCharacter { name: String, ch: char },
    #[error("{name:?} is not a valid internationalised name: {detail}")]
    BadIdn { name: String, detail: String },
    #[error("wildcard '*' is only allowed as the whole leftmost label, as in *.example.com")]
    BadWildcard,
    #[error(
        "{name:?} is a wildcard: HTTP validation cannot prove control of a wildcard name (RFC 8555 §8.3, BR 3.2.2.4.19); use --method dns"
    )]
    WildcardWithHttp { name: String },
}

/// A syntactically valid hostname, lower-cased, in A-label form, without the
/// trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hostname {
    ascii: String,
    wildcard: bool,
}

impl Hostname {
    /// Parses user input. Unicode names are converted to A-labels (IDNA 2008 /
    /// UTS #46), a single trailing dot is accepted, and IP literals are kept as
    /// they are (policy rejects them later, with the CA's wording).
    pub fn parse(input: &str) -> Result<Hostname, InputError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(InputError::Empty);
        }
        if trimmed.parse::<IpAddr>().is_ok() {
            return Ok(Hostname {
                ascii: trimmed.to_ascii_lowercase(),
                wildcard: false,
            });
        }
        let (wildcard, rest) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if rest.contains('*') {
            return Err(InputError::BadWildcard);
        }
        if rest.split('.').any(str::is_empty) {
            return Err(InputError::EmptyLabel {
                name: input.to_owned(),
            });
        }
        if let Some(ch) = rest.chars().find(|c| {
            c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.' || *c == '_')
        }) {
            return Err(InputError::BadCharacter {
                name: input.to_owned(),
                ch,
            });
        }
        let ascii = if rest.is_ascii() {
            rest.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii_strict(rest).map_err(|e| InputError::BadIdn {
                name: input.to_owned(),
                detail: e.to_string(),
            })?
        };
        let full_len = ascii.len() + if wildcard { 2 } else { 0 };
        if full_len > MAX_NAME_LEN {
            return Err(InputError::TooLong { len: full_len });
        }
        if let Some(label) = ascii.split('.').find(|l| l.len() > MAX_LABEL_LEN) {
            return Err(InputError::LabelTooLong {
                label: label.to_owned(),
                len: label.len(),
            });
        }
        Ok(Hostname { ascii, wildcard })
    }

    /// The name without any `*.` prefix: what DNS is asked about (a wildcard
    /// `*.X` is validated and CAA-checked at X, RFC 8659 §3, RFC 8555 §8.4).
    pub fn base(&self) -> &str {
        &self.ascii
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    pub fn ip_literal(&self) -> Option<IpAddr> {
        self.ascii.parse().ok()
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.ascii.split('.')
    }

    /// The top-level label (what must be a TLD of the root in use).
    pub fn tld(&self) -> &str {
        self.ascii.rsplit('.').next().unwrap_or(&self.ascii)
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.ascii)
    }
}

/// Why a CA's identifier policy refuses a well-formed name. The texts follow
/// Boulder's `policy/pa.go` wording, which Let's Encrypt users see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyProblem {
    IpLiteral,
    TooManyLabels { labels: usize, max: usize },
    ReservedLdhLabel { label: String },
    MalformedPunycode { label: String },
    PunycodeNotSupported { label: String },
    HyphenAtEdge { label: String },
    Underscore { label: String },
    IsTld,
    NotUnderTld { tld: String },
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyProblem::IpLiteral => f.write_str("the name is an IP address, not a domain name"),
            PolicyProblem::TooManyLabels { labels, max } => {
                write!(
                    f,
                    "Domain name has more than {max} labels (parts): it has {labels}"
                )
            }
            PolicyProblem::ReservedLdhLabel { label } => write!(
                f,
                "Domain name contains an invalid label in a reserved format (R-LDH: '??--'): {label:?}"
            ),
            PolicyProblem::MalformedPunycode { label } => {
                write!(f, "Domain name contains malformed punycode: {label:?}")
            }
            PolicyProblem::PunycodeNotSupported { label } => {
                write!(
                    f,
                    "this CA does not issue for punycode (IDN) names: {label:?}"
                )
            }
            PolicyProblem::HyphenAtEdge { label } => {
                write!(
                    f,
                    "Domain name contains a label that starts or ends with a hyphen: {label:?}"
                )
            }
            PolicyProblem::Underscore { label } => {
                write!(
                    f,
                    "Domain name contains an underscore, which certificates cannot carry: {label:?}"
                )
            }
            PolicyProblem::IsTld => {
                f.write_str("Domain name is a TLD: certificates are not issued for TLDs")
            }
            PolicyProblem::NotUnderTld { tld } => write!(
                f,
                "Domain name does not end with a valid public suffix (TLD): {tld:?} is not delegated by the root in use"
            ),
        }
    }
}

/// The syntactic policy checks a CA applies before any DNS lookup.
pub fn policy_problems(name: &Hostname, ca: &CaProfile) -> Vec<PolicyProblem> {
    let mut problems = Vec::new();
    if name.ip_literal().is_some() {
        problems.push(PolicyProblem::IpLiteral);
        return problems;
    }
    let labels: Vec<&str> = name.labels().collect();
    let count = labels.len() + usize::from(name.is_wildcard());
    if let Some(max) = ca.max_labels
        && count > max
    {
        problems.push(PolicyProblem::TooManyLabels { labels: count, max });
    }
    for label in &labels {
        let label = (*label).to_owned();
        if label.starts_with('-') || label.ends_with('-') {
            problems.push(PolicyProblem::HyphenAtEdge {
                label: label.clone(),
            });
        }
        if label.contains('_') {
            problems.push(PolicyProblem::Underscore {
                label: label.clone(),
            });
        }
        if label.len() >= 4 && &label[2..4] == "--" {
            if let Some(encoded) = label.strip_prefix("xn--") {
                if idna::punycode::decode_to_string(encoded).is_none()
                    || idna::domain_to_unicode(&label).1.is_err()
                {
                    problems.push(PolicyProblem::MalformedPunycode { label });
                } else if !ca.issues_punycode {
                    problems.push(PolicyProblem::PunycodeNotSupported { label });
                }
            } else {
                problems.push(PolicyProblem::ReservedLdhLabel { label });
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{GOOGLE_TRUST_SERVICES, LETS_ENCRYPT};

    #[test]
    fn input_errors_are_named() {
        assert!(matches!(
            Hostname::parse("exa mple..com"),
            Err(InputError::EmptyLabel { .. })
        ));
        assert!(matches!(
            Hostname::parse("exa mple.com"),
            Err(InputError::BadCharacter { ch: ' ', .. })
        ));
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(matches!(
            Hostname::parse(&long),
            Err(InputError::TooLong { .. })
        ));
        let label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            Hostname::parse(&label),
            Err(InputError::LabelTooLong { len: 64, .. })
        ));
        assert!(matches!(
            Hostname::parse("www.*.com"),
            Err(InputError::BadWildcard)
        ));
        assert_eq!(Hostname::parse(""), Err(InputError::Empty));
        assert_eq!(Hostname::parse("."), Err(InputError::Empty));
    }

    #[test]
    fn good_names_are_normalised() {
        let h = Hostname::parse("WWW.Example.COM.").unwrap();
        assert_eq!(h.to_string(), "www.example.com");
        let w = Hostname::parse("*.example.com").unwrap();
        assert!(w.is_wildcard());
        assert_eq!(w.base(), "example.com");
        let idn = Hostname::parse("bücher.example").unwrap();
        assert_eq!(idn.base(), "xn--bcher-kva.example");
        assert_eq!(idn.tld(), "example");
    }

    #[test]
    fn policy_flags_what_boulder_rejects() {
        let ip = Hostname::parse("192.0.2.1").unwrap();
        assert_eq!(
            policy_problems(&ip, &LETS_ENCRYPT),
            vec![PolicyProblem::IpLiteral]
        );
        let deep = Hostname::parse("a.b.c.d.e.f.g.h.i.j.example.com").unwrap();
        assert!(matches!(
            policy_problems(&deep, &LETS_ENCRYPT)[..],
            [PolicyProblem::TooManyLabels {
                labels: 12,
                max: 10
            }]
        ));
        assert!(policy_problems(&deep, &GOOGLE_TRUST_SERVICES).is_empty());
        let rldh = Hostname::parse("ab--cd.example.com").unwrap();
        assert!(matches!(
            policy_problems(&rldh, &LETS_ENCRYPT)[..],
            [PolicyProblem::ReservedLdhLabel { .. }]
        ));
        let bad_puny = Hostname::parse("xn--a.example.com").unwrap();
        assert!(matches!(
            policy_problems(&bad_puny, &LETS_ENCRYPT)[..],
            [PolicyProblem::MalformedPunycode { .. }]
        ));
        let good_puny = Hostname::parse("xn--bcher-kva.example").unwrap();
        assert!(policy_problems(&good_puny, &LETS_ENCRYPT).is_empty());
        assert!(matches!(
            policy_problems(&good_puny, &GOOGLE_TRUST_SERVICES)[..],
            [PolicyProblem::PunycodeNotSupported { .. }]
        ));
        let ok = Hostname::parse("www.example.com").unwrap();
        assert!(policy_problems(&ok, &LETS_ENCRYPT).is_empty());
    }
}
