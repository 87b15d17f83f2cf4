//! A running lab: addresses allocated, zones built and signed, servers bound.
//! Dropping the [`Lab`] aborts every server task.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::Name;
use time::OffsetDateTime;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::LabError;
use crate::addr::{Block, HOSTS_PER_BLOCK};
use crate::http::{RunningResponder, spawn_responder};
use crate::scenario::{ClientView, Scenario, fqdn};
use crate::server::{ServerState, Stages, ViewZones, serve_tcp, serve_udp};
use crate::zone::{BuildCtx, HostAddrs, Topology, Zone, ZoneKeys, build_zone, parse_name};

/// How many address blocks / ephemeral ports to try before giving up.
const BIND_ATTEMPTS: usize = 12;

/// Paths written by [`Lab::write_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabFiles {
    /// Root hints in `named.root` format, for `--root-hints`.
    pub root_hints: PathBuf,
    /// The root KSK's DS record (empty file if the root is unsigned), for
    /// `--trust-anchor`.
    pub trust_anchor: PathBuf,
}

/// A running private DNS hierarchy and its HTTP responders on loopback.
#[derive(Debug)]
pub struct Lab {
    scenario: Scenario,
    dns_port: u16,
    servers: BTreeMap<String, Vec<IpAddr>>,
    http_port: u16,
    https_port: u16,
    responders: Vec<RunningResponder>,
    root_servers: Vec<String>,
    root_ds: Option<String>,
    root_dnskey: Option<String>,
    stages: Arc<Stages>,
    /// Every server's state (for [`Lab::reset_paths`]).
    states: Vec<Arc<ServerState>>,
    _tasks: JoinSet<()>,
}

impl Lab {
    /// Starts the scenario on an ephemeral DNS port shared by all servers.
    pub async fn start(scenario: Scenario) -> Result<Self, LabError> {
        Self::start_on_port(scenario, 0).await
    }

