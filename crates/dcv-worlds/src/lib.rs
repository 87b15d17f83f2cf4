//! Differential testing on generated DNS worlds (issue 15, "Verdicts that
//! hold in the real world").
//!
//! Hand-made scenarios only find what their author thought of. This crate
//! generates worlds from a seed ([`generate()`]): a tree of zones under a
//! TLD of its own, the servers that serve them (co-hosted or not, with
//! faults), and the questions a CA asks. A batch serves hundreds of worlds
//! at once under one signed lab root ([`batch`]): the in-process lab serves
//! most of them, Knot a sample ([`knot`]). Each question is answered by
//! dcv-dns's engine and by Unbound configured like Let's Encrypt's resolver
//! ([`unbound`]), and for a sample by BIND's `delv` ([`delv`]); the verdicts
//! ([`verdict`]) are compared, and every disagreement is judged
//! ([`judge`]): justified by a written rule, a known divergence a
//! concurrent engine fix is expected to remove (`known-divergences.toml`),
//! or unexplained. A failing world is shrunk to a minimal one ([`shrink`])
//! and printed in full, ready to become a regression file.
//!
//! Network safety: the worlds live on loopback (the lab's 127.16-254 blocks
//! and `fd5c:dc5::/48`, Knot on 127.14/16 and `fd5c:dc5:0:14::/64`); every
//! tool is given explicit servers, and no world name reaches the system
//! resolver.

pub mod batch;
pub mod delv;
pub mod explain;
mod generate;
pub mod judge;
pub mod knot;
pub mod rng;
pub mod run;
pub mod shrink;
pub mod stub;
pub mod tools;
pub mod unbound;
pub mod verdict;
pub mod world;

pub use generate::{MAX_QUESTIONS, generate};
pub use world::{Authority, Question, World};
