//! The help text is a contract: a snapshot of `--help` for the program and
//! every subcommand (hidden ones too), so a flag added, removed or reworded
//! shows up in review as a changed `.snap` file. `--version` names the commit.
//!
//! A new subcommand gets a new snapshot: `cargo insta test -p dcv-doctor --test
//! help` then `cargo insta review` (or `INSTA_UPDATE=always`) writes it.

use assert_cmd::Command;
use clap::CommandFactory as _;
use dcv_doctor::cli::Cli;

/// Help wraps at the terminal's width; outside a terminal clap reads
/// `COLUMNS`. Fixed, so the snapshots do not depend on who runs the tests.
const HELP_WIDTH: &str = "100";

fn help_of(args: &[&str]) -> String {
    let out = Command::cargo_bin("dcv-doctor")
        .expect("binary builds")
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .env("COLUMNS", HELP_WIDTH)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(out.stderr.is_empty(), "{args:?} --help wrote to stderr");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

#[test]
fn program_help_is_the_snapshot() {
    insta::assert_snapshot!("dcv_doctor", help_of(&[]));
}

#[test]
fn every_subcommand_help_is_its_snapshot() {
    let cli = Cli::command();
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|n| n != "help")
        .collect();
    assert!(names.len() >= 7, "expected every subcommand, got {names:?}");
    for name in names {
        let text = help_of(&[&name]);
        assert!(
            text.contains(&format!("dcv-doctor {name}")),
            "{name} --help has no usage line:\n{text}"
        );
        insta::assert_snapshot!(name.replace('-', "_"), text);
    }
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let out = Command::cargo_bin("dcv-doctor")
        .expect("binary builds")
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    // build.rs asks git; outside a checkout (a source tarball) it says "unknown".
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    assert_eq!(
        line,
        format!("dcv-doctor {} (commit {head})\n", env!("CARGO_PKG_VERSION"))
    );
}
