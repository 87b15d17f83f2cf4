//! The agreement suite (issue 7): for every scenario of
//! `dcv_interop::scenarios::SCENARIOS`, the real `dcv-doctor check` and a real
//! ACME order at Pebble (validating through a Let's-Encrypt-like Unbound over a
//! Knot-served, DNSSEC-signed private root) must reach the same decision, and
//! dcv-doctor's blocking finding must map to Pebble's problem type. Documented
//! disagreements (Pebble is not Let's Encrypt: no CAA, no IPv4 fallback) must
//! show up exactly as documented.
//!
//! Needs root and the Debian packages listed in `docs/interop.md`; a missing
//! tool fails the test with the install command (never a silent skip).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dcv_interop::acme::{Method, Outcome, Pebble};
use dcv_interop::doctor::{Check, Prediction};
use dcv_interop::scenarios::{self, Expect, Publish, SCENARIOS, Scenario};
use dcv_interop::web::{Tokens, WebHosts};
use dcv_interop::world::{self, World};
use dcv_interop::{net, tools};

/// How many scenarios run at once (2 cores, shared).
const PARALLEL: usize = 6;

/// One row of the agreement table.
#[derive(Debug)]
struct Row {
    scenario: &'static Scenario,
    pebble: Outcome,
    doctor: Prediction,
    delv: String,
    problems: Vec<String>,
}

struct Paths {
    root_hints: PathBuf,
    trust_anchor: PathBuf,
    delv_anchors: PathBuf,
}

