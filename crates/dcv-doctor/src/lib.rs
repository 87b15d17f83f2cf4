//! The `dcv-doctor` command line as a library, so tests and benchmarks drive
//! the same code paths as the binary: flag definitions (`cli`), their mapping
//! to a validated configuration (`config`), the files flags name (`input_file`), the built-in lab demo (`demo`),
//! many hostnames at once (`batch`) and remote perspectives (`mpic`).

pub mod batch;
pub mod cli;
pub mod config;
pub mod demo;
pub mod input_file;
pub mod mpic;
