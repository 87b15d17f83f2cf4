//! The exact set of identifiers a limit is keyed on, and the registered
//! domain a name counts against.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// A set of identifiers compared as Let's Encrypt does for the duplicate
/// limit: case-insensitive, order-free, duplicates collapsed (Boulder
/// `core.UniqueLowerNames`, standards.md §6.1 "exact set").
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NameSet(BTreeSet<String>);

impl NameSet {
    /// Lower-cases and trims each name (and a trailing dot); empty names are
    /// dropped.
    pub fn new<I, S>(names: I) -> NameSet
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        NameSet(
            names
                .into_iter()
                .map(|n| n.as_ref().trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_lowercase())
    }

    /// The registered domains (or address blocks) the names count against,
    /// each once, sorted.
    pub fn covering_identifiers(&self) -> BTreeSet<String> {
        self.iter().map(covering_identifier).collect()
    }
}

impl fmt::Display for NameSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// What a name counts against for the per-registered-domain limit (Boulder
/// `ratelimits.coveringIdentifier`): the eTLD+1 by the Public Suffix List
/// (ICANN and private sections, as Boulder's `publicsuffix.Domain`), the
/// name itself when it is a public suffix, `a.b.c.d/32` for an IPv4 address
/// and the `/64` for an IPv6 address. A wildcard counts as its base name.
pub fn covering_identifier(name: &str) -> String {
    let name = name.trim_start_matches("*.");
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => format!("{v4}/32"),
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
        Err(_) => psl::domain_str(name).unwrap_or(name).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_ignore_case_order_and_repeats() {
        let a = NameSet::new(["WWW.Example.com", "example.com."]);
        let b = NameSet::new(["example.com", "www.example.com", "Example.COM"]);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "[example.com, www.example.com]");
        assert_ne!(a, NameSet::new(["example.com"]));
    }

    #[test]
    fn registered_domains_follow_the_public_suffix_list() {
        assert_eq!(covering_identifier("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(covering_identifier("*.shop.example.com"), "example.com");
        // Private section: each github.io user is its own registered domain.
        assert_eq!(
            covering_identifier("www.alice.github.io"),
            "alice.github.io"
        );
        // A public suffix itself stays as it is.
        assert_eq!(covering_identifier("co.uk"), "co.uk");
        // Names under a TLD the list does not know: the default rule "*".
        assert_eq!(covering_identifier("www.example.lab"), "example.lab");
        assert_eq!(covering_identifier("192.0.2.7"), "192.0.2.7/32");
        assert_eq!(
            covering_identifier("2001:db8:1:2:3::4"),
            "2001:db8:1:2::/64"
        );
        let set = NameSet::new(["a.example.com", "b.example.com", "example.net"]);
        assert_eq!(
            set.covering_identifiers().into_iter().collect::<Vec<_>>(),
            vec!["example.com", "example.net"]
        );
    }
}
