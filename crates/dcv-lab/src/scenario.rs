//! Declarative lab scenarios: which zones exist, which servers serve them, and which
//! faults are injected. Plain data (serde) with builder helpers, so a scenario reads
//! like the picture of the DNS tree it describes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A complete lab: zones, the DNS servers that serve them, and HTTP responders.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Scenario {
    /// Short identifier (extended-dns-errors.com label where one fits).
    pub name: String,
    /// One line saying what the scenario demonstrates.
    pub description: String,
    /// Zones, root and TLDs included. Two specs may share an apex (stale copies).
    pub zones: Vec<ZoneSpec>,
    /// Authoritative servers; the lab allocates their addresses.
    pub servers: Vec<ServerSpec>,
    /// HTTP responders, spawned by [`crate::http::spawn_responder`]. Not part of
    /// the serde form (the responder specs are code-only).
    #[serde(skip)]
    pub http: Vec<crate::http::ResponderSpec>,
    /// Serve on IPv4 only: no server or responder gets an IPv6 address, and
    /// record lines with `{http6:..}`/`{ns6:..}` placeholders are left out.
    /// For machines where `scripts/lab-net-setup` has not run (the demo).
    #[serde(default)]
    pub ipv4_only: bool,
    /// Client views (split-horizon or geo DNS): a query from a source in a
    /// view's prefixes is answered from the zone copies marked with that view
    /// ([`ZoneSpec::view`]) where the server has one, as BIND's `view` with
    /// `match-clients` or a geo-DNS provider's regional answer does.
    pub views: Vec<ClientView>,
}

/// A set of client source prefixes that see their own copies of some zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientView {
    /// Name that [`ZoneSpec::view`] refers to.
    pub name: String,
    /// Source prefixes in CIDR form (`198.18.0.2/32`, `fd5c:dc6::/48`).
    pub sources: Vec<String>,
}

impl Scenario {
    /// An empty scenario with a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets name and description (catalogue variants of a base scenario).
    #[must_use]
    pub fn rename(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.name = name.into();
        self.description = description.into();
        self
    }