    /// Starts the scenario with every server on `port` (0 = ephemeral), e.g. 53 for
    /// Unbound or delv, which cannot be told another port per server.
    pub async fn start_on_port(scenario: Scenario, port: u16) -> Result<Self, LabError> {
        validate(&scenario)?;
        let now = OffsetDateTime::now_utc();
        let keys = generate_keys(&scenario)?;
        let mut last_err = None;
        let blocks = u32::try_from(scenario.servers.len().div_ceil(HOSTS_PER_BLOCK).max(1))
            .map_err(|_| LabError::Spec("too many servers".into()))?;
        for _ in 0..BIND_ATTEMPTS {
            let block = Block::allocate_run(blocks);
            match Self::try_start(&scenario, block, port, now, &keys).await {
                Ok(lab) => return Ok(lab),
                Err(LabError::Bind { source, addr, hint })
                    if source.kind() == io::ErrorKind::AddrInUse =>
                {
                    last_err = Some(LabError::Bind { source, addr, hint });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| LabError::Spec("could not bind the lab".into())))
    }

    async fn try_start(
        scenario: &Scenario,
        block: Block,
        port: u16,
        now: OffsetDateTime,
        keys: &HashMap<String, Arc<ZoneKeys>>,
    ) -> Result<Self, LabError> {
        let Prepared {
            servers,
            http_addrs,
            mut zones_by_server,
        } = prepare(scenario, block, now, keys)?;

        let mut tasks = JoinSet::new();
        let mut states = Vec::new();
        let mut port = port;
        let stages = Arc::new(Stages::default());
        for spec in &scenario.servers {
            let name = fqdn(&spec.name);
            let state = Arc::new(server_state(
                scenario,
                spec.behaviour.clone(),
                zones_by_server.remove(&name).unwrap_or_default(),
                Arc::clone(&stages),
            )?);
            states.push(Arc::clone(&state));
            for ip in servers
                .get(&name)
                .into_iter()
                .flatten()
                .copied()
                .collect::<Vec<IpAddr>>()
            {
                let addr = SocketAddr::new(ip, port);
                let udp = bind_udp(addr).map_err(|e| bind_error(addr, e))?;
                if port == 0 {
                    port = udp.local_addr().map_err(|e| bind_error(addr, e))?.port();
                }
                let addr = SocketAddr::new(ip, port);
                tasks.spawn(serve_udp(udp, Arc::clone(&state)));
                if spec.behaviour.tcp_refused {
                    continue;
                }
                let tcp = TcpListener::bind(addr)
                    .await
                    .map_err(|e| bind_error(addr, e))?;
                tasks.spawn(serve_tcp(tcp, Arc::clone(&state)));
            }
        }

        // All responders share one HTTP and one HTTPS port, chosen by the first.
        let (mut http_port, mut https_port) = (0, 0);
        let mut responders = Vec::new();
        for spec in &scenario.http {
            let addrs: Vec<IpAddr> = http_addrs
                .get(&spec.name)
                .map(|h| h.v4.iter().chain(&h.v6).copied().collect())
                .unwrap_or_default();
            let running = spawn_responder(spec, &addrs, http_port, https_port)
                .await
                .map_err(|e| responder_error(&addrs, e))?;
            http_port = running.http_port();
            https_port = running.https_port();
            responders.push(running);
        }

        let root = Name::root();
        let root_keys = keys.get(".");
        let root_ds = match root_keys {
            Some(k) => Some(format!(". 86400 IN DS {}", k.ds(&root)?)),
            None => None,
        };
        let root_dnskey = root_keys.map(|k| format!(". 86400 IN DNSKEY {}", k.ksk_dnskey));
        let mut root_servers: Vec<String> = Vec::new();
        for spec in scenario.zones.iter().filter(|z| fqdn(&z.apex) == ".") {
            for s in &spec.servers {
                let s = fqdn(s);
                if !root_servers.contains(&s) {
                    root_servers.push(s);
                }
            }
        }
        Ok(Self {
            scenario: scenario.clone(),
            dns_port: port,
            servers,
            http_port,
            https_port,
            responders,
            root_servers,
            root_ds,
            root_dnskey,
            stages,
            states,
            _tasks: tasks,
        })
    }

    /// Enters `stage`: from the next query on, every server that has a copy
    /// marked [`crate::ZoneSpec::from_stage`] with it serves that copy in
    /// place of its default copy of the apex. Entering a stage again makes it
    /// the latest. Errors on a stage no zone names.
    pub fn enter_stage(&self, stage: &str) -> Result<(), LabError> {
        if !self
            .scenario
            .zones
            .iter()
            .any(|z| z.stage.as_deref() == Some(stage))
        {
            return Err(LabError::Spec(format!(
                "no zone copy is staged for {stage:?}"
            )));
        }
        self.stages.enter(stage);
        // Built answers are of the copies served before this stage.
        for state in &self.states {
            state.forget_built();
        }
        Ok(())
    }

    /// Every server forgets the questions it has seen and restarts its
    /// seeded jitter and loss draws, so the next resolver meets the same
    /// path as the first ("every first try lost" holds for each resolver
    /// measured in turn on one lab, not only the first).
    pub fn reset_paths(&self) {
        for state in &self.states {
            state.reset_fate();
        }
    }

    /// Queries every server of the lab has received so far (UDP datagrams
    /// and TCP messages): the packets any resolver sent, ours or another
    /// (Unbound) measured the same way.
    pub fn queries_received(&self) -> u64 {
        self.states
            .iter()
            .map(|s| s.received.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    /// The scenario this lab runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The DNS port shared by every server of the lab.
    pub fn dns_port(&self) -> u16 {
        self.dns_port
    }

    /// Addresses of a DNS server (IPv4 first); empty for an unknown name.
    pub fn server_addrs(&self, name: &str) -> Vec<IpAddr> {
        self.servers.get(&fqdn(name)).cloned().unwrap_or_default()
    }

    /// Addresses of an HTTP responder (IPv4 first); empty for an unknown name.
    pub fn responder_addrs(&self, name: &str) -> Vec<IpAddr> {
        self.responder(name)
            .map(|r| r.addrs().to_vec())
            .unwrap_or_default()
    }

    /// A running HTTP responder, e.g. to read the requests it saw.
    pub fn responder(&self, name: &str) -> Option<&RunningResponder> {
        self.responders.iter().find(|r| r.name() == name)
    }

    /// The plain-HTTP port shared by every responder (0 without responders).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The TLS port shared by every responder (0 without responders).
    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// Socket addresses (address + DNS port) of a DNS server.
    pub fn server_socket_addrs(&self, name: &str) -> Vec<SocketAddr> {
        self.server_addrs(name)
            .into_iter()
            .map(|ip| SocketAddr::new(ip, self.dns_port))
            .collect()
    }

    /// Socket addresses of the root servers, for a resolver's hints.
    pub fn root_hints(&self) -> Vec<SocketAddr> {
        self.root_servers
            .iter()
            .flat_map(|s| self.server_socket_addrs(s))
            .collect()
    }

    /// Root hints as zone-file text in IANA `named.root` form: `. NS` per root
    /// server plus its A/AAAA.
    pub fn root_hints_zone(&self) -> String {
        let mut out = String::from("; dcv-lab root hints\n");
        for s in &self.root_servers {
            let _ = writeln!(out, ".                        3600000      NS    {s}");
        }
        for s in &self.root_servers {
            for ip in self.server_addrs(s) {
                let t = if ip.is_ipv4() { "A   " } else { "AAAA" };
                let _ = writeln!(out, "{s:<24} 3600000      {t}  {ip}");
            }
        }
        out
    }

    /// The root KSK's DS as a zone-file line; `None` if the root is unsigned.
    pub fn trust_anchor_ds(&self) -> Option<String> {
        self.root_ds.clone()
    }

    /// The root KSK as a DNSKEY zone-file line; `None` if the root is unsigned.
    pub fn trust_anchor_dnskey(&self) -> Option<String> {
        self.root_dnskey.clone()
    }

    /// Writes `root.hints` and `trust-anchor.ds` into `dir`.
    pub fn write_files(&self, dir: &Path) -> io::Result<LabFiles> {
        let root_hints = dir.join("root.hints");
        let trust_anchor = dir.join("trust-anchor.ds");
        std::fs::write(&root_hints, self.root_hints_zone())?;
        let mut ta = self.root_ds.clone().unwrap_or_default();
        if !ta.is_empty() {
            ta.push('\n');
        }
        std::fs::write(&trust_anchor, ta)?;
        Ok(LabFiles {
            root_hints,
            trust_anchor,
        })
    }
}

/// Keys once per signed apex, shared by every copy of a zone.
fn generate_keys(scenario: &Scenario) -> Result<HashMap<String, Arc<ZoneKeys>>, LabError> {
    let mut keys: HashMap<String, Arc<ZoneKeys>> = HashMap::new();
    for spec in &scenario.zones {
        if spec.signing.is_signed()
            && let std::collections::hash_map::Entry::Vacant(e) = keys.entry(fqdn(&spec.apex))
        {
            e.insert(Arc::new(ZoneKeys::generate(spec.algorithm)?));
        }
    }
    Ok(keys)
}

/// A zone copy a server serves, the client view it is for (`None`: all) and
/// the stage it waits for (`None`: served from the start).
type ServedCopy = (Option<String>, Option<String>, Arc<Zone>);

/// Addresses and built zones of a scenario, before anything is bound.
struct Prepared {
    /// Server name ([`fqdn`]) → addresses, IPv4 first.
    servers: BTreeMap<String, Vec<IpAddr>>,
    /// Responder name → addresses.
    http_addrs: HashMap<String, HostAddrs>,
    /// Server name ([`fqdn`]) → the zone copies it serves, with their view.
    zones_by_server: HashMap<String, Vec<ServedCopy>>,
}

/// One server's state: its default copies, and per client view (scenario
/// order) the copies only that view sees.
fn server_state(
    scenario: &Scenario,
    behaviour: crate::scenario::Behaviour,
    served: Vec<ServedCopy>,
    stages: Arc<Stages>,
) -> Result<ServerState, LabError> {
    let mut zones = Vec::new();
    let mut staged = Vec::new();
    let mut views: Vec<ViewZones> = Vec::new();
    for view in &scenario.views {
        views.push(ViewZones {
            sources: parse_sources(view)?,
            zones: Vec::new(),
        });
    }
    for (view, stage, zone) in served {
        if let Some(stage) = stage {
            staged.push((stage, zone));
            continue;
        }
        match view.and_then(|v| scenario.views.iter().position(|cv| cv.name == v)) {
            Some(i) => views[i].zones.push(zone),
            None => zones.push(zone),
        }
    }
    views.retain(|v| !v.zones.is_empty());
    Ok(ServerState::new(behaviour, zones, views, staged, stages))
}

/// A view's source prefixes; a bare address is a /32 or /128.
fn parse_sources(view: &ClientView) -> Result<Vec<ipnet::IpNet>, LabError> {
    view.sources
        .iter()
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    LabError::Spec(format!(
                        "view {}: {s:?} is not an address or CIDR prefix",
                        view.name
                    ))
                })
        })
        .collect()
}

