//! Slow and lossy servers against a cold Unbound
//! (`cargo bench -p dcv-doctor --bench slow_check [-- ROUNDS]`; needs root
//! for port 53 and `/usr/sbin/unbound`).
//!
//! Two labs, each on port 53 with its own Unbound configured like Let's
//! Encrypt's resolver:
//!
//! - **slow**: every answer of the domain's servers (`example.lab.`) takes
//!   1.5 s; the root and `lab.` answer at once.
//! - **lossy**: every server loses the first UDP try of each question and
//!   answers the retry.
//!
//! Per round, cold (fresh engine, fresh Unbound):
//!
//! - **check**: a full dcv-doctor check of `www.example.lab` (HTTP-01 and
//!   DNS-01 for Let's Encrypt, production DNS timers: A/AAAA, CAA at every
//!   label, TXT, DS/DNSKEY, the path probes of every server of every zone
//!   the CAA climb and the TXT lookup asked, the HTTP fetch);
//! - **dns**: the engine's part a CA also does: the same six questions
//!   Unbound is asked, concurrently;
//! - **unbound**: a freshly started Unbound asked those six questions
//!   concurrently by a patient stub (one query each, 30 s).
//!
//! Reported: medians, and check / unbound and dns / unbound, measured in
//! this run (target: the check within 1.3x of Unbound).