    /// The same world on IPv4 only (see [`Scenario::ipv4_only`]).
    #[must_use]
    pub fn into_ipv4_only(mut self) -> Self {
        self.ipv4_only = true;
        for server in &mut self.servers {
            server.ipv6 = false;
        }
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Adds a zone.
    #[must_use]
    pub fn zone(mut self, zone: ZoneSpec) -> Self {
        self.zones.push(zone);
        self
    }

    /// Adds an HTTP responder; `{http4:NAME}`/`{http6:NAME}` expand to its addresses.
    #[must_use]
    pub fn responder(mut self, responder: crate::http::ResponderSpec) -> Self {
        self.http.push(responder);
        self
    }

    /// Declares a client view: queries from `sources` (CIDR prefixes) are
    /// answered from the zone copies marked [`ZoneSpec::for_view`] `name`.
    #[must_use]
    pub fn view<I, S>(mut self, name: impl Into<String>, sources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.views.push(ClientView {
            name: name.into(),
            sources: sources.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Adds a server.
    #[must_use]
    pub fn server(mut self, server: ServerSpec) -> Self {
        self.servers.push(server);
        self
    }

    /// The first zone spec with this apex, to add records or faults to a base scenario.
    pub fn zone_mut(&mut self, apex: &str) -> Option<&mut ZoneSpec> {
        let apex = fqdn(apex);
        self.zones.iter_mut().find(|z| fqdn(&z.apex) == apex)
    }

    /// The server spec with this name, to change its behaviour.
    pub fn server_mut(&mut self, name: &str) -> Option<&mut ServerSpec> {
        let name = fqdn(name);
        self.servers.iter_mut().find(|s| fqdn(&s.name) == name)
    }

    /// Builder form of [`Scenario::zone_mut`]: applies `f` to the zone if it exists.
    #[must_use]
    pub fn with_zone(mut self, apex: &str, f: impl FnOnce(&mut ZoneSpec)) -> Self {
        if let Some(zone) = self.zone_mut(apex) {
            f(zone);
        }
        self
    }

    /// Builder form of [`Scenario::server_mut`].
    #[must_use]
    pub fn with_server(mut self, name: &str, f: impl FnOnce(&mut ServerSpec)) -> Self {
        if let Some(server) = self.server_mut(name) {
            f(server);
        }
        self
    }
}

/// How a zone is signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signing {
    /// No DNSKEY, no RRSIGs; the parent proves there is no DS if it is signed.
    #[default]
    Unsigned,
    /// Signed, with an NSEC chain.
    Nsec,
    /// Signed, with an NSEC3 chain (RFC 5155). High `iterations` is itself a fault
    /// (RFC 9276 lets validators treat it as insecure or bogus).
    Nsec3 {
        /// Extra hash iterations.
        iterations: u16,
        /// Salt, hex (empty for none).
        salt: String,
        /// Opt-out: insecure delegations are left out of the chain.
        opt_out: bool,
    },
}

impl Signing {
    /// NSEC3 as RFC 9276 recommends: no extra iterations, no salt, no opt-out.
    pub fn nsec3() -> Self {
        Self::Nsec3 {
            iterations: 0,
            salt: String::new(),
            opt_out: false,
        }
    }

    /// Whether the zone carries DNSSEC records at all.
    pub fn is_signed(&self) -> bool {
        !matches!(self, Self::Unsigned)
    }
}

/// The DNSSEC algorithm of a zone's KSK and ZSK (the four RFC 8624 §3.1
/// lists as MUST or RECOMMENDED to validate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// RSA/SHA-256, algorithm 8 (RFC 5702), 2048-bit keys. ring cannot make
    /// RSA keys: a process-wide pool is made once with `ldns-keygen`
    /// (Debian package `ldnsutils`), so zones share keys.
    RsaSha256,
    /// ECDSA P-256/SHA-256, algorithm 13 (RFC 6605).
    #[default]
    EcdsaP256Sha256,
    /// ECDSA P-384/SHA-384, algorithm 14 (RFC 6605).
    EcdsaP384Sha384,
    /// Ed25519, algorithm 15 (RFC 8080).
    Ed25519,
}

impl KeyAlgorithm {
    /// Every algorithm the lab signs with.
    pub const ALL: [Self; 4] = [
        Self::RsaSha256,
        Self::EcdsaP256Sha256,
        Self::EcdsaP384Sha384,
        Self::Ed25519,
    ];

    /// The IANA algorithm number.
    pub fn number(self) -> u8 {
        match self {
            Self::RsaSha256 => 8,
            Self::EcdsaP256Sha256 => 13,
            Self::EcdsaP384Sha384 => 14,
            Self::Ed25519 => 15,
        }
    }
}

/// Which RR sets a signature fault applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RrsetSelector {
    /// Every signed RR set of the zone (DNSKEY and denial records included).
    All,
    /// One RR set: owner (relative to the apex or absolute) and type mnemonic.
    RrSet {
        /// Owner name, `@` for the apex.
        owner: String,
        /// Type mnemonic, e.g. `A`.
        rtype: String,
    },
}

impl RrsetSelector {
    /// Shorthand for [`RrsetSelector::RrSet`].
    pub fn rrset(owner: impl Into<String>, rtype: impl Into<String>) -> Self {
        Self::RrSet {
            owner: owner.into(),
            rtype: rtype.into(),
        }
    }
}

/// A deliberate defect in a zone (or in how its parent delegates to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZoneFault {
    /// RRSIGs whose expiration is in the past (`rrsig-exp-*`).
    RrsigExpired(RrsetSelector),
    /// RRSIGs whose inception is in the future (`rrsig-not-yet-*`).
    RrsigNotYetValid(RrsetSelector),
    /// No RRSIG at all for the selected RR sets (`rrsig-no-*`).
    RrsigMissing(RrsetSelector),
    /// RRSIGs with a corrupted signature value (`bad-rrsig-*`).
    RrsigCorrupt(RrsetSelector),
    /// The parent's DS has a key tag that matches no DNSKEY (`ds-bad-tag`).
    DsBadTag,
    /// The parent's DS digest matches no DNSKEY (`ds-bogus-digest-value`).
    DsBadDigest,
    /// The parent's DS names this DNSKEY algorithm (`ds-bad-key-algo` with 8:
    /// bogus; `ds-unassigned-key-algo` with 100 or `ds-reserved-key-algo` with
    /// 200: an unsupported algorithm, so insecure).
    DsAlgorithm(u8),
    /// The parent's DS names this digest type (`ds-unassigned-digest-algo`
    /// with 100: unsupported, so insecure).
    DsDigestType(u8),
    /// The DNSKEY RR set leaves out the KSK (`no-ksk`, `no-dnskey-257`).
    DnskeyOmitKsk,
    /// The DNSKEY RR set leaves out the ZSK (`no-zsk`, `no-dnskey-256`).
    DnskeyOmitZsk,
    /// The zone is signed but the parent publishes no DS, with a denial proof
    /// (`no-ds`: the zone is provably insecure).
    NoDs,
    /// The DNSKEY RR set is signed only by the ZSK, not by the DS-matched KSK
    /// (`no-rrsig-ksk`).
    DnskeyNotSignedByKsk,
    /// Negative answers carry no NSEC/NSEC3 records (`nsec3-missing`).
    DenialMissing,
    /// NSEC/NSEC3 records are signed but wrong: they cover nothing and claim the
    /// common types exist, so every denial proof fails.
    DenialCorrupt,
    /// This copy's servers are left out of the parent's NS set (an old provider
    /// still serving the zone).
    NotDelegated,
    /// The parent delegates without glue for in-bailiwick name servers.
    NoGlue,
    /// A server serving this zone and its parent answers a DS query for this
    /// zone's apex from this zone (NODATA with the child's SOA) instead of
    /// from the parent, against RFC 4035 §3.1.4.1. Applies to the servers of
    /// this copy only.
    DsAnsweredFromChild,
}

