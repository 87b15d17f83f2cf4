//! Zone building: parse a [`ZoneSpec`]'s lines, add the generated SOA/NS/glue/DS,
//! sign (with faults applied at signing time) and build the NSEC/NSEC3 chain.
//! The result is an immutable [`Zone`] that the server answers from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::dnssec::rdata::{
    DNSKEY, DNSSECRData, DS, NSEC, NSEC3, NSEC3PARAM, RRSIG, SigInput,
};
use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm, PublicKey as _, SigningKey, TBS,
};
use hickory_proto::rr::rdata::null::NULL;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use hickory_proto::serialize::binary::BinEncodable;
use hickory_proto::serialize::txt::Parser;
use time::OffsetDateTime;

use crate::LabError;
use crate::scenario::{
    KeyAlgorithm, RrsetSelector, ServerSpec, Signing, ZoneFault, ZoneSpec, fqdn,
};

/// Canonical (RFC 4034 §6.1) sort key of a name: lower-cased labels, rightmost first.
pub(crate) type Key = Vec<Vec<u8>>;

pub(crate) fn key(name: &Name) -> Key {
    name.iter().rev().map(<[u8]>::to_ascii_lowercase).collect()
}

/// TTL of generated infrastructure records (NS, glue, DNSKEY, DS).
const INFRA_TTL: u32 = 3600;
/// Default TTL of records given without one.
const DEFAULT_TTL: u32 = 300;

/// One RR set with its signatures.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rrset {
    pub(crate) records: Vec<Record>,
    pub(crate) rrsigs: Vec<Record>,
}

impl Rrset {
    /// Records, then signatures when `dnssec` is set.
    pub(crate) fn emit(&self, dnssec: bool, out: &mut Vec<Record>) {
        for r in self
            .records
            .iter()
            .chain(self.rrsigs.iter().filter(|_| dnssec))
        {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }

    /// Same, with the owner rewritten (wildcard synthesis).
    pub(crate) fn emit_as(&self, owner: &Name, dnssec: bool, out: &mut Vec<Record>) {
        for r in self
            .records
            .iter()
            .chain(self.rrsigs.iter().filter(|_| dnssec))
        {
            let mut r = r.clone();
            r.name = owner.clone();
            out.push(r);
        }
    }
}

/// All RR sets at one owner name.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: Name,
    pub(crate) rrsets: BTreeMap<u16, Rrset>,
}

impl Node {
    pub(crate) fn get(&self, rtype: RecordType) -> Option<&Rrset> {
        self.rrsets.get(&u16::from(rtype))
    }

    fn has(&self, rtype: RecordType) -> bool {
        self.rrsets.contains_key(&u16::from(rtype))
    }
}

/// The authenticated denial chain of a signed zone.
#[derive(Debug, Clone)]
pub(crate) enum Denial {
    None,
    Nsec(BTreeMap<Key, Rrset>),
    Nsec3 {
        iterations: u16,
        salt: Vec<u8>,
        chain: BTreeMap<Vec<u8>, Rrset>,
    },
}

/// A built zone, ready to answer from.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) apex: Name,
    pub(crate) nodes: BTreeMap<Key, Node>,
    pub(crate) ents: BTreeSet<Key>,
    pub(crate) cuts: BTreeSet<Key>,
    pub(crate) denial: Denial,
    /// `DenialMissing`: negative answers go out without NSEC/NSEC3.
    pub(crate) drop_denial: bool,
    /// `DsAnsweredFromChild`: a DS query at the apex is answered from this
    /// zone even by a server that also serves the parent.
    pub(crate) ds_at_apex_from_child: bool,
}

/// KSK and ZSK of one apex, shared by every copy of that zone.
pub(crate) struct ZoneKeys {
    pub(crate) ksk: Box<dyn SigningKey>,
    pub(crate) ksk_dnskey: DNSKEY,
    pub(crate) zsk: Box<dyn SigningKey>,
    pub(crate) zsk_dnskey: DNSKEY,
}

impl std::fmt::Debug for ZoneKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKeys")
            .field("ksk", &self.ksk_dnskey)
            .field("zsk", &self.zsk_dnskey)
            .finish_non_exhaustive()
    }
}

