//! Unbound as the CA's resolver, configured like Let's Encrypt's (the same
//! settings as `dcv-interop`'s, see `docs/interop.md`), plus a non-validating
//! instance for delv to validate through. One pair serves a whole batch of
//! worlds: every world is its own TLD, so caches never mix across worlds.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::stub::{self, Ask};
use crate::tools;

/// How long Unbound may take to answer its first question.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Where one Unbound listens and sends from.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Listening address (port 53).
    pub listen: IpAddr,
    /// Source addresses for its queries: its own, so the lab's per-client
    /// loss pattern counts its retries apart from the engine's.
    pub outgoing: Vec<IpAddr>,
}

/// A running Unbound, stopped (by its own pid) and its directory removed
/// when dropped.
#[derive(Debug)]
pub struct Unbound {
    child: Child,
    /// Where it answers.
    pub addr: SocketAddr,
    /// Its directory (config, log, hints, anchor).
    pub dir: PathBuf,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("DCV_WORLDS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The configuration text. `anchor`: the trust-anchor file of a validating
/// instance; `None` for the iterator-only instance delv sits behind.
/// `caps_for_id`: 0x20 case randomisation, on as Let's Encrypt runs it;
/// off only to show which divergences its fallback causes (see
/// [`crate::batch::RunConfig::unbound_caps_for_id`]).
pub fn config(
    dir: &Path,
    place: &Placement,
    hints: &Path,
    anchor: Option<&Path>,
    caps_for_id: bool,
) -> String {
    let d = dir.display();
    let mut out = format!("server:\n    interface: {}\n    port: 53\n", place.listen);
    for ip in &place.outgoing {
        let _ = writeln!(out, "    outgoing-interface: {ip}");
    }
    let _ = write!(
        out,
        "    do-daemonize: no\n    username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    logfile: \"{d}/unbound.log\"\n    use-syslog: no\n    verbosity: 1\n    log-servfail: yes\n    num-threads: 1\n    so-reuseport: no\n    do-ip4: yes\n    do-ip6: yes\n    do-not-query-localhost: no\n    discard-timeout: 0\n    root-hints: \"{}\"\n    qname-minimisation: no\n    use-caps-for-id: {}\n    harden-glue: yes\n    harden-below-nxdomain: yes\n    aggressive-nsec: no\n    prefetch: no\n    cache-max-negative-ttl: 0\n    cache-max-ttl: 5\n    ede: yes\n    edns-buffer-size: 1232\n    access-control: 127.0.0.0/8 allow\n    num-queries-per-thread: 4096\n    outgoing-range: 8192\n    incoming-num-tcp: 1024\n",
        hints.display(),
        if caps_for_id { "yes" } else { "no" }
    );
    match anchor {
        Some(ta) => {
            let _ = write!(
                out,
                "    module-config: \"validator iterator\"\n    trust-anchor-file: \"{}\"\n    val-sig-skew-min: 0\n    val-sig-skew-max: 0\n    val-log-level: 2\n    harden-dnssec-stripped: yes\n    harden-algo-downgrade: yes\n",
                ta.display()
            );
        }
        None => out.push_str("    module-config: \"iterator\"\n"),
    }
    out.push_str("remote-control:\n    control-enable: no\n");
    out
}

impl Unbound {
    /// Starts one instance in `dir` (created) and waits until it answers.
    pub fn start(
        dir: &Path,
        place: &Placement,
        hints_text: &str,
        anchor_text: Option<&str>,
        caps_for_id: bool,
    ) -> anyhow::Result<Self> {
        let program = tools::require("unbound")?;
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        let hints = dir.join("root.hints");
        std::fs::write(&hints, hints_text)?;
        let anchor = match anchor_text {
            Some(text) => {
                let path = dir.join("trust-anchor.ds");
                std::fs::write(&path, format!("{text}\n"))?;
                Some(path)
            }
            None => None,
        };
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            config(dir, place, &hints, anchor.as_deref(), caps_for_id),
        )?;
        let child = Command::new(program)
            .args(["-d", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting unbound")?;
        let mut unbound = Self {
            child,
            addr: SocketAddr::new(place.listen, 53),
            dir: dir.to_owned(),
        };
        unbound.wait_ready()?;
        Ok(unbound)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        loop {
            let ask = Ask {
                name: ".",
                rtype: 6,
                recursion: true,
                deadline: Duration::from_millis(500),
                retransmit: Duration::from_millis(500),
            };
            if runtime
                .block_on(stub::ask(self.addr, &ask))
                .is_ok_and(|r| r.rcode == 0)
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "unbound in {} exited ({status}): {}",
                    self.dir.display(),
                    self.log_tail(20)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "unbound on {} did not answer within {READY_TIMEOUT:?}: {}",
                    self.addr,
                    self.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("unbound.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
