//! Unbound as an oracle for a [`Lab`]: a fresh resolver configured like
//! Let's Encrypt's (the CA's validation queries go to its own Unbound,
//! recursing from the root: peers-and-ca-behaviour.md §3.2, §3.8), walking
//! the lab from its root hints and validating from its root DS. Tests
//! compare our verdicts with its answers; benches compare our time with its
//! cold time. One implementation, so every oracle runs the same settings.
//!
//! Unbound's root hints carry no port, so the lab must serve on port 53
//! ([`Lab::start_on_port`]), which needs root. A missing `/usr/sbin/unbound`
//! is an error that says which package to install, never a skip.
//!
//! ```no_run
//! # async fn demo(lab: &dcv_lab::Lab) -> Result<(), dcv_lab::unbound::UnboundError> {
//! use dcv_lab::unbound::{Unbound, UnboundOptions};
//! let resolver = Unbound::start(lab, "valid", &UnboundOptions::cold_ca())?;
//! println!("ask {}", resolver.addr());
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::Lab;

/// Debian's path of the daemon (package `unbound`).
pub const UNBOUND: &str = "/usr/sbin/unbound";

/// The port Unbound listens on and the lab must serve on: root hints carry
/// no port (lab-notes.md, "Unbound as the CA's resolver").
pub const PORT: u16 = 53;

/// Host part of the default listening address in the lab's `127.A.B.0/24`
/// block: above the hosts the lab gives its servers.
pub const DEFAULT_HOST: u8 = 250;

/// How long Unbound may take to open its listeners. It takes about 0.1 s
/// here; the margin covers a loaded 2-core machine starting ten at once
/// (`slow_differential.rs`).
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the warm-up question may take: `dig +time=10`, which the
/// differential tests used before this module.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// Retransmission interval of the warm-up question (UDP may be dropped).
const WARM_UP_RETRANSMIT: Duration = Duration::from_secs(1);

/// Pause between two readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Lines of the log quoted in an error.
const LOG_LINES_IN_ERRORS: usize = 20;

/// Distinguishes the directories of instances started by one process.
static INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// What the instance does with signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// `module-config: "validator iterator"` with the lab's root DS as trust
    /// anchor (none for an unsigned root: then every answer is insecure,
    /// as with our engine without an anchor): the CA's resolver.
    Validating,
    /// `module-config: "iterator"`, no anchor: walks the lab and passes
    /// RRSIG/NSEC/NSEC3 through, for a validator in front of it. delv 9.18
    /// never sets CD, so behind a validating resolver it only sees SERVFAIL
    /// (lab-notes.md, "delv").
    IteratorOnly,
}

/// When [`Unbound::start`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Its TCP listener accepts. No question is asked, so the cache stays
    /// cold for a timing comparison, and no packet reaches the lab (a bench
    /// may reset the lab's per-client loss state afterwards).
    Listening,
    /// It also answered `. NS` (any RCODE) within [`WARM_UP_TIMEOUT`]: the
    /// root is primed before the first compared question.
    Answering,
}

/// What differs between the oracles; the rest of the configuration is
/// common (see [`config_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnboundOptions {
    /// Validating or iterator-only.
    pub validation: Validation,
    /// Host part of the listening address `127.A.B.host`, where `127.A.B` is
    /// the lab's block; two instances on one lab need two hosts.
    pub host: u8,
    /// `outgoing-interface` = the listening address: Unbound sends from an
    /// address of its own, so a lab server's per-client state (`udp_loss`
    /// patterns, `reset_paths`) counts its tries apart from the engine's
    /// (which send from 127.0.0.1): each client is its own path. Without
    /// it Unbound sends from the kernel's choice, 127.0.0.1.
    pub own_source_address: bool,
    /// `cache-max-negative-ttl`: a cap on how long NXDOMAIN/NODATA stays
    /// cached, so a differential test's later questions see fresh negative
    /// answers (lab-notes.md: "Negative caching hides fresh records").
    /// `None` keeps Unbound's default (3600 s).
    pub negative_ttl_cap: Option<u32>,
    /// When [`Unbound::start`] returns.
    pub readiness: Readiness,
    /// `use-caps-for-id` (0x20), Let's Encrypt's setting, with the log at
    /// verbosity 2 so that its fallback shows ("Capsforid: timeouts,
    /// starting fallback"). Off in the verdict oracles, which have always
    /// compared without it; `tests/caps_fallback_differential.rs` (dcv-dns)
    /// turns it on to measure what it costs.
    pub caps_for_id: bool,
}

