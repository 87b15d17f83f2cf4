//! One batch: many worlds served at once under one signed lab root (every
//! world is its own TLD), one validating Unbound and one plain Unbound for
//! delv, worlds resolved concurrently, each by a fresh `dcv_dns::Engine` (one
//! check's resolver) and by Unbound, question by question.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dcv_dns::{DnsName, Engine, EngineConfig, RecordType};
use dcv_lab::{KeyAlgorithm, Lab, Scenario, ServerSpec, Signing, ZoneSpec};
use futures::StreamExt as _;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::delv::{self, DelvRun};
use crate::knot::{self, KnotFleet};
use crate::stub::{self, Ask};
use crate::unbound::{Placement, Unbound};
use crate::verdict::{self, Verdict};
use crate::world::{Authority, Question, World, in_zone};

/// The lab root server's name (in the root zone; world TLDs are `w<seed>.`).
pub const ROOT_SERVER: &str = "ns.root.";
/// Host numbers, in the lab's first address block, of the two Unbounds and
/// their source addresses (servers use 1..=199).
const UNBOUND_HOST: u8 = 250;
const PLAIN_UNBOUND_HOST: u8 = 251;
const UNBOUND_OUT_HOST: u8 = 252;
const PLAIN_UNBOUND_OUT_HOST: u8 = 253;
/// How long either side may take over one question: `dcv-doctor check`'s
/// default bound on a whole check (`--timeout 30`). Past it the product
/// reports the check as timed out, and a CA would have given up too; an
/// answer Unbound only finds later (a dead server costs it about 17 s per
/// address) counts as a failure, and so does an engine lookup still running.
pub const QUESTION_DEADLINE: Duration = Duration::from_secs(30);
/// Resend to Unbound after this long (loopback UDP is not lost, but a busy
/// Unbound may drop queries beyond `num-queries-per-thread`).
const UNBOUND_RETRANSMIT: Duration = Duration::from_secs(10);
/// Questions in flight to Unbound at once.
const UNBOUND_IN_FLIGHT: usize = 512;
/// delv processes at once (each validates on its own; the machine has 2 cores).
const DELV_IN_FLIGHT: usize = 2;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Worlds resolved at the same time.
    pub world_concurrency: usize,
    /// Ask delv too for worlds whose seed is a multiple of this (0: never).
    pub delv_every: u64,
    /// Ask delv for exactly these worlds (seed, authority) instead, when set
    /// (re-runs of delv divergences).
    pub delv_only: Option<Vec<(u64, Authority)>>,
    /// Where Unbound, Knot and delv keep their files (a directory per batch
    /// is made inside).
    pub work_dir: PathBuf,
    /// Changes the engine's configuration after the harness set it up. For
    /// the harness's own tests only (e.g. a wrong trust anchor, to show a
    /// divergence is caught); `None` in every real run.
    pub engine_tweak: Option<fn(&mut EngineConfig)>,
    /// Unbound's `use-caps-for-id` (0x20): on, as Let's Encrypt runs it.
    /// Off only to measure what its fallback does: after three timeouts on
    /// one question Unbound re-asks the zone's servers one after another
    /// until min(3 x addresses, 16) replies match (iterator.c), which slow
    /// or dead servers stretch past any deadline.
    pub unbound_caps_for_id: bool,
}

impl RunConfig {
    /// Whether delv answers this world's questions too.
    pub fn wants_delv(&self, world: &World) -> bool {
        match &self.delv_only {
            Some(list) => list.contains(&(world.seed, world.authority)),
            None => self.delv_every > 0 && world.seed.is_multiple_of(self.delv_every),
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            world_concurrency: 100,
            delv_every: 0,
            delv_only: None,
            work_dir: std::env::temp_dir(),
            engine_tweak: None,
            unbound_caps_for_id: true,
        }
    }
}

