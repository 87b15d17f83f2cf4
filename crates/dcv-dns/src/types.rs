//! Small value types shared by the public API: record types, response codes and
//! domain names. They are our own so that hickory types never leave the crate.

use std::{fmt, str::FromStr};

use hickory_proto::rr::Name;
use serde::{Serialize, Serializer};

/// A DNS RR TYPE (RFC 1035 §3.2.2, IANA registry) as its 16-bit code.
///
/// Our own newtype rather than a hickory re-export, so callers never depend on
/// hickory's version. Displays as the mnemonic (`CAA`, `TYPE65534`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u16);

impl RecordType {
    pub const A: Self = Self(1);
    pub const NS: Self = Self(2);
    pub const CNAME: Self = Self(5);
    pub const SOA: Self = Self(6);
    pub const MX: Self = Self(15);
    pub const TXT: Self = Self(16);
    pub const AAAA: Self = Self(28);
    pub const DNAME: Self = Self(39);
    pub const DS: Self = Self(43);
    pub const RRSIG: Self = Self(46);
    pub const NSEC: Self = Self(47);
    pub const DNSKEY: Self = Self(48);
    pub const NSEC3: Self = Self(50);
    pub const NSEC3PARAM: Self = Self(51);
    pub const HTTPS: Self = Self(65);
    pub const CAA: Self = Self(257);

    pub(crate) fn to_hickory(self) -> hickory_proto::rr::RecordType {
        hickory_proto::rr::RecordType::from(self.0)
    }

    pub(crate) fn from_hickory(t: hickory_proto::rr::RecordType) -> Self {
        Self(u16::from(t))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width and alignment flags work in tables.
        match self.to_hickory() {
            hickory_proto::rr::RecordType::Unknown(code) => f.pad(&format!("TYPE{code}")),
            t => f.pad(&t.to_string()),
        }
    }
}

/// Error for an unknown record type mnemonic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record type {0:?} (use a mnemonic like CAA or TYPE257)")]
pub struct RecordTypeError(String);

impl FromStr for RecordType {
    type Err = RecordTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        if let Some(num) = upper.strip_prefix("TYPE")
            && let Ok(code) = num.parse::<u16>()
        {
            return Ok(Self(code));
        }
        match hickory_proto::rr::RecordType::from_str(&upper) {
            Ok(hickory_proto::rr::RecordType::Unknown(_)) | Err(_) => {
                Err(RecordTypeError(s.to_owned()))
            }
            Ok(t) => Ok(Self::from_hickory(t)),
        }
    }
}

impl Serialize for RecordType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A DNS RCODE (RFC 1035 §4.1.1, extended by EDNS RFC 6891 §6.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rcode(pub u16);

impl Rcode {
    pub const NOERROR: Self = Self(0);
    pub const FORMERR: Self = Self(1);
    pub const SERVFAIL: Self = Self(2);
    pub const NXDOMAIN: Self = Self(3);
    pub const NOTIMP: Self = Self(4);
    pub const REFUSED: Self = Self(5);
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // IANA mnemonics (RFC 6895 §2.3), as dig and Boulder print them.
        let name = match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            6 => "YXDOMAIN",
            7 => "YXRRSET",
            8 => "NXRRSET",
            9 => "NOTAUTH",
            10 => "NOTZONE",
            16 => "BADVERS",
            23 => "BADCOOKIE",
            code => return f.pad(&format!("RCODE{code}")),
        };
        f.pad(name)
    }
}

impl Serialize for Rcode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fully qualified domain name, kept in lower case presentation form with the
/// trailing dot (`www.example.lab.`). Comparison is therefore case-insensitive,
/// as RFC 4343 requires.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DnsName(String);

/// Why a string is not a usable domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid domain name {input:?}: {reason}")]
pub struct NameError {
    input: String,
    reason: String,
}

