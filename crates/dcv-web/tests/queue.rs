//! The store as a shared queue, on `SQLite` and `PostgreSQL`: claims are
//! exclusive (concurrent claimers on `PostgreSQL` skip each other's rows), a
//! worker that lost its lease cannot write a result, heartbeats keep a
//! lease, expired leases go back to the queue, and attempts are bounded.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Backend, PgCluster};
use dcv_web::queue::{EXPORT_PAGE, JobCheck, JobLineError, Lease};
use dcv_web::store::{CheckRecord, CheckStatus, Outcome, Store};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn queued(id: &str) -> CheckRecord {
    CheckRecord {
        id: id.to_owned(),
        hostname: "www.example.lab".to_owned(),
        request: r#"{"hostname":"www.example.lab"}"#.to_owned(),
        status: CheckStatus::Queued,
        attempts: 0,
        created_ms: 1,
        started_ms: None,
        finished_ms: None,
        verdict: None,
        report: None,
        views: None,
        events: None,
        error: None,
    }
}

fn done(verdict: &str) -> Outcome {
    Outcome {
        status: CheckStatus::Done,
        finished_ms: 2,
        verdict: Some(verdict.to_owned()),
        report: Some("{}".to_owned()),
        views: None,
        events: None,
        error: None,
    }
}

/// A lease that has already run out.
const EXPIRED: Duration = Duration::ZERO;