/// One question answered by every side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub question: Question,
    pub ours: Verdict,
    pub unbound: Verdict,
    /// delv's run, for sampled worlds.
    pub delv: Option<DelvRun>,
    /// Seconds the engine took.
    pub ours_secs: f64,
    /// Seconds Unbound took.
    pub unbound_secs: f64,
    /// For disagreements in zones with a stale copy or a lame listed
    /// server: what each listed server of the zones involved answers itself
    /// (evidence for [`crate::judge::Rule::ServerChoice`] and
    /// [`crate::judge::Rule::LameServer`]).
    pub server_answers: Vec<ServerAnswer>,
}

/// One listed server's own answer (RD=0) to a question: an authoritative
/// answer or denial, or a reply without AA and without the data asked for
/// (a referral: no answer, RFC 1034 §4.3.2).
#[derive(Debug, Clone, Serialize)]
pub struct ServerAnswer {
    pub server: String,
    pub addr: SocketAddr,
    pub name: String,
    /// The type asked: the question's, or SOA at a zone's apex.
    pub rtype: u16,
    pub verdict: Verdict,
    /// The AA bit: false for a referral or a lame server's reply.
    pub authoritative: bool,
}

/// A world and its comparisons.
#[derive(Debug, Clone, Serialize)]
pub struct WorldRun {
    pub world: World,
    pub comparisons: Vec<Comparison>,
}

/// Worker threads of the lab's own runtime.
const LAB_WORKERS: usize = 2;

/// The lab, running on a runtime of its own: its servers answer on their
/// own threads, so a burst of validation work in the engines (which share
/// the caller's runtime) cannot hold back the lab's answers and turn into
/// timeouts no real server would cause.
struct LabHost {
    lab: Lab,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LabHost {
    async fn start(scenario: Scenario) -> anyhow::Result<Self> {
        tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(LAB_WORKERS)
                .thread_name("dcv-worlds-lab")
                .enable_all()
                .build()?;
            let lab = runtime.block_on(Lab::start_on_port(scenario, 53)).map_err(|e| {
                anyhow::anyhow!(
                    "cannot start the worlds' lab on port 53 ({e}); dcv-worlds needs root (port 53) and the lab's IPv6 addresses (sudo scripts/lab-net-setup); run it as root, e.g. scripts/test"
                )
            })?;
            Ok(Self {
                lab,
                runtime: Some(runtime),
            })
        })
        .await
        .context("lab start task")?
    }
}

