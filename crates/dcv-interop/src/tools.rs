//! The external programs the suite drives, found on disk or reported missing with
//! the Debian package that provides them. A missing tool is a test **failure**
//! (never a silent skip): CI must install it.

use std::path::{Path, PathBuf};

/// Every program the world needs: (program, Debian package).
pub const REQUIRED: &[(&str, &str)] = &[
    ("knotd", "knot"),
    ("knotc", "knot"),
    ("keymgr", "knot"),
    ("kdig", "knot-dnsutils"),
    ("knsupdate", "knot-dnsutils"),
    ("unbound", "unbound"),
    ("delv", "bind9-dnsutils"),
    ("dig", "bind9-dnsutils"),
    ("ldns-keygen", "ldnsutils"),
    ("ldns-signzone", "ldnsutils"),
    ("ldns-key2ds", "ldnsutils"),
    ("pebble", "pebble"),
];

/// The `apt-get` line that installs everything in [`REQUIRED`].
pub fn install_hint() -> String {
    let mut packages: Vec<&str> = REQUIRED.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    format!(
        "apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    )
}

/// Full path of `program`, looked up in the Debian locations and `PATH`.
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

/// Full path of `program`, or an error naming the package and the install line.
pub fn require(program: &str) -> anyhow::Result<PathBuf> {
    find(program).ok_or_else(|| {
        let package = REQUIRED
            .iter()
            .find(|(p, _)| *p == program)
            .map_or("?", |(_, pkg)| *pkg);
        anyhow::anyhow!(
            "dcv-interop needs `{program}` (Debian package `{package}`), which is not installed. \
             Install the suite's tools with: {}",
            install_hint()
        )
    })
}

/// Checks every tool up front; the error lists all missing ones at once.
pub fn check_all() -> anyhow::Result<()> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|(p, _)| find(p).is_none())
        .map(|(p, pkg)| format!("{p} ({pkg})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "dcv-interop: missing tools: {}. Install them with: {}",
            missing.join(", "),
            install_hint()
        )
    }
}

/// Whether we run as root (port 53 and port 80 need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let e = require("knotd-that-does-not-exist")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not installed"), "{e}");
        assert!(e.contains("apt-get install"), "{e}");
        assert!(e.contains("pebble") && e.contains("ldnsutils"), "{e}");
    }

    #[test]
    fn the_install_line_names_each_package_once() {
        let hint = install_hint();
        for pkg in [
            "knot",
            "knot-dnsutils",
            "unbound",
            "bind9-dnsutils",
            "ldnsutils",
            "pebble",
        ] {
            assert_eq!(
                hint.split_whitespace().filter(|w| *w == pkg).count(),
                1,
                "{pkg} in {hint}"
            );
        }
    }
}