/// A zone: apex, servers, records, signing and faults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZoneSpec {
    /// Apex, e.g. `example.lab.` or `.`.
    pub apex: String,
    /// Names of the [`ServerSpec`]s serving this copy.
    pub servers: Vec<String>,
    /// Zone-file lines; names relative to the apex unless they end in a dot.
    /// Placeholders `{http4:N}`, `{http6:N}`, `{ns4:N}`, `{ns6:N}` expand to lab
    /// addresses. SOA and apex NS are generated when absent.
    pub records: Vec<String>,
    /// Signing mode.
    pub signing: Signing,
    /// Key algorithm when signed (copies of one apex share the first signed
    /// copy's keys).
    pub algorithm: KeyAlgorithm,
    /// Injected defects.
    pub faults: Vec<ZoneFault>,
    /// `Some(view)`: this copy is served only to clients in that
    /// [`ClientView`]; `None`: to every client without a copy of its own.
    pub view: Option<String>,
    /// `Some(stage)`: this copy is built and signed at start but served only
    /// once [`crate::Lab::enter_stage`] enters that stage; from then on it
    /// replaces the default copy of the same apex on its servers (a record
    /// published while a test runs, reaching one server, then all).
    pub stage: Option<String>,
    /// TTL of the generated DNSKEY RRset when signed (default 3600 s, as
    /// the other generated records): a short one lets a test watch a
    /// resolver's cached keys expire.
    pub dnskey_ttl: Option<u32>,
}

impl ZoneSpec {
    /// An empty unsigned zone.
    pub fn new(apex: impl Into<String>) -> Self {
        Self {
            apex: apex.into(),
            ..Self::default()
        }
    }

    /// Adds a serving server.
    #[must_use]
    pub fn served_by(mut self, server: impl Into<String>) -> Self {
        self.servers.push(server.into());
        self
    }

    /// Adds a zone-file line.
    #[must_use]
    pub fn record(mut self, line: impl Into<String>) -> Self {
        self.records.push(line.into());
        self
    }

    /// Adds zone-file lines.
    #[must_use]
    pub fn records<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.records.extend(lines.into_iter().map(Into::into));
        self
    }

    /// Sets the signing mode.
    #[must_use]
    pub fn signed(mut self, signing: Signing) -> Self {
        self.signing = signing;
        self
    }

    /// Sets the key algorithm (ECDSA P-256 unless set).
    #[must_use]
    pub fn algorithm(mut self, algorithm: KeyAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Adds a fault.
    #[must_use]
    pub fn fault(mut self, fault: ZoneFault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Serves this copy only to the clients of `view` (see [`Scenario::view`]).
    #[must_use]
    pub fn for_view(mut self, view: impl Into<String>) -> Self {
        self.view = Some(view.into());
        self
    }

    /// Serves this copy, on its servers, only from the moment the lab enters
    /// `stage` ([`crate::Lab::enter_stage`]); it then replaces the default
    /// copy of the same apex there. The delegation and apex NS come from the
    /// default copies, so a staged copy should use some of their servers.
    #[must_use]
    pub fn from_stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = Some(stage.into());
        self
    }

    pub(crate) fn has_fault(&self, fault: &ZoneFault) -> bool {
        self.faults.contains(fault)
    }
}

