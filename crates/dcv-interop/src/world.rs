//! The real world: four `knotd` instances (root, TLD, two providers), a
//! validating Unbound configured like Let's Encrypt's, a non-validating Unbound
//! for `delv`, and Pebble pointed at the validating Unbound.
//!
//! Every daemon's pid is written to `<dir>/pids/<name>.pid` and every socket
//! it should hold to `<dir>/sockets`; [`stop_dir`] stops exactly those pids and
//! then proves the sockets are free again.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::net::{self, NameServer};
use crate::tools;
use crate::zones::{self, Signing, ZONES};

/// The name (and its subdomains) Pebble's policy refuses: new orders for it
/// get `rejectedIdentifier` "... forbidden by policy".
pub const BLOCKED_NAME: &str = "blocked.good.lab";

/// How long any daemon may take to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// One world per machine: the addresses are fixed, and Knot binds with
/// `SO_REUSEPORT`, so two worlds would silently share sockets. Everyone who
/// runs `cargo test --workspace` runs this suite, so a second run waits here.
const LOCK_FILE: &str = "/tmp/dcv-interop.lock";
/// How long a second run waits for the first to finish.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// Takes the machine-wide world lock (`LOCK_FILE` holds our pid and the world
/// directory). A lock whose owner and daemons are all gone is stale and taken over.
fn lock(dir: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut told = false;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(LOCK_FILE)
        {
            Ok(mut f) => {
                use std::io::Write as _;
                writeln!(f, "{}\n{}", std::process::id(), dir.display())?;
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(LOCK_FILE).unwrap_or_default();
                let mut lines = text.lines();
                let owner: Option<u32> = lines.next().and_then(|p| p.trim().parse().ok());
                let owner_dir = lines.next().map(PathBuf::from);
                let daemons_alive = owner_dir
                    .as_deref()
                    .is_some_and(|d| !live_pids(d).is_empty());
                if !text.is_empty() && !owner.is_some_and(pid_alive) && !daemons_alive {
                    let _ = std::fs::remove_file(LOCK_FILE);
                    continue;
                }
                if !told {
                    eprintln!(
                        "dcv-interop: another interop world is running ({}), waiting for it",
                        text.replace('\n', " ")
                    );
                    told = true;
                }
                if Instant::now() > deadline {
                    bail!(
                        "another interop world still holds {LOCK_FILE} after {LOCK_WAIT:?}: {text}"
                    );
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e).context(LOCK_FILE),
        }
    }
}

fn unlock(dir: &Path) {
    let text = std::fs::read_to_string(LOCK_FILE).unwrap_or_default();
    if text.lines().nth(1).map(Path::new) == Some(dir) {
        let _ = std::fs::remove_file(LOCK_FILE);
    }
}

fn live_pids(dir: &Path) -> Vec<u32> {
    std::fs::read_dir(dir.join("pids"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
                .filter(|p| pid_alive(*p))
                .collect()
        })
        .unwrap_or_default()
}

/// A started daemon.
#[derive(Debug)]
struct Daemon {
    name: String,
    pid: u32,
    /// Held when we are its parent for the whole run (the test), so it is
    /// reaped; `None` when started detached (`scripts/interop up`).
    child: Option<Child>,
}

/// The running world. Stop it with [`World::stop`] (the test does, and checks
/// the result); dropping it stops it too, without the check.
#[derive(Debug)]
pub struct World {
    pub dir: PathBuf,
    /// `--root-hints` for dcv-doctor.
    pub root_hints: PathBuf,
    /// `--trust-anchor` for dcv-doctor (the root DS, also Unbound's anchor).
    pub trust_anchor: PathBuf,
    /// `delv -a` file with the same anchor.
    pub delv_anchors: PathBuf,
    /// Pebble's WFE CA certificate (PEM), for the ACME client.
    pub pebble_ca: PathBuf,
    daemons: Vec<Daemon>,
    stopped: bool,
}

/// Runs a command to completion, failing with its stderr.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
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

fn knot_dir(dir: &Path, ns: &NameServer) -> PathBuf {
    dir.join(format!("knot-{}", ns.id))
}

fn zone_file_name(zone: &str) -> String {
    if zone == "." {
        "root.zone".to_owned()
    } else {
        format!("{zone}zone")
    }
}

