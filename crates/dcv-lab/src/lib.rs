//! The private-root test lab: real DNS and HTTP servers on loopback, described
//! declaratively, with fault knobs. Used by tests and by `dcv-doctor demo`.

pub mod http;
