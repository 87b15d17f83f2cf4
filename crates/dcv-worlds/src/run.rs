//! Many batches: seeds in, an agreement figure and the judged divergences
//! out. Only counts and divergences are kept, so a 50,000-world run holds
//! little memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use futures::StreamExt as _;
use serde::Serialize;

use crate::batch::{Comparison, RunConfig, WorldRun, run_batch};
use crate::judge::{self, Judgement, Known, Rule};
use crate::world::{Authority, World};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Seeds of lab-served worlds.
    pub lab_seeds: Vec<u64>,
    /// Seeds of Knot-served worlds (spread over the batches).
    pub knot_seeds: Vec<u64>,
    /// Worlds per batch.
    pub batch_size: usize,
    /// Batches at once (a batch's last worlds wait on slow servers; a second
    /// batch keeps the machine busy meanwhile).
    pub parallel_batches: usize,
    /// Per-batch settings.
    pub run: RunConfig,
}

/// Agreement counts against one oracle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub compared: usize,
    pub agree: usize,
    pub justified: BTreeMap<String, usize>,
    pub known: BTreeMap<String, usize>,
    pub unexplained: usize,
    /// Unexplained at first, other verdicts when run again alone.
    pub not_reproduced: usize,
}

impl Tally {
    fn add(&mut self, j: &Judgement) {
        self.compared += 1;
        match j {
            Judgement::Agree => self.agree += 1,
            Judgement::Justified(rule) => *self.justified.entry(rule_key(*rule)).or_default() += 1,
            Judgement::Known { area, cause } => {
                *self.known.entry(format!("{area}: {cause}")).or_default() += 1;
            }
            Judgement::Unexplained => self.unexplained += 1,
            Judgement::NotReproduced { .. } => self.not_reproduced += 1,
        }
    }

    /// Counts an unexplained divergence again under its new judgement (the
    /// confirm step's re-runs).
    fn rejudge_unexplained(&mut self, to: &Judgement) {
        self.unexplained -= 1;
        self.compared -= 1;
        self.add(to);
    }

    /// Share of questions with the same verdict, in percent.
    pub fn agreement_percent(&self) -> f64 {
        percent(self.agree, self.compared)
    }

    /// Share that agree or differ under a written rule, in percent.
    pub fn explained_percent(&self) -> f64 {
        percent(
            self.agree + self.justified.values().sum::<usize>(),
            self.compared,
        )
    }

    fn lines(&self, oracle: &str) -> String {
        let mut out = format!(
            "{oracle}: {} questions, {} agree ({:.3} %), {} differ under a rule ({:.3} % agree or justified), {} known, {} unexplained, {} did not reproduce alone\n",
            self.compared,
            self.agree,
            self.agreement_percent(),
            self.justified.values().sum::<usize>(),
            self.explained_percent(),
            self.known.values().sum::<usize>(),
            self.unexplained,
            self.not_reproduced
        );
        for (rule, n) in &self.justified {
            let _ = writeln!(out, "  justified {n:>5}  {rule}");
        }
        for (cause, n) in &self.known {
            let _ = writeln!(out, "  known     {n:>5}  {cause}");
        }
        out
    }
}

fn rule_key(rule: Rule) -> String {
    rule.to_string()
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        100.0
    } else {
        // Counts stay far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let (n, of) = (n as f64, of as f64);
        100.0 * n / of
    }
}

/// One disagreement with its judgement and evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    pub world: World,
    pub comparison: Comparison,
    /// `unbound` or `delv`.
    pub oracle: &'static str,
    pub judgement: Judgement,
    /// World features on the question's path (likely causes).
    pub features: BTreeSet<String>,
}

impl Divergence {
    /// The oracle's verdict in short form.
    pub fn theirs_short(&self) -> String {
        match self.oracle {
            "delv" => self
                .comparison
                .delv
                .as_ref()
                .map_or_else(String::new, |d| d.verdict.to_string()),
            _ => self.comparison.unbound.short(),
        }
    }