impl UnboundOptions {
    /// The CA's resolver, cold, for timing: validating, on `.250`, sending
    /// from its own address, returned as soon as it listens.
    pub fn cold_ca() -> Self {
        Self {
            validation: Validation::Validating,
            host: DEFAULT_HOST,
            own_source_address: true,
            negative_ttl_cap: None,
            readiness: Readiness::Listening,
            caps_for_id: false,
        }
    }

    /// The CA's resolver for a verdict comparison: validating, on `.250`,
    /// negative answers cached for 1 s, the root primed before it returns.
    pub fn differential() -> Self {
        Self {
            validation: Validation::Validating,
            host: DEFAULT_HOST,
            own_source_address: false,
            negative_ttl_cap: Some(1),
            readiness: Readiness::Answering,
            caps_for_id: false,
        }
    }

    /// The non-validating resolver delv sits behind: iterator only, on
    /// `.251` (so it never meets a validating instance on `.250`), negative
    /// answers cached for 1 s, primed before it returns.
    pub fn iterator_for_delv() -> Self {
        Self {
            validation: Validation::IteratorOnly,
            host: DEFAULT_HOST + 1,
            ..Self::differential()
        }
    }
}

/// Why an Unbound could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnboundError {
    /// The daemon is not installed.
    #[error("{UNBOUND} not found: apt-get install -y unbound (scripts/test does it as root)")]
    NotInstalled,
    /// The lab has no IPv4 root server to derive the listening address from.
    #[error("the lab has no IPv4 root server: cannot place Unbound in its 127.A.B.0/24 block")]
    NoIpv4Root,
    /// Writing its files or spawning it failed.
    #[error("unbound: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It exited before it was ready (bad configuration, address in use).
    #[error("unbound on {addr} exited ({status}); log tail:\n{log}")]
    Exited {
        /// Where it should have listened.
        addr: SocketAddr,
        /// Its exit status.
        status: ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// It did not listen, or did not answer the warm-up question, in time.
    #[error("unbound on {addr} {what} within {waited:?}; log tail:\n{log}")]
    NotReady {
        /// Where it listens.
        addr: SocketAddr,
        /// "did not listen" or "did not answer `. NS`".
        what: &'static str,
        /// The bound it missed.
        waited: Duration,
        /// The end of its log.
        log: String,
    },
}

/// A running Unbound for one lab: killed (by its own pid), reaped and its
/// directory removed when dropped, also on a panic.
#[derive(Debug)]
pub struct Unbound {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Unbound {
    /// Starts an instance for `lab` in a fresh temporary directory (named
    /// after `label`, e.g. the scenario) and waits, bounded, until it is
    /// ready as `options.readiness` says. Blocking: from async code call it
    /// in `spawn_blocking` or `block_in_place` when the readiness needs the
    /// lab's servers ([`Readiness::Answering`]) on a small runtime.
    pub fn start(lab: &Lab, label: &str, options: &UnboundOptions) -> Result<Self, UnboundError> {
        let program = Path::new(UNBOUND);
        if !program.exists() {
            return Err(UnboundError::NotInstalled);
        }
        let addr = SocketAddr::new(IpAddr::V4(listen_ip(lab, options.host)?), PORT);
        let dir = fresh_dir(label);
        let conf = match write_files(lab, &dir, addr.ip(), options) {
            Ok(conf) => conf,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let child = match Command::new(program)
            .args(["-d", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(source) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(UnboundError::Io {
                    what: format!("spawning {UNBOUND}"),
                    source,
                });
            }
        };
        // From here on, an error drops `unbound`: killed, reaped, removed.
        let mut unbound = Self { child, addr, dir };
        unbound.wait_listening()?;
        if options.readiness == Readiness::Answering {
            unbound.wait_answering()?;
        }
        Ok(unbound)
    }

    /// Where it answers (port 53).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its listening address.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// Its directory (configuration, log, hints, anchor); removed on drop,
    /// so a caller may keep its own files there.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its whole log so far (empty when it has written none).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("unbound.log")).unwrap_or_default()
    }

