//! The `dcv-doctor` command line as a library, so tests and benchmarks drive
//! the same code paths as the binary: flag definitions (`cli`), their mapping
//! to a validated configuration (`config`), the files flags name (`input_file`),
//! the built-in lab demo (`demo`), many hostnames at once (`batch`), remote
//! perspectives (`mpic`) and the web service (`serve`, crate `dcv-web`).

pub mod acme;
pub mod batch;
pub mod ca_view;
pub mod cli;
pub mod config;
pub mod ct;
pub mod demo;
pub mod input_file;
pub mod mpic;
pub mod serve;
pub mod watch;
pub mod workers;
