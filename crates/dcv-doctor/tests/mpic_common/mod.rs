//! Shared by the `mpic_*` tests: perspective agents on distinct loopback
//! addresses, in-process, each with its own DNS view of a lab.
//!
//! A perspective is made "bad" by pointing its resolver at a second lab that
//! serves a broken copy of `example.lab.` (its own root hints, trust anchor and
//! DNS port), as a CA perspective behind split-horizon or geo DNS would see it.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use dcv_diagnosis::CaId;
use dcv_diagnosis::request::ServerCheckPolicy;
use dcv_doctor::demo::{healthy, lab_config};
use dcv_doctor::mpic::{
    AgentConfig, Identity, PerspectiveSpec, RunningAgent, self_signed, start_agent,
};
use dcv_lab::catalogue::{KEY_AUTHZ, TOKEN as LAB_TOKEN, WEB, ZONE};
use dcv_lab::http::{HttpBehaviour, ResponderSpec};
use dcv_lab::{Lab, Scenario};
use dcv_mpic::Rir;

pub const TOKEN: &str = "mpic-test-token-0123456789abcdef";
/// The TXT value published in the good lab (`catalogue::base`).
pub const TXT: &str = "token";

static NEXT: AtomicU8 = AtomicU8::new(10);

/// A fresh loopback address for an agent: 127.3.P.N (labs use 127.16 and up).
pub fn agent_ip() -> IpAddr {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = u8::try_from(std::process::id() % 250).unwrap_or(0);
    IpAddr::V4(Ipv4Addr::new(127, 3, p, n))
}

/// The healthy lab, and the broken copy: CAA at example.lab. allows only
/// pki.goog (Let's Encrypt is refused), the TXT value is another one, and
/// www's web server serves a stale key authorisation for the token.
pub fn broken() -> Scenario {
    let mut s = healthy();
    s.http.retain(|r| r.name != WEB);
    s.responder(ResponderSpec::new(
        WEB,
        HttpBehaviour::ServeToken {
            token: LAB_TOKEN.into(),
            body: "stale-key-authorisation".into(),
        },
    ))
    .rename(
        "mpic-broken",
        "example.lab. as a broken geo-DNS node serves it",
    )
    .with_zone(ZONE, |z| {
        z.records
            .retain(|r| !r.contains("CAA") && !r.contains("TXT"));
        z.records.push("@ CAA 0 issue \"pki.goog\"".into());
        z.records
            .push("_acme-challenge.www TXT \"stale-value\"".into());
    })
}