    /// The last `n` lines of its log (`log-servfail: yes` says why it
    /// answered SERVFAIL; `val-log-level: 2` why validation failed).
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Until its TCP listener accepts (the UDP one is opened with it);
    /// bounded by [`READY_TIMEOUT`], failing early if it exits.
    fn wait_listening(&mut self) -> Result<(), UnboundError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&self.addr, POLL_INTERVAL).is_ok() {
                return Ok(());
            }
            self.fail_if_exited()?;
            if Instant::now() >= deadline {
                return Err(self.not_ready("did not listen", READY_TIMEOUT));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Until it answers `. NS` (RD, DO), any RCODE; bounded by
    /// [`WARM_UP_TIMEOUT`], retransmitted every [`WARM_UP_RETRANSMIT`].
    fn wait_answering(&mut self) -> Result<(), UnboundError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| UnboundError::Io { what, source }
        };
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .map_err(io("binding the warm-up socket"))?;
        socket
            .set_read_timeout(Some(POLL_INTERVAL * 5))
            .map_err(io("setting the warm-up timeout"))?;
        let id = warm_up_id(&self.dir);
        let query = root_ns_query(id);
        let deadline = Instant::now() + WARM_UP_TIMEOUT;
        let mut next_send = Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            if Instant::now() >= next_send {
                socket
                    .send_to(&query, self.addr)
                    .map_err(io("sending the warm-up question"))?;
                next_send = Instant::now() + WARM_UP_RETRANSMIT;
            }
            match socket.recv_from(&mut buf) {
                Ok((n, from)) if from == self.addr && n >= 4 && buf[..2] == id.to_be_bytes() => {
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(io("reading the warm-up answer")(e)),
            }
            self.fail_if_exited()?;
            if Instant::now() >= deadline {
                return Err(self.not_ready("did not answer `. NS`", WARM_UP_TIMEOUT));
            }
        }
    }

    fn fail_if_exited(&mut self) -> Result<(), UnboundError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(UnboundError::Exited {
                addr: self.addr,
                status,
                log: self.log_tail(LOG_LINES_IN_ERRORS),
            }),
            Ok(None) => Ok(()),
            Err(source) => Err(UnboundError::Io {
                what: "waiting for unbound".to_owned(),
                source,
            }),
        }
    }

    fn not_ready(&self, what: &'static str, waited: Duration) -> UnboundError {
        UnboundError::NotReady {
            addr: self.addr,
            what,
            waited,
            log: self.log_tail(LOG_LINES_IN_ERRORS),
        }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `127.A.B.host`, where `127.A.B` is the block of the lab's first IPv4
/// root server: inside the lab's addresses, so nothing else meets it.
fn listen_ip(lab: &Lab, host: u8) -> Result<Ipv4Addr, UnboundError> {
    lab.root_hints()
        .iter()
        .find_map(|s| match s.ip() {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Some(Ipv4Addr::new(127, o[1], o[2], host))
            }
            IpAddr::V6(_) => None,
        })
        .ok_or(UnboundError::NoIpv4Root)
}

/// `$TMPDIR/dcv-unbound-<pid>-<label>-<n>`, `label` cut to a safe tag.
fn fresh_dir(label: &str) -> PathBuf {
    let tag: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("dcv-unbound-{}-{tag}-{n}", std::process::id()))
}

/// Writes hints, anchor and configuration into `dir`; returns the
/// configuration's path.
fn write_files(
    lab: &Lab,
    dir: &Path,
    listen: IpAddr,
    options: &UnboundOptions,
) -> Result<PathBuf, UnboundError> {
    let io = |what: String| move |source| UnboundError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let files = lab
        .write_files(dir)
        .map_err(io(format!("writing the lab's files in {}", dir.display())))?;
    let anchor = (options.validation == Validation::Validating && lab.trust_anchor_ds().is_some())
        .then_some(files.trust_anchor.as_path());
    let conf = dir.join("unbound.conf");
    std::fs::write(
        &conf,
        config_text(dir, listen, &files.root_hints, anchor, options),
    )
    .map_err(io(format!("writing {}", conf.display())))?;
    Ok(conf)
}

