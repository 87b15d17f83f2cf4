//! Which certificates are Let's Encrypt's: matched by issuer name against its
//! intermediates (letsencrypt.org/certificates, website HEAD 2026-08-21).
//!
//! Let's Debug matched crt.sh CA ids frozen in 2020 (R3, E1, X3) and so
//! counts nothing today (peers-and-ca-behaviour.md §1.6). We match the issuer
//! DN: `O=Let's Encrypt` and a CN from the table. An `O=Let's Encrypt` issuer
//! whose CN is not in the table (an intermediate newer than this table) still
//! counts, marked unknown in the evidence, so a new hierarchy does not blind
//! the count again. Staging issuers (`O=(STAGING) Let's Encrypt`) never count.

use serde::Serialize;

/// Where an intermediate stands in Let's Encrypt's rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntermediateStatus {
    /// In active rotation.
    Active,
    /// Valid, not issuing, may start at any time without warning.
    Backup,
    /// No longer issuing; its certificates may still be in the window.
    Retired,
}

/// One Let's Encrypt intermediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Intermediate {
    /// The subject CN (`YR1`, `R11`, `Let's Encrypt Authority X3`).
    pub common_name: &'static str,
    /// crt.sh's CA id (links and evidence).
    pub crtsh_ca_id: u64,
    pub status: IntermediateStatus,
}

const fn int(
    common_name: &'static str,
    crtsh_ca_id: u64,
    status: IntermediateStatus,
) -> Intermediate {
    Intermediate {
        common_name,
        crtsh_ca_id,
        status,
    }
}

use IntermediateStatus::{Active, Backup, Retired};

/// Every Let's Encrypt intermediate, current first (letsencrypt.org
/// "Chains of Trust", lastmod 2026-08).
pub const LETS_ENCRYPT_INTERMEDIATES: &[Intermediate] = &[
    int("YE1", 432_952, Active),
    int("YE2", 431_054, Active),
    int("YR1", 432_476, Active),
    int("YR2", 432_477, Active),
    int("YE3", 432_914, Backup),
    int("YR3", 432_480, Backup),
    int("E5", 295_810, Retired),
    int("E6", 295_819, Retired),
    int("E7", 295_813, Retired),
    int("E8", 295_809, Retired),
    int("E9", 295_812, Retired),
    int("R10", 295_814, Retired),
    int("R11", 295_815, Retired),
    int("R12", 295_816, Retired),
    int("R13", 295_817, Retired),
    int("R14", 295_818, Retired),
    int("R3", 183_267, Retired),
    int("R4", 183_268, Retired),
    int("E1", 183_283, Retired),
    int("E2", 183_284, Retired),
    int("Let's Encrypt Authority X1", 7395, Retired),
    int("Let's Encrypt Authority X2", 9745, Retired),
    int("Let's Encrypt Authority X3", 16_418, Retired),
    int("Let's Encrypt Authority X4", 16_429, Retired),
];

/// The organisation Let's Encrypt's production intermediates carry.
pub const LETS_ENCRYPT_ORGANIZATION: &str = "Let's Encrypt";

/// What an issuer name says about the CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerMatch {
    /// Let's Encrypt production; `intermediate` is `None` for a CN not in
    /// [`LETS_ENCRYPT_INTERMEDIATES`].
    LetsEncrypt {
        common_name: String,
        intermediate: Option<&'static Intermediate>,
    },
    /// Any other CA (or Let's Encrypt staging).
    Other,
}

/// Classifies a crt.sh `issuer_name` (`C=US, O=Let's Encrypt, CN=R11`).
pub fn classify(issuer_name: &str) -> IssuerMatch {
    let rdns = parse_dn(issuer_name);
    let get = |key: &str| {
        rdns.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    if get("O") != Some(LETS_ENCRYPT_ORGANIZATION) {
        return IssuerMatch::Other;
    }
    let cn = get("CN").unwrap_or_default().to_owned();
    let intermediate = LETS_ENCRYPT_INTERMEDIATES
        .iter()
        .find(|i| i.common_name == cn);
    IssuerMatch::LetsEncrypt {
        common_name: cn,
        intermediate,
    }
}

/// Splits an RFC 4514-style DN as crt.sh prints it (`K=V, K=V`, values
/// possibly double-quoted or with `\,` escapes) into (key, value) pairs.
pub fn parse_dn(dn: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut key = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut quoted = false;
    let mut chars = dn.chars().peekable();
    let mut push = |key: &mut String, value: &mut String| {
        let k = key.trim().to_owned();
        if !k.is_empty() {
            out.push((k, value.trim().trim_matches('"').to_owned()));
        }
        key.clear();
        value.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_value => {
                if let Some(next) = chars.next() {
                    value.push(next);
                }
            }
            '"' if in_value => {
                quoted = !quoted;
                value.push(c);
            }
            ',' | '+' if in_value && !quoted => {
                push(&mut key, &mut value);
                in_value = false;
            }
            '=' if !in_value => in_value = true,
            _ if in_value => value.push(c),
            _ => key.push(c),
        }
    }
    if in_value {
        push(&mut key, &mut value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_and_past_intermediates_are_lets_encrypt() {
        for cn in [
            "YR1",
            "YE2",
            "R11",
            "E6",
            "R3",
            "Let's Encrypt Authority X3",
        ] {
            let m = classify(&format!("C=US, O=Let's Encrypt, CN={cn}"));
            assert!(
                matches!(m, IssuerMatch::LetsEncrypt { intermediate: Some(i), .. } if i.common_name == cn),
                "{cn}: {m:?}"
            );
        }
    }

    #[test]
    fn a_new_intermediate_still_counts_but_is_marked_unknown() {
        assert_eq!(
            classify("C=US, O=Let's Encrypt, CN=ZR9"),
            IssuerMatch::LetsEncrypt {
                common_name: "ZR9".to_owned(),
                intermediate: None
            }
        );
    }

    #[test]
    fn other_cas_and_staging_do_not_count() {
        for dn in [
            "C=US, O=Google Trust Services, CN=WR1",
            "C=US, O=(STAGING) Let's Encrypt, CN=(STAGING) Counterfeit Cashew R10",
            "C=GB, ST=Greater Manchester, L=Salford, O=Sectigo Limited, CN=Sectigo RSA Domain Validation Secure Server CA",
            "C=US, O=\"DigiCert, Inc.\", CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1",
            "",
        ] {
            assert_eq!(classify(dn), IssuerMatch::Other, "{dn}");
        }
    }

    #[test]
    fn quoted_and_escaped_values_parse() {
        assert_eq!(
            parse_dn("C=US, O=\"DigiCert, Inc.\", CN=X\\, Y"),
            vec![
                ("C".to_owned(), "US".to_owned()),
                ("O".to_owned(), "DigiCert, Inc.".to_owned()),
                ("CN".to_owned(), "X, Y".to_owned())
            ]
        );
    }
}