fn prepare(
    scenario: &Scenario,
    block: Block,
    now: OffsetDateTime,
    keys: &HashMap<String, Arc<ZoneKeys>>,
) -> Result<Prepared, LabError> {
    // Host numbers: servers from 1, in scenario order; past 199 servers the
    // next block of the run (see `Block::allocate_run`).
    let mut server_addrs: HashMap<String, HostAddrs> = HashMap::new();
    let mut servers = BTreeMap::new();
    for (i, spec) in scenario.servers.iter().enumerate() {
        let server_block = u32::try_from(i / HOSTS_PER_BLOCK)
            .map(|k| block.offset(k))
            .map_err(|_| LabError::Spec("too many servers".into()))?;
        let n = u8::try_from(i % HOSTS_PER_BLOCK + 1)
            .map_err(|_| LabError::Spec("host number out of range".into()))?;
        let mut h = HostAddrs::default();
        if spec.ipv4 {
            h.v4.push(IpAddr::V4(server_block.v4(n)));
        }
        if spec.ipv6 && !scenario.ipv4_only {
            h.v6.push(IpAddr::V6(server_block.v6(n)));
        }
        servers.insert(
            fqdn(&spec.name),
            h.v4.iter().chain(&h.v6).copied().collect(),
        );
        server_addrs.insert(fqdn(&spec.name), h);
    }
    // Responders from 200, dual-stack.
    let mut http_addrs: HashMap<String, HostAddrs> = HashMap::new();
    for (j, spec) in scenario.http.iter().enumerate() {
        let n = u8::try_from(200 + j)
            .ok()
            .filter(|n| *n < 255)
            .ok_or_else(|| LabError::Spec("at most 55 HTTP responders per lab".into()))?;
        http_addrs.insert(
            spec.name.clone(),
            HostAddrs {
                v4: vec![IpAddr::V4(block.v4(n))],
                v6: if scenario.ipv4_only {
                    Vec::new()
                } else {
                    vec![IpAddr::V6(block.v6(n))]
                },
            },
        );
    }

    let ctx = BuildCtx {
        specs: &scenario.zones,
        server_addrs: &server_addrs,
        http_addrs: &http_addrs,
        keys,
        now,
        ipv4_only: scenario.ipv4_only,
        topology: Topology::new(&scenario.zones, &scenario.servers)?,
    };
    let mut zones_by_server: HashMap<String, Vec<ServedCopy>> = HashMap::new();
    for spec in &scenario.zones {
        let zone = Arc::new(build_zone(spec, &ctx)?);
        for s in &spec.servers {
            zones_by_server.entry(fqdn(s)).or_default().push((
                spec.view.clone(),
                spec.stage.clone(),
                Arc::clone(&zone),
            ));
        }
    }

    Ok(Prepared {
        servers,
        http_addrs,
        zones_by_server,
    })
}