/// The configuration. Every oracle shares the lines that make it behave
/// like Let's Encrypt's resolver on a loopback lab; `options` adds what
/// differs (see [`UnboundOptions`]).
pub fn config_text(
    dir: &Path,
    listen: IpAddr,
    hints: &Path,
    anchor: Option<&Path>,
    options: &UnboundOptions,
) -> String {
    let d = dir.display();
    let mut out = String::from("server:\n");
    let mut line = |text: &str| {
        out.push_str("    ");
        out.push_str(text);
        out.push('\n');
    };
    line(&format!("interface: {listen}"));
    line(&format!("port: {PORT}"));
    if options.own_source_address {
        line(&format!("outgoing-interface: {listen}"));
    }
    // In the foreground, as the caller, with everything in its directory:
    // the caller's `Child` is the daemon, and Drop removes all it wrote.
    for fixed in [
        "do-daemonize: no",
        "username: \"\"",
        "chroot: \"\"",
        "use-syslog: no",
    ] {
        line(fixed);
    }
    line(&format!("directory: \"{d}\""));
    line(&format!("pidfile: \"{d}/unbound.pid\""));
    line(&format!("logfile: \"{d}/unbound.log\""));
    // The log says why: SERVFAIL reasons (lab-notes.md: timeouts, REFUSED
    // and upstream SERVFAIL all come back as bare SERVFAIL).
    line(if options.caps_for_id {
        "verbosity: 2"
    } else {
        "verbosity: 1"
    });
    line("log-servfail: yes");
    // One thread, one socket per port: a small, deterministic oracle.
    line("num-threads: 1");
    line("so-reuseport: no");
    // The lab is on loopback, which Unbound refuses to query by default
    // (lab-notes.md, "Unbound as the CA's resolver").
    line("do-not-query-localhost: no");
    // Debian's DNSBomb fix (`discard-timeout: 1900`) answers nothing at all
    // to a question that took over 1.9 s; slow-server scenarios need the
    // answer (lab-notes.md, "Unbound as the CA's resolver").
    line("discard-timeout: 0");
    line(&format!("root-hints: \"{}\"", hints.display()));
    // Let's Encrypt's settings (peers-and-ca-behaviour.md §3.2, the
    // unboundtest configuration said to match LE): the full name to every
    // server, and a 1232-byte EDNS buffer (Unbound 1.17's default, stated).
    line("qname-minimisation: no");
    line("edns-buffer-size: 1232");
    // EDE on DNSSEC failures: what Boulder turns into `DNS problem: ...
    // DNSSEC: <reason>` (peers-and-ca-behaviour.md §3.2, §3.8).
    line("ede: yes");
    // Answers from the servers, not synthesised from cached NSEC, and no
    // refetch behind the test's back (lab-notes.md: "Negative caching hides
    // fresh records"; `prefetch: no` is the default, stated).
    line("aggressive-nsec: no");
    line("prefetch: no");
    // 0x20: LE's is on (peers-and-ca-behaviour.md §3.2). The verdict
    // oracles keep Unbound's default, off, which every comparison here has
    // run with; [`UnboundOptions::caps_for_id`] turns it on.
    line(if options.caps_for_id {
        "use-caps-for-id: yes"
    } else {
        "use-caps-for-id: no"
    });
    line("access-control: 127.0.0.0/8 allow");
    if let Some(ttl) = options.negative_ttl_cap {
        line(&format!("cache-max-negative-ttl: {ttl}"));
    }
    match options.validation {
        Validation::Validating => {
            line("module-config: \"validator iterator\"");
            // The lab's root DS (a DS line is fine); an unsigned root has
            // none, and Unbound without an anchor answers everything
            // unvalidated (insecure).
            if let Some(anchor) = anchor {
                line(&format!("trust-anchor-file: \"{}\"", anchor.display()));
            }
            // Why validation failed, in the log.
            line("val-log-level: 2");
        }
        Validation::IteratorOnly => line("module-config: \"iterator\""),
    }
    let _ = write!(out, "remote-control:\n    control-enable: no\n");
    out
}

