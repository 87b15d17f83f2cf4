//! Knot DNS as the authority of some worlds, so the lab's server is not the
//! only implementation the verdicts rest on.
//!
//! How a batch's Knot worlds are served, the way a provider runs them: one
//! hidden primary ("signer") loads every zone file and signs it itself
//! (keys made beforehand with `keymgr`, policy `manual: on`, so the DS can
//! go into the parent's file before anything starts); then one `knotd` per
//! server *slot* (server number `k` of every Knot world) is a secondary that
//! transfers (AXFR) exactly the zones its servers serve and answers on their
//! addresses. A server listed in an NS set but not serving the zone is not
//! configured for it, and Knot answers REFUSED (or with the parent's
//! referral when the same slot serves the parent): a lame delegation.
//! Server fault knobs and signature faults have no Knot form; the generator
//! leaves them out of Knot worlds (`Authority::Knot`), parent-side DS faults
//! are written into the parent's file here.
//!
//! Addresses: world `j` of the batch, server `k` listens on `127.14.j.(k+1)`
//! and `fd5c:dc5:0:14::j:(k+1)`; the signer on `127.14.255.1`. 127.14/16 is
//! outside the lab's 127.16-254 blocks and `dcv-interop`'s 127.15/16, and
//! `fd5c:dc5:0:14::/64` inside the `/48` that `scripts/lab-net-setup` makes
//! local. The fixed plan allows one Knot batch per machine at a time: a lock
//! file makes a second one wait.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dcv_lab::{KeyAlgorithm, Signing, ZoneFault};

use crate::stub::{self, Ask};
use crate::tools;
use crate::world::{World, in_zone};

/// Knot worlds in one batch (the third octet of their addresses).
pub const MAX_KNOT_WORLDS: usize = 200;
/// Servers per Knot world (the fourth octet).
const MAX_SERVERS: usize = 200;
/// How long every zone may take to be signed and transferred.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Machine-wide lock for the fixed address plan.
const LOCK_FILE: &str = "/tmp/dcv-worlds-knot.lock";
/// How long a second Knot batch waits for the first.
const LOCK_WAIT: Duration = Duration::from_secs(900);

fn v4(world: usize, server: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        14,
        u8::try_from(world).unwrap_or(0),
        u8::try_from(server + 1).unwrap_or(0),
    )
}

fn v6(world: usize, server: usize) -> Ipv6Addr {
    Ipv6Addr::new(
        0xfd5c,
        0x0dc5,
        0,
        0x14,
        0,
        0,
        u16::try_from(world).unwrap_or(0),
        u16::try_from(server + 1).unwrap_or(0),
    )
}

const SIGNER: Ipv4Addr = Ipv4Addr::new(127, 14, 255, 1);

/// A zone a slot must serve before the batch starts: the address to ask,
/// the apex, whether it is signed (then its SOA must carry an RRSIG).
type Probe = (IpAddr, String, bool);

/// Everything written before any daemon starts.
#[derive(Debug)]
pub struct KnotPlan {
    /// NS, glue and DS lines the lab root publishes for the Knot worlds' TLDs.
    pub root_lines: Vec<String>,
    dir: PathBuf,
    /// Slot configs and what each must serve.
    slots: Vec<(PathBuf, Vec<Probe>)>,
    signer_conf: PathBuf,
    lock: Lock,
}

/// Running Knot daemons; stopped (by pid) when dropped.
#[derive(Debug)]
pub struct KnotFleet {
    daemons: Vec<Child>,
    dir: PathBuf,
    _lock: Lock,
}

impl Drop for KnotFleet {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
        }
        for d in &mut self.daemons {
            let _ = d.wait();
        }
        if std::env::var_os("DCV_WORLDS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The machine-wide lock, released when dropped.
#[derive(Debug)]
struct Lock;

impl Lock {
    fn take() -> anyhow::Result<Self> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(LOCK_FILE)
            {
                Ok(mut f) => {
                    use std::io::Write as _;
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(Self);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner: Option<u32> = std::fs::read_to_string(LOCK_FILE)
                        .ok()
                        .and_then(|t| t.trim().parse().ok());
                    if owner.is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                        let _ = std::fs::remove_file(LOCK_FILE);
                        continue;
                    }
                    if Instant::now() > deadline {
                        bail!("{LOCK_FILE} still held by pid {owner:?} after {LOCK_WAIT:?}");
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e).context(LOCK_FILE),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let mine = std::fs::read_to_string(LOCK_FILE)
            .is_ok_and(|t| t.trim() == std::process::id().to_string());
        if mine {
            let _ = std::fs::remove_file(LOCK_FILE);
        }
    }
}

fn keymgr_algorithm(a: KeyAlgorithm) -> &'static str {
    match a {
        KeyAlgorithm::RsaSha256 => "rsasha256",
        KeyAlgorithm::EcdsaP256Sha256 => "ecdsap256sha256",
        KeyAlgorithm::EcdsaP384Sha384 => "ecdsap384sha384",
        KeyAlgorithm::Ed25519 => "ed25519",
    }
}