async fn expire() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// A paused worker's result is refused once another worker holds the
/// check; the holder's is stored, once.
async fn lost_lease_cannot_write(store: &Store) {
    store.insert(&queued("c1")).await.unwrap();
    let (rec, lease_a) = store.claim_next("A", EXPIRED, 0).await.unwrap().unwrap();
    assert_eq!(rec.id, "c1");
    assert_eq!(
        lease_a,
        Lease {
            owner: "A".into(),
            attempt: 1
        }
    );
    assert!(
        store.claim_next("B", EXPIRED, 0).await.unwrap().is_none(),
        "a running check is not claimable while its lease lasts"
    );
    expire().await;
    assert_eq!(store.reap_expired(3, 0).await.unwrap(), (0, 1));
    let (_, lease_b) = store
        .claim_next("B", Duration::from_secs(60), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease_b.attempt, 2);
    assert!(
        !store
            .finish_leased("c1", &lease_a, &done("fail"))
            .await
            .unwrap(),
        "A lost its lease: its result must be refused"
    );
    assert!(
        store
            .finish_leased("c1", &lease_b, &done("pass"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_leased("c1", &lease_b, &done("fail"))
            .await
            .unwrap(),
        "a finished check takes no second result"
    );
    let rec = store.get("c1").await.unwrap().unwrap();
    assert_eq!(rec.status, CheckStatus::Done);
    assert_eq!(rec.verdict.as_deref(), Some("pass"));
    assert_eq!(rec.attempts, 2);

    // The same owner re-claiming its own expired check: the attempt is the
    // fencing token, so the stale attempt still cannot write.
    store.insert(&queued("c2")).await.unwrap();
    let (_, stale) = store.claim_next("A", EXPIRED, 0).await.unwrap().unwrap();
    expire().await;
    store.reap_expired(3, 0).await.unwrap();
    let (_, fresh) = store
        .claim_next("A", Duration::from_secs(60), 0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .finish_leased("c2", &stale, &done("fail"))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_leased("c2", &fresh, &done("pass"))
            .await
            .unwrap()
    );
}

/// A heartbeat keeps a short lease alive past its first expiry.
async fn heartbeat_keeps_the_lease(store: &Store) {
    store.insert(&queued("h1")).await.unwrap();
    let (_, lease) = store
        .claim_next("A", Duration::from_millis(300), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.heartbeat("A", Duration::from_secs(60)).await.unwrap(),
        1
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.reap_expired(3, 0).await.unwrap(), (0, 0));
    assert!(
        store
            .finish_leased("h1", &lease, &done("pass"))
            .await
            .unwrap()
    );
}

/// After `max` claims whose leases all expired, the check is failed with
/// the reason, never claimed again.
async fn attempts_are_bounded(store: &Store) {
    store.insert(&queued("m1")).await.unwrap();
    for attempt in 1..=3 {
        let (_, lease) = store.claim_next("A", EXPIRED, 0).await.unwrap().unwrap();
        assert_eq!(lease.attempt, attempt);
        expire().await;
        let (failed, requeued) = store.reap_expired(3, 0).await.unwrap();
        assert_eq!(
            (failed, requeued),
            if attempt < 3 { (0, 1) } else { (1, 0) }
        );
    }
    assert!(store.claim_next("A", EXPIRED, 0).await.unwrap().is_none());
    let rec = store.get("m1").await.unwrap().unwrap();
    assert_eq!(rec.status, CheckStatus::Failed);
    assert_eq!(rec.attempts, 3);
    let why = rec.error.unwrap();
    assert!(why.contains("3 attempts"), "{why}");
}

/// Job checks wait behind interactive ones and go in line order; a
/// graceful release puts a held check back.
async fn priority_order_and_release(store: &Store) {
    store.create_job("j1", "test", 0).await.unwrap();
    let jobs: Vec<JobCheck> = (1..=3)
        .map(|line| JobCheck {
            id: format!("j1-{line}"),
            line,
            input: format!("h{line}.example.lab"),
            hostname: format!("h{line}.example.lab"),
            request: "{}".to_owned(),
        })
        .collect();
    store
        .enqueue_chunk("j1", &jobs, &[], (3, 3), 0)
        .await
        .unwrap();
    store.insert(&queued("web")).await.unwrap();
    let long = Duration::from_secs(60);
    let order: Vec<String> = [
        store.claim_next("A", long, 0).await.unwrap(),
        store.claim_next("A", long, 0).await.unwrap(),
    ]
    .into_iter()
    .map(|c| c.unwrap().0.id)
    .collect();
    assert_eq!(order, ["web", "j1-1"]);
    assert_eq!(store.release_owner("A", 3, 0).await.unwrap(), (0, 2));
    let again = store.claim_next("B", long, 0).await.unwrap().unwrap().0;
    assert_eq!(again.id, "web");
}

/// Paging through a job: its checks and its error lines merged in line
/// order across page boundaries, every line once.
async fn export_pages_merge(store: &Store) {
    let lines = u64::try_from(EXPORT_PAGE).unwrap() * 2 + 137;
    store.create_job("big", "test", 0).await.unwrap();
    let is_error = |line: u64| line.is_multiple_of(7) || (300..=340).contains(&line);
    let mut checks = Vec::new();
    let mut errors = Vec::new();
    for line in 1..=lines {
        if is_error(line) {
            errors.push(JobLineError {
                line,
                error_kind: "hostname".to_owned(),
                record: format!("{{\"line\":{line}}}"),
            });
        } else {
            checks.push(JobCheck {
                id: format!("big-{line}"),
                line,
                input: format!("h{line}"),
                hostname: format!("h{line}"),
                request: "{}".to_owned(),
            });
        }
    }
    store
        .enqueue_chunk("big", &checks, &errors, (lines, 0), 0)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.job_lines("big", after).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.line();
        for l in page {
            let error = matches!(l, dcv_web::queue::JobLine::NotACheck { .. });
            assert_eq!(error, is_error(l.line()), "line {}", l.line());
            seen.push(l.line());
        }
    }
    assert_eq!(seen, (1..=lines).collect::<Vec<_>>());
}

async fn fresh(backend: &Backend) -> Store {
    Store::connect(&backend.url()).await.unwrap()
}

#[test]
fn queue_on_sqlite() {
    rt().block_on(async {
        for scenario in 0..5 {
            let backend = Backend::sqlite();
            let store = fresh(&backend).await;
            match scenario {
                0 => lost_lease_cannot_write(&store).await,
                1 => heartbeat_keeps_the_lease(&store).await,
                2 => attempts_are_bounded(&store).await,
                3 => priority_order_and_release(&store).await,
                _ => export_pages_merge(&store).await,
            }
            store.close().await;
        }
    });
}

/// The same on `PostgreSQL`, plus concurrent claimers: each of 40 checks
/// is claimed by exactly one of 8 claimers racing on separate connections.
#[test]
fn queue_on_postgres() {
    let cluster = PgCluster::start();
    rt().block_on(async {
        for (scenario, name) in ["lost", "beat", "bounded", "ordering", "paging"]
            .iter()
            .enumerate()
        {
            let backend = Backend::Postgres(cluster.database(name).await);
            let store = fresh(&backend).await;
            match scenario {
                0 => lost_lease_cannot_write(&store).await,
                1 => heartbeat_keeps_the_lease(&store).await,
                2 => attempts_are_bounded(&store).await,
                3 => priority_order_and_release(&store).await,
                _ => export_pages_merge(&store).await,
            }
            store.close().await;
        }

        let backend = Backend::Postgres(cluster.database("race").await);
        let store = fresh(&backend).await;
        for i in 0..40 {
            store.insert(&queued(&format!("r{i:02}"))).await.unwrap();
        }
        let claimers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let owner = format!("w{w}");
                    let mut mine = Vec::new();
                    while let Some((rec, _)) = store
                        .claim_next(&owner, Duration::from_secs(60), 0)
                        .await
                        .unwrap()
                    {
                        mine.push(rec.id);
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for c in claimers {
            all.extend(c.await.unwrap());
        }
        let distinct: BTreeSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 40, "{all:?}");
        assert_eq!(distinct.len(), 40, "a check was claimed twice: {all:?}");
        store.close().await;
    });
}

/// `serve` and another worker on one store: a check submitted to `serve`
/// and run by the other worker (here the test, claiming and writing through
/// the store as `dcv-doctor worker` does) ends for `serve`'s event stream
/// follower too, with the other worker's result.
#[test]
fn a_check_run_elsewhere_ends_for_serves_followers() {
    rt().block_on(async {
        let backend = Backend::sqlite();
        // example.lab.'s servers answer after 400 ms: serve's single
        // worker is busy with the first check for seconds.
        let scenario = common::web_lab()
            .with_server(dcv_lab::catalogue::NS1, |s| s.behaviour.delay_ms = 400)
            .with_server(dcv_lab::catalogue::NS2, |s| s.behaviour.delay_ms = 400);
        let lab = dcv_lab::Lab::start(scenario).await.unwrap();
        let mut cfg = common::serve_config(&lab, &backend.url());
        cfg.workers = 1;
        let server = common::start(cfg).await;
        let base = server.url();
        let body = serde_json::json!({"hostname": common::HEALTHY_HOST, "ca": ["letsencrypt"], "method": ["dns"]});
        let busy = common::submit(&base, &body).await;
        let started = std::time::Instant::now();
        loop {
            let c = common::get(&format!("{base}/api/v1/checks/{busy}")).await.json();
            if c["status"] == "running" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elsewhere = common::submit(&base, &body).await;
        let events_url = format!("{base}/api/v1/checks/{elsewhere}/events");
        let follower = tokio::spawn(async move { common::get(&events_url).await.text() });

        let other = fresh(&backend).await;
        let (record, lease) = other
            .claim_next("other-machine", Duration::from_secs(60), 0)
            .await
            .unwrap()
            .expect("the second check is queued");
        assert_eq!(record.id, elsewhere);
        assert!(
            other
                .finish_leased(&elsewhere, &lease, &done("warn"))
                .await
                .unwrap()
        );
        let stream = tokio::time::timeout(Duration::from_secs(20), follower)
            .await
            .expect("the follower's stream ends once the check is done elsewhere")
            .unwrap();
        let last = stream
            .split("\n\n")
            .filter(|b| b.contains("data: "))
            .last()
            .unwrap_or_default()
            .to_owned();
        assert!(last.contains("\"status\":\"done\""), "{stream}");
        assert!(last.contains("\"verdict\":\"warn\""), "{stream}");
        let c = common::wait_final(&base, &busy, Duration::from_secs(40)).await;
        assert_eq!(c["status"], "done");
        other.close().await;
        server.shutdown().await;
    });
}
