//! Workers on many machines, end to end with the real binary: `batch
//! --enqueue` puts 60 lab hostnames (and two bad lines) in a real
//! `PostgreSQL`, three `dcv-doctor worker` processes run them against the
//! lab's slow name servers, one is killed with SIGKILL while it holds
//! checks, and `export` gives every input line exactly once, the killed
//! worker's checks re-run by the others after their leases expired
//! (`--lease-secs 2`, a hidden flag, instead of 30 s).

#[allow(dead_code)]
#[path = "../../dcv-web/tests/common/pg.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;
use dcv_lab::catalogue::{NS1, NS2, WEB, ZONE};
use serde_json::Value;
use sqlx::Row as _;

/// Hostnames that pass and that fail (CAA allows only Google), each.
const PASSING: usize = 40;
const FAILING: usize = 20;
/// Every query to example.lab.'s servers waits this long, so a check takes
/// seconds and a kill lands while the worker holds checks.
const NS_DELAY_MS: u64 = 300;
/// Bound on the whole job once the workers are started.
const JOB_LIMIT: Duration = Duration::from_secs(90);

fn scenario() -> dcv_lab::Scenario {
    healthy()
        .with_zone(ZONE, |z| {
            for i in 0..PASSING {
                z.records.push(format!("p{i} A {{http4:{WEB}}}"));
            }
            for i in 0..FAILING {
                z.records.push(format!("f{i} A {{http4:{WEB}}}"));
                z.records.push(format!("f{i} CAA 0 issue \"pki.goog\""));
            }
        })
        .with_server(NS1, |s| s.behaviour.delay_ms = NS_DELAY_MS)
        .with_server(NS2, |s| s.behaviour.delay_ms = NS_DELAY_MS)
}

fn doctor() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"));
    c.env("NO_COLOR", "1").env_remove("DCV_DOCTOR_DATABASE_URL");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn start_worker(id: &str, url: &str, lab: &[std::ffi::OsString], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    doctor()
        .arg("worker")
        .args(["--database-url", url, "--worker-id", id])
        .args(["--concurrency", "4", "--check-timeout", "30"])
        .args(["--lease-secs", "2", "--exit-when-empty", "--allow-private"])
        .args(lab)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Ids of the checks `owner` holds (running under its lease).
async fn held_by(pool: &sqlx::PgPool, owner: &str) -> Vec<String> {
    sqlx::query("SELECT id FROM checks WHERE status = 'running' AND lease_owner = $1")
        .bind(owner)
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("id"))
        .collect()
}