impl DnsName {
    /// Parses a name in presentation format; a missing trailing dot is added
    /// (names are always absolute here). Internationalised names must already
    /// be A-labels.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let err = |reason: &str| NameError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("empty"));
        }
        if !trimmed.is_ascii() {
            return Err(err("non-ASCII; convert to A-labels (xn--) first"));
        }
        let mut name = Name::from_ascii(trimmed).map_err(|e| err(&e.to_string()))?;
        name.set_fqdn(true);
        Ok(Self::from_hickory(&name))
    }

    /// The root name `.`.
    pub fn root() -> Self {
        Self(".".to_owned())
    }

    /// Presentation form, lower case, with the trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Presentation form without the trailing dot (the way CAs print names).
    pub fn without_dot(&self) -> &str {
        if self.0 == "." {
            "."
        } else {
            self.0.strip_suffix('.').unwrap_or(&self.0)
        }
    }

    /// Number of labels, the root having none (RFC 4034 §3.1.3 "Labels").
    pub fn label_count(&self) -> usize {
        self.to_hickory().iter().count()
    }

    /// The name one label up, `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let n = self.to_hickory();
        if n.is_root() {
            None
        } else {
            Some(Self::from_hickory(&n.base_name()))
        }
    }

    /// True if `self` is `other` or below it.
    pub fn is_subdomain_of(&self, other: &Self) -> bool {
        other.to_hickory().zone_of(&self.to_hickory())
    }

    pub(crate) fn from_hickory(name: &Name) -> Self {
        let mut n = name.to_lowercase();
        n.set_fqdn(true);
        Self(n.to_ascii())
    }

    pub(crate) fn to_hickory(&self) -> Name {
        // Always valid: built by `parse`/`from_hickory`.
        Name::from_ascii(&self.0).unwrap_or_else(|_| Name::root())
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl FromStr for DnsName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Serialises bytes as lower-case hex (wire RDATA, digests).
pub(crate) fn hex_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Hex(bytes))
}

/// Lower-case hex display of a byte slice.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_type_round_trip() {
        assert_eq!("caa".parse::<RecordType>().unwrap(), RecordType::CAA);
        assert_eq!(RecordType::CAA.to_string(), "CAA");
        assert_eq!(
            "TYPE65534".parse::<RecordType>().unwrap(),
            RecordType(65534)
        );
        assert_eq!(RecordType(65534).to_string(), "TYPE65534");
        assert!("bogus".parse::<RecordType>().is_err());
    }

    #[test]
    fn names_are_lower_case_fqdn() {
        let n = DnsName::parse("WWW.Example.LAB").unwrap();
        assert_eq!(n.as_str(), "www.example.lab.");
        assert_eq!(n.parent().unwrap().as_str(), "example.lab.");
        assert_eq!(n.label_count(), 3);
        assert_eq!(DnsName::root().label_count(), 0);
        assert!(n.is_subdomain_of(&DnsName::parse("lab.").unwrap()));
        assert!(DnsName::parse("").is_err());
        assert!(DnsName::parse("a..b").is_err());
        assert_eq!(Rcode::SERVFAIL.to_string(), "SERVFAIL");
        assert_eq!(Rcode::NXDOMAIN.to_string(), "NXDOMAIN");
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any input gives a name or an error, and names round-trip.
        #[test]
        fn names_parse_or_fail_cleanly(input in "\\PC{0,300}") {
            if let Ok(n) = DnsName::parse(&input) {
                prop_assert_eq!(DnsName::parse(n.as_str()).unwrap(), n.clone());
                prop_assert!(n.as_str().ends_with('.'));
                prop_assert!(n.label_count() <= 127);
            }
        }

        #[test]
        fn record_types_parse_or_fail_cleanly(input in "[A-Za-z0-9]{0,12}") {
            if let Ok(t) = input.parse::<RecordType>() {
                prop_assert_eq!(t.to_string().parse::<RecordType>().unwrap(), t);
            }
        }
    }
}
