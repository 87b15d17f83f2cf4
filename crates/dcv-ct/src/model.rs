//! The crt.sh JSON model: `GET <url>?q=<name>&output=json` answers an array
//! of rows, one per logged certificate or precertificate that matches.
//!
//! ```json
//! [{"issuer_ca_id":432476,"issuer_name":"C=US, O=Let's Encrypt, CN=YR1",
//!   "common_name":"www.example.com","name_value":"example.com\nwww.example.com",
//!   "id":123,"entry_timestamp":"2026-08-01T10:00:01.118",
//!   "not_before":"2026-08-01T09:00:00","not_after":"2026-10-30T09:00:00",
//!   "serial_number":"04ab...","result_count":2}]
//! ```
//!
//! `name_value` holds the certificate's identities (SAN dNSNames and
//! addresses), one per line. Times are UTC without an offset; the entry
//! timestamp is the log's (the SCT time, seconds after issuance), `not_before`
//! is backdated by Boulder (an hour).

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

/// One row of a crt.sh-compatible JSON answer. Unknown fields are ignored;
/// those we need are required, so a different shape is a clear error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrtShEntry {
    /// crt.sh's own id of this (pre)certificate.
    pub id: u64,
    /// crt.sh's id of the issuing CA (evidence only: matching is by name).
    #[serde(default)]
    pub issuer_ca_id: Option<u64>,
    /// The issuer DN, e.g. `C=US, O=Let's Encrypt, CN=R11`.
    pub issuer_name: String,
    #[serde(default)]
    pub common_name: Option<String>,
    /// The identities, newline-separated.
    pub name_value: String,
    /// When the log accepted it (UTC, no offset). Absent on some mirrors.
    #[serde(default)]
    pub entry_timestamp: Option<String>,
    pub not_before: String,
    pub not_after: String,
    /// Hex serial; a precertificate and its certificate share it.
    pub serial_number: String,
}

/// Why a row cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("crt.sh row {id}: {field} {value:?} is not a timestamp")]
    BadTime {
        id: u64,
        field: &'static str,
        value: String,
    },
}

/// Parses crt.sh's `2026-08-01T10:00:01.118` (UTC, fraction optional; an
/// RFC 3339 value with `Z` or an offset is accepted too).
pub fn parse_time(value: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(t);
    }
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(value.trim(), format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Formats a time the way reports show it: `2026-08-08 20:50:14 UTC`
/// (Boulder's retry-after format).
pub fn format_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_else(|_| t.to_string())
}

impl CrtShEntry {
    /// The identities, lower-cased and trimmed, empty lines dropped; the
    /// common name when `name_value` is empty.
    pub fn identities(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .name_value
            .lines()
            .map(|l| l.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|l| !l.is_empty())
            .collect();
        if names.is_empty()
            && let Some(cn) = &self.common_name
        {
            let cn = cn.trim().trim_end_matches('.').to_ascii_lowercase();
            if !cn.is_empty() {
                names.push(cn);
            }
        }
        names
    }

    /// The serial, normalised (lower-case hex without separators or leading
    /// zeros) so a precertificate and its certificate compare equal.
    pub fn serial_key(&self) -> String {
        let hex: String = self
            .serial_number
            .chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let trimmed = hex.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    }

    /// When the CA issued it: the log's entry time (a precertificate is
    /// logged before the certificate exists), else `not_before`.
    pub fn issued_at(&self) -> Result<OffsetDateTime, RowError> {
        if let Some(ts) = &self.entry_timestamp
            && let Some(t) = parse_time(ts)
        {
            return Ok(t);
        }
        self.not_before()
    }

    pub fn not_before(&self) -> Result<OffsetDateTime, RowError> {
        parse_time(&self.not_before).ok_or_else(|| RowError::BadTime {
            id: self.id,
            field: "not_before",
            value: self.not_before.clone(),
        })
    }

    pub fn not_after(&self) -> Result<OffsetDateTime, RowError> {
        parse_time(&self.not_after).ok_or_else(|| RowError::BadTime {
            id: self.id,
            field: "not_after",
            value: self.not_after.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row in the exact shape crt.sh serves (fields from its JSON output).
    const ROW: &str = r#"{"issuer_ca_id":295815,"issuer_name":"C=US, O=Let's Encrypt, CN=R11","common_name":"www.example.com","name_value":"example.com\nWWW.example.com","id":14099291531,"entry_timestamp":"2024-08-01T10:00:01.118","not_before":"2024-08-01T09:00:00","not_after":"2024-10-30T09:00:00","serial_number":"04ab0000000000000000000000000000ff01","result_count":3}"#;

    #[test]
    fn a_crtsh_row_parses() {
        let e: CrtShEntry = serde_json::from_str(ROW).unwrap();
        assert_eq!(e.identities(), vec!["example.com", "www.example.com"]);
        assert_eq!(e.serial_key(), "4ab0000000000000000000000000000ff01");
        assert_eq!(
            format_time(e.issued_at().unwrap()),
            "2024-08-01 10:00:01 UTC"
        );
        assert_eq!(
            format_time(e.not_before().unwrap()),
            "2024-08-01 09:00:00 UTC"
        );
    }

    #[test]
    fn times_with_and_without_fraction_or_offset() {
        for s in [
            "2024-08-01T10:00:01",
            "2024-08-01T10:00:01.5",
            "2024-08-01T10:00:01Z",
            "2024-08-01T12:00:01+02:00",
        ] {
            assert_eq!(
                format_time(parse_time(s).unwrap()),
                "2024-08-01 10:00:01 UTC",
                "{s}"
            );
        }
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn the_entry_time_falls_back_to_not_before() {
        let mut e: CrtShEntry = serde_json::from_str(ROW).unwrap();
        e.entry_timestamp = None;
        assert_eq!(
            format_time(e.issued_at().unwrap()),
            "2024-08-01 09:00:00 UTC"
        );
        e.not_before = "soon".to_owned();
        assert!(matches!(e.issued_at(), Err(RowError::BadTime { .. })));
    }
}
