//! Network namespaces as lab hosts: each [`Netns`] is a Linux network
//! namespace joined to this host by a veth pair, with no route anywhere but
//! the lab. A process started with [`Netns::command`] has its own source
//! addresses (what a split-horizon [`crate::ClientView`] matches on) and its
//! own packet filter ([`Netns::drop_egress_to`]: an nftables `netdev` egress
//! drop, so a blocked server gives real timeouts, not instant errors).
//!
//! Addressing (`lab-notes.md`, "Network safety"):
//! - IPv4: the pair gets a /30 in 198.18.0.0/15 (RFC 2544, benchmarking
//!   networks, never routed on the Internet). The lab's servers listen on
//!   127.A.B.n of this host, so the namespace routes 127.0.0.0/8 over the veth
//!   (`route_localnet` on both ends) and keeps only 127.0.0.1 as its own.
//! - IPv6: the pair gets a /64 in `fd5c:dc6::/48`, inside the `fd5c::/16` that
//!   `scripts/lab-net-setup` makes unreachable, outside the lab's own local
//!   `fd5c:dc5::/48`; the namespace routes `fd5c:dc5::/48` over the veth.
//! - The namespace has no default route: nothing it sends can leave the host.
//!
//! Vantage points a check cannot fully work from (issue #15 §4):
//! [`Netns::isolated`] (no network), [`Netns::disable_ipv6`] (IPv4-only),
//! [`Netns::drop_egress_dns`] (outbound DNS filtered) and
//! [`Netns::redirect_dns_to`] (port 53 intercepted by a resolver).
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables). [`Netns::create`] says
//! which is missing instead of failing obscurely.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::LabError;

/// Process-wide counter, mixed with the pid so parallel test processes get
/// different names and address blocks.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// /30 blocks in 198.18.0.0/15.
const V4_BLOCKS: u32 = 1 << 15;

/// Attempts at a free name and block before giving up.
const CREATE_ATTEMPTS: u32 = 8;

/// One namespace and its veth pair; dropping it deletes both.
#[derive(Debug)]
pub struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    host_v4: Ipv4Addr,
    ns_v4: Ipv4Addr,
    host_v6: Ipv6Addr,
    ns_v6: Ipv6Addr,
    filtered: bool,
}

impl Netns {
    /// Creates a namespace with its veth pair and routes to the lab.
    pub fn create() -> Result<Self, LabError> {
        preflight()?;
        let mut last = None;
        for _ in 0..CREATE_ATTEMPTS {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let pid = std::process::id();
            let index = (pid.wrapping_mul(2_654_435_761) >> 12).wrapping_add(n) % V4_BLOCKS;
            let ns = Self::named(index, n);
            match ns.setup() {
                Ok(()) => return Ok(ns),
                // Dropping `ns` removes whatever part of it was made.
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| netns_error("no attempt made")))
    }

    fn named(index: u32, n: u32) -> Self {
        let pid = std::process::id();
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + index * 4;
        let group = u16::try_from(index).unwrap_or(0);
        let v6 = |host: u16| Ipv6Addr::new(0xfd5c, 0x0dc6, 0, group, 0, 0, 0, host);
        Self {
            // Interface names are at most 15 bytes.
            name: format!("dcv-{pid}-{n}"),
            host_if: format!("dcvh{index:05x}"),
            ns_if: format!("dcvn{index:05x}"),
            host_v4: Ipv4Addr::from(base + 1),
            ns_v4: Ipv4Addr::from(base + 2),
            host_v6: v6(1),
            ns_v6: v6(2),
            filtered: false,
        }
    }

