//! Acceptance for issue #15 §4 ("the machine it runs on is not the domain"),
//! with real vantage points: `dcv-doctor check` runs inside network
//! namespaces made for each case (`dcv_lab::netns`), against the lab on this
//! host.
//!
//! - dual-stack (the reference) and IPv4-only (IPv6 disabled in the
//!   namespace): the same verdict and the same domain findings, for a healthy
//!   and for a broken domain, plus exactly one requester-side note
//!   (`vantage_no_ipv6`) on the IPv4-only side;
//! - no network at all (a bare namespace): exit 3 with one line on stderr,
//!   within 10 s;
//! - outbound DNS filtered (an nftables egress drop of the DNS port): exit 3,
//!   `vantage_dns_blocked`;
//! - port 53 intercepted (an nftables DNAT of every DNS query to an Unbound
//!   resolver on this host): exit 3, `vantage_dns_intercepted`, naming what
//!   gave it away.
//!
//! Needs root, iproute2, nftables, Unbound and kdig (the test says how to
//! install what is missing). `DCV_SHOW_REPORT=1 cargo test -p dcv-doctor
//! --test vantage_netns -- --nocapture --test-threads 1` prints each report.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dcv_diagnosis::{FindingCode, Report, Severity, Verdict, WhoFixes};
use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::catalogue::{KEY_AUTHZ, NS2, ROOT_NS, TOKEN, ZONE};
use dcv_lab::netns::Netns;
use dcv_lab::{Lab, Mode, Scenario};

const HOST: &str = "www.example.lab";

/// What one `check` run gave.
struct Run {
    code: i32,
    report: Report,
    stderr: String,
    took: Duration,
}

impl Run {
    fn json(&self) -> String {
        serde_json::to_string_pretty(&self.report).unwrap()
    }

    /// The finding codes about the domain (every non-vantage finding).
    fn domain_codes(&self) -> Vec<(FindingCode, Severity)> {
        let mut codes: Vec<(FindingCode, Severity)> = self
            .report
            .findings
            .iter()
            .filter(|f| !f.code.as_str().starts_with("vantage_"))
            .map(|f| (f.code, f.severity))
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    fn vantage_findings(&self) -> Vec<&dcv_diagnosis::Finding> {
        self.report
            .findings
            .iter()
            .filter(|f| f.code.as_str().starts_with("vantage_"))
            .collect()
    }
}

/// Runs `dcv-doctor check` for [`HOST`] inside `ns` with the lab's flags,
/// every CA and method, and the lab's token and TXT value.
async fn check(ns: &Netns, lab: &Lab, dir: &Path) -> Run {
    let files = lab.write_files(dir).unwrap();
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_dcv-doctor"));
    cmd.args(["check", HOST, "--format", "json", "--allow-private"])
        .args(["--http-token", TOKEN, "--http-body", KEY_AUTHZ])
        .args(["--txt-value", "token"])
        .args(lab_flags(lab, &files))
        .env("NO_COLOR", "1");
    let started = Instant::now();
    let out: Output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("dcv-doctor runs");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a report ({e}): {stdout}\nstderr: {stderr}"));
    if std::env::var_os("DCV_SHOW_REPORT").is_some() {
        println!("exit {:?} in {took:?}; stderr: {stderr}", out.status.code());
        println!("{}", dcv_diagnosis::render::render_text(&report, true));
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr,
        took,
    }
}

fn netns() -> Netns {
    Netns::create().unwrap_or_else(|e| panic!("{e}"))
}

/// A domain with two faults a CA sees over IPv4 too: CAA allows only
/// pki.goog (Let's Encrypt, SSL.com and Sectigo are refused), and `ns2`
/// answers REFUSED over TCP (a path warning).
fn broken() -> Scenario {
    healthy()
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.contains("CAA"));
            z.records.push("@ CAA 0 issue \"pki.goog\"".into());
        })
        .with_server(NS2, |s| s.behaviour.tcp_mode = Some(Mode::Refused))
}

