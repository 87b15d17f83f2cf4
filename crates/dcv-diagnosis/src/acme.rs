//! What an ACME server said about the names, as data: the input of
//! `rules::acme` and the evidence its findings carry. `dcv-doctor` fills it
//! from the `dcv-acme` dry run (`check --acme-directory`).

use serde::{Deserialize, Serialize};

use crate::ca::CaId;
use crate::model::Method;

/// RFC 8555 §6.7 problem types (`urn:ietf:params:acme:error:<name>`), typed
/// so rules never re-parse strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    RejectedIdentifier,
    UnsupportedIdentifier,
    Caa,
    RateLimited,
    Dns,
    Connection,
    Tls,
    IncorrectResponse,
    Unauthorized,
    Malformed,
    ServerInternal,
    BadNonce,
    AccountDoesNotExist,
    UserActionRequired,
    /// Any other type, kept in [`AcmeProblem::type_urn`].
    Other,
}

impl ProblemKind {
    /// From the problem document's `type` (with or without the URN prefix).
    pub fn from_type(problem_type: &str) -> ProblemKind {
        let name = problem_type
            .trim()
            .trim_start_matches("urn:ietf:params:acme:error:")
            .trim_start_matches("urn:acme:error:");
        match name {
            "rejectedIdentifier" => ProblemKind::RejectedIdentifier,
            "unsupportedIdentifier" => ProblemKind::UnsupportedIdentifier,
            "caa" => ProblemKind::Caa,
            "rateLimited" => ProblemKind::RateLimited,
            "dns" => ProblemKind::Dns,
            "connection" => ProblemKind::Connection,
            "tls" => ProblemKind::Tls,
            "incorrectResponse" => ProblemKind::IncorrectResponse,
            "unauthorized" => ProblemKind::Unauthorized,
            "malformed" => ProblemKind::Malformed,
            "serverInternal" => ProblemKind::ServerInternal,
            "badNonce" => ProblemKind::BadNonce,
            "accountDoesNotExist" => ProblemKind::AccountDoesNotExist,
            "userActionRequired" => ProblemKind::UserActionRequired,
            _ => ProblemKind::Other,
        }
    }
}

/// A problem document (RFC 7807) the ACME server returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeProblem {
    pub kind: ProblemKind,
    /// The `type` exactly as sent.
    pub type_urn: String,
    pub detail: String,
    pub status: Option<u16>,
    /// Subproblems, as `identifier: type: detail`.
    pub subproblems: Vec<String>,
}

/// Which step of the dry run a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcmeStep {
    Directory,
    NewAccount,
    NewOrder,
    Authorization,
    Publish,
    Validation,
}

impl std::fmt::Display for AcmeStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AcmeStep::Directory => "reading the directory",
            AcmeStep::NewAccount => "creating the account",
            AcmeStep::NewOrder => "creating the order",
            AcmeStep::Authorization => "reading the authorizations",
            AcmeStep::Publish => "publishing the challenge response",
            AcmeStep::Validation => "validating",
        })
    }
}

/// One authorization of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAuthorization {
    pub identifier: String,
    pub wildcard: bool,
    /// `pending`, `valid` (reused), `invalid`, ...
    pub status: String,
    /// Challenge types offered (`http-01`, `dns-01`, `tls-alpn-01`, ...).
    pub challenges: Vec<String>,
}

/// A real validation the CA ran (`--acme-complete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeValidation {
    pub identifier: String,
    pub method: Method,
    /// Where the response was published: the file written, or the TXT record.
    pub published: String,
    /// The CA's verdict.
    pub ca_valid: bool,
    /// The CA's reason when it is not valid.
    pub ca_problem: Option<AcmeProblem>,
    /// Whether the published response was removed afterwards.
    pub cleaned_up: bool,
}

/// Everything the dry run saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeDryRun {
    pub directory: String,
    /// The CA the directory is compared with (its findings block it).
    pub ca: CaId,
    /// Why that CA: the directory's host, or an assumption for an unknown
    /// directory (Pebble, a private CA).
    pub ca_basis: String,
    pub account: Option<String>,
    pub order: Option<String>,
    pub identifiers: Vec<String>,
    pub authorizations: Vec<AcmeAuthorization>,
    /// The step that ended the dry run early, with the CA's problem, or with
    /// why the CA could not be asked (`unavailable`).
    pub failed_step: Option<AcmeStep>,
    pub problem: Option<AcmeProblem>,
    pub unavailable: Option<String>,
    pub validation: Option<AcmeValidation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_types_are_typed() {
        assert_eq!(
            ProblemKind::from_type("urn:ietf:params:acme:error:rejectedIdentifier"),
            ProblemKind::RejectedIdentifier
        );
        assert_eq!(ProblemKind::from_type("caa"), ProblemKind::Caa);
        assert_eq!(
            ProblemKind::from_type("urn:acme:error:rateLimited"),
            ProblemKind::RateLimited
        );
        assert_eq!(ProblemKind::from_type("urn:x:y"), ProblemKind::Other);
    }
}
