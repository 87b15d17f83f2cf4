//! "A machine without the lab's IPv6", made honestly on one that has it: the
//! test re-runs itself in a fresh network namespace (`unshare --net`, then
//! `ip link set lo up`). There 127.0.0.0/8 and `::1` exist, as on any Linux
//! machine, but not the local route for `fd5c:dc5::/48` nor
//! `ip_nonlocal_bind` that `scripts/lab-net-setup` adds, and nothing can
//! leave the namespace.
//!
//! As root `unshare --net` is enough (CI runs as root); otherwise a user
//! namespace maps us to root inside it (`--map-root-user`, which Debian
//! allows by default). If neither works the test fails and says why.

#![allow(dead_code)] // each test file uses what it needs

use std::process::Command;

/// Set in the re-run test process, which then runs the test body.
const INSIDE: &str = "DCV_DOCTOR_TEST_IN_FRESH_NETNS";

/// Whether this process is the re-run inside the fresh namespace.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Runs the test named `test` (a top-level `#[test]` fn of this test binary)
/// again in a fresh network namespace, and fails if it fails there. The test
/// must call [`inside`] first and run its body when it returns true.
pub fn rerun(test: &str) {
    assert!(!inside(), "rerun called inside the namespace");
    let exe = std::env::current_exe().expect("test binary path");
    let mut unshare = Command::new("unshare");
    if !is_root() {
        unshare.arg("--user").arg("--map-root-user");
    }
    // `ip` is in /usr/sbin, which a normal user's PATH may lack.
    let out = unshare
        .args(["--net", "--", "sh", "-c"])
        .arg("PATH=\"$PATH:/usr/sbin:/sbin\"; ip link set lo up || exit 97; exec \"$0\" \"$@\"")
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `unshare` ({e}): install util-linux (`sudo apt-get install util-linux`)"
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unshare failed"),
        "cannot make a network namespace: {stderr}\n\
         These tests see a machine without the lab's IPv6 from inside a fresh network \
         namespace: run them as root (CI does), or allow unprivileged user namespaces \
         (`sudo sysctl kernel.unprivileged_userns_clone=1`)."
    );
    assert_ne!(
        out.status.code(),
        Some(97),
        "`ip link set lo up` failed in the namespace (iproute2 installed?): {stderr}"
    );
    assert!(
        out.status.success(),
        "{test} failed inside a fresh network namespace:\n{stdout}\n{stderr}"
    );
    // The harness prints "1 passed" when the filter matched: a typo in `test`
    // must not pass by running nothing.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run inside the namespace:\n{stdout}"
    );
}
