//! The bounded worker pool: accepted checks wait in the store's queue
//! (`queue.rs`; its length is capped for interactive checks), a fixed number
//! of workers claim and run them with a time bound under a lease a keeper
//! task renews, and each check's progress events are kept and broadcast to
//! whoever follows them. `serve` and `dcv-doctor worker` run this same pool,
//! so checks put in anywhere run anywhere.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dcv_diagnosis::Report;
use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::request::{ServerCheckPolicy, public_only_refusal};
use dcv_diagnosis::runner::{Probe, ProbeEvent, ProbeObserver, run_check_reporting};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};
use tracing::Instrument as _;

use crate::api::WebCheckRequest;
use crate::metrics::Metrics;
use crate::queue::{HEARTBEAT, LEASE, Lease, MAX_ATTEMPTS, POLL_INTERVAL};
use crate::store::{CheckRecord, CheckStatus, Outcome, Store};
use crate::views::Views;

/// Time a worker allows beyond the check's own limit (`--check-timeout`)
/// before it gives up on the check (the runner stops itself at the limit;
/// this bounds a check that does not).
pub const CHECK_GRACE: Duration = Duration::from_secs(5);
/// Events a follower may fall behind by before it misses some (a check
/// makes about a dozen).
const EVENT_BUFFER: usize = 64;
/// How often the lease keeper wakes to see whether the workers are done.
const KEEPER_TICK: Duration = Duration::from_millis(200);

/// What remote perspectives add to a check: started beside the primary
/// check, it returns how to fold their answers into the primary's report
/// (BR 3.2.2.9 quorum findings). The binary provides it for each
/// `--perspectives NAME=FILE` profile.
pub trait Corroborator: Send + Sync {
    fn corroborate(&self, cfg: CheckConfig) -> BoxFuture<'static, Fold>;
}

/// Folds remote answers into the primary report.
pub type Fold = Box<dyn FnOnce(&mut Report) + Send>;

/// Named perspective profiles.
pub type Profiles = BTreeMap<String, Arc<dyn Corroborator>>;

/// What happened to a check, as the event stream tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The check moved to `status`.
    Status,
    /// A probe started.
    ProbeStarted,
    /// A probe finished.
    ProbeFinished,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Status => "status",
            EventKind::ProbeStarted => "probe_started",
            EventKind::ProbeFinished => "probe_finished",
        }
    }
}

/// One progress event (the `data` of a server-sent event whose `event` is
/// the kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckEvent {
    pub kind: EventKind,
    /// For status events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    /// For probe events: `tld`, `caa`, `caa_paths`, `http`, `txt`, `txt_paths`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// What the report calls the probe (`CAA lookups`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// For the final status: the verdict, when there is a report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Milliseconds since the check started (0 before it started).
    pub at_ms: u64,
}

impl CheckEvent {
    fn status(status: CheckStatus, at_ms: u64) -> CheckEvent {
        CheckEvent {
            kind: EventKind::Status,
            status: Some(status),
            probe: None,
            label: None,
            verdict: None,
            at_ms,
        }
    }

    /// Whether this event ends the stream.
    pub fn is_final(&self) -> bool {
        self.kind == EventKind::Status && self.status.is_some_and(CheckStatus::is_final)
    }
}

/// The stable name of a probe in events.
pub fn probe_key(p: Probe) -> &'static str {
    match p {
        Probe::Tld => "tld",
        Probe::Caa => "caa",
        Probe::CaaPaths => "caa_paths",
        Probe::Http => "http",
        Probe::Txt => "txt",
        Probe::TxtPaths => "txt_paths",
    }
}

/// A queued or running check's event log and its followers.
#[derive(Debug)]
pub struct Live {
    log: Mutex<Vec<CheckEvent>>,
    tx: broadcast::Sender<CheckEvent>,
    started: Mutex<Option<Instant>>,
}

impl Live {
    fn new() -> Live {
        Live {
            log: Mutex::new(Vec::new()),
            tx: broadcast::channel(EVENT_BUFFER).0,
            started: Mutex::new(None),
        }
    }

