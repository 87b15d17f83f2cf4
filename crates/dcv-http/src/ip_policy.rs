//! Reserved-address policy. The classification lives in the `dcv-ip-policy`
//! crate, shared with `dcv-dns` (which refuses name servers on these ranges
//! under `ServerPolicy::PublicOnly`); this module keeps the
//! `dcv_http::ip_policy` path.

pub use dcv_ip_policy::{RangeKind, ReservedRange, classify, is_reserved};
