//! The evaluator's answer as data: outcome, the rule it rests on, a stable
//! reason code, and every record of the Relevant RRset with its verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lookup::LookupSecurity;
use crate::record::CaaRecord;
use crate::value::{IssueValue, ValueError};

/// Whether the CA may issue, as far as CAA is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// CAA does not stop this CA.
    Permit,
    /// The Relevant RRset forbids this CA (see the reason for which kind).
    Deny,
    /// CAA could not be determined, so the CA does not issue.
    LookupFailed,
}

/// The rule a decision rests on, with its citation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// RFC 8659 §3: the Relevant RRset search and "no restricting property".
    RelevantRrset,
    /// RFC 8659 §4.1: critical property with an unknown tag.
    IssuerCritical,
    /// Flags bit value 1 treated as critical: CA policy beyond RFC 8659 §4.1.
    Flag1CriticalCaPolicy,
    /// RFC 8659 §4.2: `issue`.
    Issue,
    /// RFC 8659 §4.3: `issuewild`.
    IssueWild,
    /// RFC 8657 §3: `accounturi`.
    AccountUri,
    /// RFC 8657 §4: `validationmethods`.
    ValidationMethods,
    /// BR 3.2.2.8: lookup failure is permission only in a proven-Insecure
    /// zone, and only if the CA chooses so.
    LookupFailure,
    /// BR 3.2.2.8.1: DNSSEC validation errors are never permission.
    DnssecValidation,
}

impl Rule {
    /// Where the rule is written, e.g. `RFC 8659 §4.2`.
    pub fn citation(self) -> &'static str {
        match self {
            Self::RelevantRrset => "RFC 8659 §3",
            Self::IssuerCritical => "RFC 8659 §4.1",
            Self::Flag1CriticalCaPolicy => "RFC 8659 §4.1 (CA policy: flag 1 treated as critical)",
            Self::Issue => "RFC 8659 §4.2",
            Self::IssueWild => "RFC 8659 §4.3",
            Self::AccountUri => "RFC 8657 §3",
            Self::ValidationMethods => "RFC 8657 §4",
            Self::LookupFailure => "BR 3.2.2.8",
            Self::DnssecValidation => "BR 3.2.2.8.1",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.citation())
    }
}

/// Why the decision came out as it did. [`ReasonCode::code`] is a stable
/// snake-case string for reports and finding catalogues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// No CAA RRset at the name or any parent: CAA does not restrict.
    NoRelevantRrset,
    /// The Relevant RRset holds no property that restricts this request
    /// (e.g. only `iodef`, or only `issuewild` for a non-wildcard).
    NoRestrictingProperty,
    /// A record names this CA and its parameters are satisfied.
    Authorized {
        /// Index of the first authorising record in the RRset.
        record: usize,
    },
    /// A lookup failed, but the CA treats failures in proven-Insecure zones
    /// as permission (BR 3.2.2.8).
    LookupFailurePermitted {
        /// The name whose lookup failed.
        name: String,
    },
    /// A critical property with a tag this CA does not know: nobody may
    /// issue (RFC 8659 §4.1).
    CriticalUnknownTag {
        /// The tags, lower-cased and escaped.
        tags: Vec<String>,
    },
    /// Records name other issuers only.
    IssuerNotListed {
        /// Issuer names that were listed (distinct, in order).
        listed: Vec<String>,
    },
    /// A record names this CA in different case, and the CA compares
    /// case-sensitively.
    IssuerCaseMismatch {
        /// The issuer as written.
        issuer: String,
    },
    /// Every record names no issuer (`;`): nobody may issue.
    EmptyIssuer,
    /// A record fails the §4.2 grammar and so names no issuer.
    MalformedIssueValue {
        /// The record's value, escaped.
        value: String,
        /// Where it left the grammar.
        error: ValueError,
    },
    /// A record for this CA carries more than one `accounturi`.
    AccountUriDuplicate,
    /// A record for this CA requires an account, and none was given.
    AccountUriNotProvided {
        /// The account URIs the record requires.
        required: Vec<String>,
    },
    /// A record for this CA binds another account.
    AccountUriMismatch {
        /// The account URIs the record requires.
        required: Vec<String>,
    },
    /// A record for this CA carries more than one `validationmethods`.
    ValidationMethodsDuplicate,
    /// A record for this CA has a `validationmethods` list off the grammar.
    ValidationMethodsMalformed {
        /// The value as written.
        value: String,
    },
    /// A record for this CA does not list the method in use.
    ValidationMethodNotAllowed {
        /// The method in use.
        method: String,
        /// The methods the record allows.
        allowed: Vec<String>,
    },
    /// A lookup at or below the Relevant RRset failed, so records that
    /// would apply may be hidden (BR 3.2.2.8 / 3.2.2.8.1).
    LookupFailedBelowRelevant {
        /// The name whose lookup failed.
        name: String,
        /// What DNSSEC proved about it.
        security: LookupSecurity,
        /// The resolver's detail.
        detail: String,
        /// The closest RRset above the failure, if the caller looked that far.
        relevant_above: Option<String>,
    },
    /// The caller gave no lookup for a name the search must visit.
    LookupNotProvided {
        /// The missing name.
        name: String,
    },
    /// The request name is empty or has an empty label.
    InvalidRequestName {
        /// The name as given.
        name: String,
    },
}