/// The policy id and text for a zone's algorithm and denial mode.
fn policy(algorithm: KeyAlgorithm, signing: &Signing) -> (String, String) {
    let alg = keymgr_algorithm(algorithm);
    if let Signing::Nsec3 {
        iterations,
        salt,
        opt_out,
    } = signing
    {
        let salt_len = salt.len() / 2;
        let id = format!("{alg}-nsec3-{iterations}-{salt_len}-{opt_out}");
        let text = format!(
            "  - id: {id}\n    manual: on\n    algorithm: {alg}\n    nsec3: on\n    nsec3-iterations: {iterations}\n    nsec3-salt-length: {salt_len}\n    nsec3-opt-out: {}\n",
            if *opt_out { "on" } else { "off" }
        );
        (id, text)
    } else {
        let id = format!("{alg}-nsec");
        let text = format!("  - id: {id}\n    manual: on\n    algorithm: {alg}\n");
        (id, text)
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The SHA-256 DS `keymgr` gives for the zone's KSK, as a zone-file line,
/// with the zone's parent-side DS faults applied; `None` for `NoDs`.
fn ds_line(conf: &Path, apex: &str, faults: &[ZoneFault]) -> anyhow::Result<Option<String>> {
    if faults.contains(&ZoneFault::NoDs) {
        return Ok(None);
    }
    let out = run(Command::new(tools::require("keymgr")?)
        .arg("-c")
        .arg(conf)
        .args([apex, "ds"]))?;
    // "<apex> DS <tag> <alg> <digest type> <digest>"
    let fields: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[1] == "DS" && f[4] == "2")
        .with_context(|| format!("no SHA-256 DS from keymgr for {apex}: {out}"))?;
    let (mut tag, mut alg, digest_type, mut digest) = (
        fields[2].parse::<u16>().context("DS key tag")?,
        fields[3].clone(),
        fields[4].clone(),
        fields[5..].concat(),
    );
    for f in faults {
        match f {
            ZoneFault::DsBadTag => tag = tag.wrapping_add(1),
            ZoneFault::DsBadDigest => {
                let last = digest.pop().unwrap_or('0');
                digest.push(if last == '0' { '1' } else { '0' });
            }
            ZoneFault::DsAlgorithm(a) => alg = a.to_string(),
            _ => {}
        }
    }
    Ok(Some(format!(
        "{apex} 3600 DS {tag} {alg} {digest_type} {digest}"
    )))
}

/// A/AAAA lines for world server `s` of world `j`.
fn address_lines(world: &World, j: usize, s: usize, out: &mut Vec<String>) {
    let server = &world.servers[s];
    if server.ipv4 {
        out.push(format!("{} 3600 A {}", server.name, v4(j, s)));
    }
    if server.ipv6 {
        out.push(format!("{} 3600 AAAA {}", server.name, v6(j, s)));
    }
}

/// Glue for a delegation: addresses of NS targets inside the child.
fn glue_lines(world: &World, j: usize, child: usize, out: &mut Vec<String>) {
    let zone = &world.zones[child];
    if zone.faults.contains(&ZoneFault::NoGlue) {
        return;
    }
    for s in &zone.ns {
        if in_zone(&world.servers[*s].name, &zone.apex) {
            address_lines(world, j, *s, out);
        }
    }
}

/// Writes keys, zone files and configs for the Knot worlds of a batch.
pub fn prepare(worlds: &[World], dir: &Path) -> anyhow::Result<KnotPlan> {
    anyhow::ensure!(
        worlds.len() <= MAX_KNOT_WORLDS,
        "at most {MAX_KNOT_WORLDS} Knot worlds per batch"
    );
    anyhow::ensure!(
        worlds.iter().all(|w| w.servers.len() <= MAX_SERVERS),
        "at most {MAX_SERVERS} servers per Knot world"
    );
    tools::require("knotd")?;
    let lock = Lock::take()?;
    let signer_dir = dir.join("signer");
    std::fs::create_dir_all(signer_dir.join("zones"))?;
    std::fs::create_dir_all(signer_dir.join("db"))?;

    // The signer's config: every zone, its policy.
    let mut policies: Vec<(String, String)> = Vec::new();
    let mut zone_conf = String::new();
    for w in worlds {
        for z in &w.zones {
            let file = format!("{}zone", z.apex);
            if z.signing.is_signed() {
                let (id, text) = policy(z.algorithm, &z.signing);
                if !policies.iter().any(|(i, _)| *i == id) {
                    policies.push((id.clone(), text));
                }
                let _ = write!(
                    zone_conf,
                    "  - domain: \"{}\"\n    file: \"{file}\"\n    dnssec-signing: on\n    dnssec-policy: {id}\n",
                    z.apex
                );
            } else {
                let _ = write!(
                    zone_conf,
                    "  - domain: \"{}\"\n    file: \"{file}\"\n    dnssec-signing: off\n",
                    z.apex
                );
            }
        }
    }
    let sd = signer_dir.display();
    let mut conf = format!(
        "server:\n    rundir: \"{sd}\"\n    pidfile: \"{sd}/knotd.pid\"\n    listen: \"{SIGNER}@53\"\n    udp-workers: 1\n    tcp-workers: 2\n    background-workers: 2\n\
log:\n  - target: \"{sd}/knotd.log\"\n    any: warning\n\
database:\n    storage: \"{sd}/db\"\n\
acl:\n  - id: transfer\n    address: [ 127.0.0.0/8, fd5c:dc5::/48 ]\n    action: transfer\n\
template:\n  - id: default\n    storage: \"{sd}/zones\"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    acl: transfer\n"
    );
    conf.push_str("policy:\n");
    for (_, text) in &policies {
        conf.push_str(text);
    }
    conf.push_str("zone:\n");
    conf.push_str(&zone_conf);
    let signer_conf = signer_dir.join("knot.conf");
    std::fs::write(&signer_conf, &conf)?;

    // Keys, then DS lines (children before their parents need them).
    let keymgr = tools::require("keymgr")?;
    let mut ds: Vec<(String, Option<String>)> = Vec::new();
    for w in worlds {
        for z in w.zones.iter().filter(|z| z.signing.is_signed()) {
            let mut cmd = Command::new(&keymgr);
            cmd.arg("-c").arg(&signer_conf).args([
                z.apex.as_str(),
                "generate",
                &format!("algorithm={}", keymgr_algorithm(z.algorithm)),
                "ksk=yes",
                "zsk=yes",
            ]);
            if z.algorithm == KeyAlgorithm::RsaSha256 {
                cmd.arg("size=2048");
            }
            run(&mut cmd)?;
            ds.push((z.apex.clone(), ds_line(&signer_conf, &z.apex, &z.faults)?));
        }
    }
    let ds_of = |apex: &str| {
        ds.iter()
            .find(|(a, _)| a == apex)
            .and_then(|(_, d)| d.clone())
    };

    // Zone files and the root's lines.
    let mut root_lines = Vec::new();
    for (j, w) in worlds.iter().enumerate() {
        root_lines.extend(w.delegation_lines(0));
        glue_lines(w, j, 0, &mut root_lines);
        let tld = &w.zones[0];
        // The root only gets a DS when both sides are signed.
        if tld.signing.is_signed() {
            root_lines.extend(ds_of(&tld.apex));
        }
        for (i, z) in w.zones.iter().enumerate() {
            let mut lines = vec![
                format!("$ORIGIN {}", z.apex),
                "$TTL 300".to_owned(),
                format!(
                    "@ 3600 SOA {} hostmaster.{} 1 7200 3600 1209600 300",
                    z.ns.first()
                        .map_or("ns.invalid.", |s| w.servers[*s].name.as_str()),
                    z.apex
                ),
            ];
            lines.extend(w.zone_lines(i, &z.records));
            for child in w.children(i) {
                glue_lines(w, j, child, &mut lines);
                if z.signing.is_signed() && w.zones[child].signing.is_signed() {
                    lines.extend(ds_of(&w.zones[child].apex));
                }
            }
            for s in 0..w.servers.len() {
                if w.zone_of(&w.servers[s].name) == Some(i) {
                    address_lines(w, j, s, &mut lines);
                }
            }
            let mut text = lines.join("\n");
            text.push('\n');
            std::fs::write(
                signer_dir.join("zones").join(format!("{}zone", z.apex)),
                text,
            )?;
        }
    }

    // One secondary per server slot.
    let slot_count = worlds.iter().map(|w| w.servers.len()).max().unwrap_or(0);
    let mut slots = Vec::new();
    for k in 0..slot_count {
        let slot_dir = dir.join(format!("slot-{k}"));
        std::fs::create_dir_all(slot_dir.join("zones"))?;
        let d = slot_dir.display();
        let mut listen = Vec::new();
        let mut zones = String::new();
        let mut probes = Vec::new();
        for (j, w) in worlds.iter().enumerate() {
            let Some(server) = w.servers.get(k) else {
                continue;
            };
            if server.ipv4 {
                listen.push(format!("\"{}@53\"", v4(j, k)));
            }
            if server.ipv6 {
                listen.push(format!("\"{}@53\"", v6(j, k)));
            }
            let probe = if server.ipv4 {
                IpAddr::V4(v4(j, k))
            } else {
                IpAddr::V6(v6(j, k))
            };
            for z in w.zones.iter().filter(|z| z.serving.contains(&k)) {
                let _ = writeln!(zones, "  - domain: \"{}\"", z.apex);
                probes.push((probe, z.apex.clone(), z.signing.is_signed()));
            }
        }
        if listen.is_empty() {
            continue;
        }
        let mut conf = format!(
            "server:\n    rundir: \"{d}\"\n    pidfile: \"{d}/knotd.pid\"\n    listen: [ {} ]\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
log:\n  - target: \"{d}/knotd.log\"\n    any: warning\n\
database:\n    storage: \"{d}/db\"\n\
remote:\n  - id: signer\n    address: \"{SIGNER}@53\"\n\
template:\n  - id: default\n    storage: \"{d}/zones\"\n    master: signer\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: none\n    dnssec-signing: off\n",
            listen.join(", ")
        );
        if !zones.is_empty() {
            conf.push_str("zone:\n");
            conf.push_str(&zones);
        }
        let path = slot_dir.join("knot.conf");
        std::fs::write(&path, conf)?;
        slots.push((path, probes));
    }
    Ok(KnotPlan {
        root_lines,
        dir: dir.to_owned(),
        slots,
        signer_conf,
        lock,
    })
}

/// Starts the signer and the slots; returns once every slot serves its
/// zones (signed ones with their RRSIGs).
pub fn start(plan: KnotPlan) -> anyhow::Result<KnotFleet> {
    let knotd = tools::require("knotd")?;
    let spawn = |conf: &Path| -> anyhow::Result<Child> {
        let log = std::fs::File::create(conf.with_extension("out"))?;
        Command::new(&knotd)
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting knotd -c {}", conf.display()))
    };
    let mut fleet = KnotFleet {
        daemons: Vec::new(),
        dir: plan.dir.clone(),
        _lock: plan.lock,
    };
    fleet.daemons.push(spawn(&plan.signer_conf)?);
    for (conf, _) in &plan.slots {
        fleet.daemons.push(spawn(conf)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    for (conf, probes) in &plan.slots {
        for (addr, apex, signed) in probes {
            loop {
                let ask = Ask {
                    name: apex,
                    rtype: 6,
                    recursion: false,
                    deadline: Duration::from_millis(300),
                    retransmit: Duration::from_millis(300),
                };
                let reply = runtime.block_on(stub::ask(SocketAddr::new(*addr, 53), &ask));
                let ready = reply.is_ok_and(|r| {
                    r.rcode == 0 && r.aa && (!signed || r.answer.iter().any(|rr| rr.rtype == 46))
                });
                if ready {
                    break;
                }
                if Instant::now() > deadline {
                    let log =
                        std::fs::read_to_string(conf.with_extension("out")).unwrap_or_default();
                    bail!(
                        "knot ({}) does not serve {apex} on {addr} after {READY_TIMEOUT:?}: {log}",
                        conf.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_the_knot_plan() {
        assert_eq!(v4(3, 0), Ipv4Addr::new(127, 14, 3, 1));
        assert_eq!(v6(3, 0).segments()[..4], [0xfd5c, 0x0dc5, 0, 0x14]);
        assert!((0..MAX_KNOT_WORLDS).all(|j| v4(j, 0) != SIGNER));
    }

    #[test]
    fn policies_follow_the_zone() {
        let (id, text) = policy(KeyAlgorithm::Ed25519, &Signing::nsec3());
        assert_eq!(id, "ed25519-nsec3-0-0-false");
        assert!(text.contains("nsec3: on") && text.contains("algorithm: ed25519"));
        let (id, _) = policy(KeyAlgorithm::RsaSha256, &Signing::Nsec);
        assert_eq!(id, "rsasha256-nsec");
    }
}