impl std::ops::Deref for LabHost {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl Drop for LabHost {
    fn drop(&mut self) {
        // Stops the server tasks (the lab's own drop then finds them gone);
        // a runtime must not be dropped from inside another one.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Everything a batch holds while it runs.
pub struct Served {
    lab: LabHost,
    _knot: Option<KnotFleet>,
    unbound: Unbound,
    plain: Option<Unbound>,
    engine_config: EngineConfig,
    anchors: Option<PathBuf>,
}

/// Serves `worlds` (lab and Knot ones mixed) and compares every question.
pub async fn run_batch(worlds: Vec<World>, cfg: &RunConfig) -> anyhow::Result<Vec<WorldRun>> {
    let started = Instant::now();
    let dir = batch_dir(cfg)?;
    let served = serve(&worlds, cfg, &dir).await?;
    let served = Arc::new(served);
    let unbound_slots = Arc::new(Semaphore::new(UNBOUND_IN_FLIGHT));
    let delv_slots = Arc::new(Semaphore::new(DELV_IN_FLIGHT));
    let runs: Vec<WorldRun> = futures::stream::iter(worlds)
        .map(|world| {
            let served = Arc::clone(&served);
            let unbound_slots = Arc::clone(&unbound_slots);
            let delv_slots = Arc::clone(&delv_slots);
            let with_delv = cfg.wants_delv(&world);
            let dir = dir.clone();
            async move {
                run_world(
                    world,
                    &served,
                    &unbound_slots,
                    with_delv.then_some(&delv_slots),
                    &dir,
                )
                .await
            }
        })
        .buffer_unordered(cfg.world_concurrency.max(1))
        .collect()
        .await;
    drop(served);
    if std::env::var_os("DCV_WORLDS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = started;
    Ok(runs)
}

fn batch_dir(cfg: &RunConfig) -> anyhow::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = cfg.work_dir.join(format!(
        "dcv-worlds-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    Ok(dir)
}

/// Starts the lab (root and lab worlds), Knot (Knot worlds) and Unbound.
pub async fn serve(
    worlds: &[World],
    cfg: &RunConfig,
    dir: &std::path::Path,
) -> anyhow::Result<Served> {
    let knot_worlds: Vec<&World> = worlds
        .iter()
        .filter(|w| w.authority == Authority::Knot)
        .collect();
    let knot_plan = if knot_worlds.is_empty() {
        None
    } else {
        let owned: Vec<World> = knot_worlds.iter().map(|w| (*w).clone()).collect();
        let knot_dir = dir.join("knot");
        Some(
            tokio::task::spawn_blocking(move || knot::prepare(&owned, &knot_dir))
                .await
                .context("knot preparation task")??,
        )
    };

    let mut root_lines: Vec<String> = Vec::new();
    let mut scenario = Scenario::new("worlds").server(ServerSpec::new(ROOT_SERVER));
    let mut world_zones = Vec::new();
    for world in worlds.iter().filter(|w| w.authority == Authority::Lab) {
        root_lines.extend(world.delegation_lines(0));
        let (servers, zones) = world.lab_specs();
        for s in servers {
            scenario = scenario.server(s);
        }
        world_zones.extend(zones);
    }
    if let Some(plan) = &knot_plan {
        root_lines.extend(plan.root_lines.iter().cloned());
    }
    // The root is signed like IANA's: RSA/SHA-256, NSEC.
    scenario = scenario.zone(
        ZoneSpec::new(".")
            .served_by(ROOT_SERVER)
            .signed(Signing::Nsec)
            .algorithm(KeyAlgorithm::RsaSha256)
            .records(root_lines),
    );
    for z in world_zones {
        scenario = scenario.zone(z);
    }
    let lab = LabHost::start(scenario).await?;

    let knot = match knot_plan {
        Some(plan) => Some(
            tokio::task::spawn_blocking(move || knot::start(plan))
                .await
                .context("knot start task")??,
        ),
        None => None,
    };

    let (v4, v6) = root_block(&lab)?;
    let hints = lab.root_hints_zone();
    let anchor = lab
        .trust_anchor_ds()
        .context("the worlds' root is signed, so it has a DS")?;
    let host4 = |n: u8| IpAddr::V4(Ipv4Addr::new(127, v4[1], v4[2], n));
    let host6 = |n: u8| {
        let mut s = v6;
        s[7] = u16::from(n);
        IpAddr::V6(Ipv6Addr::from(s))
    };
    let validating = Placement {
        listen: host4(UNBOUND_HOST),
        outgoing: vec![host4(UNBOUND_OUT_HOST), host6(UNBOUND_OUT_HOST)],
    };
    let plain_place = Placement {
        listen: host4(PLAIN_UNBOUND_HOST),
        outgoing: vec![host4(PLAIN_UNBOUND_OUT_HOST), host6(PLAIN_UNBOUND_OUT_HOST)],
    };
    let with_delv = worlds.iter().any(|w| cfg.wants_delv(w));
    let (unbound_dir, plain_dir) = (dir.join("unbound"), dir.join("unbound-plain"));
    let (hints2, anchor2) = (hints.clone(), anchor.clone());
    let caps = cfg.unbound_caps_for_id;
    let unbound = tokio::task::spawn_blocking(move || {
        Unbound::start(&unbound_dir, &validating, &hints2, Some(&anchor2), caps)
    })
    .await
    .context("unbound start task")??;
    let plain = if with_delv {
        let hints = hints.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                Unbound::start(&plain_dir, &plain_place, &hints, None, caps)
            })
            .await
            .context("unbound start task")??,
        )
    } else {
        None
    };
    let anchors = if with_delv {
        let path = dir.join("delv-anchors.conf");
        let text = delv::anchor_file_text(&anchor).context("root DS line")?;
        std::fs::write(&path, text)?;
        Some(path)
    } else {
        None
    };
    // The product's defaults (timeouts, retries, query budget, IPv6), only
    // pointed at the lab's root: the verdict under test is the one
    // `dcv-doctor check --root-hints --trust-anchor` gives.
    let mut engine_config = EngineConfig {
        root_hints: dcv_dns::parse_root_hints(&hints).context("lab root hints")?,
        trust_anchors: dcv_dns::parse_trust_anchor(&anchor).context("lab trust anchor")?,
        port: 53,
        ..EngineConfig::default()
    };
    if let Some(tweak) = cfg.engine_tweak {
        tweak(&mut engine_config);
    }
    Ok(Served {
        lab,
        _knot: knot,
        unbound,
        plain,
        engine_config,
        anchors,
    })
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("unbound", &self.unbound.addr)
            .finish_non_exhaustive()
    }
}

impl Served {
    /// Where the validating Unbound answers.
    pub fn unbound_addr(&self) -> SocketAddr {
        self.unbound.addr
    }

