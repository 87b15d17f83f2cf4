//! Records the git commit the binary is built from, for `dcv-doctor --version`
//! (`DCV_DOCTOR_GIT_COMMIT`: short hash, or "unknown" outside a git checkout,
//! e.g. from a source tarball or the crate registry).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    // Rebuild when HEAD moves: HEAD itself (checkout), the ref it points at
    // (commit), and packed-refs (gc). `--git-path` resolves worktrees.
    if commit.is_some() {
        let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(head_ref);
        }
        for path in watched {
            if let Some(p) = git(&["rev-parse", "--git-path", &path]) {
                let p = PathBuf::from(p);
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
    }
    println!(
        "cargo:rustc-env=DCV_DOCTOR_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rerun-if-changed=build.rs");
}
