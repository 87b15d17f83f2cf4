//! The external programs the harness drives. A missing one is an error that
//! names its Debian package and the install line: the tests fail with it,
//! they never skip.

use std::path::{Path, PathBuf};

/// (program, Debian package) for everything the harness may run.
pub const REQUIRED: &[(&str, &str)] = &[
    ("unbound", "unbound"),
    ("delv", "bind9-dnsutils"),
    ("knotd", "knot"),
    ("keymgr", "knot"),
    ("ldns-keygen", "ldnsutils"),
];

/// The `apt-get` line installing every package in [`REQUIRED`].
pub fn install_hint() -> String {
    let mut packages: Vec<&str> = REQUIRED.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    format!(
        "apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    )
}

/// Full path of `program` in the Debian locations or `PATH`.
pub fn find(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Full path of `program`, or an error saying how to install it.
pub fn require(program: &str) -> anyhow::Result<PathBuf> {
    find(program).ok_or_else(|| {
        let package = REQUIRED
            .iter()
            .find(|(p, _)| *p == program)
            .map_or("?", |(_, pkg)| *pkg);
        anyhow::anyhow!(
            "dcv-worlds needs `{program}` (Debian package `{package}`), which is not installed; \
             install the harness's tools with: {}",
            install_hint()
        )
    })
}

/// Every tool at once; the error lists all that are missing.
pub fn check_all() -> anyhow::Result<()> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|(p, _)| find(p).is_none())
        .map(|(p, pkg)| format!("{p} ({pkg})"))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "dcv-worlds: missing tools: {}. Install them with: {}",
        missing.join(", "),
        install_hint()
    );
    Ok(())
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