/// The IPv4-only run: the dual-stack run's verdict and domain findings, and
/// one informational note that is the requester's.
fn assert_same_verdict_plus_note(dual: &Run, v4: &Run) {
    assert_eq!(v4.report.verdict, dual.report.verdict, "{}", v4.json());
    assert_eq!(v4.code, dual.code, "{}", v4.stderr);
    assert_eq!(v4.domain_codes(), dual.domain_codes(), "{}", v4.json());
    assert_eq!(v4.report.ca_verdicts, dual.report.ca_verdicts);
    assert!(dual.vantage_findings().is_empty(), "{}", dual.json());
    let notes = v4.vantage_findings();
    assert_eq!(notes.len(), 1, "{}", v4.json());
    let note = notes[0];
    assert_eq!(note.code, FindingCode::VantageNoIpv6);
    assert_eq!(note.who_fixes, WhoFixes::Requester);
    assert_eq!(note.severity, Severity::Info);
    assert!(note.blocks.is_empty());
    // It says what was not checked: the AAAA web address and the IPv6
    // nameservers, and why it matters.
    assert!(
        note.summary.contains("CAs try IPv6 first"),
        "{}",
        note.summary
    );
    assert!(note.summary.contains("AAAA address"), "{}", note.summary);
    assert!(note.summary.contains("fd5c:dc5:"), "{}", note.summary);
    assert!(note.summary.contains("IPv6 nameserver"), "{}", note.summary);
    let evidence = serde_json::to_string(&note.evidence).unwrap();
    assert!(evidence.contains("\"kind\":\"vantage\""), "{evidence}");
    // No IPv6 address of the lab is blamed in any domain finding.
    for f in v4
        .report
        .findings
        .iter()
        .filter(|f| !f.code.as_str().starts_with("vantage_"))
    {
        assert!(
            !f.summary.contains("fd5c:dc5:"),
            "{}: {}",
            f.code,
            f.summary
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_only_gives_the_real_verdict_of_a_healthy_domain_plus_one_note() {
    let dual_ns = netns();
    let v4_ns = netns();
    v4_ns.disable_ipv6().unwrap();
    let lab = Lab::start(healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dual = check(&dual_ns, &lab, dir.path()).await;
    let v4 = check(&v4_ns, &lab, dir.path()).await;
    assert_ne!(dual.report.verdict, Verdict::Fail, "{}", dual.json());
    assert_eq!(dual.code, 0, "{}", dual.stderr);
    assert_same_verdict_plus_note(&dual, &v4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_only_gives_the_real_verdict_of_a_broken_domain_plus_one_note() {
    let dual_ns = netns();
    let v4_ns = netns();
    v4_ns.disable_ipv6().unwrap();
    let lab = Lab::start(broken()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dual = check(&dual_ns, &lab, dir.path()).await;
    let v4 = check(&v4_ns, &lab, dir.path()).await;
    assert_eq!(dual.report.verdict, Verdict::Fail, "{}", dual.json());
    assert_eq!(dual.code, 1);
    let codes = dual.domain_codes();
    assert!(
        codes.contains(&(FindingCode::CaaForbids, Severity::Error))
            && codes.contains(&(FindingCode::DnsPathInconsistent, Severity::Warning)),
        "{codes:?}"
    );
    assert_same_verdict_plus_note(&dual, &v4);
    // The TCP fault of ns2 is still found over IPv4; only its IPv4 address
    // is named now.
    let path = v4.report.expect_finding(FindingCode::DnsPathInconsistent);
    assert!(path.summary.contains("ns2.example.lab"), "{}", path.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_exits_3_within_10s_with_one_line() {
    let ns = Netns::isolated().unwrap_or_else(|e| panic!("{e}"));
    let lab = Lab::start(healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = check(&ns, &lab, dir.path()).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stderr, run.json());
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    assert_eq!(run.report.verdict, Verdict::CouldNotCheck);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("dcv-doctor: could not check from here: no network"),
        "{}",
        lines[0]
    );
    // One finding, the requester's, and no prediction about any CA.
    assert_eq!(run.report.findings.len(), 1, "{}", run.json());
    let f = &run.report.findings[0];
    assert_eq!(f.code, FindingCode::VantageNoNetwork);
    assert_eq!(f.who_fixes, WhoFixes::Requester);
    assert!(run.report.ca_verdicts.is_empty());
    let evidence = serde_json::to_string(&f.evidence).unwrap();
    assert!(evidence.contains("unreachable"), "{evidence}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_dns_exits_3_naming_the_block() {
    let mut ns = netns();
    let lab = Lab::start(healthy()).await.unwrap();
    ns.drop_egress_dns(lab.dns_port()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = check(&ns, &lab, dir.path()).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stderr, run.json());
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    assert!(
        run.stderr
            .starts_with("dcv-doctor: could not check from here: DNS is blocked"),
        "{}",
        run.stderr
    );
    let f = run.report.expect_finding(FindingCode::VantageDnsBlocked);
    assert!(
        f.summary.contains("IPv4: UDP no answer, TCP no answer"),
        "{}",
        f.summary
    );
    assert_eq!(run.report.findings.len(), 1, "{}", run.json());
    assert!(
        ns.dropped_packets().unwrap() > 0,
        "the filter dropped the queries"
    );
}

/// An Unbound resolver on this host, in the lab's address block, resolving
/// from the lab's root: what a transparent DNS proxy forwards to.
struct Resolver {
    child: Child,
    addr: SocketAddrV4,
    dir: tempfile::TempDir,
}

impl Resolver {
    fn start(lab: &Lab) -> Self {
        let unbound = which("unbound", "unbound");
        let kdig = which("kdig", "knot-dnsutils");
        let IpAddr::V4(root) = lab.server_addrs(ROOT_NS)[0] else {
            panic!("the lab root has an IPv4 address first");
        };
        let [a, b, c, _] = root.octets();
        // Host 250 of the lab's own /24: no lab server uses it.
        let addr = SocketAddrV4::new(Ipv4Addr::new(a, b, c, 250), lab.dns_port());
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let conf = format!(
            "server:\n    interface: {ip}\n    port: {port}\n    do-daemonize: no\n    username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    logfile: \"{d}/unbound.log\"\n    use-syslog: no\n    num-threads: 1\n    so-reuseport: no\n    do-ip6: no\n    do-not-query-localhost: no\n    discard-timeout: 0\n    module-config: \"iterator\"\n    qname-minimisation: no\n    access-control: 127.0.0.0/8 allow_setrd\n    access-control: 198.18.0.0/15 allow_setrd\nremote-control:\n    control-enable: no\nstub-zone:\n    name: \".\"\n    stub-addr: {root}@{port}\n",
            ip = addr.ip(),
            port = addr.port(),
        );
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(unbound)
            .arg("-d")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts");
        let resolver = Self { child, addr, dir };
        // Ready when it answers a query (kdig from this host, not the namespace).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new(&kdig)
                .arg(format!("@{}", addr.ip()))
                .args([
                    "-p",
                    &addr.port().to_string(),
                    "+retry=0",
                    "+timeout=1",
                    ".",
                    "SOA",
                ])
                .output()
                .expect("kdig runs");
            let answer = String::from_utf8_lossy(&out.stdout);
            if answer.contains("status: NOERROR") {
                return resolver;
            }
            assert!(
                Instant::now() < deadline,
                "Unbound did not answer on {addr}: {answer}\n{}",
                std::fs::read_to_string(resolver.dir.path().join("unbound.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // Only the process this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of `program`, or a panic saying which package has it.
fn which(program: &str, package: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{program}` not found: install it with `sudo apt-get install {package}`")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intercepted_dns_is_detected_and_named() {
    let ns = netns();
    let lab = Lab::start(healthy()).await.unwrap();
    let resolver = Resolver::start(&lab);
    // Every IPv4 DNS query from the namespace goes to the resolver instead.
    ns.redirect_dns_to(lab.dns_port(), resolver.addr).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = check(&ns, &lab, dir.path()).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stderr, run.json());
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    assert!(
        run.stderr
            .starts_with("dcv-doctor: could not check from here: DNS is intercepted"),
        "{}",
        run.stderr
    );
    let f = run
        .report
        .expect_finding(FindingCode::VantageDnsIntercepted);
    assert_eq!(f.who_fixes, WhoFixes::Requester);
    // What gave it away: a resolver offers recursion and is not authoritative.
    assert!(
        f.summary.contains("recursion available (RA set)")
            && f.summary.contains("not authoritative (AA clear)"),
        "{}",
        f.summary
    );
    // Named on the IPv4 probes (the DNAT is IPv4 only); IPv6 reached the root.
    let evidence = serde_json::to_string(&f.evidence).unwrap();
    assert!(
        evidence.contains("NXDOMAIN aa: the root's answer"),
        "{evidence}"
    );
    assert_eq!(run.report.findings.len(), 1, "{}", run.json());
    drop(resolver);
}