    /// The engine's verdict in the oracle's terms.
    pub fn ours_short(&self) -> String {
        match self.oracle {
            "delv" => crate::delv::ours_as_delv(&self.comparison.ours).to_string(),
            _ => self.comparison.ours.short(),
        }
    }

    /// A report paragraph; `with_world` adds the world's full description.
    pub fn report(&self, with_world: bool) -> String {
        let c = &self.comparison;
        let judgement = match &self.judgement {
            Judgement::Agree => "agree".to_owned(),
            Judgement::Justified(rule) => format!("justified: {rule}"),
            Judgement::Known { cause, area } => format!("known ({area}): {cause}"),
            Judgement::Unexplained => "UNEXPLAINED".to_owned(),
            Judgement::NotReproduced { again } => {
                format!("did not reproduce when run alone (then: {again})")
            }
        };
        let mut out = format!(
            "seed {} ({}) {} — {judgement}\n  ours:    {} [{:.1} s]\n",
            self.world.seed,
            judge::authority_name(self.world.authority),
            c.question,
            c.ours.long(),
            c.ours_secs
        );
        match self.oracle {
            "delv" => {
                if let Some(d) = &c.delv {
                    let _ = writeln!(out, "  delv:    {}", d.verdict);
                    for l in d.trace_tail.lines() {
                        let _ = writeln!(out, "    | {l}");
                    }
                }
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  unbound: {} [{:.1} s]",
                    c.unbound.long(),
                    c.unbound_secs
                );
            }
        }
        for s in &c.server_answers {
            let _ = writeln!(
                out,
                "  server {} ({}) for {}: {}{}",
                s.server,
                s.addr,
                s.name,
                s.verdict.long(),
                if s.authoritative { "" } else { " (no AA)" }
            );
        }
        let features: Vec<&str> = self.features.iter().map(String::as_str).collect();
        let _ = writeln!(out, "  path features: {}", features.join(", "));
        if with_world {
            out.push_str(&self.world.describe());
        }
        out
    }
}

/// The result of a plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub worlds: usize,
    pub unbound: Tally,
    pub delv: Tally,
    /// Every disagreement (justified, known and unexplained).
    pub divergences: Vec<Divergence>,
    pub elapsed_secs: f64,
    /// The slowest single question (engine or Unbound), seconds.
    pub slowest_question_secs: f64,
    /// The slowest questions: (seconds, which side, description).
    pub slowest: Vec<(f64, String)>,
}

impl Summary {
    /// Unexplained divergences.
    pub fn unexplained(&self) -> impl Iterator<Item = &Divergence> {
        self.divergences
            .iter()
            .filter(|d| d.judgement.is_unexplained())
    }

    /// The figures, one block of text.
    pub fn figures(&self) -> String {
        let mut out = format!(
            "{} worlds in {:.0} s (slowest question {:.1} s)\n",
            self.worlds, self.elapsed_secs, self.slowest_question_secs
        );
        out.push_str(&self.unbound.lines("unbound"));
        if self.delv.compared > 0 {
            out.push_str(&self.delv.lines("delv"));
        }
        for (secs, what) in &self.slowest {
            let _ = writeln!(out, "  slow: {secs:.1} s {what}");
        }
        out
    }
}

/// Open files one lab world needs: a UDP socket and a TCP listener per
/// server address (about 9.3 addresses per world over seeds 1-200), plus
/// the engine's sockets while it resolves.
pub const FDS_PER_WORLD: u64 = 24;
/// Open files kept aside for everything else (the stub's sockets to
/// Unbound, delv pipes, files).
const FD_RESERVE: u64 = 2048;
/// The open-file limit the harness asks for (as root it may raise its own).
pub const WANTED_FD_LIMIT: u64 = 262_144;