    fn setup(&self) -> Result<(), LabError> {
        let (name, h, n) = (&self.name, &self.host_if, &self.ns_if);
        run("ip", &["netns", "add", name])?;
        run(
            "ip",
            &[
                "link", "add", h, "type", "veth", "peer", "name", n, "netns", name,
            ],
        )?;
        // Host end.
        run(
            "ip",
            &["addr", "add", &format!("{}/30", self.host_v4), "dev", h],
        )?;
        run(
            "ip",
            &[
                "-6",
                "addr",
                "add",
                &format!("{}/64", self.host_v6),
                "dev",
                h,
                "nodad",
            ],
        )?;
        sysctl(None, &format!("net.ipv4.conf.{h}.route_localnet"), "1")?;
        run("ip", &["link", "set", h, "up"])?;
        // Namespace end.
        let ns = |args: &[&str]| self.exec("ip", args);
        ns(&["link", "set", "lo", "up"])?;
        ns(&["addr", "add", &format!("{}/30", self.ns_v4), "dev", n])?;
        ns(&[
            "-6",
            "addr",
            "add",
            &format!("{}/64", self.ns_v6),
            "dev",
            n,
            "nodad",
        ])?;
        sysctl(
            Some(name),
            &format!("net.ipv4.conf.{n}.route_localnet"),
            "1",
        )?;
        ns(&["link", "set", n, "up"])?;
        // 127/8 is the lab's, on the host: only 127.0.0.1 stays local here.
        ns(&[
            "route",
            "del",
            "local",
            "127.0.0.0/8",
            "dev",
            "lo",
            "table",
            "local",
        ])?;
        ns(&[
            "route",
            "replace",
            "local",
            "127.0.0.1",
            "dev",
            "lo",
            "table",
            "local",
        ])?;
        let (gw4, src4) = (self.host_v4.to_string(), self.ns_v4.to_string());
        ns(&[
            "route",
            "add",
            "127.0.0.0/8",
            "via",
            &gw4,
            "dev",
            n,
            "src",
            &src4,
        ])?;
        let gw6 = self.host_v6.to_string();
        ns(&["-6", "route", "add", "fd5c:dc5::/48", "via", &gw6, "dev", n])?;
        Ok(())
    }

    /// A namespace with no network at all: no veth, `lo` down, so every
    /// address (the lab's 127.x included) is unreachable from inside
    /// (`ENETUNREACH`), as on a machine with no network. For "the check
    /// cannot be made from here" cases.
    pub fn isolated() -> Result<Self, LabError> {
        preflight()?;
        let mut last = None;
        for _ in 0..CREATE_ATTEMPTS {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let mut ns = Self::named(0, n);
            // No veth: the interfaces are never created.
            ns.host_if.clear();
            ns.ns_if.clear();
            match run("ip", &["netns", "add", &ns.name]) {
                Ok(()) => return Ok(ns),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| netns_error("no attempt made")))
    }

