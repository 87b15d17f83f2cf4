//! Shared helpers: an engine configured for a running lab.
#![allow(dead_code)] // each test binary uses a subset

use std::time::Duration;

use dcv_dns::{EngineConfig, parse_root_hints, parse_trust_anchor};
use dcv_lab::Lab;

/// Lab hints, port and trust anchor; short timers so fault tests stay fast.
pub fn config(lab: &Lab) -> EngineConfig {
    EngineConfig {
        root_hints: parse_root_hints(&lab.root_hints_zone()).expect("lab hints parse"),
        port: lab.dns_port(),
        trust_anchors: lab
            .trust_anchor_ds()
            .map(|ds| parse_trust_anchor(&ds).expect("lab anchor parses"))
            .unwrap_or_default(),
        query_timeout: Duration::from_secs(1),
        retries: 1,
        ..EngineConfig::default()
    }
}
