//! The caller's CAA lookups, one per queried name. This crate never queries
//! DNS itself; the caller (dcv-dns) does and reports what it saw here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::{CaaRecord, RdataError};

/// What the DNSSEC validator proved about a failed lookup's zone
/// (RFC 4035 §4.3), which decides whether BR 3.2.2.8 can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSecurity {
    /// Proven "Insecure": an unsigned zone with a valid chain proving it is
    /// unsigned. The only case where BR 3.2.2.8 allows failure as permission.
    ProvenInsecure,
    /// The zone is signed and validated, but the lookup still failed
    /// (e.g. a timeout): not Insecure, so never permission.
    Secure,
    /// DNSSEC validation failed. BR 3.2.2.8.1 (effective 2026-03-15): never
    /// permission to issue.
    Bogus,
    /// The validator could not decide (e.g. the DS/DNSKEY fetch failed).
    Indeterminate,
}

impl fmt::Display for LookupSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ProvenInsecure => "proven insecure",
            Self::Secure => "secure",
            Self::Bogus => "bogus",
            Self::Indeterminate => "indeterminate",
        })
    }
}

/// The answer to one CAA query, after the resolver chased aliases
/// (RFC 8659 §3, "according to ... Section 4.3.2 of RFC 1034").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CaaLookup {
    /// A non-empty CAA RRset, in the order served. An empty vector is read
    /// as [`CaaLookup::Empty`].
    Records(Vec<CaaRecord>),
    /// NOERROR/NODATA or NXDOMAIN: no CAA here, keep climbing.
    ///
    /// A caller modelling Let's Encrypt passes NXDOMAIN at a TLD as
    /// [`CaaLookup::Failed`] instead: Boulder treats it as an error.
    Empty,
    /// SERVFAIL, timeout, REFUSED, bogus answer, ...
    Failed {
        /// What DNSSEC proved about the zone.
        security: LookupSecurity,
        /// Human detail from the resolver, e.g. `SERVFAIL (EDE 7: Signature Expired)`.
        detail: String,
    },
}

impl CaaLookup {
    /// Builds the lookup from wire RDATA as served (RFC 8659 §4.1.1): no
    /// RDATA is [`CaaLookup::Empty`]. Undecodable RDATA is an error, which
    /// the caller reports as a failed lookup: a resolver cannot parse it
    /// either.
    pub fn from_rdata<I, B>(rdatas: I) -> Result<Self, RdataError>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let records = rdatas
            .into_iter()
            .map(|rdata| CaaRecord::from_rdata(rdata.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if records.is_empty() {
            Self::Empty
        } else {
            Self::Records(records)
        })
    }

    /// A [`CaaLookup::Failed`].
    pub fn failed(security: LookupSecurity, detail: impl Into<String>) -> Self {
        Self::Failed {
            security,
            detail: detail.into(),
        }
    }
}

/// A lookup plus the CNAME chain the resolver followed for it, for evidence
/// ("CAA found at target X via CNAME").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NameLookup {
    /// The name queried: the request name or one of its parents.
    pub name: String,
    /// What came back.
    pub lookup: CaaLookup,
    /// Alias targets followed from `name`, in order; the answer belongs to
    /// the last one. Empty when there was no alias.
    pub cname_chain: Vec<String>,
}

impl NameLookup {
    /// A lookup without aliases.
    pub fn new(name: impl Into<String>, lookup: CaaLookup) -> Self {
        Self {
            name: name.into(),
            lookup,
            cname_chain: Vec::new(),
        }
    }

    /// Records the alias chain the resolver followed.
    #[must_use]
    pub fn via_cnames<I, S>(mut self, chain: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cname_chain = chain.into_iter().map(Into::into).collect();
        self
    }
}

/// Anything that says "this name's CAA lookup gave that": a
/// `(String, CaaLookup)` pair or a [`NameLookup`] with its alias chain.
pub trait AsNameLookup {
    /// The name that was queried.
    fn queried_name(&self) -> &str;
    /// The lookup result.
    fn caa_lookup(&self) -> &CaaLookup;
    /// The alias targets followed, if known.
    fn cname_chain(&self) -> &[String] {
        &[]
    }
}

impl AsNameLookup for (String, CaaLookup) {
    fn queried_name(&self) -> &str {
        &self.0
    }
    fn caa_lookup(&self) -> &CaaLookup {
        &self.1
    }
}

impl AsNameLookup for (&str, CaaLookup) {
    fn queried_name(&self) -> &str {
        self.0
    }
    fn caa_lookup(&self) -> &CaaLookup {
        &self.1
    }
}

impl AsNameLookup for NameLookup {
    fn queried_name(&self) -> &str {
        &self.name
    }
    fn caa_lookup(&self) -> &CaaLookup {
        &self.lookup
    }
    fn cname_chain(&self) -> &[String] {
        &self.cname_chain
    }
}