/// The soft open-file limit, after trying to raise it to
/// [`WANTED_FD_LIMIT`] with util-linux `prlimit` on our own pid (root may
/// raise the hard limit too; otherwise the old limit stays).
pub fn raise_fd_limit() -> u64 {
    if let Some(prlimit) = crate::tools::find("prlimit") {
        let _ = std::process::Command::new(prlimit)
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={WANTED_FD_LIMIT}:{WANTED_FD_LIMIT}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    fd_limit()
}

/// The soft open-file limit from `/proc/self/limits` (1024 if unreadable).
pub fn fd_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(1024)
}

/// The largest batch the open-file limit allows with `parallel` batches at
/// once; an error when not even a small batch fits.
pub fn batch_size_for(limit: u64, parallel: usize, wanted: usize) -> anyhow::Result<usize> {
    let parallel = u64::try_from(parallel.max(1)).unwrap_or(1);
    let per_batch = limit.saturating_sub(FD_RESERVE) / parallel / FDS_PER_WORLD;
    anyhow::ensure!(
        per_batch >= 20,
        "the open-file limit ({limit}) is too low for dcv-worlds: raise it (ulimit -n {WANTED_FD_LIMIT}, or run as root so the harness can raise it)"
    );
    Ok(wanted.min(usize::try_from(per_batch).unwrap_or(usize::MAX)))
}

/// Splits the plan into batches of at most `batch_size` worlds (the size
/// the open-file limit allows). Knot worlds share one machine-wide address
/// plan (a lock serialises Knot batches): they come first, at most
/// [`crate::knot::MAX_KNOT_WORLDS`] per batch, and lab worlds fill the rest.
pub fn batches(plan: &Plan) -> Vec<Vec<World>> {
    let size = plan.batch_size.max(1);
    let mut knot = plan.knot_seeds.iter();
    let mut lab = plan.lab_seeds.iter();
    let mut out: Vec<Vec<World>> = Vec::new();
    loop {
        let mut batch: Vec<World> = knot
            .by_ref()
            .take(size.min(crate::knot::MAX_KNOT_WORLDS))
            .map(|s| crate::generate(*s, Authority::Knot))
            .collect();
        let room = size - batch.len();
        batch.extend(
            lab.by_ref()
                .take(room)
                .map(|s| crate::generate(*s, Authority::Lab)),
        );
        if batch.is_empty() {
            return out;
        }
        out.push(batch);
    }
}