    /// Turns IPv6 off inside the namespace (`net.ipv6.conf.*.disable_ipv6`):
    /// its IPv6 addresses and routes go, and every IPv6 destination becomes
    /// unreachable, as on an IPv4-only machine.
    pub fn disable_ipv6(&self) -> Result<(), LabError> {
        for key in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            sysctl(Some(&self.name), key, "1")?;
        }
        Ok(())
    }

    /// Silently drops DNS (UDP and TCP to `port`) leaving the namespace, to
    /// any address: a firewall that filters outbound port 53 (an nftables
    /// `netdev` egress drop, so queries really time out).
    pub fn drop_egress_dns(&mut self, port: u16) -> Result<(), LabError> {
        self.nft(&format!(
            "table netdev dcv_lab {{\n  chain egress {{\n    type filter hook egress device \"{}\" priority 0; policy accept;\n    udp dport {port} counter drop\n    tcp dport {port} counter drop\n  }}\n}}\n",
            self.ns_if
        ))?;
        self.filtered = true;
        Ok(())
    }

    /// Sends every IPv4 DNS query (UDP and TCP to `port`) leaving the
    /// namespace to `to` instead, whatever its destination (an nftables DNAT
    /// on the `output` hook): a transparent DNS proxy, as hotel, ISP and
    /// corporate networks run. The replies come back as if from the address
    /// asked.
    pub fn redirect_dns_to(&self, port: u16, to: SocketAddrV4) -> Result<(), LabError> {
        self.nft(&format!(
            "table ip dcv_lab_nat {{\n  chain output {{\n    type nat hook output priority -100; policy accept;\n    udp dport {port} counter dnat to {to}\n    tcp dport {port} counter dnat to {to}\n  }}\n}}\n"
        ))
    }

    fn nft(&self, script: &str) -> Result<(), LabError> {
        let file = std::env::temp_dir().join(format!("{}.nft", self.name));
        std::fs::write(&file, script)
            .map_err(|e| netns_error(&format!("writing {}: {e}", file.display())))?;
        let result = self.exec("nft", &["-f", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        result
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's IPv4 address: its source for lab queries, and where
    /// its servers listen for the host.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ns_v4
    }

    /// The namespace's IPv6 address.
    pub fn ipv6(&self) -> Ipv6Addr {
        self.ns_v6
    }

    /// Both source addresses as single-host prefixes, for a
    /// [`crate::Scenario::view`].
    pub fn sources(&self) -> Vec<String> {
        vec![format!("{}/32", self.ns_v4), format!("{}/128", self.ns_v6)]
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Silently drops every packet this namespace sends to `addrs` (an
    /// nftables `netdev` egress hook on its veth): to a process inside, those
    /// servers time out, as an unreachable nameserver does from one network
    /// perspective.
    pub fn drop_egress_to(&mut self, addrs: &[IpAddr]) -> Result<(), LabError> {
        let mut rules = String::new();
        for ip in addrs {
            let family = if ip.is_ipv4() { "ip" } else { "ip6" };
            let _ = writeln!(rules, "    {family} daddr {ip} counter drop");
        }
        let script = format!(
            "table netdev dcv_lab {{\n  chain egress {{\n    type filter hook egress device \"{}\" priority 0; policy accept;\n{rules}  }}\n}}\n",
            self.ns_if
        );
        self.nft(&script)?;
        self.filtered = true;
        Ok(())
    }

    /// How many packets the egress filter has dropped (0 without one): proof
    /// that a timeout came from the filter.
    pub fn dropped_packets(&self) -> Result<u64, LabError> {
        if !self.filtered {
            return Ok(0);
        }
        let out = self.output("nft", &["list", "table", "netdev", "dcv_lab"])?;
        Ok(out
            .split("counter packets ")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum())
    }

    fn exec(&self, program: &str, args: &[&str]) -> Result<(), LabError> {
        self.output(program, args).map(drop)
    }

    fn output(&self, program: &str, args: &[&str]) -> Result<String, LabError> {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        output("ip", &full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end, and with it the pair.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !self.host_if.is_empty() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.host_if])
                .output();
        }
    }
}

/// Root, `ip` and `nft`, or a message saying how to get them.
fn preflight() -> Result<(), LabError> {
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Err(netns_error(&format!(
                "`{tool}` not found: install it with `sudo apt-get install {package}`"
            )));
        }
    }
    let uid = output("id", &["-u"])?;
    if uid.trim() != "0" {
        return Err(netns_error(
            "network namespaces need root: run the tests as root (CI does) or with `sudo -E cargo test`",
        ));
    }
    Ok(())
}

fn sysctl(netns: Option<&str>, key: &str, value: &str) -> Result<(), LabError> {
    let setting = format!("{key}={value}");
    match netns {
        Some(ns) => output("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", &setting]),
        None => output("sysctl", &["-q", "-w", &setting]),
    }
    .map(drop)
}

fn run(program: &str, args: &[&str]) -> Result<(), LabError> {
    output(program, args).map(drop)
}

fn output(program: &str, args: &[&str]) -> Result<String, LabError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| netns_error(&format!("{program}: {e}")))?;
    if !out.status.success() {
        return Err(netns_error(&format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn netns_error(message: &str) -> LabError {
    LabError::Netns(message.to_owned())
}