/// A per-instance query id: a hash of the directory's name (pid, counter).
fn warm_up_id(dir: &Path) -> u16 {
    let hash = dir
        .to_string_lossy()
        .bytes()
        .fold(0u16, |h, b| h.rotate_left(5) ^ u16::from(b));
    hash.max(1)
}

/// `. NS`, RD set, with EDNS(0) (1232-byte payload, DO): what `dig +dnssec
/// . NS` asks.
fn root_ns_query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(28);
    q.extend_from_slice(&id.to_be_bytes());
    // RD; one question, one additional (OPT).
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    // Root name, type NS (2), class IN (1).
    q.extend_from_slice(&[0, 0, 2, 0, 1]);
    // OPT: root owner, type 41, payload 1232, extended RCODE 0, version 0,
    // DO, no options.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(options: &UnboundOptions, anchor: Option<&Path>) -> String {
        config_text(
            Path::new("/tmp/u"),
            IpAddr::V4(Ipv4Addr::new(127, 1, 2, 250)),
            Path::new("/tmp/u/root.hints"),
            anchor,
            options,
        )
    }

    #[test]
    fn every_oracle_has_the_lab_and_ca_settings() {
        for options in [
            UnboundOptions::cold_ca(),
            UnboundOptions::differential(),
            UnboundOptions::iterator_for_delv(),
        ] {
            let text = conf(&options, Some(Path::new("/tmp/u/ta")));
            for needed in [
                "interface: 127.1.2.250\n",
                "port: 53\n",
                "do-not-query-localhost: no\n",
                "discard-timeout: 0\n",
                "qname-minimisation: no\n",
                "edns-buffer-size: 1232\n",
                "aggressive-nsec: no\n",
                "prefetch: no\n",
                "root-hints: \"/tmp/u/root.hints\"\n",
            ] {
                assert!(text.contains(needed), "{needed} missing in {text}");
            }
        }
    }

    #[test]
    fn options_change_only_their_lines() {
        let cold = conf(&UnboundOptions::cold_ca(), Some(Path::new("/tmp/u/ta")));
        assert!(cold.contains("outgoing-interface: 127.1.2.250\n"));
        assert!(cold.contains("module-config: \"validator iterator\"\n"));
        assert!(cold.contains("trust-anchor-file: \"/tmp/u/ta\"\n"));
        assert!(!cold.contains("cache-max-negative-ttl"));

        let diff = conf(&UnboundOptions::differential(), None);
        assert!(!diff.contains("outgoing-interface"));
        assert!(!diff.contains("trust-anchor-file"));
        assert!(diff.contains("cache-max-negative-ttl: 1\n"));

        let delv = conf(&UnboundOptions::iterator_for_delv(), None);
        assert!(delv.contains("module-config: \"iterator\"\n"));
        assert!(!delv.contains("val-log-level"));
        assert_eq!(UnboundOptions::iterator_for_delv().host, 251);
    }

    #[test]
    fn the_warm_up_question_is_a_well_formed_root_ns_query() {
        let q = root_ns_query(0x1234);
        let msg = hickory_proto::op::Message::from_vec(&q).expect("parses");
        assert_eq!(msg.metadata.id, 0x1234);
        assert!(msg.metadata.recursion_desired);
        assert_eq!(msg.queries.len(), 1);
        assert!(msg.queries[0].name().is_root());
        assert_eq!(
            msg.queries[0].query_type(),
            hickory_proto::rr::RecordType::NS
        );
        let edns = msg.edns.as_ref().expect("OPT");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), 1232);
    }

    #[test]
    fn directories_are_fresh_and_tags_safe() {
        let a = fresh_dir("slow (every answer after 1.5 s)/../x");
        let b = fresh_dir("slow (every answer after 1.5 s)/../x");
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains('/') && !name.contains(' ') && !name.contains(".."));
    }
}
