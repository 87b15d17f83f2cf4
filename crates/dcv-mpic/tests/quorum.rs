//! Table-driven tests of BR 3.2.2.9, one row per clause.

use dcv_mpic::{
    CaProfile, Check, Corroboration, QuorumOutcome, RemoteResult, Rir, evaluate,
    max_allowed_failures, parse_date, requirements,
};

#[test]
fn quorum_table_br_3_2_2_9() {
    // (remotes, allowed non-corroborations)
    let table = [
        (0, 0),
        (1, 0),
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 1),
        (6, 2),
        (7, 2),
        (20, 2),
    ];
    for (remotes, allowed) in table {
        assert_eq!(max_allowed_failures(remotes), allowed, "{remotes} remotes");
    }
}

#[test]
fn phase_in_by_date_br_3_2_2_9() {
    // (date, min remotes, enforced, min RIRs, phase start)
    let table = [
        ("2025-03-14", 0, false, 0, None),
        ("2025-03-15", 2, false, 0, Some("2025-03-15")),
        ("2025-09-14", 2, false, 0, Some("2025-03-15")),
        ("2025-09-15", 2, true, 0, Some("2025-09-15")),
        ("2026-03-14", 2, true, 0, Some("2025-09-15")),
        ("2026-03-15", 3, true, 2, Some("2026-03-15")),
        ("2026-06-15", 4, true, 2, Some("2026-06-15")),
        ("2026-11-28", 4, true, 2, Some("2026-06-15")),
        ("2026-12-15", 5, true, 2, Some("2026-12-15")),
        ("2030-01-01", 5, true, 2, Some("2026-12-15")),
    ];
    for (d, min, enforced, rirs, since) in table {
        let req = requirements(parse_date(d).unwrap());
        assert_eq!(req.as_of, d);
        assert_eq!(req.min_remotes, min, "{d}");
        assert_eq!(req.quorum_enforced, enforced, "{d}");
        assert_eq!(req.min_rirs, rirs, "{d}");
        assert_eq!(req.phase_since.as_deref(), since, "{d}");
    }
}

#[test]
fn dates_and_rirs_parse_strictly() {
    assert!(parse_date("2026-13-01").is_err());
    assert!(parse_date("yesterday").is_err());
    assert_eq!("ripe".parse::<Rir>().unwrap(), Rir::Ripe);
    assert_eq!(" AFRINIC ".parse::<Rir>().unwrap(), Rir::Afrinic);
    let err = "EU".parse::<Rir>().unwrap_err().to_string();
    assert!(
        err.contains("ARIN, RIPE, APNIC, LACNIC or AFRINIC"),
        "{err}"
    );
}

fn ok(name: &str, rir: Rir) -> RemoteResult {
    RemoteResult {
        name: name.into(),
        rir: Some(rir),
        corroboration: Corroboration::Corroborates,
    }
}

fn bad(name: &str, rir: Rir) -> RemoteResult {
    RemoteResult {
        name: name.into(),
        rir: Some(rir),
        corroboration: Corroboration::Differs {
            detail: format!("{name} saw no CAA permission"),
        },
    }
}

fn down(name: &str, rir: Rir) -> RemoteResult {
    RemoteResult {
        name: name.into(),
        rir: Some(rir),
        corroboration: Corroboration::Unavailable {
            detail: "connection refused".into(),
        },
    }
}

use Rir::{Apnic, Arin, Ripe};