    /// The lab (addresses of lab-served worlds' servers).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The engine configuration used for every world (root hints, anchor).
    pub fn engine_config(&self) -> &EngineConfig {
        &self.engine_config
    }
}

/// The root server's IPv4 octets and IPv6 segments (the lab's first block).
fn root_block(lab: &Lab) -> anyhow::Result<([u8; 4], [u16; 8])> {
    let addrs = lab.server_addrs(ROOT_SERVER);
    let v4 = addrs.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(v4.octets()),
        IpAddr::V6(_) => None,
    });
    let v6 = addrs.iter().find_map(|a| match a {
        IpAddr::V6(v6) => Some(v6.segments()),
        IpAddr::V4(_) => None,
    });
    match (v4, v6) {
        (Some(v4), Some(v6)) => Ok((v4, v6)),
        _ => anyhow::bail!("the lab root server needs IPv4 and IPv6 addresses"),
    }
}

async fn run_world(
    world: World,
    served: &Served,
    unbound_slots: &Semaphore,
    delv_slots: Option<&Arc<Semaphore>>,
    dir: &std::path::Path,
) -> WorldRun {
    let engine = Engine::new(served.engine_config.clone());
    let world_ref = &world;
    let comparisons = futures::future::join_all(world.questions.iter().map(|q| {
        let engine = &engine;
        async move {
            let world = world_ref;
            let qtype: RecordType = q.rtype.parse().unwrap_or(RecordType::A);
            let ours = async {
                let t = Instant::now();
                let verdict = match DnsName::parse(&q.name) {
                    Ok(name) => {
                        match tokio::time::timeout(QUESTION_DEADLINE, engine.lookup(&name, qtype))
                            .await
                        {
                            Ok(lookup) => verdict::from_lookup(&lookup, qtype.0),
                            Err(_) => failure(&format!(
                                "no verdict within {QUESTION_DEADLINE:?} (the check's default timeout)"
                            )),
                        }
                    }
                    Err(e) => failure(&format!("bad question: {e}")),
                };
                (verdict, t.elapsed().as_secs_f64())
            };
            let theirs = async {
                let _slot = unbound_slots.acquire().await;
                let t = Instant::now();
                let ask = Ask {
                    name: &q.name,
                    rtype: qtype.0,
                    recursion: true,
                    deadline: QUESTION_DEADLINE,
                    retransmit: UNBOUND_RETRANSMIT,
                };
                let reply = stub::ask(served.unbound.addr, &ask).await;
                (
                    verdict::from_reply(&reply, qtype.0),
                    t.elapsed().as_secs_f64(),
                )
            };
            let delv_run = async {
                let (Some(slots), Some(plain), Some(anchors)) =
                    (delv_slots, &served.plain, &served.anchors)
                else {
                    return None;
                };
                let _slot = slots.acquire().await;
                let (server, anchors, dir) = (plain.addr.ip(), anchors.clone(), dir.to_owned());
                let (name, rtype) = (q.name.clone(), q.rtype.clone());
                tokio::task::spawn_blocking(move || {
                    delv::run(server, &anchors, &dir, &name, &rtype)
                })
                .await
                .ok()
            };
            let ((ours, ours_secs), (unbound, unbound_secs), delv) =
                futures::join!(ours, theirs, delv_run);
            let server_answers = if ours.agrees(&unbound) {
                Vec::new()
            } else {
                zone_server_answers(world, served, q, qtype.0, [&ours, &unbound]).await
            };
            Comparison {
                question: q.clone(),
                ours,
                unbound,
                delv,
                ours_secs,
                unbound_secs,
                server_answers,
            }
        }
    }))
    .await;
    WorldRun { world, comparisons }
}