fn knot_conf(dir: &Path, ns: &NameServer) -> String {
    let d = knot_dir(dir, ns);
    let d = d.display();
    let mut conf = format!(
        "server:\n    rundir: \"{d}\"\n    pidfile: \"{d}/knotd.pid\"\n    listen: [ \"{v4}@53\", \"{v6}@53\" ]\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
control:\n    listen: \"{d}/knot.sock\"\n\
log:\n  - target: \"{d}/knotd.log\"\n    any: info\n\
database:\n    storage: \"{d}/db\"\n\
key:\n  - id: {tsig}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
acl:\n  - id: update\n    key: {tsig}\n    action: update\n\
policy:\n  - id: offline\n    manual: on\n\
template:\n  - id: default\n    storage: \"{d}/zones\"\n    zonefile-sync: -1\n    zonefile-load: whole\n\
zone:\n",
        v4 = ns.v4,
        v6 = ns.v6,
        tsig = zones::TSIG_NAME,
        secret = zones::TSIG_SECRET,
    );
    for z in ZONES.iter().filter(|z| z.server == *ns) {
        let signing = match z.signing {
            Signing::Knot | Signing::DsMismatch => {
                "    dnssec-signing: on\n    dnssec-policy: offline\n"
            }
            Signing::Unsigned | Signing::Expired | Signing::Stripped | Signing::MissingFile => {
                "    dnssec-signing: off\n"
            }
            // Not configured anywhere: the server answers REFUSED / never answers.
            Signing::NotConfigured | Signing::Sink => continue,
        };
        let acl = if z.updatable { "    acl: update\n" } else { "" };
        let _ = write!(
            conf,
            "  - domain: \"{}\"\n    file: \"{}\"\n{signing}{acl}",
            z.name,
            zone_file_name(z.name)
        );
    }
    conf
}

/// The DS (digest type 2) of the key `keymgr` holds for `zone`.
fn keymgr_ds(conf: &Path, zone: &str) -> anyhow::Result<String> {
    let out = run(Command::new(tools::require("keymgr")?)
        .arg("-c")
        .arg(conf)
        .args([zone, "ds"]))?;
    out.lines()
        .find(|l| l.split_whitespace().nth(4) == Some("2"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} 3600 IN DS {}", f[0], f[2..].join(" "))
        })
        .with_context(|| format!("no SHA-256 DS from keymgr for {zone}: {out}"))
}

/// An ldns key pair for `zone` in `dir`; returns the key base path.
fn ldns_key(dir: &Path, zone: &str) -> anyhow::Result<PathBuf> {
    let base = run(Command::new(tools::require("ldns-keygen")?)
        .current_dir(dir)
        .args(["-a", "ECDSAP256SHA256", "-k", zone.trim_end_matches('.')]))?;
    Ok(dir.join(base.trim()))
}

fn ldns_ds(key: &Path) -> anyhow::Result<String> {
    let mut key_file = key.as_os_str().to_owned();
    key_file.push(".key");
    let out = run(Command::new(tools::require("ldns-key2ds")?)
        .args(["-n", "-2"])
        .arg(&key_file))?;
    let f: Vec<&str> = out.split_whitespace().collect();
    anyhow::ensure!(
        f.len() >= 7 && f[3] == "DS",
        "unexpected ldns-key2ds output: {out}"
    );
    Ok(format!("{} 3600 IN DS {}", f[0], f[4..].join(" ")))
}

/// Flips the last hex digit of a DS line's digest: a DS matching no key.
fn break_ds(ds: &str) -> String {
    let mut s = ds.to_owned();
    let last = s.pop().unwrap_or('0');
    s.push(if last == '0' { '1' } else { '0' });
    s
}

fn spawn(dir: &Path, name: &str, cmd: &mut Command, detached: bool) -> anyhow::Result<Daemon> {
    use std::os::unix::process::CommandExt as _;
    let log = std::fs::File::create(dir.join("logs").join(format!("{name}.out")))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a ^C in the shell that ran `scripts/interop up`
        // does not reach it; `down` stops it by pid.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {name}: {cmd:?}"))?;
    let pid = child.id();
    std::fs::write(
        dir.join("pids").join(format!("{name}.pid")),
        format!("{pid}\n"),
    )?;
    Ok(Daemon {
        name: name.to_owned(),
        pid,
        child: if detached { None } else { Some(child) },
    })
}

