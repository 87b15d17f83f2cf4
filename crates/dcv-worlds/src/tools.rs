//! The external programs the harness drives. A missing one is an error that
//! names its Debian package and the install line: the tests fail with it,
//! they never skip.

use std::path::PathBuf;

use dcv_interop::tools::ToolSet;
/// The lookup in the Debian locations and `PATH`, shared with the interop suite.
pub use dcv_interop::tools::find;

/// (program, Debian package) for everything the harness may run.
pub const REQUIRED: &[(&str, &str)] = &[
    ("unbound", "unbound"),
    ("delv", "bind9-dnsutils"),
    ("knotd", "knot"),
    ("keymgr", "knot"),
    ("ldns-keygen", "ldnsutils"),
];

const WORLDS: ToolSet = ToolSet {
    user: "dcv-worlds",
    required: REQUIRED,
};

/// The `apt-get` line installing every package in [`REQUIRED`].
pub fn install_hint() -> String {
    WORLDS.install_hint()
}

/// Full path of `program`, or an error saying how to install it.
pub fn require(program: &str) -> anyhow::Result<PathBuf> {
    WORLDS.require(program)
}

/// Every tool at once; the error lists all that are missing.
pub fn check_all() -> anyhow::Result<()> {
    WORLDS.check_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let e = require("unbound-that-does-not-exist")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not installed") && e.contains("apt-get install"),
            "{e}"
        );
        let hint = install_hint();
        for pkg in ["unbound", "bind9-dnsutils", "knot", "ldnsutils"] {
            assert_eq!(
                hint.split_whitespace().filter(|w| *w == pkg).count(),
                1,
                "{hint}"
            );
        }
    }
}