impl ReasonCode {
    /// Stable machine code, e.g. `issuer_not_listed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoRelevantRrset => "no_relevant_rrset",
            Self::NoRestrictingProperty => "no_restricting_property",
            Self::Authorized { .. } => "authorized",
            Self::LookupFailurePermitted { .. } => "lookup_failure_permitted",
            Self::CriticalUnknownTag { .. } => "critical_unknown_tag",
            Self::IssuerNotListed { .. } => "issuer_not_listed",
            Self::IssuerCaseMismatch { .. } => "issuer_case_mismatch",
            Self::EmptyIssuer => "empty_issuer",
            Self::MalformedIssueValue { .. } => "malformed_issue_value",
            Self::AccountUriDuplicate => "accounturi_duplicate",
            Self::AccountUriNotProvided { .. } => "accounturi_not_provided",
            Self::AccountUriMismatch { .. } => "accounturi_mismatch",
            Self::ValidationMethodsDuplicate => "validationmethods_duplicate",
            Self::ValidationMethodsMalformed { .. } => "validationmethods_malformed",
            Self::ValidationMethodNotAllowed { .. } => "validation_method_not_allowed",
            Self::LookupFailedBelowRelevant { .. } => "lookup_failed_below_relevant",
            Self::LookupNotProvided { .. } => "lookup_not_provided",
            Self::InvalidRequestName { .. } => "invalid_request_name",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRelevantRrset => f.write_str("no CAA records at the name or any parent"),
            Self::NoRestrictingProperty => {
                f.write_str("the CAA records present do not restrict this request")
            }
            Self::Authorized { record } => write!(f, "record #{record} authorises this CA"),
            Self::LookupFailurePermitted { name } => write!(
                f,
                "CAA lookup for {name} failed in a proven-Insecure zone, which this CA treats as permission"
            ),
            Self::CriticalUnknownTag { tags } => write!(
                f,
                "critical CAA tag(s) {} not understood by this CA forbid issuance by anyone",
                quoted_list(tags)
            ),
            Self::IssuerNotListed { listed } => {
                write!(f, "this CA is not listed; issuers listed: {}", quoted_list(listed))
            }
            Self::IssuerCaseMismatch { issuer } => write!(
                f,
                "issuer \"{issuer}\" differs from this CA's name only in case, and this CA compares case-sensitively"
            ),
            Self::EmptyIssuer => f.write_str("the records name no issuer, so no CA may issue"),
            Self::MalformedIssueValue { value, error } => write!(
                f,
                "value \"{value}\" is not valid CAA syntax ({error}), so it authorises nobody"
            ),
            Self::AccountUriDuplicate => {
                f.write_str("the record for this CA has more than one accounturi, so it is unsatisfiable")
            }
            Self::AccountUriNotProvided { required } => write!(
                f,
                "the record for this CA requires account {}, and no account URI was given to check",
                quoted_list(required)
            ),
            Self::AccountUriMismatch { required } => write!(
                f,
                "the record for this CA requires account {}, not the requesting account",
                quoted_list(required)
            ),
            Self::ValidationMethodsDuplicate => f.write_str(
                "the record for this CA has more than one validationmethods, so it is unsatisfiable",
            ),
            Self::ValidationMethodsMalformed { value } => write!(
                f,
                "validationmethods \"{value}\" is not a valid method list, so the record is unsatisfiable"
            ),
            Self::ValidationMethodNotAllowed { method, allowed } => write!(
                f,
                "method {method} is not among the allowed validation methods {}",
                quoted_list(allowed)
            ),
            Self::LookupFailedBelowRelevant {
                name,
                security,
                detail,
                relevant_above,
            } => {
                write!(f, "CAA lookup for {name} failed ({detail}; DNSSEC: {security})")?;
                if let Some(above) = relevant_above {
                    write!(f, "; it would hide any records that override those at {above}")?;
                }
                Ok(())
            }
            Self::LookupNotProvided { name } => {
                write!(f, "no CAA lookup result was provided for {name}")
            }
            Self::InvalidRequestName { name } => write!(f, "\"{name}\" is not a valid name"),
        }
    }
}