/// Keeps `AddrInUse` recognisable so a clash retries with another block.
fn responder_error(addrs: &[IpAddr], source: io::Error) -> LabError {
    let addr = SocketAddr::new(
        addrs
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        0,
    );
    let hint = if source.kind() == io::ErrorKind::AddrInUse {
        ""
    } else {
        " (HTTP responder)"
    };
    LabError::Bind { addr, source, hint }
}

fn bind_error(addr: SocketAddr, source: io::Error) -> LabError {
    let hint = if addr.is_ipv6() && source.kind() != io::ErrorKind::AddrInUse {
        " (IPv6 lab addresses need `sudo scripts/lab-net-setup`, run as root)"
    } else {
        ""
    };
    LabError::Bind { addr, source, hint }
}

/// Checks names and references before anything is bound.
fn validate(scenario: &Scenario) -> Result<(), LabError> {
    let known: Vec<String> = scenario.servers.iter().map(|s| fqdn(&s.name)).collect();
    for (i, s) in known.iter().enumerate() {
        parse_name(s)?;
        if known[..i].contains(s) {
            return Err(LabError::Spec(format!("server {s} is declared twice")));
        }
    }
    for (i, r) in scenario.http.iter().enumerate() {
        if scenario.http[..i].iter().any(|o| o.name == r.name) {
            return Err(LabError::Spec(format!(
                "responder {} is declared twice",
                r.name
            )));
        }
    }
    for (i, view) in scenario.views.iter().enumerate() {
        parse_sources(view)?;
        if scenario.views[..i].iter().any(|v| v.name == view.name) {
            return Err(LabError::Spec(format!(
                "view {} is declared twice",
                view.name
            )));
        }
    }
    for zone in &scenario.zones {
        parse_name(&zone.apex)?;
        if let Some(view) = &zone.view
            && !scenario.views.iter().any(|v| &v.name == view)
        {
            return Err(LabError::Spec(format!(
                "zone {} names unknown view {view}",
                zone.apex
            )));
        }
        if zone.servers.is_empty() {
            return Err(LabError::Spec(format!("zone {} has no servers", zone.apex)));
        }
        if zone.view.is_some() && zone.stage.is_some() {
            return Err(LabError::Spec(format!(
                "zone {}: a copy is either for a view or for a stage, not both",
                zone.apex
            )));
        }
        for s in &zone.servers {
            if !known.contains(&fqdn(s)) {
                return Err(LabError::Spec(format!(
                    "zone {} names unknown server {s}",
                    zone.apex
                )));
            }
        }
    }
    Ok(())
}