/// What a server does with a query, before any zone data is consulted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Answer from the zones it serves.
    #[default]
    Answer,
    /// Never answer (UDP and TCP).
    Timeout,
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Answer normally but without the AA bit (lame).
    NotAuthoritative,
    /// Reply with the right ID and a body that does not decode (a broken
    /// middlebox or server): "unparseable answer" evidence.
    Garbage,
    /// Answer FORMERR without an OPT record: what an EDNS-intolerant server
    /// says to a query with EDNS (RFC 6891 §7).
    FormErr,
}

/// A per-zone override of [`Mode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMode {
    /// Apex of the zone the override applies to.
    pub apex: String,
    /// Mode for queries falling in that zone.
    pub mode: Mode,
}

/// A per-query-type override of [`Mode`] (servers that choke on CAA are a
/// classic cause of failed issuance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeMode {
    /// Type mnemonic, e.g. `CAA`.
    pub rtype: String,
    /// Mode for queries of that type.
    pub mode: Mode,
}

/// Server fault knobs. `udp_loss` and `tcp_refused` act first (no answer,
/// no connection); then `tcp_mode` (over TCP), `no_edns_mode` (queries
/// without an OPT record) or `edns_mode` (queries with one), then
/// `per_type`, then `per_zone`, then `mode`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// Default mode.
    pub mode: Mode,
    /// Overrides for particular zones (e.g. SERVFAIL for one zone only).
    pub per_zone: Vec<ZoneMode>,
    /// Overrides for particular query types (e.g. time out on CAA only).
    pub per_type: Vec<TypeMode>,
    /// Always set TC over UDP (with an empty answer); TCP answers fully.
    pub truncate_udp: bool,
    /// Added latency before each answer, in milliseconds.
    pub delay_ms: u64,
    /// Extra latency drawn per answer, uniformly from `0..=jitter_ms`
    /// milliseconds (seeded by `seed`): a path whose round-trip time varies.
    pub jitter_ms: u64,
    /// Latency over TCP instead of `delay_ms` (a server that is slow only
    /// over TCP, e.g. behind a busy TCP proxy).
    pub tcp_delay_ms: Option<u64>,
    /// Queries dropped without an answer, as a lossy path would lose them.
    pub loss: Option<Loss>,
    /// Seed of the jitter and loss draws, so a scenario replays identically.
    pub seed: u64,
    /// Mode for every query over TCP (a firewall that blocks TCP/53 is
    /// `Timeout`), whatever its zone or type.
    pub tcp_mode: Option<Mode>,
    /// Mode for every query without an OPT record (a middlebox that drops
    /// plain RFC 1035 queries is `Timeout`), whatever its zone or type.
    pub no_edns_mode: Option<Mode>,
    /// Mode for every query with an OPT record: an EDNS-intolerant server
    /// (`FormErr`, or `Timeout` for a firewall that drops EDNS), whatever
    /// its zone or type.
    pub edns_mode: Option<Mode>,
    /// Drops a deterministic share of UDP queries (a lossy path).
    pub udp_loss: Option<UdpLoss>,
    /// No TCP listener at all: TCP connections are reset (refused), unlike
    /// `tcp_mode: Some(Timeout)`, which accepts and never answers.
    pub tcp_refused: bool,
}

/// Deterministic UDP loss: of every `period` identical queries (same client
/// address, name, type) the first `dropped` get no answer. Retries of one
/// question see the same pattern however queries interleave, so a run can be
/// repeated; `dropped: 1, period: 2` is 50 % loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpLoss {
    /// Queries dropped at the start of each period.
    pub dropped: u8,
    /// Period length (at least 1; `dropped >= period` drops everything).
    pub period: u8,
}

/// Which queries a server drops, as a lossy path would. A dropped query gets
/// no answer at all (over TCP: none on that connection), which is all a
/// resolver can see of a lost packet either way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Loss {
    /// Drop the first `first_tries` copies of each question (same name,
    /// type and transport) sent from each client address to each of the
    /// server's addresses: "every first try lost, the retry answered", for
    /// every resolver that asks (`Lab::reset_paths` starts the count over).
    pub first_tries: u32,
    /// Then drop each query with this probability, in thousandths, drawn
    /// from the server's seeded generator.
    pub per_mille: u16,
    /// Lose UDP queries.
    pub udp: bool,
    /// Lose TCP queries.
    pub tcp: bool,
}