fn quoted_list(items: &[String]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items
        .iter()
        .map(|item| format!("\"{item}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The property a record carries, as this CA classifies its tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "tag", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PropertyTag {
    /// `issue` (RFC 8659 §4.2).
    Issue,
    /// `issuewild` (RFC 8659 §4.3).
    IssueWild,
    /// `iodef` (RFC 8659 §4.4): reporting only, never restricts.
    Iodef,
    /// Another tag this CA knows (e.g. `issuemail`); never restricts here.
    Known(String),
    /// A tag this CA does not know (lower-cased, escaped).
    Unknown(String),
}

/// The value as this crate read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParsedValue {
    /// An `issue`/`issuewild` value that follows the §4.2 grammar.
    Issue {
        /// The parsed value.
        value: IssueValue,
    },
    /// An `issue`/`issuewild` value off the grammar: names no issuer.
    Malformed {
        /// Where it left the grammar.
        error: ValueError,
    },
    /// Another property; the value is not interpreted.
    Opaque,
}

/// Why a record played no part in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IgnoreReason {
    /// `issuewild` is ignored for a non-wildcard name (RFC 8659 §4.3).
    IssueWildForNonWildcard,
    /// `issue` is ignored for a wildcard when `issuewild` is present (§4.3).
    IssueOverriddenByIssueWild,
    /// `iodef` only asks for incident reports (§4.4).
    Iodef,
    /// A tag the CA knows that does not govern this issuance.
    KnownOtherTag,
    /// An unknown tag without the critical flag (§4.1).
    UnknownNotCritical,
}

/// This CA's verdict on one record of the Relevant RRset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordVerdict {
    /// The record authorises this request.
    Authorizes,
    /// The record names another issuer.
    IssuerMismatch {
        /// The issuer as written.
        issuer: String,
    },
    /// The record names this CA in different case; the CA compares exactly.
    IssuerCaseMismatch {
        /// The issuer as written.
        issuer: String,
    },
    /// The record names no issuer (`;`).
    EmptyIssuer,
    /// The value is off the §4.2 grammar, so it names no issuer.
    Malformed {
        /// Where it left the grammar.
        error: ValueError,
    },
    /// More than one `accounturi`: unsatisfiable (RFC 8657 §3).
    AccountUriDuplicate,
    /// The record needs an account URI and none was given (RFC 8657 §3).
    AccountUriNotProvided {
        /// The required account URI.
        required: String,
    },
    /// The record binds another account (RFC 8657 §3).
    AccountUriMismatch {
        /// The required account URI.
        required: String,
        /// Whether it even looks like one of this CA's accounts.
        recognised: bool,
    },
    /// More than one `validationmethods`: unsatisfiable (RFC 8657 §4).
    ValidationMethodsDuplicate,
    /// `validationmethods` off the grammar: unsatisfiable.
    ValidationMethodsMalformed {
        /// The value as written.
        value: String,
    },
    /// The method in use is not listed (RFC 8657 §4).
    ValidationMethodNotAllowed {
        /// The listed methods.
        allowed: Vec<String>,
    },
    /// Critical flag on a tag this CA does not know (RFC 8659 §4.1).
    CriticalUnknownTag,
    /// Not part of the decision.
    Ignored {
        /// Why.
        why: IgnoreReason,
    },
}

impl RecordVerdict {
    /// Short human label, e.g. "issuer mismatch".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Authorizes => "authorises",
            Self::IssuerMismatch { .. } => "issuer mismatch",
            Self::IssuerCaseMismatch { .. } => "issuer case mismatch",
            Self::EmptyIssuer => "empty issuer",
            Self::Malformed { .. } => "malformed value",
            Self::AccountUriDuplicate => "accounturi duplicated",
            Self::AccountUriNotProvided { .. } => "accounturi: no account given",
            Self::AccountUriMismatch { .. } => "accounturi mismatch",
            Self::ValidationMethodsDuplicate => "validationmethods duplicated",
            Self::ValidationMethodsMalformed { .. } => "validationmethods malformed",
            Self::ValidationMethodNotAllowed { .. } => "validation method not allowed",
            Self::CriticalUnknownTag => "critical unknown tag",
            Self::Ignored { .. } => "ignored",
        }
    }
}