    fn at_ms(&self) -> u64 {
        self.started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map_or(0, |s| {
                u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)
            })
    }

    /// Logs and broadcasts under one lock, so a follower that took the log
    /// and subscribed under the same lock misses nothing.
    fn publish(&self, event: CheckEvent) {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.push(event.clone());
        let _ = self.tx.send(event);
    }

    fn snapshot(&self) -> Vec<CheckEvent> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Why a check was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the queue is full ({0} checks waiting); try again shortly")]
    QueueFull(usize),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Who this pool claims checks as, and for how long.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// The lease owner: unique among the processes sharing the store, and
    /// the same when the same server starts again (its leases are then
    /// released at once, see [`Jobs::recover`]).
    pub owner: String,
    /// How long a claim lasts without a heartbeat ([`LEASE`]).
    pub lease: Duration,
    /// Workers stop once nothing is queued or running anywhere.
    pub exit_when_empty: bool,
}

impl QueueSettings {
    /// `serve`'s pool: `serve@HOST`, the default lease, never idle-exits.
    pub fn serve() -> QueueSettings {
        QueueSettings {
            owner: format!("serve@{}", host_name()),
            lease: LEASE,
            exit_when_empty: false,
        }
    }

    /// How often the keeper renews the leases: six beats per lease.
    pub fn heartbeat(&self) -> Duration {
        (self.lease / 6).min(HEARTBEAT)
    }
}

/// This machine's name, for lease owners (`/proc/sys/kernel/hostname`,
/// `$HOSTNAME`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The workers' shared state and the live event logs; the queue itself is
/// the store.
pub struct Jobs {
    store: Store,
    policy: ServerCheckPolicy,
    profiles: Profiles,
    metrics: Arc<Metrics>,
    settings: QueueSettings,
    /// Submissions being admitted (counted against the cap until their row
    /// is in the store, where the count sees it).
    admitting: AtomicUsize,
    /// Interactive checks queued, as last counted.
    queued_gauge: AtomicUsize,
    max_queued: usize,
    wake: Notify,
    live: Mutex<HashMap<String, Arc<Live>>>,
    stop: watch::Sender<bool>,
    /// Worker tasks still taking work.
    working: AtomicUsize,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("owner", &self.settings.owner)
            .field("max_queued", &self.max_queued)
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch, as the store keeps times.
pub fn epoch_ms() -> i64 {
    now_ms()
}

impl Jobs {
    pub fn new(
        store: Store,
        policy: ServerCheckPolicy,
        profiles: Profiles,
        metrics: Arc<Metrics>,
        max_queued: usize,
        settings: QueueSettings,
    ) -> Arc<Jobs> {
        Arc::new(Jobs {
            store,
            policy,
            profiles,
            metrics,
            settings,
            admitting: AtomicUsize::new(0),
            queued_gauge: AtomicUsize::new(0),
            max_queued: max_queued.max(1),
            wake: Notify::new(),
            live: Mutex::new(HashMap::new()),
            stop: watch::channel(false).0,
            working: AtomicUsize::new(0),
        })
    }

    pub fn policy(&self) -> &ServerCheckPolicy {
        &self.policy
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    pub fn has_profile(&self, name: &str) -> bool {
        self.profiles.contains_key(name)
    }

    /// Interactive checks waiting for a worker, as last counted.
    pub fn queued(&self) -> usize {
        self.queued_gauge.load(Ordering::Relaxed)
    }

    fn set_queued(&self, n: i64) {
        let n = usize::try_from(n).unwrap_or(0);
        self.queued_gauge.store(n, Ordering::Relaxed);
        self.metrics.queue_depth.store(n as u64, Ordering::Relaxed);
    }

    fn live_for(&self, id: &str) -> Arc<Live> {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            live.entry(id.to_owned())
                .or_insert_with(|| Arc::new(Live::new())),
        )
    }

