//! `dcv-doctor demo`'s closing table and exit status, on a machine with the
//! lab's IPv6 and on one without it (a fresh network namespace, see
//! `fresh_netns`): every case is a row; a case that needs IPv6 and cannot run
//! says `not run`, never `yes`; the closing line counts what ran; the exit
//! status is 0 because every case that ran found what it expected.

mod fresh_netns;

use std::process::Command;

use dcv_doctor::demo::cases;

fn demo_table(lab_ipv6: bool) {
    assert_eq!(
        dcv_lab::ipv6_available(),
        lab_ipv6,
        "lab IPv6 (fd5c:dc5::/48 local on lo): run `sudo scripts/lab-net-setup` for the set-up with it"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .arg("demo")
        .env("NO_COLOR", "1")
        .output()
        .expect("dcv-doctor runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .rposition(|l| l.starts_with("scenario ") && l.ends_with(" ok"))
        .unwrap_or_else(|| panic!("no table header:\n{stdout}"));
    let cases = cases();
    let rows = &lines[header + 1..header + 1 + cases.len()];
    for (row, case) in rows.iter().zip(&cases) {
        assert!(
            row.starts_with(case.title),
            "row {row:?} is not {:?}",
            case.title
        );
        if lab_ipv6 || !case.needs_ipv6 {
            assert!(row.ends_with(" yes"), "{row}");
        } else {
            assert!(row.ends_with(" not run"), "{row}");
            assert!(row.contains("(needs the lab's IPv6)"), "{row}");
        }
    }
    let ran = cases.iter().filter(|c| lab_ipv6 || !c.needs_ipv6).count();
    let not_run = cases.len() - ran;
    let closing = if not_run == 0 {
        format!("{ran} of {} cases ran, all {ran} as expected", cases.len())
    } else {
        format!(
            "{ran} of {} cases ran, all {ran} as expected; {not_run} not run (needs the lab's IPv6: run `sudo scripts/lab-net-setup`)",
            cases.len()
        )
    };
    assert_eq!(lines.get(header + 1 + cases.len()), Some(&closing.as_str()));
    assert_eq!(
        lines.len(),
        header + 2 + cases.len(),
        "nothing after the closing line"
    );

    // The IPv6 note is for people: stderr, and only when IPv6 is missing.
    assert!(!stdout.contains("note:"), "{stdout}");
    assert_eq!(
        stderr.contains("the lab's IPv6 addresses are not set up"),
        !lab_ipv6,
        "{stderr}"
    );
    if !lab_ipv6 {
        assert!(
            ran < cases.len(),
            "no case needs IPv6: this set-up tests nothing"
        );
    }
}

#[test]
fn demo_table_with_lab_ipv6() {
    demo_table(true);
}

#[test]
fn demo_table_without_lab_ipv6() {
    if fresh_netns::inside() {
        demo_table(false);
    } else {
        fresh_netns::rerun("demo_table_without_lab_ipv6");
    }
}