/// Bound on one direct question to an authoritative server.
const DIRECT_DEADLINE: Duration = Duration::from_secs(4);

/// What the listed servers say themselves, for the names of a
/// disagreement (the question and the owners of either side's answer)
/// whose resolution path (the zones above the name and those holding
/// their servers' names) has a zone with a stale copy or a listed server
/// that does not serve it: every listed server of the name's own zone is
/// asked the question, and every listed server of a path zone with such a
/// server is asked the zone's apex SOA (an authoritative server sets AA, a
/// lame one does not: RFC 1912 §2.8).
async fn zone_server_answers(
    world: &World,
    served: &Served,
    q: &Question,
    qtype: u16,
    verdicts: [&Verdict; 2],
) -> Vec<ServerAnswer> {
    let mut names: Vec<String> = vec![q.name.to_ascii_lowercase()];
    for v in verdicts {
        for rr in &v.answer {
            if !names.contains(&rr.owner) {
                names.push(rr.owner.clone());
            }
        }
    }
    let suspect = |z: usize| {
        let zone = &world.zones[z];
        zone.stale.is_some() || !world.lame(zone).is_empty()
    };
    let mut asked: Vec<(String, u16)> = Vec::new();
    for name in names {
        // The zones above the name, and those holding their servers' names
        // (a lame server there can cost a resolver the servers' addresses).
        let mut path: Vec<usize> = (0..world.zones.len())
            .filter(|&z| in_zone(&name, &world.zones[z].apex))
            .collect();
        let hosts: Vec<usize> = path
            .iter()
            .flat_map(|&z| world.server_host_zones(z))
            .collect();
        path.extend(hosts);
        path.sort_unstable();
        path.dedup();
        if !path.iter().any(|&z| suspect(z)) {
            continue;
        }
        asked.push((name.clone(), qtype));
        for z in path {
            if !world.lame(&world.zones[z]).is_empty() {
                asked.push((world.zones[z].apex.clone(), SOA));
            }
        }
    }
    asked.sort();
    asked.dedup();
    let mut out = Vec::new();
    for (name, rtype) in asked {
        let Some(z) = world.zone_of(&name) else {
            continue;
        };
        for s in &world.zones[z].ns {
            let server = &world.servers[*s].name;
            for addr in served.lab.server_socket_addrs(server) {
                if let Some(answer) = ask_server(server, addr, &name, rtype).await {
                    out.push(answer);
                }
            }
        }
    }
    out
}

/// The SOA type, asked at a zone's apex to tell its servers from lame ones
/// (an authoritative server sets AA, a lame one does not).
pub const SOA: u16 = 6;

/// One listed server's own reply (RD=0), kept when it is an authoritative
/// answer or denial, or a reply without AA and without answer records.
async fn ask_server(
    server: &str,
    addr: SocketAddr,
    name: &str,
    rtype: u16,
) -> Option<ServerAnswer> {
    let ask = Ask {
        name,
        rtype,
        recursion: false,
        deadline: DIRECT_DEADLINE,
        retransmit: Duration::from_secs(1),
    };
    let reply = stub::ask(addr, &ask).await;
    let r = reply.as_ref().ok()?;
    let answer = r.aa && (r.rcode == 0 || r.rcode == 3);
    let no_answer = !r.aa && r.rcode == 0 && r.answer.is_empty();
    (answer || no_answer).then(|| ServerAnswer {
        server: server.to_owned(),
        addr,
        name: name.to_owned(),
        rtype,
        verdict: verdict::from_reply(&reply, rtype),
        authoritative: r.aa,
    })
}

fn failure(why: &str) -> Verdict {
    Verdict {
        status: verdict::Status::Fail,
        secure: false,
        answer: std::collections::BTreeSet::new(),
        bogus: false,
        detail: why.to_owned(),
    }
}