    /// The events so far and a receiver for the rest, while the check is
    /// queued or running (`None`: it is finished, or unknown).
    pub fn follow(&self, id: &str) -> Option<(Vec<CheckEvent>, broadcast::Receiver<CheckEvent>)> {
        let live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()?;
        let log = live
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some((log.clone(), live.tx.subscribe()))
    }

    /// Follows an unfinished check this process holds no log of (another
    /// worker runs it, or it was queued before this start): its status so
    /// far, then what the keeper or a local worker publishes.
    pub fn watch(
        &self,
        id: &str,
        status: CheckStatus,
    ) -> (Vec<CheckEvent>, broadcast::Receiver<CheckEvent>) {
        let live = self.live_for(id);
        let log = live
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.is_empty() {
            drop(log);
            live.publish(CheckEvent::status(status, 0));
            let log = live
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            return (log.clone(), live.tx.subscribe());
        }
        (log.clone(), live.tx.subscribe())
    }

    /// Stores and queues a new check, unless the queue is full.
    pub async fn submit(&self, record: CheckRecord) -> Result<(), SubmitError> {
        let admitting = self.admitting.fetch_add(1, Ordering::SeqCst);
        let result = self.admit(record, admitting).await;
        self.admitting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn admit(&self, record: CheckRecord, admitting: usize) -> Result<(), SubmitError> {
        let queued = self.store.count_queued(0).await?;
        let waiting = usize::try_from(queued).unwrap_or(usize::MAX) + admitting;
        if waiting >= self.max_queued {
            self.set_queued(queued);
            return Err(SubmitError::QueueFull(waiting));
        }
        self.store.insert(&record).await?;
        self.set_queued(queued + 1);
        self.live_for(&record.id)
            .publish(CheckEvent::status(CheckStatus::Queued, 0));
        self.metrics.submitted();
        self.wake.notify_one();
        Ok(())
    }

    /// Releases what this owner held when it last ran (the same server
    /// after a crash: those checks are not running anywhere now); called
    /// once at start, before the workers. Returns how many went back to
    /// the queue.
    pub async fn recover(&self) -> Result<u64, crate::store::StoreError> {
        let (failed, requeued) = self
            .store
            .release_owner(&self.settings.owner, MAX_ATTEMPTS, now_ms())
            .await?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "checks interrupted {MAX_ATTEMPTS} times are marked failed"
            );
        }
        Ok(requeued)
    }