impl ZoneKeys {
    /// Fresh keys of `algorithm` (RSA ones come from the process-wide pool,
    /// see [`crate::keys`]).
    pub(crate) fn generate(algorithm: KeyAlgorithm) -> Result<Self, LabError> {
        let (ksk, ksk_dnskey) = crate::keys::make(algorithm, true)?;
        let (zsk, zsk_dnskey) = crate::keys::make(algorithm, false)?;
        Ok(Self {
            ksk,
            ksk_dnskey,
            zsk,
            zsk_dnskey,
        })
    }

    /// The SHA-256 DS of the KSK.
    pub(crate) fn ds(&self, apex: &Name) -> Result<DS, LabError> {
        let tag = self.ksk_dnskey.calculate_key_tag().map_err(proto_err)?;
        let digest = self
            .ksk_dnskey
            .to_digest(apex, DigestType::SHA256)
            .map_err(proto_err)?;
        Ok(DS::new(
            tag,
            self.ksk_dnskey.public_key().algorithm(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        ))
    }
}

pub(crate) fn dnssec_err(e: impl std::fmt::Display) -> LabError {
    LabError::Dnssec(e.to_string())
}

fn proto_err(e: impl std::fmt::Display) -> LabError {
    LabError::Dnssec(e.to_string())
}

/// Lab addresses of a named host (DNS server or HTTP responder).
#[derive(Debug, Clone, Default)]
pub(crate) struct HostAddrs {
    pub(crate) v4: Vec<IpAddr>,
    pub(crate) v6: Vec<IpAddr>,
}

/// Everything zone building needs besides the spec itself.
pub(crate) struct BuildCtx<'a> {
    pub(crate) specs: &'a [ZoneSpec],
    /// Keyed by [`fqdn`] of the server name.
    pub(crate) server_addrs: &'a HashMap<String, HostAddrs>,
    /// Keyed by responder name as written.
    pub(crate) http_addrs: &'a HashMap<String, HostAddrs>,
    /// Keyed by [`fqdn`] of the apex.
    pub(crate) keys: &'a HashMap<String, Arc<ZoneKeys>>,
    pub(crate) now: OffsetDateTime,
    /// Leave out record lines that need an IPv6 lab address.
    pub(crate) ipv4_only: bool,
    /// Who is whose parent, worked out once for the whole scenario.
    pub(crate) topology: Topology,
}

/// The scenario's zone tree, computed once so that building every zone
/// stays linear in the scenario's size (labs serving thousands of zones).
#[derive(Debug, Default)]
pub(crate) struct Topology {
    /// Spec indices of every copy of an apex.
    copies: HashMap<Key, Vec<usize>>,
    /// Child apexes (deepest proper ancestor apex = the key), scenario order.
    children: HashMap<Key, Vec<Name>>,
    /// Servers (name, [`fqdn`]) whose names live in the apex's namespace.
    hosted: HashMap<Key, Vec<(Name, String)>>,
}

impl Topology {
    pub(crate) fn new(specs: &[ZoneSpec], servers: &[ServerSpec]) -> Result<Self, LabError> {
        let mut topology = Self::default();
        let mut apexes: Vec<Name> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let n = parse_name(&spec.apex)?;
            let copies = topology.copies.entry(key(&n)).or_default();
            if copies.is_empty() {
                apexes.push(n);
            }
            copies.push(i);
        }
        // The deepest apex at or above `name`, walking up its labels.
        let enclosing = |name: &Name, copies: &HashMap<Key, Vec<usize>>| -> Option<Name> {
            let mut n = name.clone();
            loop {
                if copies.contains_key(&key(&n)) {
                    return Some(n);
                }
                if n.is_root() {
                    return None;
                }
                n = n.base_name();
            }
        };
        for apex in &apexes {
            if apex.is_root() {
                continue;
            }
            if let Some(parent) = enclosing(&apex.base_name(), &topology.copies) {
                topology
                    .children
                    .entry(key(&parent))
                    .or_default()
                    .push(apex.clone());
            }
        }
        for server in servers {
            let name = parse_name(&server.name)?;
            if let Some(apex) = enclosing(&name, &topology.copies) {
                topology
                    .hosted
                    .entry(key(&apex))
                    .or_default()
                    .push((name, fqdn(&server.name)));
            }
        }
        Ok(topology)
    }
}