/// Appends sockets a daemon holds to `<dir>/sockets` (checked at teardown).
pub fn record_sockets(dir: &Path, sockets: &[(bool, SocketAddr)]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("sockets"))?;
    for (tcp, addr) in sockets {
        writeln!(f, "{} {addr}", if *tcp { "tcp" } else { "udp" })?;
    }
    Ok(())
}

fn dns_sockets(ips: &[IpAddr]) -> Vec<(bool, SocketAddr)> {
    ips.iter()
        .flat_map(|ip| {
            [
                (false, SocketAddr::new(*ip, 53)),
                (true, SocketAddr::new(*ip, 53)),
            ]
        })
        .collect()
}

/// Whether a socket can be bound (i.e. nobody holds it).
pub fn socket_free(tcp: bool, addr: SocketAddr) -> bool {
    if tcp {
        TcpListener::bind(addr).is_ok()
    } else {
        UdpSocket::bind(addr).is_ok()
    }
}

/// `dig`-like probe through kdig: the answer text, if the server answered.
pub fn kdig(server: IpAddr, args: &[&str]) -> Option<String> {
    let out = Command::new(tools::find("kdig")?)
        .arg(format!("@{server}"))
        .args(["+time=1", "+retry=0"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not become ready within {READY_TIMEOUT:?}")
}

fn unbound_conf(dir: &Path, addr: IpAddr, validating: bool) -> String {
    let name = if validating {
        "unbound"
    } else {
        "unbound-plain"
    };
    let d = dir.display();
    let validation = if validating {
        format!(
            "    module-config: \"validator iterator\"\n    trust-anchor-file: \"{d}/trust-anchor.ds\"\n    val-sig-skew-min: 0\n    val-sig-skew-max: 0\n    val-log-level: 2\n    harden-dnssec-stripped: yes\n    harden-algo-downgrade: yes\n"
        )
    } else {
        "    module-config: \"iterator\"\n".to_owned()
    };
    format!(
        "# {name}: configured like Let's Encrypt's resolver (see docs/interop.md).\n\
server:\n    interface: {addr}\n    port: 53\n    do-daemonize: no\n    username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/{name}.pidfile\"\n    logfile: \"{d}/logs/{name}.log\"\n    use-syslog: no\n    verbosity: 1\n    log-servfail: yes\n    num-threads: 1\n    so-reuseport: no\n    do-ip4: yes\n    do-ip6: yes\n    do-not-query-localhost: no\n    discard-timeout: 0\n    root-hints: \"{d}/root.hints\"\n    qname-minimisation: no\n    use-caps-for-id: yes\n    harden-glue: yes\n    harden-below-nxdomain: yes\n    aggressive-nsec: no\n    prefetch: no\n    cache-max-negative-ttl: 0\n    cache-max-ttl: 5\n    ede: yes\n    edns-buffer-size: 1232\n    access-control: 127.0.0.0/8 allow\n{validation}\
remote-control:\n    control-enable: no\n"
    )
}

fn pebble_certs(dir: &Path) -> anyhow::Result<PathBuf> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "dcv-interop Pebble WFE CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        net::PEBBLE.ip().to_string(),
        "pebble.interop.invalid".to_owned(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "dcv-interop Pebble WFE");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    let p = dir.join("pebble");
    std::fs::create_dir_all(&p)?;
    std::fs::write(p.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(p.join("cert.pem"), leaf_cert.pem())?;
    std::fs::write(p.join("key.pem"), leaf_key.serialize_pem())?;
    Ok(p.join("ca.pem"))
}

impl World {
    /// Builds and starts everything in `dir` (created; must not hold a running
    /// world). `detached`: daemons outlive this process (`scripts/interop up`).
    pub fn start(dir: &Path, detached: bool) -> anyhow::Result<World> {
        tools::check_all()?;
        anyhow::ensure!(
            tools::is_root(),
            "dcv-interop must run as root: Knot, Unbound and the web hosts bind port 53/80/443 on 127.15.x.y"
        );
        std::fs::create_dir_all(dir)?;
        lock(dir)?;
        let mut candidates: Vec<IpAddr> = vec![net::RESOLVER.into(), net::PLAIN_RESOLVER.into()];
        for ns in net::NAME_SERVERS {
            candidates.extend(zones::listen_addrs(&ns));
        }
        let busy: Vec<String> = candidates
            .iter()
            .map(|ip| SocketAddr::new(*ip, 53))
            .filter(|a| !socket_free(false, *a))
            .map(|a| a.to_string())
            .collect();
        if !busy.is_empty() {
            unlock(dir);
            bail!(
                "the interop world's addresses are in use ({}): a world is already running; stop it with `scripts/interop down`",
                busy.join(", ")
            );
        }
        for sub in ["pids", "logs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let _ = std::fs::remove_file(dir.join("sockets"));
        let mut world = World {
            dir: dir.to_owned(),
            root_hints: dir.join("root.hints"),
            trust_anchor: dir.join("trust-anchor.ds"),
            delv_anchors: dir.join("delv-anchors.conf"),
            pebble_ca: pebble_certs(dir)?,
            daemons: Vec::new(),
            stopped: false,
        };
        // If anything below fails, `world` is dropped and stops what started.
        world.build_dns()?;
        world.start_knot(detached)?;
        world.start_unbound(detached)?;
        world.start_pebble(detached)?;
        Ok(world)
    }

    /// Keys, DS records, zone files, Knot configs, hints and anchors.
    fn build_dns(&self) -> anyhow::Result<()> {
        let dir = &self.dir;
        let ldns_dir = dir.join("ldns");
        std::fs::create_dir_all(&ldns_dir)?;
        for ns in net::NAME_SERVERS {
            let kd = knot_dir(dir, &ns);
            std::fs::create_dir_all(kd.join("db"))?;
            std::fs::create_dir_all(kd.join("zones"))?;
            std::fs::write(kd.join("knot.conf"), knot_conf(dir, &ns))?;
        }
        // Keys first (children's DS go into parents).
        let mut ds: Vec<(&str, String)> = Vec::new();
        let mut ldns_keys: Vec<(&str, PathBuf)> = Vec::new();
        for z in ZONES {
            let conf = knot_dir(dir, &z.server).join("knot.conf");
            match z.signing {
                Signing::Knot | Signing::DsMismatch => {
                    run(Command::new(tools::require("keymgr")?)
                        .arg("-c")
                        .arg(&conf)
                        .args([
                            z.name,
                            "generate",
                            "algorithm=ecdsap256sha256",
                            "ksk=yes",
                            "zsk=yes",
                        ]))?;
                    let d = keymgr_ds(&conf, z.name)?;
                    let d = if z.signing == Signing::DsMismatch {
                        break_ds(&d)
                    } else {
                        d
                    };
                    ds.push((z.name, d));
                }
                Signing::Expired | Signing::Stripped => {
                    let key = ldns_key(&ldns_dir, z.name)?;
                    ds.push((z.name, ldns_ds(&key)?));
                    ldns_keys.push((z.name, key));
                }
                _ => {}
            }
        }
        let lookup = |name: &str| ds.iter().find(|(n, _)| *n == name).map(|(_, d)| d.clone());
        for z in ZONES {
            let text = zones::zone_text(z, &lookup);
            let path = knot_dir(dir, &z.server)
                .join("zones")
                .join(zone_file_name(z.name));
            match z.signing {
                Signing::MissingFile | Signing::NotConfigured | Signing::Sink => {}
                Signing::Expired => {
                    let unsigned = ldns_dir.join(zone_file_name(z.name));
                    std::fs::write(&unsigned, text)?;
                    let key = &ldns_keys
                        .iter()
                        .find(|(n, _)| *n == z.name)
                        .context("key")?
                        .1;
                    run(Command::new(tools::require("ldns-signzone")?)
                        .args(["-i", "20200101000000", "-e", "20200201000000", "-f"])
                        .arg(&path)
                        .arg(&unsigned)
                        .arg(key))?;
                }
                _ => std::fs::write(&path, text)?,
            }
        }
        let root_ds = lookup(".").context("root DS")?;
        std::fs::write(&self.trust_anchor, format!("{root_ds}\n"))?;
        let f: Vec<&str> = root_ds.split_whitespace().collect();
        std::fs::write(
            &self.delv_anchors,
            format!(
                "trust-anchors {{\n    . static-ds {} {} {} \"{}\";\n}};\n",
                f[4], f[5], f[6], f[7]
            ),
        )?;
        std::fs::write(
            &self.root_hints,
            format!(
                "; dcv-interop private root\n.  3600000  NS  {n}\n{n}  3600000  A  {v4}\n{n}  3600000  AAAA  {v6}\n",
                n = net::ROOT.name,
                v4 = net::ROOT.v4,
                v6 = net::ROOT.v6
            ),
        )?;
        Ok(())
    }

    fn start_knot(&mut self, detached: bool) -> anyhow::Result<()> {
        let knotd = tools::require("knotd")?;
        for ns in net::NAME_SERVERS {
            let conf = knot_dir(&self.dir, &ns).join("knot.conf");
            let d = spawn(
                &self.dir,
                &format!("knot-{}", ns.id),
                Command::new(&knotd).arg("-c").arg(&conf),
                detached,
            )?;
            self.daemons.push(d);
            record_sockets(&self.dir, &dns_sockets(&zones::listen_addrs(&ns)))?;
        }
        for z in ZONES {
            let signed = matches!(z.signing, Signing::Knot | Signing::DsMismatch);
            let served = !matches!(
                z.signing,
                Signing::MissingFile | Signing::NotConfigured | Signing::Sink
            );
            if !served {
                continue;
            }
            let server = IpAddr::V4(z.server.v4);
            wait_until(&format!("knot-{} serving {}", z.server.id, z.name), || {
                kdig(server, &["+dnssec", "+norec", z.name, "SOA"]).is_some_and(|out| {
                    out.contains("status: NOERROR") && (!signed || out.contains("RRSIG"))
                })
            })?;
        }
        Ok(())
    }

    fn start_unbound(&mut self, detached: bool) -> anyhow::Result<()> {
        let unbound = tools::require("unbound")?;
        for (name, addr, validating) in [
            ("unbound", net::RESOLVER, true),
            ("unbound-plain", net::PLAIN_RESOLVER, false),
        ] {
            let conf = self.dir.join(format!("{name}.conf"));
            std::fs::write(&conf, unbound_conf(&self.dir, IpAddr::V4(addr), validating))?;
            let d = spawn(
                &self.dir,
                name,
                Command::new(&unbound).arg("-d").arg("-c").arg(&conf),
                detached,
            )?;
            self.daemons.push(d);
            record_sockets(&self.dir, &dns_sockets(&[IpAddr::V4(addr)]))?;
        }
        wait_until("the validating Unbound", || {
            kdig(IpAddr::V4(net::RESOLVER), &["good.lab.", "SOA"])
                .is_some_and(|o| o.contains("status: NOERROR") && o.contains(" ad"))
        })?;
        wait_until("the plain Unbound", || {
            kdig(IpAddr::V4(net::PLAIN_RESOLVER), &["good.lab.", "SOA"])
                .is_some_and(|o| o.contains("status: NOERROR"))
        })?;
        Ok(())
    }

    fn start_pebble(&mut self, detached: bool) -> anyhow::Result<()> {
        let p = self.dir.join("pebble");
        let conf = serde_json::json!({
            "pebble": {
                "listenAddress": net::PEBBLE.to_string(),
                "managementListenAddress": net::PEBBLE_MGMT.to_string(),
                "certificate": p.join("cert.pem"),
                "privateKey": p.join("key.pem"),
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                // A name Pebble refuses (rejectedIdentifier), for the ACME
                // dry run's test; no scenario uses it.
                "domainBlocklist": [BLOCKED_NAME],
                "retryAfter": { "authz": 1, "order": 1 }
            }
        });
        std::fs::write(p.join("pebble.json"), serde_json::to_vec_pretty(&conf)?)?;
        let d = spawn(
            &self.dir,
            "pebble",
            Command::new(tools::require("pebble")?)
                .arg("-config")
                .arg(p.join("pebble.json"))
                .arg("-dnsserver")
                .arg(format!("{}:53", net::RESOLVER))
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_VA_ALWAYS_VALID", "0")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0"),
            detached,
        )?;
        self.daemons.push(d);
        record_sockets(&self.dir, &[(true, net::PEBBLE), (true, net::PEBBLE_MGMT)])?;
        wait_until("Pebble", || {
            std::net::TcpStream::connect_timeout(&net::PEBBLE, Duration::from_millis(200)).is_ok()
        })
    }

    /// The ACME directory URL.
    pub fn directory_url() -> String {
        format!("https://{}/dir", net::PEBBLE)
    }

    /// Publishes (or removes, with `value: None`) the TXT at `name` in
    /// `good.lab.` by RFC 2136 with TSIG; Knot re-signs. Returns once provider
    /// A serves the new state.
    pub fn set_txt(zone: &str, name: &str, value: Option<&str>) -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut script = format!(
            "server {} 53\nzone {zone}\norigin {zone}\n",
            net::PROVIDER_A.v4
        );
        match value {
            Some(v) => {
                let _ = writeln!(script, "update add {name} 5 TXT \"{v}\"");
            }
            None => {
                let _ = writeln!(script, "update delete {name} TXT");
            }
        }
        script.push_str("send\nquit\n");
        let mut child = Command::new(tools::require("knsupdate")?)
            .arg("-y")
            .arg(format!(
                "hmac-sha256:{}:{}",
                zones::TSIG_NAME,
                zones::TSIG_SECRET
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("knsupdate stdin")?
            .write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "knsupdate failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        Ok(())
    }

    /// Leaves the daemons running (`scripts/interop up`); `stop_dir` stops them.
    pub fn detach(mut self) {
        self.stopped = true;
    }

    /// Stops every daemon and proves the pids are gone and the sockets free.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stopped = true;
        let daemons = std::mem::take(&mut self.daemons);
        stop_daemons(&self.dir, daemons)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !self.stopped {
            let daemons = std::mem::take(&mut self.daemons);
            let _ = stop_daemons(&self.dir, daemons);
        }
    }
}

/// Starts a helper process detached, with a pidfile in `<dir>/pids`.
pub fn spawn_detached(dir: &Path, name: &str, cmd: &mut Command) -> anyhow::Result<u32> {
    Ok(spawn(dir, name, cmd, true)?.pid)
}

fn pid_alive(pid: u32) -> bool {
    // Gone, or a zombie waiting for PID 1 to reap it, counts as stopped.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn stop_daemons(dir: &Path, daemons: Vec<Daemon>) -> anyhow::Result<()> {
    for d in &daemons {
        signal(d.pid, "-TERM");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left: Vec<String> = Vec::new();
    for mut d in daemons {
        loop {
            let done = match d.child.as_mut() {
                Some(c) => c.try_wait().ok().flatten().is_some(),
                None => !pid_alive(d.pid),
            };
            if done {
                break;
            }
            if Instant::now() > deadline {
                signal(d.pid, "-KILL");
                if let Some(c) = d.child.as_mut() {
                    let _ = c.wait();
                }
                std::thread::sleep(Duration::from_millis(200));
                if pid_alive(d.pid) {
                    left.push(format!("{} (pid {})", d.name, d.pid));
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(dir.join("pids").join(format!("{}.pid", d.name)));
    }
    let busy = busy_sockets(dir);
    if left.is_empty() && busy.is_empty() {
        unlock(dir);
        Ok(())
    } else {
        bail!(
            "teardown left processes {left:?} and sockets {busy:?} behind (see {})",
            dir.display()
        )
    }
}

/// Sockets listed in `<dir>/sockets` that are still held by someone.
pub fn busy_sockets(dir: &Path) -> Vec<String> {
    let list = std::fs::read_to_string(dir.join("sockets")).unwrap_or_default();
    list.lines()
        .filter_map(|l| {
            let (proto, addr) = l.split_once(' ')?;
            let addr: SocketAddr = addr.parse().ok()?;
            let tcp = proto == "tcp";
            // A just-closed socket can linger a moment in the kernel.
            let free = (0..20).any(|_| {
                if socket_free(tcp, addr) {
                    true
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                    false
                }
            });
            (!free).then(|| l.to_owned())
        })
        .collect()
}

/// Stops a world started detached in `dir` (`scripts/interop down`): exactly
/// the pids in `<dir>/pids`, then checks their sockets are free.
pub fn stop_dir(dir: &Path) -> anyhow::Result<()> {
    let mut daemons = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("pids")) {
        for e in entries.flatten() {
            let name = e
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".pid")
                .to_owned();
            let pid: u32 = std::fs::read_to_string(e.path())?.trim().parse()?;
            daemons.push(Daemon {
                name,
                pid,
                child: None,
            });
        }
    }
    stop_daemons(dir, daemons)
}