/// Runs every batch, judging as results come in. `progress` gets one line
/// per finished batch.
pub async fn run_plan(
    plan: &Plan,
    known: &Known,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let batches = batches(plan);
    let total = batches.len();
    let mut summary = Summary::default();
    let mut stream = futures::stream::iter(batches.into_iter().enumerate())
        .map(|(i, worlds)| {
            let cfg = plan.run.clone();
            async move {
                let n = worlds.len();
                let t = Instant::now();
                (i, n, t, run_batch(worlds, &cfg).await)
            }
        })
        .buffer_unordered(plan.parallel_batches.max(1));
    let mut done = 0;
    while let Some((i, n, t, result)) = stream.next().await {
        let runs = result?;
        done += 1;
        for run in runs {
            summary.worlds += 1;
            for (c, (vs_unbound, vs_delv)) in
                run.comparisons.iter().zip(judge::judge_world(&run, known))
            {
                summary.slowest_question_secs = summary
                    .slowest_question_secs
                    .max(c.ours_secs)
                    .max(c.unbound_secs);
                note_slow(&mut summary.slowest, &run.world, c);
                summary.unbound.add(&vs_unbound);
                if !matches!(vs_unbound, Judgement::Agree) {
                    summary
                        .divergences
                        .push(divergence(&run.world, c, "unbound", vs_unbound));
                }
                if let Some(j) = vs_delv {
                    summary.delv.add(&j);
                    if !matches!(j, Judgement::Agree) {
                        summary
                            .divergences
                            .push(divergence(&run.world, c, "delv", j));
                    }
                }
            }
        }
        progress(&format!(
            "batch {}/{total} ({done} done): {n} worlds in {:.0} s; so far {} worlds, unbound {}/{} agree, {} unexplained, {:.0} s elapsed",
            i + 1,
            t.elapsed().as_secs_f64(),
            summary.worlds,
            summary.unbound.agree,
            summary.unbound.compared,
            summary.unbound.unexplained + summary.delv.unexplained,
            started.elapsed().as_secs_f64()
        ));
    }
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Worlds resolved at once when unexplained divergences are run again.
const CONFIRM_CONCURRENCY: usize = 32;

/// Runs the worlds of unexplained divergences again, alone (small batch,
/// few worlds at once): a divergence that gives another pair of verdicts
/// then came from timing under load (the machine, not the engine), and is
/// counted apart as not reproduced. Those against Unbound that reproduce,
/// on a path with a server that times out (dead, slow, lossy or dropping a
/// type), are run once more with Unbound's 0x20 off (when it was on): a
/// pair that then agrees was Unbound's caps-for-id fallback, named as such
/// (known).
pub async fn confirm(summary: &mut Summary, cfg: &RunConfig, batch: usize) -> anyhow::Result<()> {
    let mut alone = cfg.clone();
    alone.world_concurrency = CONFIRM_CONCURRENCY;
    alone.delv_only = Some(
        summary
            .divergences
            .iter()
            .filter(|d| d.oracle == "delv" && d.judgement.is_unexplained())
            .map(|d| (d.world.seed, d.world.authority))
            .collect(),
    );
    let again = rerun_unexplained(summary, &alone, batch, |_| true).await?;
    for d in &mut summary.divergences {
        if !d.judgement.is_unexplained() {
            continue;
        }
        let Some(c) = rerun_of(&again, d) else {
            continue;
        };
        let (ours, theirs) = match d.oracle {
            "delv" => (
                crate::delv::ours_as_delv(&c.ours).to_string(),
                c.delv
                    .as_ref()
                    .map(|x| x.verdict.to_string())
                    .unwrap_or_default(),
            ),
            _ => (c.ours.short(), c.unbound.short()),
        };
        if ours != d.ours_short() || theirs != d.theirs_short() {
            d.judgement = Judgement::NotReproduced {
                again: format!("ours {ours}, {} {theirs}", d.oracle),
            };
            let tally = if d.oracle == "delv" {
                &mut summary.delv
            } else {
                &mut summary.unbound
            };
            tally.rejudge_unexplained(&d.judgement);
        }
    }
    if !cfg.unbound_caps_for_id {
        return Ok(());
    }
    let mut no_caps = alone;
    no_caps.unbound_caps_for_id = false;
    no_caps.delv_only = Some(Vec::new());
    // The fallback starts only after timeouts: only paths with a server
    // that can cause them are tried.
    let against_unbound = |d: &Divergence| {
        d.oracle == "unbound"
            && crate::judge::path_features(&d.world, &d.comparison.question.name)
                .iter()
                .any(|f| f.contains("Timeout") || f.contains("slow") || f.contains("lossy"))
    };
    let again = rerun_unexplained(summary, &no_caps, batch, against_unbound).await?;
    for d in &mut summary.divergences {
        if !d.judgement.is_unexplained() || !against_unbound(d) {
            continue;
        }
        if rerun_of(&again, d).is_some_and(|c| c.ours.agrees(&c.unbound)) {
            d.judgement = Judgement::Known {
                cause: CAPS_FALLBACK_CAUSE.to_owned(),
                area: CAPS_FALLBACK_AREA.to_owned(),
            };
            summary.unbound.rejudge_unexplained(&d.judgement);
        }
    }
    Ok(())
}

/// The cause given to a divergence that disappears with Unbound's 0x20 off.
const CAPS_FALLBACK_CAUSE: &str = "run again with Unbound's use-caps-for-id off, Unbound agrees with the engine: its 0x20 fallback after three timeouts decided";
/// Its area.
const CAPS_FALLBACK_AREA: &str = "oracle (Unbound caps-for-id fallback, shown by a run without it)";

/// The worlds of the unexplained divergences `which` selects, each with
/// just those questions, run under `cfg`.
async fn rerun_unexplained(
    summary: &Summary,
    cfg: &RunConfig,
    batch: usize,
    which: impl Fn(&Divergence) -> bool,
) -> anyhow::Result<Vec<WorldRun>> {
    let mut worlds: Vec<World> = Vec::new();
    for d in summary
        .divergences
        .iter()
        .filter(|d| d.judgement.is_unexplained() && which(d))
    {
        if let Some(w) = worlds
            .iter_mut()
            .find(|w| w.seed == d.world.seed && w.authority == d.world.authority)
        {
            if !w.questions.contains(&d.comparison.question) {
                w.questions.push(d.comparison.question.clone());
            }
        } else {
            let mut w = d.world.clone();
            w.questions = vec![d.comparison.question.clone()];
            worlds.push(w);
        }
    }
    let mut again: Vec<WorldRun> = Vec::new();
    for chunk in worlds.chunks(batch.max(1)) {
        again.extend(run_batch(chunk.to_vec(), cfg).await?);
    }
    Ok(again)
}

/// The re-run comparison of divergence `d`'s question, if its world ran.
fn rerun_of<'a>(again: &'a [WorldRun], d: &Divergence) -> Option<&'a Comparison> {
    again
        .iter()
        .find(|r| r.world.seed == d.world.seed && r.world.authority == d.world.authority)
        .and_then(|r| {
            r.comparisons
                .iter()
                .find(|c| c.question == d.comparison.question)
        })
}