impl BuildCtx<'_> {
    fn copies<'s>(&'s self, apex: &Name) -> impl Iterator<Item = &'s ZoneSpec> + 's {
        self.topology
            .copies
            .get(&key(apex))
            .into_iter()
            .flatten()
            .filter_map(|i| self.specs.get(*i))
    }

    /// Child apexes of `apex`.
    fn children(&self, apex: &Name) -> &[Name] {
        self.topology
            .children
            .get(&key(apex))
            .map_or(&[], Vec::as_slice)
    }

    /// Servers named inside `apex`'s namespace (and no deeper zone's).
    fn hosted(&self, apex: &Name) -> &[(Name, String)] {
        self.topology
            .hosted
            .get(&key(apex))
            .map_or(&[], Vec::as_slice)
    }

    /// Name servers the parent lists for `apex`: every copy not marked `NotDelegated`.
    fn delegated_servers(&self, apex: &Name) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for spec in self.copies(apex) {
            if spec.has_fault(&ZoneFault::NotDelegated) {
                continue;
            }
            for s in &spec.servers {
                let s = fqdn(s);
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    fn any_copy_has(&self, apex: &Name, fault: &ZoneFault) -> bool {
        self.copies(apex).any(|s| s.has_fault(fault))
    }

    fn copy_signed(&self, apex: &Name) -> bool {
        self.copies(apex).any(|s| s.signing.is_signed())
    }
}

pub(crate) fn parse_name(s: &str) -> Result<Name, LabError> {
    Name::from_ascii(fqdn(s)).map_err(|e| LabError::Spec(format!("bad name {s:?}: {e}")))
}

/// Replaces `{http4:N}`, `{http6:N}`, `{ns4:N}`, `{ns6:N}` with lab addresses.
fn expand(line: &str, ctx: &BuildCtx<'_>) -> Result<String, LabError> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            return Err(LabError::Spec(format!("unclosed placeholder in {line:?}")));
        };
        let inner = &rest[start + 1..start + len];
        let (kind, name) = inner
            .split_once(':')
            .ok_or_else(|| LabError::Spec(format!("bad placeholder {{{inner}}} in {line:?}")))?;
        let (table, lookup) = match kind {
            "http4" | "http6" => (ctx.http_addrs, name.to_owned()),
            "ns4" | "ns6" => (ctx.server_addrs, fqdn(name)),
            _ => {
                return Err(LabError::Spec(format!(
                    "unknown placeholder kind {kind:?} in {line:?}"
                )));
            }
        };
        let host = table
            .get(&lookup)
            .ok_or_else(|| LabError::Spec(format!("placeholder names unknown host {name:?}")))?;
        let addrs = if kind.ends_with('4') {
            &host.v4
        } else {
            &host.v6
        };
        let addr = addrs.first().ok_or_else(|| {
            LabError::Spec(format!("{name:?} has no address for placeholder {kind}"))
        })?;
        out.push_str(&addr.to_string());
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses zone-file lines. DNAME (which hickory's text parser does not support) is
/// parsed as a CNAME and re-encoded as an opaque DNAME record.
fn parse_lines(lines: &[String], apex: &Name, ctx: &BuildCtx<'_>) -> Result<Vec<Record>, LabError> {
    let mut text = format!("$TTL {DEFAULT_TTL}\n");
    let mut dnames = Vec::new();
    for line in lines {
        if ctx.ipv4_only && (line.contains("{http6:") || line.contains("{ns6:")) {
            continue;
        }
        let line = &expand(line, ctx)?;
        let trimmed = line.trim_start();
        if trimmed
            .get(..8)
            .is_some_and(|d| d.eq_ignore_ascii_case("$INCLUDE"))
        {
            return Err(LabError::Spec(
                "$INCLUDE is not allowed in lab zones".into(),
            ));
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens
            .iter()
            .skip(1)
            .any(|t| t.eq_ignore_ascii_case("DNAME"))
        {
            let rewritten: Vec<&str> = tokens
                .iter()
                .map(|t| {
                    if t.eq_ignore_ascii_case("DNAME") {
                        "CNAME"
                    } else {
                        t
                    }
                })
                .collect();
            dnames.push(rewritten.join(" "));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let parse = |text: String| -> Result<Vec<Record>, LabError> {
        let (_, sets) = Parser::new(text.clone(), None, Some(apex.clone()))
            .parse()
            .map_err(|e| LabError::Parse {
                zone: apex.to_string(),
                message: format!("{e} in:\n{text}"),
            })?;
        Ok(sets
            .into_values()
            .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
            .collect())
    };
    let mut records = parse(text)?;
    for line in dnames {
        for mut r in parse(format!("$TTL {DEFAULT_TTL}\n{line}\n"))? {
            if let RData::CNAME(CNAME(target)) = &r.data {
                let wire = target.to_lowercase().to_bytes().map_err(proto_err)?;
                r.data = RData::Unknown {
                    code: RecordType::DNAME,
                    rdata: NULL::with(wire),
                };
            }
            records.push(r);
        }
    }
    for r in &records {
        if !apex.zone_of(&r.name) {
            return Err(LabError::Spec(format!(
                "record {} is outside zone {apex}",
                r.name
            )));
        }
    }
    Ok(records)
}

/// Builds and signs one zone copy.
pub(crate) fn build_zone(spec: &ZoneSpec, ctx: &BuildCtx<'_>) -> Result<Zone, LabError> {
    let apex = parse_name(&spec.apex)?;
    let mut records = parse_lines(&spec.records, &apex, ctx)?;
    let has = |records: &[Record], name: &Name, t: RecordType| {
        records
            .iter()
            .any(|r| r.record_type() == t && key(&r.name) == key(name))
    };
    let apex_ns = ctx.delegated_servers(&apex);
    let all_ns: Vec<String> = {
        let mut v = apex_ns.clone();
        for s in &spec.servers {
            let s = fqdn(s);
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v
    };

    if !has(&records, &apex, RecordType::SOA) {
        let mname = parse_name(all_ns.first().map_or("ns.invalid.", String::as_str))?;
        let rname = apex
            .prepend_label("hostmaster")
            .map_err(|e| LabError::Spec(e.to_string()))?;
        let soa = SOA::new(
            mname,
            rname,
            2_026_112_801,
            7200,
            3600,
            1_209_600,
            DEFAULT_TTL,
        );
        records.push(Record::from_rdata(apex.clone(), INFRA_TTL, RData::SOA(soa)));
    }
    if !has(&records, &apex, RecordType::NS) {
        for ns in &all_ns {
            let target = parse_name(ns)?;
            records.push(Record::from_rdata(
                apex.clone(),
                INFRA_TTL,
                RData::NS(NS(target)),
            ));
        }
    }

    // Addresses of lab servers whose names live in this zone's namespace.
    for (name, host) in ctx.hosted(&apex) {
        add_addrs(&mut records, name, host, ctx);
    }

    // Delegations to child zones: NS, glue, DS.
    let signed = spec.signing.is_signed();
    for child in ctx.children(&apex) {
        if !has(&records, child, RecordType::NS) {
            for ns in ctx.delegated_servers(child) {
                let target = parse_name(&ns)?;
                records.push(Record::from_rdata(
                    child.clone(),
                    INFRA_TTL,
                    RData::NS(NS(target)),
                ));
            }
        }
        if !ctx.any_copy_has(child, &ZoneFault::NoGlue) {
            let targets: Vec<Name> = records
                .iter()
                .filter(|r| key(&r.name) == key(child))
                .filter_map(|r| match &r.data {
                    RData::NS(NS(t)) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            for t in targets {
                if child.zone_of(&t) {
                    add_addrs(&mut records, &t, &fqdn(&t.to_ascii()), ctx);
                }
            }
        }
        let wants_ds = signed
            && ctx.copy_signed(child)
            && !ctx.any_copy_has(child, &ZoneFault::NoDs)
            && !has(&records, child, RecordType::DS);
        if let (true, Some(keys)) = (wants_ds, ctx.keys.get(&fqdn(&child.to_ascii()))) {
            let ds = faulty_ds(&keys.ds(child)?, ctx.copies(child).flat_map(|s| &s.faults));
            records.push(Record::from_rdata(
                child.clone(),
                INFRA_TTL,
                RData::DNSSEC(DNSSECRData::DS(ds)),
            ));
        }
    }

    let mut zone = Zone {
        apex: apex.clone(),
        nodes: BTreeMap::new(),
        ents: BTreeSet::new(),
        cuts: BTreeSet::new(),
        denial: Denial::None,
        drop_denial: spec.has_fault(&ZoneFault::DenialMissing),
        ds_at_apex_from_child: spec.has_fault(&ZoneFault::DsAnsweredFromChild),
    };
    if signed {
        let keys = ctx
            .keys
            .get(&fqdn(&apex.to_ascii()))
            .ok_or_else(|| LabError::Spec(format!("no keys for {apex}")))?;
        let published = [
            (&keys.ksk_dnskey, !spec.has_fault(&ZoneFault::DnskeyOmitKsk)),
            (&keys.zsk_dnskey, !spec.has_fault(&ZoneFault::DnskeyOmitZsk)),
        ];
        for k in published.iter().filter(|(_, p)| *p).map(|(k, _)| *k) {
            records.push(Record::from_rdata(
                apex.clone(),
                spec.dnskey_ttl.unwrap_or(INFRA_TTL),
                RData::DNSSEC(DNSSECRData::DNSKEY(k.clone())),
            ));
        }
        if let Signing::Nsec3 {
            iterations, salt, ..
        } = &spec.signing
        {
            let param = NSEC3PARAM::new(
                Nsec3HashAlgorithm::SHA1,
                false,
                *iterations,
                decode_hex(salt)?,
            );
            records.push(Record::from_rdata(
                apex.clone(),
                0,
                RData::DNSSEC(DNSSECRData::NSEC3PARAM(param)),
            ));
        }
    }
    for r in records {
        let k = key(&r.name);
        let node = zone.nodes.entry(k).or_insert_with(|| Node {
            name: r.name.clone(),
            rrsets: BTreeMap::new(),
        });
        let set = node.rrsets.entry(u16::from(r.record_type())).or_default();
        if !set.records.contains(&r) {
            set.records.push(r);
        }
    }
    // Equal TTLs inside an RRset (RFC 2181 §5.2): take the first.
    for node in zone.nodes.values_mut() {
        for set in node.rrsets.values_mut() {
            if let Some(ttl) = set.records.first().map(|r| r.ttl) {
                for r in &mut set.records {
                    r.ttl = ttl;
                }
            }
        }
    }
    let apex_key = key(&apex);
    zone.cuts = zone
        .nodes
        .iter()
        .filter(|(k, n)| **k != apex_key && n.has(RecordType::NS))
        .map(|(k, _)| k.clone())
        .collect();
    let mut ents = BTreeSet::new();
    for node in zone.nodes.values() {
        let mut n = node.name.base_name();
        while n.num_labels() > apex.num_labels() {
            let k = key(&n);
            if !zone.nodes.contains_key(&k) {
                ents.insert(k);
            }
            n = n.base_name();
        }
    }
    zone.ents = ents;

    if signed {
        sign_zone(&mut zone, spec, ctx)?;
    }
    Ok(zone)
}

/// The parent's DS with the child's DS faults applied.
fn faulty_ds<'f>(ds: &DS, faults: impl Iterator<Item = &'f ZoneFault>) -> DS {
    let (mut tag, mut alg, mut digest_type, mut digest) = (
        ds.key_tag(),
        ds.algorithm(),
        ds.digest_type(),
        ds.digest().to_vec(),
    );
    for fault in faults {
        match fault {
            ZoneFault::DsBadTag => tag = tag.wrapping_add(1),
            ZoneFault::DsBadDigest => {
                if let Some(b) = digest.last_mut() {
                    *b ^= 0xff;
                }
            }
            ZoneFault::DsAlgorithm(a) => alg = Algorithm::from_u8(*a),
            ZoneFault::DsDigestType(d) => digest_type = DigestType::from(*d),
            _ => {}
        }
    }
    DS::new(tag, alg, digest_type, digest)
}

/// Adds A/AAAA for a lab host at `name` unless the records already have some.
fn add_addrs(records: &mut Vec<Record>, name: &Name, host: &str, ctx: &BuildCtx<'_>) {
    let Some(addrs) = ctx.server_addrs.get(host) else {
        return;
    };
    let present = records.iter().any(|r| {
        matches!(r.record_type(), RecordType::A | RecordType::AAAA) && key(&r.name) == key(name)
    });
    if present {
        return;
    }
    for ip in addrs.v4.iter().chain(&addrs.v6) {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        records.push(Record::from_rdata(name.clone(), INFRA_TTL, data));
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, LabError> {
    let s = s.trim();
    if s.is_empty() || s == "-" {
        return Ok(Vec::new());
    }
    if !s.len().is_multiple_of(2) {
        return Err(LabError::Spec(format!("odd-length hex salt {s:?}")));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| LabError::Spec(format!("bad hex salt {s:?}")))
        })
        .collect()
}

/// RFC 4648 base32hex, lower case, no padding (NSEC3 owner labels).
pub(crate) fn base32hex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

impl Zone {
    /// Whether `k` lies strictly below a zone cut (glue or occluded data).
    pub(crate) fn occluded(&self, k: &Key) -> bool {
        self.cuts
            .iter()
            .any(|c| k.len() > c.len() && k.starts_with(c))
    }

    pub(crate) fn soa(&self) -> Option<&Rrset> {
        self.nodes.get(&key(&self.apex))?.get(RecordType::SOA)
    }

    /// TTL for denial records: min(SOA TTL, SOA minimum) per RFC 9077.
    fn negative_ttl(&self) -> u32 {
        self.soa()
            .and_then(|s| s.records.first())
            .map_or(DEFAULT_TTL, |r| match &r.data {
                RData::SOA(soa) => r.ttl.min(soa.minimum),
                _ => r.ttl,
            })
    }

    pub(crate) fn nsec3_hash(&self, name: &Name) -> Option<Vec<u8>> {
        match &self.denial {
            Denial::Nsec3 {
                iterations, salt, ..
            } => Nsec3HashAlgorithm::SHA1
                .hash(salt, name, *iterations)
                .ok()
                .map(|d| d.as_ref().to_vec()),
            _ => None,
        }
    }
}

/// Signature faults that apply to one RR set.
#[derive(Debug, Default, Clone, Copy)]
struct SigFaults {
    missing: bool,
    corrupt: bool,
    window: Window,
}

/// The validity window an RRSIG gets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Window {
    #[default]
    Current,
    Expired,
    NotYetValid,
}

fn sig_faults(spec: &ZoneSpec, apex: &Name, owner: &Name, rtype: RecordType) -> SigFaults {
    let matches = |sel: &RrsetSelector| match sel {
        RrsetSelector::All => true,
        RrsetSelector::RrSet { owner: o, rtype: t } => {
            let o = if o.trim() == "@" {
                Ok(apex.clone())
            } else {
                Name::parse(o, Some(apex))
            };
            o.is_ok_and(|o| key(&o) == key(owner))
                && t.trim().eq_ignore_ascii_case(&rtype.to_string())
        }
    };
    let mut f = SigFaults::default();
    for fault in &spec.faults {
        match fault {
            ZoneFault::RrsigMissing(s) if matches(s) => f.missing = true,
            ZoneFault::RrsigExpired(s) if matches(s) => f.window = Window::Expired,
            ZoneFault::RrsigNotYetValid(s) if matches(s) => f.window = Window::NotYetValid,
            ZoneFault::RrsigCorrupt(s) if matches(s) => f.corrupt = true,
            _ => {}
        }
    }
    f
}

/// Signs an RR set with an explicit validity window.
pub(crate) fn rrsig(
    records: &[Record],
    signer: &dyn SigningKey,
    dnskey: &DNSKEY,
    apex: &Name,
    inception: OffsetDateTime,
    expiration: OffsetDateTime,
) -> Result<Record, LabError> {
    let first = records
        .first()
        .ok_or_else(|| LabError::Dnssec("empty RRset".into()))?;
    let ts = |t: OffsetDateTime| SerialNumber::new(u32::try_from(t.unix_timestamp()).unwrap_or(0));
    let input = SigInput {
        type_covered: first.record_type(),
        algorithm: signer.algorithm(),
        num_labels: first.name.num_labels(),
        original_ttl: first.ttl,
        sig_expiration: ts(expiration),
        sig_inception: ts(inception),
        key_tag: dnskey.calculate_key_tag().map_err(proto_err)?,
        signer_name: apex.clone(),
    };
    let tbs =
        TBS::from_input(&first.name, DNSClass::IN, &input, records.iter()).map_err(proto_err)?;
    let sig = signer.sign(&tbs).map_err(dnssec_err)?;
    Ok(Record::from_rdata(
        first.name.clone(),
        first.ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    ))
}

fn sign_zone(zone: &mut Zone, spec: &ZoneSpec, ctx: &BuildCtx<'_>) -> Result<(), LabError> {
    let apex = zone.apex.clone();
    let keys = ctx
        .keys
        .get(&fqdn(&apex.to_ascii()))
        .ok_or_else(|| LabError::Spec(format!("no keys for {apex}")))?
        .clone();
    let corrupt_denial = spec.has_fault(&ZoneFault::DenialCorrupt);
    let neg_ttl = zone.negative_ttl();
    let corrupt_types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::TXT,
        RecordType::CAA,
        RecordType::MX,
        RecordType::DS,
    ];

    // Authoritative owners (cuts included, glue excluded), canonical order.
    let owners: Vec<Key> = zone
        .nodes
        .keys()
        .filter(|k| !zone.occluded(k))
        .cloned()
        .collect();
    let is_cut = |k: &Key| zone.cuts.contains(k);
    // Types that will carry signatures at an owner.
    let signed_types = |k: &Key, node: &Node| -> Vec<RecordType> {
        node.rrsets
            .keys()
            .map(|t| RecordType::from(*t))
            .filter(|t| !is_cut(k) || *t == RecordType::DS)
            .collect()
    };

    match &spec.signing {
        Signing::Unsigned => {}
        Signing::Nsec => {
            let mut chain = BTreeMap::new();
            for (i, k) in owners.iter().enumerate() {
                let node = &zone.nodes[k];
                let next = &zone.nodes[&owners[(i + 1) % owners.len()]].name;
                let mut types: Vec<RecordType> =
                    node.rrsets.keys().map(|t| RecordType::from(*t)).collect();
                types.extend([RecordType::NSEC, RecordType::RRSIG]);
                let next = if corrupt_denial {
                    types.extend(corrupt_types);
                    node.name
                        .prepend_label(&[0u8][..])
                        .map_err(|e| LabError::Dnssec(e.to_string()))?
                } else {
                    next.clone()
                };
                let record = Record::from_rdata(
                    node.name.clone(),
                    neg_ttl,
                    RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))),
                );
                chain.insert(
                    k.clone(),
                    Rrset {
                        records: vec![record],
                        rrsigs: Vec::new(),
                    },
                );
            }
            zone.denial = Denial::Nsec(chain);
        }
        Signing::Nsec3 {
            iterations,
            salt,
            opt_out,
        } => {
            let salt = decode_hex(salt)?;
            // Owners plus empty non-terminals not below a cut.
            let mut names: Vec<(Name, Vec<RecordType>)> = Vec::new();
            for k in &owners {
                let node = &zone.nodes[k];
                let insecure_cut = is_cut(k) && !node.has(RecordType::DS);
                if *opt_out && insecure_cut {
                    continue;
                }
                let mut types: Vec<RecordType> =
                    node.rrsets.keys().map(|t| RecordType::from(*t)).collect();
                if !signed_types(k, node).is_empty() {
                    types.push(RecordType::RRSIG);
                }
                names.push((node.name.clone(), types));
            }
            for k in &zone.ents {
                if zone.occluded(k) {
                    continue;
                }
                // Rebuild the name from its key (labels are stored rightmost first).
                let labels: Vec<&[u8]> = k.iter().rev().map(Vec::as_slice).collect();
                let name = Name::from_labels(labels).map_err(proto_err)?;
                names.push((name, Vec::new()));
            }
            let mut hashed: BTreeMap<Vec<u8>, Vec<RecordType>> = BTreeMap::new();
            for (name, types) in names {
                let h = Nsec3HashAlgorithm::SHA1
                    .hash(&salt, &name, *iterations)
                    .map_err(proto_err)?;
                hashed.insert(h.as_ref().to_vec(), types);
            }
            let hashes: Vec<Vec<u8>> = hashed.keys().cloned().collect();
            let mut chain = BTreeMap::new();
            for (i, h) in hashes.iter().enumerate() {
                let mut types = hashed[h].clone();
                let next = if corrupt_denial {
                    types.extend(corrupt_types);
                    increment(h)
                } else {
                    hashes[(i + 1) % hashes.len()].clone()
                };
                let owner = apex
                    .prepend_label(base32hex(h).as_str())
                    .map_err(proto_err)?;
                let rdata = NSEC3::new(
                    Nsec3HashAlgorithm::SHA1,
                    *opt_out,
                    *iterations,
                    salt.clone(),
                    next,
                    types,
                );
                let record =
                    Record::from_rdata(owner, neg_ttl, RData::DNSSEC(DNSSECRData::NSEC3(rdata)));
                chain.insert(
                    h.clone(),
                    Rrset {
                        records: vec![record],
                        rrsigs: Vec::new(),
                    },
                );
            }
            zone.denial = Denial::Nsec3 {
                iterations: *iterations,
                salt,
                chain,
            };
        }
    }

    let inception_ok = ctx.now - time::Duration::hours(1);
    let expiration_ok = ctx.now + time::Duration::days(30);
    let sign_set = |set: &mut Rrset, ksk: bool| -> Result<(), LabError> {
        let Some(first) = set.records.first() else {
            return Ok(());
        };
        let f = sig_faults(spec, &apex, &first.name, first.record_type());
        if f.missing {
            set.rrsigs.clear();
            return Ok(());
        }
        let (inception, expiration) = match f.window {
            Window::Expired => (
                ctx.now - time::Duration::days(60),
                ctx.now - time::Duration::days(30),
            ),
            Window::NotYetValid => (
                ctx.now + time::Duration::days(30),
                ctx.now + time::Duration::days(60),
            ),
            Window::Current => (inception_ok, expiration_ok),
        };
        let (signer, dnskey) = if ksk {
            (keys.ksk.as_ref(), &keys.ksk_dnskey)
        } else {
            (keys.zsk.as_ref(), &keys.zsk_dnskey)
        };
        let mut sig = rrsig(&set.records, signer, dnskey, &apex, inception, expiration)?;
        if f.corrupt
            && let RData::DNSSEC(DNSSECRData::RRSIG(r)) = &sig.data
        {
            let mut bytes = r.sig().to_vec();
            if let Some(b) = bytes.first_mut() {
                *b ^= 0xff;
            }
            sig.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                r.input().clone(),
                bytes,
            )));
        }
        set.rrsigs = vec![sig];
        Ok(())
    };

    let ksk_signs_dnskey = !spec.has_fault(&ZoneFault::DnskeyNotSignedByKsk);
    let cuts = zone.cuts.clone();
    for k in owners {
        let at_cut = cuts.contains(&k);
        if let Some(node) = zone.nodes.get_mut(&k) {
            for (t, set) in &mut node.rrsets {
                let t = RecordType::from(*t);
                if at_cut && t != RecordType::DS {
                    continue;
                }
                sign_set(set, t == RecordType::DNSKEY && ksk_signs_dnskey)?;
            }
        }
    }
    match &mut zone.denial {
        Denial::None => {}
        Denial::Nsec(chain) => {
            for set in chain.values_mut() {
                sign_set(set, false)?;
            }
        }
        Denial::Nsec3 { chain, .. } => {
            for set in chain.values_mut() {
                sign_set(set, false)?;
            }
        }
    }
    Ok(())
}

/// `h + 1` as a big-endian number (a "next hashed owner" that covers nothing).
fn increment(h: &[u8]) -> Vec<u8> {
    let mut out = h.to_vec();
    for b in out.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32hex_matches_rfc4648_vectors() {
        assert_eq!(base32hex(b"f"), "co");
        assert_eq!(base32hex(b"fo"), "cpng");
        assert_eq!(base32hex(b"foobar"), "cpnmuoj1e8");
    }

    #[test]
    fn canonical_key_orders_like_rfc4034() {
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "z.example.",
        ];
        let keys: Vec<Key> = names
            .iter()
            .map(|n| key(&Name::from_ascii(n).unwrap()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn increment_carries() {
        assert_eq!(increment(&[0, 0xff]), vec![1, 0]);
    }
}