    /// Starts `n` workers and the lease keeper (the last handle); workers
    /// stop taking work after [`Jobs::stop`], the keeper once they are done.
    pub fn spawn_workers(self: &Arc<Self>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
        let n = n.max(1);
        self.working.store(n, Ordering::SeqCst);
        let mut handles: Vec<_> = (0..n)
            .map(|_| {
                let jobs = Arc::clone(self);
                tokio::spawn(async move {
                    Arc::clone(&jobs).work().await;
                    jobs.working.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        let jobs = Arc::clone(self);
        handles.push(tokio::spawn(async move { jobs.keep_leases().await }));
        handles
    }

    /// Asks the workers to stop after their current check.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    async fn work(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        loop {
            if *stop.borrow() {
                return;
            }
            match self
                .store
                .claim_next(&self.settings.owner, self.settings.lease, now_ms())
                .await
            {
                Ok(Some((record, lease))) => {
                    // There may be more: an idle sibling looks too.
                    self.wake.notify_one();
                    if let Ok(n) = self.store.count_queued(0).await {
                        self.set_queued(n);
                    }
                    let span = tracing::info_span!("check", check_id = %record.id);
                    self.run_one(record, lease).instrument(span).await;
                    continue;
                }
                Ok(None) => {
                    self.set_queued(0);
                    if self.settings.exit_when_empty {
                        match self.store.count_unfinished().await {
                            Ok(0) => {
                                // The idle siblings see the same.
                                self.wake.notify_waiters();
                                return;
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "counting unfinished checks"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming a check"),
            }
            // Idle: woken by a local submit, a sibling that found work, or
            // the keeper's poll (one claim attempt per interval per
            // process, not per task).
            tokio::select! {
                () = self.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Renews this owner's leases every heartbeat, returns expired ones to
    /// the queue, wakes an idle worker every [`POLL_INTERVAL`], and tells
    /// followers of checks run elsewhere how they
    /// ended; once the workers are done, releases anything still held.
    async fn keep_leases(self: Arc<Self>) {
        let heartbeat = self.settings.heartbeat();
        let mut last_beat: Option<Instant> = None;
        let mut last_poll = Instant::now();
        while self.working.load(Ordering::SeqCst) > 0 {
            if last_beat.is_none_or(|t| t.elapsed() >= heartbeat) {
                last_beat = Some(Instant::now());
                self.beat().await;
            }
            if last_poll.elapsed() >= POLL_INTERVAL {
                // Work put in by another machine.
                last_poll = Instant::now();
                self.wake.notify_one();
            }
            tokio::time::sleep(KEEPER_TICK).await;
        }
        match self
            .store
            .release_owner(&self.settings.owner, MAX_ATTEMPTS, now_ms())
            .await
        {
            Ok((0, 0)) => {}
            Ok((failed, requeued)) => {
                tracing::info!(failed, requeued, "released the checks still held");
            }
            Err(e) => tracing::warn!(error = %e, "releasing the checks still held"),
        }
    }

    async fn beat(&self) {
        if let Err(e) = self
            .store
            .heartbeat(&self.settings.owner, self.settings.lease)
            .await
        {
            tracing::warn!(error = %e, "renewing leases");
        }
        match self.store.reap_expired(MAX_ATTEMPTS, now_ms()).await {
            Ok((0, 0)) => {}
            Ok((failed, requeued)) => {
                tracing::info!(failed, requeued, "checks whose lease expired");
                self.wake.notify_waiters();
            }
            Err(e) => tracing::warn!(error = %e, "returning expired checks to the queue"),
        }
        if let Ok(n) = self.store.count_queued(0).await {
            self.set_queued(n);
        }
        self.settle_remote().await;
    }

    /// Followed checks that no local worker runs: once the store says they
    /// ended (another worker ran them), their followers get the final event.
    async fn settle_remote(&self) {
        let remote: Vec<(String, Arc<Live>)> = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, live)| {
                live.started
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_none()
            })
            .map(|(id, live)| (id.clone(), Arc::clone(live)))
            .collect();
        for (id, live) in remote {
            let Ok(Some(record)) = self.store.get(&id).await else {
                continue;
            };
            if record.status.is_final() {
                live.publish(CheckEvent {
                    verdict: record.verdict.clone(),
                    ..CheckEvent::status(record.status, 0)
                });
                self.live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
            }
        }
    }

    /// Runs one claimed check and stores how it ended.
    async fn run_one(&self, record: CheckRecord, lease: Lease) {
        let live = self.live_for(&record.id);
        let result = self.run_claimed(&record, &lease, &live).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "check could not be run or stored");
        }
        // Followers that come later read the store.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&record.id);
    }

    async fn run_claimed(
        &self,
        record: &CheckRecord,
        lease: &Lease,
        live: &Arc<Live>,
    ) -> Result<(), crate::store::StoreError> {
        *live
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        live.publish(CheckEvent::status(CheckStatus::Running, 0));
        self.metrics.running.fetch_add(1, Ordering::Relaxed);
        tracing::info!(hostname = %record.hostname, attempt = record.attempts, worker = %lease.owner, "check started");
        let started = Instant::now();
        let outcome = self.execute(record, live).await;
        self.metrics.running.fetch_sub(1, Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64();
        let (codes, dns_queries) = match &outcome.1 {
            Some(report) => (
                report.findings.iter().map(|f| f.code.to_string()).collect(),
                report.timings_ms.get("dns_queries").copied().unwrap_or(0),
            ),
            None => (Vec::new(), 0),
        };
        let mut outcome = outcome.0;
        let final_event = CheckEvent {
            verdict: outcome.verdict.clone(),
            ..CheckEvent::status(outcome.status, live.at_ms())
        };
        let mut events = live.snapshot();
        events.push(final_event.clone());
        outcome.events = serde_json::to_string(&events).ok();
        if !self
            .store
            .finish_leased(&record.id, lease, &outcome)
            .await?
        {
            // Another worker has it now (or will): its result is the one.
            tracing::warn!(
                attempt = lease.attempt,
                "lease lost before the check ended; result not written"
            );
            return Ok(());
        }
        self.metrics.finished(
            outcome.status.as_str(),
            outcome.verdict.as_deref(),
            &codes,
            seconds,
            dns_queries,
        );
        tracing::info!(
            status = outcome.status.as_str(),
            verdict = outcome.verdict.as_deref().unwrap_or("-"),
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "check finished"
        );
        live.publish(final_event);
        Ok(())
    }

    /// The check itself, bounded; never fails (every problem is an outcome).
    async fn execute(&self, record: &CheckRecord, live: &Arc<Live>) -> (Outcome, Option<Report>) {
        let failed = |why: String| {
            (
                Outcome {
                    status: CheckStatus::Failed,
                    finished_ms: now_ms(),
                    verdict: None,
                    report: None,
                    views: None,
                    events: None,
                    error: Some(why),
                },
                None,
            )
        };
        let request: WebCheckRequest = match serde_json::from_str(&record.request) {
            Ok(r) => r,
            Err(e) => return failed(format!("stored request is malformed: {e}")),
        };
        let cfg = match self.policy.check_config(&request.check) {
            Ok(c) => c,
            Err(e) => return failed(format!("invalid check request: {e}")),
        };
        let corroborator = match &request.perspectives {
            None => None,
            Some(name) => match self.profiles.get(name) {
                Some(c) => Some(Arc::clone(c)),
                None => return failed(format!("no perspectives profile {name:?} on this server")),
            },
        };
        let follower = Arc::clone(live);
        let observer: ProbeObserver = Arc::new(move |event: ProbeEvent| {
            let (kind, probe) = match event {
                ProbeEvent::Started(p) => (EventKind::ProbeStarted, p),
                ProbeEvent::Finished(p) => (EventKind::ProbeFinished, p),
            };
            follower.publish(CheckEvent {
                kind,
                status: None,
                probe: Some(probe_key(probe).to_owned()),
                label: Some(probe.label().to_owned()),
                verdict: None,
                at_ms: follower.at_ms(),
            });
        });
        let run = async move {
            let primary = run_check_reporting(cfg.clone(), Some(observer));
            match corroborator {
                None => primary.await,
                Some(c) => {
                    let ((mut report, obs), fold) = tokio::join!(primary, c.corroborate(cfg));
                    fold(&mut report);
                    (report, obs)
                }
            }
        };
        let handle = tokio::spawn(run.in_current_span());
        let abort = handle.abort_handle();
        let limit = self.policy.check_timeout + CHECK_GRACE;
        let (report, observations) = match tokio::time::timeout(limit, handle).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return failed(format!("internal error: the check stopped ({e})")),
            Err(_) => {
                abort.abort();
                return failed(format!(
                    "the check did not finish within {}s",
                    limit.as_secs()
                ));
            }
        };
        if !self.policy.allow_private
            && let Some(why) = public_only_refusal(&report, observations.as_ref(), "this server")
        {
            let mut out = failed(why);
            out.0.status = CheckStatus::Refused;
            self.metrics.refused("private");
            return out;
        }
        let views = Views::from_observations(observations.as_ref());
        let verdict = serde_json::to_value(report.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        (
            Outcome {
                status: CheckStatus::Done,
                finished_ms: now_ms(),
                verdict,
                report: serde_json::to_string(&report).ok(),
                views: serde_json::to_string(&views).ok(),
                events: None,
                error: None,
            },
            Some(report),
        )
    }
}