/// Slowest questions kept in the summary.
const SLOWEST_KEPT: usize = 8;

fn note_slow(slowest: &mut Vec<(f64, String)>, world: &World, c: &Comparison) {
    let secs = c.ours_secs.max(c.unbound_secs);
    if slowest.len() >= SLOWEST_KEPT && slowest.last().is_some_and(|(s, _)| *s >= secs) {
        return;
    }
    let features: Vec<String> = judge::path_features(world, &c.question.name)
        .into_iter()
        .collect();
    slowest.push((
        secs,
        format!(
            "seed {} {}: ours {} in {:.1} s, unbound {} in {:.1} s [{}]",
            world.seed,
            c.question,
            c.ours.short(),
            c.ours_secs,
            c.unbound.short(),
            c.unbound_secs,
            features.join(", ")
        ),
    ));
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    slowest.truncate(SLOWEST_KEPT);
}

fn divergence(
    world: &World,
    c: &Comparison,
    oracle: &'static str,
    judgement: Judgement,
) -> Divergence {
    Divergence {
        world: world.clone(),
        comparison: c.clone(),
        oracle,
        judgement,
        features: judge::path_features(world, &c.question.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_every_world_once_and_never_exceed_the_size() {
        let plan = Plan {
            lab_seeds: (1..=1000).collect(),
            knot_seeds: (1..=250).collect(),
            batch_size: 374,
            parallel_batches: 2,
            run: RunConfig::default(),
        };
        let out = batches(&plan);
        assert!(out.iter().all(|b| !b.is_empty() && b.len() <= 374));
        let knot: usize = out
            .iter()
            .flatten()
            .filter(|w| w.authority == Authority::Knot)
            .count();
        let lab: usize = out
            .iter()
            .flatten()
            .filter(|w| w.authority == Authority::Lab)
            .count();
        assert_eq!((knot, lab), (250, 1000));
        assert!(out.iter().all(
            |b| b.iter().filter(|w| w.authority == Authority::Knot).count()
                <= crate::knot::MAX_KNOT_WORLDS
        ));
        assert_eq!(out.len(), 1250_usize.div_ceil(374));
    }
}