impl Loss {
    /// The first `n` UDP copies of every question are lost.
    pub fn first_udp_tries(n: u32) -> Self {
        Self {
            first_tries: n,
            udp: true,
            ..Self::default()
        }
    }

    /// Each UDP query is lost with probability `per_mille` / 1000.
    pub fn udp_per_mille(per_mille: u16) -> Self {
        Self {
            per_mille,
            udp: true,
            ..Self::default()
        }
    }
}

/// An authoritative DNS server of the lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSpec {
    /// Host name, e.g. `ns1.example.lab.`; A/AAAA records for it are generated.
    pub name: String,
    /// Listen on a 127.x address.
    pub ipv4: bool,
    /// Listen on an `fd5c:dc5::/48` address.
    pub ipv6: bool,
    /// Fault knobs.
    #[serde(default)]
    pub behaviour: Behaviour,
}

impl ServerSpec {
    /// A well-behaved dual-stack server.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ipv4: true,
            ipv6: true,
            behaviour: Behaviour::default(),
        }
    }

    /// IPv4 only.
    #[must_use]
    pub fn ipv4_only(mut self) -> Self {
        self.ipv6 = false;
        self
    }

    /// IPv6 only.
    #[must_use]
    pub fn ipv6_only(mut self) -> Self {
        self.ipv4 = false;
        self
    }

    /// Sets the default mode.
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.behaviour.mode = mode;
        self
    }

    /// Overrides the mode for one zone.
    #[must_use]
    pub fn zone_mode(mut self, apex: impl Into<String>, mode: Mode) -> Self {
        self.behaviour.per_zone.push(ZoneMode {
            apex: apex.into(),
            mode,
        });
        self
    }

    /// Overrides the mode for one query type.
    #[must_use]
    pub fn type_mode(mut self, rtype: impl Into<String>, mode: Mode) -> Self {
        self.behaviour.per_type.push(TypeMode {
            rtype: rtype.into(),
            mode,
        });
        self
    }

    /// Sets TC on every UDP answer.
    #[must_use]
    pub fn truncate_udp(mut self) -> Self {
        self.behaviour.truncate_udp = true;
        self
    }

    /// Overrides the mode for every query over TCP.
    #[must_use]
    pub fn tcp_mode(mut self, mode: Mode) -> Self {
        self.behaviour.tcp_mode = Some(mode);
        self
    }

    /// Overrides the mode for every query without EDNS (no OPT record).
    #[must_use]
    pub fn no_edns_mode(mut self, mode: Mode) -> Self {
        self.behaviour.no_edns_mode = Some(mode);
        self
    }

    /// Overrides the mode for every query with EDNS (an OPT record).
    #[must_use]
    pub fn edns_mode(mut self, mode: Mode) -> Self {
        self.behaviour.edns_mode = Some(mode);
        self
    }

    /// Drops the first `dropped` of every `period` identical UDP queries.
    #[must_use]
    pub fn udp_loss(mut self, dropped: u8, period: u8) -> Self {
        self.behaviour.udp_loss = Some(UdpLoss { dropped, period });
        self
    }

    /// Listens on UDP only: TCP connections are refused.
    #[must_use]
    pub fn tcp_refused(mut self) -> Self {
        self.behaviour.tcp_refused = true;
        self
    }

    /// Adds latency to every answer.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.behaviour.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Adds a random extra latency of up to `jitter` to every answer, drawn
    /// from a generator seeded with `seed`.
    #[must_use]
    pub fn jitter(mut self, jitter: Duration, seed: u64) -> Self {
        self.behaviour.jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
        self.behaviour.seed = seed;
        self
    }

    /// Latency of every answer over TCP (UDP keeps `delay`).
    #[must_use]
    pub fn tcp_delay(mut self, delay: Duration) -> Self {
        self.behaviour.tcp_delay_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Loses queries as `loss` says.
    #[must_use]
    pub fn loss(mut self, loss: Loss) -> Self {
        self.behaviour.loss = Some(loss);
        self
    }
}

/// Lower-cased, dot-terminated form of a name, for comparing spec names.
pub(crate) fn fqdn(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    if n == ".." {
        ".".clone_into(&mut n);
    }
    n
}