#[test]
fn quorum_outcomes_by_clause() {
    type Case = (
        &'static str,
        &'static str,
        CaProfile,
        bool,
        Vec<RemoteResult>,
        QuorumOutcome,
        &'static str,
    );
    let today = "2026-11-28";
    let cases: Vec<Case> = vec![
        (
            "4 remotes, 1 fails: 1 allowed",
            today,
            CaProfile::Br,
            true,
            vec![ok("a", Arin), ok("b", Ripe), ok("c", Apnic), bad("d", Arin)],
            QuorumOutcome::Met,
            "3/4",
        ),
        (
            "4 remotes, 2 fail: quorum not met",
            today,
            CaProfile::Br,
            true,
            vec![
                ok("a", Arin),
                ok("b", Ripe),
                bad("c", Apnic),
                bad("d", Arin),
            ],
            QuorumOutcome::NotMet,
            "2/4",
        ),
        (
            "6 remotes, 2 fail: 2 allowed",
            today,
            CaProfile::Br,
            true,
            vec![
                ok("a", Arin),
                ok("b", Ripe),
                ok("c", Apnic),
                ok("d", Arin),
                bad("e", Ripe),
                bad("f", Apnic),
            ],
            QuorumOutcome::Met,
            "4/6",
        ),
        (
            "6 remotes, 3 fail",
            today,
            CaProfile::Br,
            true,
            vec![
                ok("a", Arin),
                ok("b", Ripe),
                ok("c", Apnic),
                bad("d", Arin),
                bad("e", Ripe),
                bad("f", Apnic),
            ],
            QuorumOutcome::NotMet,
            "3/6",
        ),
        (
            "2-RIR rule: corroborations from one RIR only",
            today,
            CaProfile::Br,
            true,
            vec![ok("a", Arin), ok("b", Arin), ok("c", Arin), bad("d", Ripe)],
            QuorumOutcome::NotMet,
            "3/4",
        ),
        (
            "2-RIR rule not yet in force 2025-10-01",
            "2025-10-01",
            CaProfile::Br,
            true,
            vec![ok("a", Arin), bad("b", Ripe)],
            QuorumOutcome::Met,
            "1/2",
        ),
        (
            "configured perspectives in one RIR: cannot tell",
            today,
            CaProfile::Br,
            true,
            vec![ok("a", Arin), ok("b", Arin), ok("c", Arin), ok("d", Arin)],
            QuorumOutcome::Inconclusive,
            "4/4",
        ),
        (
            "too few remotes for 2026-06-15 (needs 4)",
            today,
            CaProfile::Br,
            true,
            vec![ok("a", Arin), ok("b", Ripe), ok("c", Apnic)],
            QuorumOutcome::Inconclusive,
            "3/3",
        ),
        (
            "3 remotes enough on 2026-04-01",
            "2026-04-01",
            CaProfile::Br,
            true,
            vec![ok("a", Arin), ok("b", Ripe), ok("c", Apnic)],
            QuorumOutcome::Met,
            "3/3",
        ),
        (
            "not enforced before 2025-09-15",
            "2025-06-01",
            CaProfile::Br,
            true,
            vec![bad("a", Arin), bad("b", Ripe)],
            QuorumOutcome::NotMetNotEnforced,
            "0/2",
        ),
        (
            "an unavailable perspective is not a disagreement",
            today,
            CaProfile::Br,
            true,
            vec![
                ok("a", Arin),
                ok("b", Ripe),
                ok("c", Apnic),
                down("d", Arin),
            ],
            QuorumOutcome::Met,
            "3/4",
        ),
        (
            "two unavailable: inconclusive, not failed",
            today,
            CaProfile::Br,
            true,
            vec![
                ok("a", Arin),
                ok("b", Ripe),
                down("c", Apnic),
                down("d", Arin),
            ],
            QuorumOutcome::Inconclusive,
            "2/4",
        ),
        (
            "primary fails: LE never asks remotes",
            today,
            CaProfile::LetsEncrypt,
            false,
            vec![ok("a", Arin), ok("b", Ripe), ok("c", Apnic), ok("d", Arin)],
            QuorumOutcome::NotAttempted,
            "4/4",
        ),
        (
            "LE before the BR phase-in: still 3 remotes and 2 RIRs",
            "2024-06-01",
            CaProfile::LetsEncrypt,
            true,
            vec![ok("a", Arin), ok("b", Arin), ok("c", Arin)],
            QuorumOutcome::Inconclusive,
            "3/3",
        ),
        (
            "LE enforces even in the advisory phase",
            "2025-06-01",
            CaProfile::LetsEncrypt,
            true,
            vec![ok("a", Arin), bad("b", Ripe), bad("c", Apnic)],
            QuorumOutcome::NotMet,
            "1/3",
        ),
    ];
    for (title, as_of, profile, primary, remotes, want, ratio) in cases {
        let req = requirements(parse_date(as_of).unwrap());
        let s = evaluate(
            "letsencrypt",
            "http",
            Check::Caa,
            profile,
            &req,
            primary,
            &remotes,
        );
        assert_eq!(s.outcome, want, "{title}: {}", s.reason);
        assert_eq!(s.quorum_result, ratio, "{title}");
    }
}

#[test]
fn summary_is_sorted_and_names_the_first_error_with_le_prefix() {
    let req = requirements(parse_date("2026-11-28").unwrap());
    let remotes = vec![
        bad("zeta", Apnic),
        ok("beta", Ripe),
        bad("alpha", Arin),
        ok("gamma", Arin),
    ];
    let s = evaluate(
        "letsencrypt",
        "dns",
        Check::Dcv,
        CaProfile::LetsEncrypt,
        &req,
        true,
        &remotes,
    );
    assert_eq!(s.outcome, QuorumOutcome::NotMet);
    assert_eq!(s.passed_perspectives, ["beta", "gamma"]);
    assert_eq!(s.failed_perspectives, ["alpha", "zeta"]);
    assert_eq!(s.passed_rirs, [Arin, Ripe]);
    assert_eq!(
        s.first_error.as_deref(),
        Some("During secondary validation: alpha saw no CAA permission")
    );
    let br = evaluate(
        "google",
        "dns",
        Check::Dcv,
        CaProfile::Br,
        &req,
        true,
        &remotes,
    );
    assert_eq!(
        br.first_error.as_deref(),
        Some("alpha saw no CAA permission")
    );
    // Same input in another order: same JSON.
    let mut rev = remotes.clone();
    rev.reverse();
    let again = evaluate(
        "letsencrypt",
        "dns",
        Check::Dcv,
        CaProfile::LetsEncrypt,
        &req,
        true,
        &rev,
    );
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["passed_rirs"], serde_json::json!(["ARIN", "RIPE"]));
    assert_eq!(json["outcome"], "not_met");
}
