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

/// A suite's external programs: who needs them, and (program, Debian
/// package) for each. `dcv-worlds` has its own table and shares the lookup.
#[derive(Debug, Clone, Copy)]
pub struct ToolSet {
    /// Named in the error (`dcv-interop needs ...`).
    pub user: &'static str,
    pub required: &'static [(&'static str, &'static str)],
}

/// This suite's tools.
pub const INTEROP: ToolSet = ToolSet {
    user: "dcv-interop",
    required: REQUIRED,
};

impl ToolSet {
    /// The `apt-get` line that installs every package of the table, once each.
    pub fn install_hint(&self) -> String {
        let mut packages: Vec<&str> = Vec::new();
        for (_, package) in self.required {
            if !packages.contains(package) {
                packages.push(package);
            }
        }
        format!(
            "apt-get install -y --no-install-recommends {}",
            packages.join(" ")
        )
    }

    /// Full path of `program`, or an error naming the package and the install line.
    pub fn require(&self, program: &str) -> anyhow::Result<PathBuf> {
        find(program).ok_or_else(|| {
            let package = self
                .required
                .iter()
                .find(|(p, _)| *p == program)
                .map_or("?", |(_, pkg)| *pkg);
            anyhow::anyhow!(
                "{} needs `{program}` (Debian package `{package}`), which is not installed. \
                 Install the suite's tools with: {}",
                self.user,
                self.install_hint()
            )
        })
    }

    /// Checks every tool up front; the error lists all missing ones at once.
    pub fn check_all(&self) -> anyhow::Result<()> {
        let missing: Vec<String> = self
            .required
            .iter()
            .filter(|(p, _)| find(p).is_none())
            .map(|(p, pkg)| format!("{p} ({pkg})"))
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "{}: missing tools: {}. Install them with: {}",
            self.user,
            missing.join(", "),
            self.install_hint()
        );
        Ok(())
    }
}

/// The `apt-get` line that installs everything in [`REQUIRED`].
pub fn install_hint() -> String {
    INTEROP.install_hint()
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
    INTEROP.require(program)
}

/// Checks every tool up front; the error lists all missing ones at once.
pub fn check_all() -> anyhow::Result<()> {
    INTEROP.check_all()
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