/// Whether this machine can bind the lab's IPv6 addresses (`fd5c:dc5::/48`
/// made local by `scripts/lab-net-setup`). Callers that can do without IPv6
/// (the demo) fall back to [`Scenario::into_ipv4_only`]; tests need it.
pub fn ipv6_available() -> bool {
    std::net::UdpSocket::bind("[fd5c:dc5:0:1::1]:0").is_ok()
}

/// Receive buffer asked for each lab UDP socket. Hundreds of checks at once
/// (load tests, benches) send bursts of thousands of queries to one lab
/// server; the default buffer (`net.core.rmem_default`, ~208 KiB, a few
/// hundred datagrams) overflows and the kernel drops them, which a test would
/// read as the domain's servers timing out. Real authoritative servers size
/// their buffers for their load too. The kernel caps it at `net.core.rmem_max`.
const LAB_UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// A lab server's UDP socket, with [`LAB_UDP_RECV_BUFFER`].
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer only makes bursts likelier to drop.
    let _ = socket.set_recv_buffer_size(LAB_UDP_RECV_BUFFER);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, Query};
    use hickory_proto::rr::RecordType;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::catalogue;
    use crate::server::Transport;

    const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn states(scenario: &Scenario) -> Vec<ServerState> {
        states_with(scenario, &Arc::new(Stages::default()))
    }

    fn states_with(scenario: &Scenario, stages: &Arc<Stages>) -> Vec<ServerState> {
        let keys = generate_keys(scenario).unwrap();
        let prepared = prepare(
            scenario,
            Block::allocate(),
            OffsetDateTime::now_utc(),
            &keys,
        )
        .unwrap();
        scenario
            .servers
            .iter()
            .map(|s| {
                server_state(
                    scenario,
                    s.behaviour.clone(),
                    prepared
                        .zones_by_server
                        .get(&fqdn(&s.name))
                        .cloned()
                        .unwrap_or_default(),
                    Arc::clone(stages),
                )
                .unwrap()
            })
            .collect()
    }

    /// A staged copy is served only once its stage is entered, only by its
    /// own servers, and the latest stage entered wins.
    #[test]
    fn a_staged_copy_replaces_the_default_once_entered() {
        let base = catalogue::valid();
        let staged = |stage: &str, value: &str, servers: &[&str]| {
            let mut copy = base
                .zones
                .iter()
                .find(|z| fqdn(&z.apex) == catalogue::ZONE)
                .unwrap()
                .clone();
            copy.servers = servers.iter().map(|s| (*s).to_owned()).collect();
            copy.records
                .push(format!("_acme-challenge.new TXT \"{value}\""));
            copy.from_stage(stage)
        };
        let scenario = base
            .clone()
            .zone(staged("one", "v1", &[catalogue::NS1]))
            .zone(staged("all", "v2", &[catalogue::NS1, catalogue::NS2]));
        let stages = Arc::new(Stages::default());
        let all = states_with(&scenario, &stages);
        let pos = |ns: &str| {
            scenario
                .servers
                .iter()
                .position(|s| fqdn(&s.name) == fqdn(ns))
                .unwrap()
        };
        let (ns1, ns2) = (&all[pos(catalogue::NS1)], &all[pos(catalogue::NS2)]);
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("_acme-challenge.new.example.lab.").unwrap(),
            RecordType::TXT,
        ));
        let wire = m.to_vec().unwrap();
        let ask = |state: &ServerState| {
            let reply = state.respond(&wire, Transport::Udp, LOCALHOST).unwrap();
            Message::from_vec(&reply)
                .unwrap()
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_proto::rr::RData::TXT(t) => Some(t.to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert!(ask(ns1).is_empty() && ask(ns2).is_empty());
        stages.enter("one");
        assert_eq!(ask(ns1), vec!["v1"]);
        assert!(ask(ns2).is_empty());
        stages.enter("all");
        assert_eq!(ask(ns1), vec!["v2"]);
        assert_eq!(ask(ns2), vec!["v2"]);
        stages.enter("one");
        assert_eq!(ask(ns1), vec!["v1"]);
    }

    /// A copy marked for a view answers the view's sources (IPv4 also as
    /// seen on a dual-stack socket) and nobody else.
    #[test]
    fn a_view_copy_is_served_to_its_sources_only() {
        let mut scenario = catalogue::valid().view("v", ["198.18.0.2/32"]);
        let mut copy = scenario
            .zone_mut(catalogue::ZONE)
            .unwrap()
            .clone()
            .for_view("v");
        copy.records.push("onlyview TXT \"x\"".into());
        let scenario = scenario.zone(copy);
        let ns1 = scenario
            .servers
            .iter()
            .position(|s| fqdn(&s.name) == fqdn(catalogue::NS1))
            .unwrap();
        let state = states(&scenario).remove(ns1);
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("onlyview.example.lab.").unwrap(),
            RecordType::TXT,
        ));
        let wire = m.to_vec().unwrap();
        let ask = |client: &str| {
            let reply = state
                .respond(&wire, Transport::Udp, client.parse().unwrap())
                .unwrap();
            Message::from_vec(&reply).unwrap()
        };
        for client in ["198.18.0.2", "::ffff:198.18.0.2"] {
            let reply = ask(client);
            assert_eq!(reply.answers.len(), 1, "{client}: {reply:?}");
        }
        for client in ["198.18.0.3", "127.0.0.1", "fd5c:dc6::2"] {
            let reply = ask(client);
            assert_eq!(
                reply.metadata.response_code,
                hickory_proto::op::ResponseCode::NXDomain,
                "{client}"
            );
        }
    }

    /// Random corruption of real queries: every reply is produced without a
    /// panic, and whatever we send back decodes or is our deliberate FORMERR.
    #[test]
    fn mutated_queries_never_panic() {
        let mut rng = StdRng::seed_from_u64(0x00dc_5dc5);
        let names = [
            "www.example.lab.",
            "nx.example.lab.",
            "x.wild.example.lab.",
            "example.lab.",
            "lab.",
            ".",
            "www.old.lab.",
            "sub.example.lab.",
        ];
        let types = [
            RecordType::A,
            RecordType::DS,
            RecordType::DNSKEY,
            RecordType::ANY,
            RecordType::CAA,
            RecordType::NSEC3PARAM,
        ];
        for scenario in [
            catalogue::valid(),
            catalogue::valid_nsec3(),
            catalogue::dname(),
            catalogue::cname_loop(),
            catalogue::bad_nsec3_next(),
        ] {
            for state in states(&scenario) {
                for name in names {
                    for rtype in types {
                        let mut m = Message::query();
                        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
                        let mut edns = Edns::new();
                        edns.set_dnssec_ok(true);
                        m.set_edns(edns);
                        let wire = m.to_vec().unwrap();
                        // The clean query is answered with a decodable message.
                        let reply = state.respond(&wire, Transport::Tcp, LOCALHOST).unwrap();
                        Message::from_vec(&reply).unwrap();
                        for _ in 0..20 {
                            let mut bad = wire.clone();
                            match rng.random_range(0..3) {
                                0 => {
                                    let i = rng.random_range(0..bad.len());
                                    bad[i] = rng.random();
                                }
                                1 => bad.truncate(rng.random_range(0..bad.len())),
                                _ => bad.extend(
                                    (0..rng.random_range(1..40)).map(|_| rng.random::<u8>()),
                                ),
                            }
                            let _ = state.respond(&bad, Transport::Udp, LOCALHOST);
                        }
                    }
                }
            }
        }
    }
}