fn world_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dcv-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `delv` through the non-validating Unbound, with the world's anchor: its
/// one-line verdict (`fully validated`, `unsigned answer`, or why it failed).
fn delv(anchors: &Path, name: &str, qtype: &str) -> String {
    let Some(bin) = tools::find("delv") else {
        return "delv missing".to_owned();
    };
    let out = Command::new("timeout")
        .arg("8")
        .arg(bin)
        .arg(format!("@{}", net::PLAIN_RESOLVER))
        .arg("-a")
        .arg(anchors)
        .args(["+root=.", "+vtrace", name, qtype])
        .output();
    let Ok(out) = out else {
        return "delv failed to run".to_owned();
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let nx = if text.contains("$NXDOMAIN") {
        ", NXDOMAIN"
    } else {
        ""
    };
    if text.contains("; negative response, fully validated") {
        return format!("secure (negative{nx})");
    }
    if text.contains("; negative response, unsigned") {
        return format!("insecure (negative{nx})");
    }
    if text.contains("; fully validated") {
        return format!(
            "secure{}",
            if nx.is_empty() {
                ""
            } else {
                " (CNAME, then NXDOMAIN)"
            }
        );
    }
    if text.contains("; unsigned answer") {
        return "insecure".to_owned();
    }
    let reason = [
        "RRSIG has expired",
        "no DNSKEY matching DS",
        "no valid signature found (DS)",
        "parent indicates it should be secure",
    ]
    .into_iter()
    .find(|r| text.contains(r));
    let failed = text.lines().find_map(|l| {
        l.split_once("resolution failed: ")
            .map(|(_, r)| r.trim().to_owned())
    });
    match (failed, reason) {
        (Some(f), Some(r)) => format!("{f} ({r})"),
        (Some(f), None) => f,
        (None, Some(r)) => r.to_owned(),
        (None, None) => "no answer".to_owned(),
    }
}

/// The name and type whose DNSSEC status `delv` reports for a scenario.
fn delv_query(s: &Scenario) -> (String, &'static str) {
    match s.method {
        Method::Http => {
            let v6_only = dcv_interop::zones::HOSTS
                .iter()
                .any(|h| h.name == s.host && h.v4.is_none());
            (format!("{}.", s.host), if v6_only { "AAAA" } else { "A" })
        }
        Method::Dns => (
            format!("_acme-challenge.{}.", s.host.trim_start_matches("*.")),
            "TXT",
        ),
    }
}

async fn publish(
    s: &Scenario,
    tokens: &Tokens,
    pending: &dcv_interop::acme::Pending,
) -> anyhow::Result<()> {
    // A wildcard's DNS-01 record sits at the base name (RFC 8555 §8.4).
    let name = format!("_acme-challenge.{}.", s.host.trim_start_matches("*."));
    let value = match s.publish {
        Publish::Token => {
            tokens.publish(&pending.token, &pending.key_authorization);
            return Ok(());
        }
        Publish::Nothing => return Ok(()),
        Publish::Txt | Publish::OccludedTxt => pending.dns_value.clone(),
        Publish::WrongTxt => "not-the-key-authorization-digest".to_owned(),
        Publish::TxtAt(target) => {
            let value = pending.dns_value.clone();
            return tokio::task::spawn_blocking(move || {
                World::set_txt("good.lab.", target, Some(&value))
            })
            .await?;
        }
    };
    tokio::task::spawn_blocking(move || World::set_txt("good.lab.", &name, Some(&value))).await?
}

async fn run_scenario(
    s: &'static Scenario,
    pebble: Arc<Pebble>,
    tokens: Tokens,
    paths: Arc<Paths>,
) -> anyhow::Result<Row> {
    let pending = pebble.order(s.host, s.method).await?;
    publish(s, &tokens, &pending).await?;
    let (host, method) = (s.host, s.method);
    let p = Arc::clone(&paths);
    let pending2 = pending.clone();
    let doctor = tokio::task::spawn_blocking(move || {
        Check {
            host,
            method,
            root_hints: &p.root_hints,
            trust_anchor: &p.trust_anchor,
            http_token: (method == Method::Http)
                .then_some((pending2.token.as_str(), pending2.key_authorization.as_str())),
            txt_value: (method == Method::Dns).then_some(pending2.dns_value.as_str()),
        }
        .run()
    });
    let p = Arc::clone(&paths);
    let delv = tokio::task::spawn_blocking(move || {
        let (name, qtype) = delv_query(s);
        delv(&p.delv_anchors, &name, qtype)
    });
    let pebble_outcome = pebble.validate(&pending, Duration::from_secs(60)).await?;
    let doctor = doctor.await??;
    let delv = delv.await?;
    let problems = judge(s, &pebble_outcome, &doctor);
    Ok(Row {
        scenario: s,
        pebble: pebble_outcome,
        doctor,
        delv,
        problems,
    })
}

/// Everything wrong with one row; empty when dcv-doctor and Pebble agree (or
/// disagree exactly as documented).
fn judge(s: &Scenario, pebble: &Outcome, doctor: &Prediction) -> Vec<String> {
    let mut problems = Vec::new();
    // 1. The world is what the scenario says (else "agreement" means nothing).
    let pebble_ok = match (s.pebble, pebble) {
        (Expect::Valid, Outcome::Valid) => true,
        (Expect::Invalid(want), Outcome::Invalid { problem, .. }) => want == problem,
        _ => false,
    };
    if !pebble_ok {
        problems.push(format!(
            "Pebble decided {pebble:?}, the scenario expects {:?}: the world or Pebble is not what the catalogue says",
            s.pebble
        ));
    }
    // 2. Exit status matches the verdict (one CA, one method).
    let want_exit = i32::from(!doctor.would_validate);
    if doctor.exit != want_exit {
        problems.push(format!(
            "dcv-doctor exit {} but would_validate={}",
            doctor.exit, doctor.would_validate
        ));
    }
    // 3. Same decision, unless the disagreement is documented.
    let agree = doctor.would_validate == pebble.is_valid();
    match (s.disagreement, agree) {
        (None, false) => problems.push(format!(
            "DISAGREEMENT: Pebble {} but dcv-doctor predicts {} (blocked_by {:?})",
            if pebble.is_valid() { "validates" } else { "refuses" },
            if doctor.would_validate { "valid" } else { "invalid" },
            doctor.blocked_by
        )),
        (Some(_), true) => problems.push(
            "documented disagreement did not happen: dcv-doctor and Pebble agree now; update the catalogue"
                .to_owned(),
        ),
        _ => {}
    }
    // 4. The blocking finding names the cause and maps to Pebble's problem type.
    if s.codes.is_empty() {
        if !doctor.would_validate && s.disagreement.is_none() {
            problems.push(format!("dcv-doctor blocks with {:?}", doctor.blocked_by));
        }
    } else {
        match doctor.primary() {
            Some(code) if s.codes.contains(&code) => {
                if let (Outcome::Invalid { problem, .. }, None) = (pebble, s.disagreement) {
                    let mapped = scenarios::pebble_problem(code, s.method);
                    if mapped != problem {
                        problems.push(format!(
                            "finding {code} maps to Pebble problem `{mapped}`, Pebble said `{problem}`"
                        ));
                    }
                }
            }
            other => problems.push(format!(
                "dcv-doctor's blocking finding is {other:?} (all: {:?}); expected one of {:?}{}",
                doctor.blocked_by,
                s.codes,
                if s.rule.is_empty() {
                    String::new()
                } else {
                    format!("\n    rule: {}", s.rule)
                }
            )),
        }
    }
    problems
}

/// CAA: Pebble does not check it, so dcv-doctor's CAA view is compared with
/// the validating Unbound's answer instead.
fn caa_cross_check(rows: &mut [Row]) {
    for row in rows
        .iter_mut()
        .filter(|r| r.scenario.codes.contains(&"caa_forbids"))
    {
        let name = format!("{}.", row.scenario.host);
        let unbound = world::kdig(IpAddr::V4(net::RESOLVER), &[&name, "CAA"]).unwrap_or_default();
        if !(unbound.contains("status: NOERROR")
            && unbound.contains(" ad")
            && unbound.contains("issue \"ca.invalid\""))
        {
            row.problems.push(format!(
                "Unbound's CAA answer for {name} is not the validated `0 issue \"ca.invalid\"`: {unbound}"
            ));
        }
        let report = row.doctor.report.to_string();
        if !report.contains("ca.invalid") {
            row.problems.push(
                "dcv-doctor's CAA evidence does not show the `ca.invalid` record Unbound returns"
                    .to_owned(),
            );
        }
    }
}

fn pebble_cell(o: &Outcome) -> String {
    match o {
        Outcome::Valid => "valid".to_owned(),
        Outcome::Invalid { problem, .. } => format!("invalid: {problem}"),
    }
}

fn doctor_cell(p: &Prediction) -> String {
    if p.would_validate {
        let warnings: Vec<&str> = p
            .findings
            .iter()
            .filter(|(_, sev)| sev == "warning")
            .map(|(c, _)| c.as_str())
            .collect();
        if warnings.is_empty() {
            "valid".to_owned()
        } else {
            format!("valid (warn {})", warnings.join(", "))
        }
    } else {
        format!("invalid: {}", p.blocked_by.join(", "))
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | method | Pebble | dcv-doctor (Let's Encrypt) | LE problem type | delv | agreement |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let s = r.scenario;
        let le = r
            .doctor
            .primary()
            .map_or("-", |c| scenarios::letsencrypt_problem(c, s.method));
        let verdict = if !r.problems.is_empty() {
            "**FAIL**"
        } else if s.disagreement.is_some() {
            "differs (documented)"
        } else {
            "agree"
        };
        let _ = writeln!(
            out,
            "| {} (`{}`) | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.host,
            s.method.flag(),
            pebble_cell(&r.pebble),
            doctor_cell(&r.doctor),
            le,
            r.delv,
            verdict
        );
    }
    out
}

#[test]
fn dcv_doctor_agrees_with_pebble_unbound_knot() {
    if let Err(e) = tools::check_all() {
        panic!("{e:#}");
    }
    assert!(
        tools::is_root(),
        "the interop suite binds port 53/80/443 on 127.15.x.y: run it as root (CI does)"
    );
    let started = Instant::now();
    let bin = dcv_interop::doctor::binary().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "dcv-doctor: {} (ready after {:?})",
        bin.display(),
        started.elapsed()
    );
    let dir = world_dir();
    let world = World::start(&dir, false).unwrap_or_else(|e| panic!("starting the world: {e:#}"));
    eprintln!("world up in {:?} ({})", started.elapsed(), dir.display());
    let paths = Arc::new(Paths {
        root_hints: world.root_hints.clone(),
        trust_anchor: world.trust_anchor.clone(),
        delv_anchors: world.delv_anchors.clone(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let results: anyhow::Result<Vec<anyhow::Result<Row>>> = rt.block_on(async {
        let web = WebHosts::start().await?;
        world::record_sockets(&dir, &web.sockets)?;
        let pebble = Arc::new(Pebble::connect(&World::directory_url(), &world.pebble_ca).await?);
        let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut tasks = Vec::new();
        for s in SCENARIOS {
            let (pebble, tokens, paths, limit) = (
                Arc::clone(&pebble),
                web.tokens.clone(),
                Arc::clone(&paths),
                Arc::clone(&limit),
            );
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await?;
                run_scenario(s, pebble, tokens, paths).await
            }));
        }
        let mut rows = Vec::new();
        for (t, s) in tasks.into_iter().zip(SCENARIOS) {
            rows.push(
                t.await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r)
                    .map_err(|e| e.context(format!("scenario {:?}", s.name))),
            );
        }
        drop(web);
        Ok(rows)
    });
    let mut errors: Vec<String> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    match results {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(row) => rows.push(row),
                    Err(e) => errors.push(format!("{e:#}")),
                }
            }
        }
        Err(e) => errors.push(format!("suite: {e:#}")),
    }
    caa_cross_check(&mut rows);
    // Stop the runtime (closes every web socket), then the daemons; the
    // teardown check proves pids gone and sockets free.
    drop(rt);
    let teardown = world.stop();
    let table = table(&rows);
    println!("\n{table}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-agreement.md");
    let _ = std::fs::write(&out, &table);
    eprintln!(
        "agreement table written to {} ({:?} in all)",
        out.display(),
        started.elapsed()
    );
    for r in &rows {
        for p in &r.problems {
            errors.push(format!(
                "{} ({} {}): {p}\n    Pebble: {:?}\n    dcv-doctor: exit {}, blocked_by {:?}, findings {:?}, message {:?}",
                r.scenario.name,
                r.scenario.host,
                r.scenario.method.flag(),
                r.pebble,
                r.doctor.exit,
                r.doctor.blocked_by,
                r.doctor.findings,
                r.doctor.ca_message
            ));
        }
    }
    if let Err(e) = teardown {
        errors.push(format!("teardown: {e:#}"));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        errors.is_empty(),
        "{} problem(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
}