/// One self-signed certificate for every agent address of a test.
pub struct Certs {
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn certs(ips: &[IpAddr]) -> Certs {
    let names: Vec<String> = ips.iter().map(ToString::to_string).collect();
    let (cert_pem, key_pem) = self_signed(&names).unwrap();
    Certs { cert_pem, key_pem }
}

pub fn agent_config(
    lab: &Lab,
    name: &str,
    rir: Rir,
    certs: &Certs,
    allow_private: bool,
) -> AgentConfig {
    let cfg = lab_config(lab, "www.example.lab").unwrap();
    AgentConfig {
        identity: Identity {
            name: name.to_owned(),
            region: format!("region-of-{name}"),
            rir,
        },
        token: TOKEN.to_owned(),
        cert_pem: certs.cert_pem.clone(),
        key_pem: certs.key_pem.clone(),
        policy: ServerCheckPolicy {
            dns: cfg.dns,
            http_port: cfg.http_port,
            https_port: cfg.https_port,
            http_phase_timeout: cfg.http_phase_timeout,
            allow_private,
            check_timeout: Duration::from_secs(15),
        },
        max_concurrent: 4,
        max_queued: dcv_doctor::mpic::DEFAULT_AGENT_QUEUE,
    }
}

/// Starts one agent on `ip`, seeing `lab`.
pub async fn agent(ip: IpAddr, lab: &Lab, name: &str, rir: Rir, certs: &Certs) -> RunningAgent {
    start_agent(
        SocketAddr::new(ip, 0),
        agent_config(lab, name, rir, certs, true),
    )
    .await
    .unwrap()
}

pub fn spec(agent: &RunningAgent, name: &str, rir: Rir, certs: &Certs) -> PerspectiveSpec {
    PerspectiveSpec {
        name: name.to_owned(),
        url: agent.url(),
        region: format!("region-of-{name}"),
        rir: Some(rir),
        token: TOKEN.to_owned(),
        ca_cert_pem: certs.cert_pem.clone(),
    }
}

/// The DNS-01 check of www.example.lab for Let's Encrypt, as the primary runs it.
pub fn primary_config(lab: &Lab) -> dcv_diagnosis::config::CheckConfig {
    let mut cfg = lab_config(lab, "www.example.lab").unwrap();
    cfg.cas = vec![CaId::Letsencrypt];
    cfg.methods = vec![dcv_diagnosis::Method::Dns];
    cfg.txt_values = vec![TXT.to_owned()];
    cfg
}

/// The HTTP-01 check of www.example.lab for Google Trust Services with the
/// lab's token and key authorisation.
pub fn http_primary_config(lab: &Lab) -> dcv_diagnosis::config::CheckConfig {
    let mut cfg = lab_config(lab, "www.example.lab").unwrap();
    cfg.cas = vec![CaId::Google];
    cfg.methods = vec![dcv_diagnosis::Method::Http];
    cfg.http_token = Some(LAB_TOKEN.to_owned());
    cfg.http_body = Some(KEY_AUTHZ.to_owned());
    cfg
}

/// The Let's Encrypt DNS-01 quorum of `check` in a report's MPIC summary.
pub fn quorum(report: &dcv_diagnosis::Report, check: dcv_mpic::Check) -> &dcv_mpic::QuorumSummary {
    report
        .mpic
        .as_ref()
        .expect("mpic summary")
        .quorums
        .iter()
        .find(|q| q.ca == "letsencrypt" && q.method == "dns" && q.check == check)
        .expect("letsencrypt dns quorum")
}

/// `dcv-doctor agent` flags for a lab agent on `listen` (port 0): token in
/// `dir/token`, self-signed certificate written to `dir/NAME.pem`, the lab's
/// DNS and ports, `--allow-private`. Appended to `cmd` (the binary itself, or
/// `ip netns exec NS` + binary).
pub fn lab_agent_args(
    cmd: &mut std::process::Command,
    listen: IpAddr,
    dir: &std::path::Path,
    lab: &Lab,
    files: &dcv_lab::LabFiles,
    (name, region, rir): (&str, &str, &str),
) {
    cmd.args(["agent", "--listen", &format!("{listen}:0")])
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--cert-out")
        .arg(dir.join(format!("{name}.pem")))
        .args(["--name", name, "--region", region, "--rir", rir])
        .arg("--allow-private")
        .args(dcv_doctor::demo::lab_flags(lab, files));
}

/// The URL from a started agent's first stdout line (`... listening on
/// https://ADDR/v1/check`); panics, naming the agent, if none comes in 20 s.
pub fn agent_url(child: &mut std::process::Child, name: &str) -> String {
    use std::io::{BufRead as _, BufReader};
    let stdout = child.stdout.take().expect("agent stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("agent {name} did not start"));
    line.trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("https://"))
        .unwrap_or_else(|| panic!("agent {name} start line: {line:?}"))
        .to_owned()
}

/// A perspective in its own network namespace (`dcv_lab::netns`): the
/// `dcv-doctor agent` binary runs inside it, on its veth address, with its
/// own source addresses. The token is `dir/token` (write [`TOKEN`] there).
pub struct NetnsAgent {
    pub name: &'static str,
    pub rir: Rir,
    pub netns: dcv_lab::netns::Netns,
    agent: Option<std::process::Child>,
    spec: Option<PerspectiveSpec>,
}

impl NetnsAgent {
    pub fn new(name: &'static str, rir: Rir) -> Self {
        Self {
            name,
            rir,
            netns: dcv_lab::netns::Netns::create().unwrap_or_else(|e| panic!("{e}")),
            agent: None,
            spec: None,
        }
    }

    /// Starts `dcv-doctor agent` inside the namespace, seeing `lab`.
    pub fn start(&mut self, dir: &std::path::Path, lab: &Lab) {
        self.start_with(dir, lab, &[]);
    }

    /// Same, with more agent flags (e.g. `--max-concurrent`).
    pub fn start_with(&mut self, dir: &std::path::Path, lab: &Lab, extra: &[&str]) {
        use std::process::Stdio;
        let files = lab.write_files(dir).unwrap();
        let cert = dir.join(format!("{}.pem", self.name));
        let mut cmd = self.netns.command(env!("CARGO_BIN_EXE_dcv-doctor"));
        let region = format!("netns-{}", self.name);
        let rir = self.rir.to_string();
        let identity = (self.name, region.as_str(), rir.as_str());
        let listen = IpAddr::V4(self.netns.ipv4());
        lab_agent_args(&mut cmd, listen, dir, lab, &files, identity);
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let url = agent_url(&mut child, self.name);
        self.agent = Some(child);
        self.spec = Some(PerspectiveSpec {
            name: self.name.to_owned(),
            url,
            region,
            rir: Some(self.rir),
            token: TOKEN.to_owned(),
            ca_cert_pem: std::fs::read_to_string(cert).unwrap(),
        });
    }

    pub fn spec(&self) -> PerspectiveSpec {
        self.spec.clone().expect("agent started")
    }

    /// The agent process's id (for its memory in `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.agent.as_ref().map(std::process::Child::id)
    }

    /// Stops the agent; its namespace and address stay.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NetnsAgent {
    fn drop(&mut self) {
        self.kill();
    }
}