impl fmt::Display for RecordVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One record of the Relevant RRset with everything the evaluator saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DecidingRecord {
    /// Index in the RRset as served.
    pub index: usize,
    /// The record, raw.
    pub record: CaaRecord,
    /// Lossless escaped presentation form, e.g. `0 issue "letsencrypt.org"`.
    pub presentation: String,
    /// How this CA classifies the tag.
    pub property: PropertyTag,
    /// Whether this CA treats the flags as critical.
    pub critical: bool,
    /// The value as parsed.
    pub parsed: ParsedValue,
    /// The verdict.
    pub verdict: RecordVerdict,
}

/// What the search saw at one name on the way up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepStatus {
    /// No CAA here; the search climbed on.
    Empty,
    /// The Relevant RRset.
    Relevant {
        /// Number of records.
        records: usize,
    },
    /// The lookup failed and stopped the search.
    Failed {
        /// What DNSSEC proved.
        security: LookupSecurity,
        /// Resolver detail.
        detail: String,
    },
    /// The lookup failed and the CA's policy took it as permission.
    FailureTolerated {
        /// What DNSSEC proved.
        security: LookupSecurity,
        /// Resolver detail.
        detail: String,
    },
    /// The caller gave no result for this name.
    NotProvided,
}

/// One name visited by the Relevant RRset search (RFC 8659 §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClimbStep {
    /// The name queried.
    pub name: String,
    /// Alias targets the resolver followed for it.
    pub cname_chain: Vec<String>,
    /// What was found.
    pub status: StepStatus,
}

/// The CAA decision for one request and one CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use = "a CAA decision should be reported"]
#[non_exhaustive]
pub struct CaaDecision {
    /// Permit, deny or lookup failure.
    pub outcome: Outcome,
    /// The name CAA was evaluated at (wildcard label stripped, lower case).
    pub evaluated_name: String,
    /// Whether the request was for a Wildcard Domain Name.
    pub wildcard: bool,
    /// The queried name whose answer was the Relevant RRset.
    pub relevant_name: Option<String>,
    /// Alias targets followed at `relevant_name`; the RRset's owner is the
    /// last one ("CAA found at target X via CNAME").
    pub cname_chain: Vec<String>,
    /// Every record of the Relevant RRset with its verdict.
    pub deciding_records: Vec<DecidingRecord>,
    /// The names visited, closest first.
    pub climb: Vec<ClimbStep>,
    /// The rule the outcome rests on.
    pub rule: Rule,
    /// Why.
    pub reason_code: ReasonCode,
}

impl CaaDecision {
    /// Where the Relevant RRset really lives: the end of the alias chain,
    /// else `relevant_name`. CAA fixes go there (CAA cannot sit beside a CNAME).
    pub fn rrset_owner(&self) -> Option<&str> {
        self.cname_chain
            .last()
            .map(String::as_str)
            .or(self.relevant_name.as_deref())
    }

    /// A deny caused by a critical unknown tag (`caa_critical_unknown`), as
    /// opposed to a policy that lists other CAs (`caa_forbids`).
    pub fn is_critical_deny(&self) -> bool {
        self.outcome == Outcome::Deny
            && matches!(self.reason_code, ReasonCode::CriticalUnknownTag { .. })
    }

    /// One line for humans, in the spirit of Let's Encrypt's problem texts.
    pub fn summary(&self) -> String {
        let found_at = match (self.relevant_name.as_deref(), self.cname_chain.last()) {
            (Some(name), Some(target)) => format!("{target} (via CNAME from {name})"),
            (Some(name), None) => name.to_owned(),
            (None, _) => String::new(),
        };
        match self.outcome {
            Outcome::Permit if found_at.is_empty() => {
                format!("CAA permits issuance: {}", self.reason_code)
            }
            Outcome::Permit => {
                format!(
                    "CAA record for {found_at} permits issuance: {}",
                    self.reason_code
                )
            }
            Outcome::Deny => format!(
                "CAA record for {found_at} prevents issuance: {} [{}]",
                self.reason_code,
                self.rule.citation()
            ),
            Outcome::LookupFailed => format!(
                "CAA could not be checked: {} [{}]",
                self.reason_code,
                self.rule.citation()
            ),
        }
    }
}

impl fmt::Display for CaaDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}