fn wait_exit(child: &mut Child, name: &str, deadline: Instant, log: &Path) {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "{name} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{name} did not finish the job in time: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_workers_one_killed_every_line_exactly_once() {
    let cluster = pg::PgCluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(cluster.database("workers"));
    let lab = rt.block_on(Lab::start(scenario())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let lab_args = lab_flags(&lab, &files);

    // The input: passing and failing names interleaved, two bad lines.
    let mut expected: BTreeMap<u64, String> = BTreeMap::new();
    let mut input = String::from("# customer hostnames\n");
    let (mut p, mut f) = (0, 0);
    let mut line = 1;
    while p < PASSING || f < FAILING {
        line += 1;
        let name = if f < FAILING && line % 3 == 0 {
            f += 1;
            format!("f{}.example.lab", f - 1)
        } else if p < PASSING {
            p += 1;
            format!("p{}.example.lab", p - 1)
        } else {
            f += 1;
            format!("f{}.example.lab", f - 1)
        };
        input.push_str(&name);
        input.push('\n');
        expected.insert(line, name);
        if line == 10 || line == 40 {
            line += 1;
            input.push_str("not a hostname!\n");
            expected.insert(line, "not a hostname!".to_owned());
        }
    }
    let list = dir.path().join("hosts.txt");
    std::fs::write(&list, &input).unwrap();

    let out = run(doctor()
        .arg("batch")
        .arg(&list)
        .args(["--enqueue", "--database-url", &url])
        .args(["--ca", "letsencrypt", "--method", "http"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = text(&out.stdout).trim().to_owned();
    assert_eq!(job.len(), 32, "the job id: {job:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("62 lines, 60 checks queued, 2 lines not checks"),
        "{stderr}"
    );

    // Unfinished: a clear error (exit 2), not a partial export.
    let early = run(doctor()
        .arg("export")
        .args(["--database-url", &url, "--job", &job]));
    assert_eq!(early.status.code(), Some(2), "{}", text(&early.stderr));
    assert!(
        text(&early.stderr).contains("is not finished: 0 of 60 checks done, 60 queued"),
        "{}",
        text(&early.stderr)
    );
    assert!(early.stdout.is_empty());

    let pool = rt
        .block_on(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&url),
        )
        .unwrap();
    let logs: Vec<_> = (1..=3)
        .map(|i| dir.path().join(format!("w{i}.log")))
        .collect();
    let started = Instant::now();
    let mut victim = start_worker("w1", &url, &lab_args, &logs[0]);
    // w1 alone until it holds checks, so it surely claims some.
    let killed_held = loop {
        let held = rt.block_on(held_by(&pool, "w1"));
        if held.len() >= 2 {
            break held;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "w1 never claimed checks: {}",
            std::fs::read_to_string(&logs[0]).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut w2 = start_worker("w2", &url, &lab_args, &logs[1]);
    let mut w3 = start_worker("w3", &url, &lab_args, &logs[2]);
    std::thread::sleep(Duration::from_millis(500));
    victim.kill().unwrap(); // SIGKILL: no chance to release anything
    victim.wait().unwrap();
    // What it held when it died (it may have finished and claimed more
    // since the first look).
    let killed = rt.block_on(held_by(&pool, "w1"));
    assert!(
        !killed.is_empty(),
        "w1 held nothing when killed (it held {killed_held:?} just before): make the checks slower"
    );

    let deadline = Instant::now() + JOB_LIMIT;
    wait_exit(&mut w2, "w2", deadline, &logs[1]);
    wait_exit(&mut w3, "w3", deadline, &logs[2]);

    // The store: every check done once, the killed worker's claims re-run
    // by the others with one more attempt.
    let rows = rt
        .block_on(
            sqlx::query("SELECT id, status, attempts, lease_owner FROM checks WHERE job_id = $1")
                .bind(&job)
                .fetch_all(&pool),
        )
        .unwrap();
    assert_eq!(rows.len(), PASSING + FAILING);
    for row in &rows {
        let id: String = row.get("id");
        let status: String = row.get("status");
        let attempts: i64 = row.get("attempts");
        let owner: Option<String> = row.get("lease_owner");
        assert_eq!(status, "done", "{id}");
        if killed.contains(&id) {
            assert!(
                attempts >= 2,
                "{id} was held by w1 but ran {attempts} time(s)"
            );
            assert_ne!(owner.as_deref(), Some("w1"), "{id}: its result is w1's");
        } else {
            assert!(attempts >= 1, "{id}");
        }
    }
    for log in &logs[1..] {
        let log = std::fs::read_to_string(log).unwrap();
        assert!(
            log.contains("check_id="),
            "worker logs name the check: {log}"
        );
    }

    // The export: one record per input line, in order, each exactly once.
    let out = run(doctor()
        .arg("export")
        .args(["--database-url", &url, "--job", &job]));
    let records: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let lines: Vec<u64> = records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, expected.keys().copied().collect::<Vec<_>>());
    let distinct: BTreeSet<&str> = records
        .iter()
        .map(|r| r["input"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), PASSING + FAILING + 1, "duplicates?");
    for record in &records {
        let line = record["line"].as_u64().unwrap();
        let name = &expected[&line];
        assert_eq!(record["input"], name.as_str(), "{record}");
        if name.starts_with("not") {
            assert_eq!(record["error_kind"], "hostname", "{record}");
            continue;
        }
        let verdict = record["report"]["verdict"].as_str().unwrap_or("-");
        let want = if name.starts_with('p') {
            "pass"
        } else {
            "fail"
        };
        assert_eq!(
            verdict,
            want,
            "{name}: {}",
            serde_json::to_string(&record["report"]["findings"]).unwrap()
        );
        assert_eq!(record["report"]["hostname"], name.as_str());
    }
    // Failing names and bad lines: exit 1, as batch.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let summary = text(&out.stderr);
    assert!(
        summary.contains(&format!(
            "{PASSING} pass, 0 warn, {FAILING} fail, 2 bad lines"
        )),
        "{summary}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the job took {:?}",
        started.elapsed()
    );
    eprintln!(
        "job {job}: w1 killed holding {} checks, re-run by w2/w3; {} records exported in {:?}",
        killed.len(),
        records.len(),
        started.elapsed()
    );
    rt.block_on(pool.close());
}

/// One machine, `SQLite`: a worker without --allow-private refuses the lab's
/// loopback targets (the export says so per line), and SIGTERM lets a
/// worker finish the check it holds before it exits, leaving nothing held.
#[test]
fn refusal_without_allow_private_and_graceful_stop() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(scenario())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let lab_args = lab_flags(&lab, &files);
    let url = format!("sqlite:{}", dir.path().join("queue.sqlite3").display());
    let list = dir.path().join("hosts.txt");
    let enqueue = |hosts: &str| {
        std::fs::write(&list, hosts).unwrap();
        let out = run(doctor()
            .arg("batch")
            .arg(&list)
            .args(["--enqueue", "--database-url", &url])
            .args(["--ca", "letsencrypt", "--method", "http"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };

    // Public targets only: refused, with the reason, exit 1.
    let job = enqueue("p0.example.lab\nf0.example.lab\n");
    let out = run(doctor()
        .arg("worker")
        .args(["--database-url", &url, "--exit-when-empty"])
        .args(&lab_args));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(doctor()
        .arg("export")
        .args(["--database-url", &url, "--job", &job]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let records: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["error_kind"], "refused", "{r}");
        assert!(
            r["error"].as_str().unwrap().contains("--allow-private"),
            "{r}"
        );
    }

    // SIGTERM while a check runs: it finishes and is stored; the worker
    // exits 0 and holds nothing.
    // Six checks for a worker that runs four at once: some stay queued.
    let job = enqueue(
        "p1.example.lab\np2.example.lab\np3.example.lab\np4.example.lab\np5.example.lab\np6.example.lab\n",
    );
    let log = dir.path().join("term.log");
    let mut worker = start_worker("term", &url, &lab_args, &log);
    let pool = rt
        .block_on(sqlx::sqlite::SqlitePoolOptions::new().connect(&url))
        .unwrap();
    let held_sql = "SELECT id FROM checks WHERE status = 'running' AND lease_owner = 'term'";
    let started = Instant::now();
    let held: Vec<String> = loop {
        let rows = rt.block_on(sqlx::query(held_sql).fetch_all(&pool)).unwrap();
        if !rows.is_empty() {
            break rows.iter().map(|r| r.get::<String, _>("id")).collect();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never claimed");
        std::thread::sleep(Duration::from_millis(20));
    };
    let ok = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_exit(&mut worker, "term", Instant::now() + JOB_LIMIT, &log);
    for id in &held {
        let status: String = rt
            .block_on(
                sqlx::query("SELECT status FROM checks WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool),
            )
            .unwrap()
            .get("status");
        assert_eq!(status, "done", "{id} was running at SIGTERM");
    }
    let still_held = rt.block_on(sqlx::query(held_sql).fetch_all(&pool)).unwrap();
    assert!(still_held.is_empty());
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("stopping"),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    // The rest of the job is still queued for the next worker.
    let early = run(doctor()
        .arg("export")
        .args(["--database-url", &url, "--job", &job]));
    assert_eq!(early.status.code(), Some(2), "{}", text(&early.stderr));
    rt.block_on(pool.close());
}