use std::{
    net::{IpAddr, SocketAddr},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use dcv_diagnosis::{CaId, Method, Verdict};
use dcv_dns::{DnsName, Engine, EngineConfig, RecordType};
use dcv_lab::catalogue::{self, KEY_AUTHZ, TOKEN};
use dcv_lab::{Lab, Scenario};
use tokio::net::UdpSocket;

const QUESTIONS: [(&str, RecordType); 6] = [
    ("www.example.lab.", RecordType::A),
    ("www.example.lab.", RecordType::AAAA),
    ("_acme-challenge.www.example.lab.", RecordType::TXT),
    ("www.example.lab.", RecordType::CAA),
    ("example.lab.", RecordType::CAA),
    ("lab.", RecordType::CAA),
];

/// How long the stub waits for Unbound's answer to one question.
const STUB_PATIENCE: Duration = Duration::from_secs(30);

fn median(samples: &[Duration]) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Production DNS timers for a check of the lab.
fn check_config(lab: &Lab) -> anyhow::Result<dcv_diagnosis::config::CheckConfig> {
    let mut cfg = dcv_doctor::demo::lab_config(lab, "www.example.lab")?;
    let production = EngineConfig::default();
    cfg.dns.query_timeout = production.query_timeout;
    cfg.dns.retries = production.retries;
    cfg.methods = vec![Method::Http, Method::Dns];
    cfg.cas = vec![CaId::Letsencrypt];
    cfg.http_token = Some(TOKEN.to_owned());
    cfg.http_body = Some(KEY_AUTHZ.to_owned());
    cfg.txt_values = vec!["token".to_owned()];
    cfg.timeout = Duration::from_secs(60);
    Ok(cfg)
}

async fn run_scenario(label: &str, scenario: Scenario, rounds: usize) -> anyhow::Result<()> {
    let lab = Lab::start_on_port(scenario, 53).await?;
    let mut checks = Vec::new();
    let mut dns = Vec::new();
    let mut unbound = Vec::new();
    let mut codes = Vec::new();
    for round in 0..rounds {
        let cfg = check_config(&lab)?;
        let engine_cfg = cfg.dns.clone();
        // Each resolver meets the path as new: its first tries are lost too.
        lab.reset_paths();
        let started = Instant::now();
        let report = dcv_diagnosis::runner::run_check(cfg).await;
        checks.push(started.elapsed());
        anyhow::ensure!(
            report.verdict != Verdict::Fail,
            "{label}: the check failed: {:?}",
            report.findings.iter().map(|f| f.code).collect::<Vec<_>>()
        );
        codes = report.findings.iter().map(|f| f.code.as_str()).collect();

        let engine = Engine::new(engine_cfg);
        lab.reset_paths();
        let started = Instant::now();
        let lookups = futures::future::join_all(QUESTIONS.iter().map(|(n, t)| {
            let engine = engine.clone();
            async move { engine.lookup(&DnsName::parse(n).unwrap(), *t).await }
        }))
        .await;
        dns.push(started.elapsed());
        anyhow::ensure!(
            lookups.iter().all(|l| l.security.is_secure()),
            "{label}: a lookup did not validate"
        );

        let server = Unbound::start(&lab, label, round)?;
        lab.reset_paths();
        let started = Instant::now();
        let answers =
            futures::future::join_all(QUESTIONS.iter().map(|(n, t)| stub(server.addr, n, *t)))
                .await;
        unbound.push(started.elapsed());
        anyhow::ensure!(
            answers.iter().all(|ad| *ad),
            "{label}: unbound did not validate every answer"
        );
    }
    let (c, d, u) = (median(&checks), median(&dns), median(&unbound));
    println!("{label}: {rounds} cold rounds");
    println!("  full check (dcv-doctor)   median {:6.2} s", secs(c));
    println!("  DNS part (engine lookups) median {:6.2} s", secs(d));
    println!("  unbound 1.17, cold        median {:6.2} s", secs(u));
    println!("  findings: {codes:?}");
    println!(
        "  ratio check / unbound = {:.2}; dns / unbound = {:.2}",
        secs(c) / secs(u),
        secs(d) / secs(u)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` passes `--bench`; any number is the rounds.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    anyhow::ensure!(
        std::path::Path::new("/usr/sbin/unbound").exists(),
        "unbound is not installed: apt-get install -y unbound"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        run_scenario(
            "slow (every example.lab. answer after 1.5 s)",
            catalogue::slow_servers(Duration::from_millis(1500)),
            rounds,
        )
        .await?;
        run_scenario(
            "lossy (every first UDP try of each question lost)",
            catalogue::lossy_path(),
            rounds,
        )
        .await
    })
}

/// One RD=1 query with EDNS(0) and DO; true when the answer has AD set.
async fn stub(server: SocketAddr, name: &str, qtype: RecordType) -> bool {
    let id: u16 = rand_id();
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(u8::try_from(label.len()).unwrap_or(63));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.0.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    // OPT: root owner, type 41, payload 1232, DO.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
        return false;
    };
    if socket.send_to(&q, server).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + STUB_PATIENCE;
    loop {
        let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        else {
            return false;
        };
        if n >= 4 && buf[..2] == id.to_be_bytes() {
            // AD is bit 5 of the fourth header byte; RCODE its low nibble.
            let (ad, rcode) = (buf[3] & 0x20 != 0, buf[3] & 0x0f);
            return ad && rcode == 0;
        }
    }
}

fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u16::try_from(nanos % 65_521).unwrap_or(1)
}

/// A cold Unbound with Let's Encrypt's settings that matter here, killed
/// (by its own pid) when dropped.
struct Unbound {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Unbound {
    fn start(lab: &Lab, label: &str, round: usize) -> anyhow::Result<Self> {
        let IpAddr::V4(v4) = lab.root_hints()[0].ip() else {
            anyhow::bail!("no IPv4 root");
        };
        let o = v4.octets();
        let addr = SocketAddr::new(IpAddr::from([127, o[1], o[2], 250]), 53);
        let tag: String = label
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let dir = std::env::temp_dir().join(format!(
            "dcv-slow-bench-{}-{tag}-{round}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        let files = lab.write_files(&dir)?;
        let conf = format!(
            "server:\n interface: {ip}\n outgoing-interface: {ip}\n port: 53\n do-daemonize: no\n username: \"\"\n chroot: \"\"\n directory: \"{d}\"\n pidfile: \"{d}/pid\"\n logfile: \"{d}/log\"\n use-syslog: no\n num-threads: 1\n so-reuseport: no\n do-not-query-localhost: no\n discard-timeout: 0\n root-hints: \"{h}\"\n trust-anchor-file: \"{t}\"\n qname-minimisation: no\n aggressive-nsec: no\n edns-buffer-size: 1232\n access-control: 127.0.0.0/8 allow\n module-config: \"validator iterator\"\n prefetch: no\nremote-control:\n control-enable: no\n",
            ip = addr.ip(),
            d = dir.display(),
            h = files.root_hints.display(),
            t = files.trust_anchor.display(),
        );
        std::fs::write(dir.join("unbound.conf"), conf)?;
        let child = Command::new("/usr/sbin/unbound")
            .arg("-d")
            .arg("-c")
            .arg(dir.join("unbound.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Ready when its TCP listener accepts (no query: the cache stays cold).
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && std::net::TcpStream::connect(addr).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, addr, dir })
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
