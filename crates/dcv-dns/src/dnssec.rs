//! DNSSEC primitives on hickory-proto: RRset signature checks with validity
//! windows (RFC 4035 §5.3), DS→DNSKEY matching (§5.2) and NSEC/NSEC3 denial
//! proofs (RFC 4035 §5.4, RFC 5155 §8, RFC 6840 §4, RFC 9276).

use std::cmp::Ordering;

use hickory_proto::{
    dnssec::{
        Nsec3HashAlgorithm, PublicKey, Verifier,
        rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG},
    },
    rr::{DNSClass, Name, RData, Record, RecordType as HType},
};

use crate::{
    limits,
    security::{BogusReason, DenialKind, DsSummary, InsecureReason, RrsetId},
    types::{DnsName, RecordType},
};

/// Seconds since the epoch; compared with RRSIG times in serial number
/// arithmetic (RFC 4034 §3.1.5, RFC 1982).
pub(crate) type UnixTime = u64;

pub(crate) fn as_rrsig(r: &Record) -> Option<&RRSIG> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
        _ => None,
    }
}

pub(crate) fn as_dnskey(r: &Record) -> Option<&DNSKEY> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k),
        _ => None,
    }
}

pub(crate) fn as_ds(r: &Record) -> Option<&DS> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::DS(d)) => Some(d),
        _ => None,
    }
}

fn as_nsec(r: &Record) -> Option<&NSEC> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(n)) => Some(n),
        _ => None,
    }
}

fn as_nsec3(r: &Record) -> Option<&NSEC3> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some(n),
        _ => None,
    }
}

/// The records of one RRset (owner, type) from a section, and RRSIGs over it.
pub(crate) fn rrset<'a>(
    section: &'a [Record],
    owner: &Name,
    rtype: HType,
) -> (Vec<&'a Record>, Vec<&'a Record>) {
    let records = section
        .iter()
        .filter(|r| r.record_type() == rtype && &r.name == owner && r.dns_class == DNSClass::IN)
        .collect();
    let sigs = section
        .iter()
        .filter(|r| {
            &r.name == owner && as_rrsig(r).is_some_and(|s| s.input().type_covered == rtype)
        })
        .collect();
    (records, sigs)
}

/// RFC 1982 serial comparison: is `a` before `b`?
fn serial_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a).cast_signed() > 0
}

fn truncate_u32(t: UnixTime) -> u32 {
    (t & 0xffff_ffff) as u32
}

/// The absolute time a serial RRSIG timestamp denotes, nearest to `now`.
pub(crate) fn serial_to_unix(serial: u32, now: UnixTime) -> i64 {
    let delta = i64::from(serial.wrapping_sub(truncate_u32(now)).cast_signed());
    i64::try_from(now).unwrap_or(i64::MAX).saturating_add(delta)
}

/// RFC 3339 UTC rendering of an RRSIG timestamp, minute precision when exact.
pub(crate) fn format_time(serial: u32, now: UnixTime) -> String {
    let unix = serial_to_unix(serial, now);
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            if t.second() == 0 {
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}Z",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            } else {
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            }
        }
        Err(_) => format!("@{unix}"),
    }
}

/// Key tag of a DNSKEY (RFC 4034 App. B); 0 if the key cannot be encoded.
pub(crate) fn key_tag(key: &DNSKEY) -> u16 {
    key.calculate_key_tag().unwrap_or(0)
}

/// RFC 4035 §5.3.1 and §5.3.3: finds an RRSIG in `sigs` that validly signs
/// `records` (owner `owner`, type `rtype`) with one of `keys` of zone `zone`,
/// inside its validity window at `now`.
///
/// Returns the key tag that verified, or the most telling reason none did:
/// a window failure beats a bad signature, which beats an unknown key.
pub(crate) fn verify_rrset(
    zone: &Name,
    owner: &Name,
    rtype: HType,
    records: &[&Record],
    sigs: &[&Record],
    keys: &[&DNSKEY],
    now: UnixTime,
) -> Result<u16, BogusReason> {
    let zone_name = DnsName::from_hickory(zone);
    let id = RrsetId {
        owner: DnsName::from_hickory(owner),
        rtype: RecordType::from_hickory(rtype),
    };
    if sigs.is_empty() {
        return Err(BogusReason::RrsigsMissing {
            zone: zone_name,
            rrset: id,
        });
    }
    let now32 = truncate_u32(now);
    let mut window_err: Option<BogusReason> = None;
    let mut crypto_err: Option<BogusReason> = None;
    let mut unknown_tags = Vec::new();
    let owned: Vec<Record> = records.iter().map(|r| (*r).clone()).collect();
    let mut attempts = 0;
    for sig_rec in sigs {
        let Some(sig) = as_rrsig(sig_rec) else {
            continue;
        };
        let input = sig.input();
        if &input.signer_name != zone
            || input.type_covered != rtype
            || input.num_labels > owner.num_labels()
        {
            // RFC 4035 §5.3.1: signer must be the zone, labels <= owner's.
            unknown_tags.push(input.key_tag);
            continue;
        }
        let candidates: Vec<&&DNSKEY> = keys
            .iter()
            .filter(|k| {
                key_tag(k) == input.key_tag
                    && k.public_key().algorithm() == input.algorithm
                    && k.zone_key()
                    && !k.revoke()
            })
            .collect();
        if candidates.is_empty() {
            unknown_tags.push(input.key_tag);
            continue;
        }
        if serial_lt(now32, input.sig_inception.get()) {
            window_err.get_or_insert(BogusReason::SignatureNotYetValid {
                zone: zone_name.clone(),
                rrset: id.clone(),
                key_tag: input.key_tag,
                inception: format_time(input.sig_inception.get(), now),
            });
            continue;
        }
        if serial_lt(input.sig_expiration.get(), now32) {
            window_err.get_or_insert(BogusReason::SignatureExpired {
                zone: zone_name.clone(),
                rrset: id.clone(),
                key_tag: input.key_tag,
                expired: format_time(input.sig_expiration.get(), now),
            });
            continue;
        }
        for key in candidates {
            attempts += 1;
            if attempts > limits::MAX_SIGNATURE_ATTEMPTS {
                break;
            }
            if key
                .verify_rrsig(owner, DNSClass::IN, sig, owned.iter())
                .is_ok()
            {
                return Ok(input.key_tag);
            }
            crypto_err.get_or_insert(BogusReason::SignatureInvalid {
                zone: zone_name.clone(),
                rrset: id.clone(),
                key_tag: input.key_tag,
            });
        }
    }
    Err(window_err.or(crypto_err).unwrap_or_else(|| {
        unknown_tags.sort_unstable();
        unknown_tags.dedup();
        BogusReason::NoMatchingKey {
            zone: zone_name,
            rrset: id,
            key_tags: unknown_tags,
        }
    }))
}

/// RFC 4509 §3: ignore SHA-1 DS records when a stronger digest is present
/// for the zone (prevents digest downgrade).
pub(crate) fn strongest_digests<'a>(ds: &[&'a DS]) -> Vec<&'a DS> {
    let has_strong = ds
        .iter()
        .any(|d| !matches!(d.digest_type(), hickory_proto::dnssec::DigestType::SHA1));
    ds.iter()
        .copied()
        .filter(|d| {
            !has_strong || !matches!(d.digest_type(), hickory_proto::dnssec::DigestType::SHA1)
        })
        .collect()
}

/// True if the DS uses an algorithm and digest we can check (RFC 4035 §5.2,
/// RFC 6840 §5.2: otherwise the zone is treated as insecure).
pub(crate) fn ds_supported(ds: &DS) -> bool {
    ds.algorithm().is_supported() && ds.digest_type().is_supported()
}

pub(crate) fn ds_summary(ds: &DS) -> DsSummary {
    DsSummary {
        key_tag: ds.key_tag(),
        algorithm: u8::from(ds.algorithm()),
        digest_type: u8::from(ds.digest_type()),
    }
}

/// Does `ds` (owner `zone`) identify `key`? Tag, algorithm and digest must all
/// match (RFC 4035 §5.2).
pub(crate) fn ds_matches(zone: &Name, ds: &DS, key: &DNSKEY) -> bool {
    ds.key_tag() == key_tag(key)
        && ds.algorithm() == key.public_key().algorithm()
        && key.zone_key()
        && ds.covers(zone, key).unwrap_or(false)
}

/// Does a DNSKEY anchor (algorithm, public key) identify `key`?
pub(crate) fn anchor_key_matches(algorithm: u8, public_key: &[u8], key: &DNSKEY) -> bool {
    u8::from(key.public_key().algorithm()) == algorithm
        && key.public_key().public_bytes() == public_key
}

/// Result of a denial-of-existence check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    /// The proof holds.
    Proven(DenialKind),
    /// An NSEC3 opt-out span covers the name: no proof the name has no DS,
    /// but an insecure delegation is allowed (RFC 5155 §6, §8.6).
    OptOut,
    /// NSEC3 parameters make the proof unusable; the answer is insecure.
    Insecure(InsecureReason),
    /// Asked to prove an insecure delegation, the records prove instead that
    /// the name is no delegation at all: it exists in the zone without an NS
    /// RRset (its NSEC/NSEC3 has no NS bit), or is an empty non-terminal.
    /// No zone cut here; the zone's keys cover the name (RFC 6840 §4.4;
    /// Unbound `val_nsec_prove_nodata_dsreply`, `nsec3_prove_nods`).
    NotDelegation(DenialKind),
    /// The proof is missing or wrong; the text says why.
    Failed(String),
}

/// What kind of negative answer needs proving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DenialGoal {
    /// Name does not exist (RFC 4035 §5.4, RFC 5155 §8.4).
    NxDomain,
    /// Name exists without the type (RFC 4035 §5.4, RFC 5155 §8.5-8.7).
    NoData(HType),
    /// The delegation `qname` has no DS: NODATA for DS at a name whose
    /// NSEC/NSEC3 has the NS bit (RFC 4035 §5.2, RFC 5155 §8.6), or opt-out.
    InsecureDelegation,
    /// Wildcard-expanded positive answer: the next closer name must not exist
    /// (RFC 4035 §5.3.4, RFC 5155 §8.8). The value is the RRSIG labels count.
    WildcardAnswer(u8),
}

/// Checks the NSEC/NSEC3 records of `authority` (already signature-verified by
/// the caller) prove `goal` for `qname` in `zone`.
pub(crate) fn prove_denial(
    zone: &Name,
    qname: &Name,
    goal: DenialGoal,
    nsecs: &[&Record],
    nsec3s: &[&Record],
) -> Denial {
    if !nsecs.is_empty() {
        if goal == DenialGoal::InsecureDelegation && nsec_proves_no_cut(zone, qname, nsecs) {
            return Denial::NotDelegation(DenialKind::Nsec);
        }
        return match nsec_proof(zone, qname, goal, nsecs) {
            Ok(()) => Denial::Proven(DenialKind::Nsec),
            Err(e) => Denial::Failed(e),
        };
    }
    if !nsec3s.is_empty() {
        return nsec3_proof(zone, qname, goal, nsec3s);
    }
    Denial::Failed("no NSEC or NSEC3 records in the response".into())
}

/// RFC 4034 §6.1 canonical order of names, case-insensitive.
fn canon_cmp(a: &Name, b: &Name) -> Ordering {
    a.cmp(b)
}

/// NSEC at `owner` with next `next` covers `name` (strictly between, with the
/// last NSEC wrapping to the apex).
fn nsec_covers(owner: &Name, next: &Name, name: &Name) -> bool {
    let after_owner = canon_cmp(owner, name) == Ordering::Less;
    if canon_cmp(owner, next) == Ordering::Less {
        after_owner && canon_cmp(name, next) == Ordering::Less
    } else {
        // Last NSEC in the zone: next is the apex.
        after_owner
    }
}

/// Longest common ancestor of two names.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut n = a.clone();
    for _ in 0..=a.num_labels() {
        if n.zone_of(b) {
            return n;
        }
        if n.is_root() {
            break;
        }
        n = n.base_name();
    }
    Name::root()
}

fn wildcard_of(ce: &Name) -> Option<Name> {
    ce.prepend_label("*").ok()
}

/// For a DS query at `qname`: do the NSECs prove `qname` is no delegation
/// point? An NSEC at `qname` without the NS bit (and without DS, or SOA,
/// which would make it the child's); else a NODATA proof without a
/// matching NSEC: an empty non-terminal (RFC 4035 §3.1.3.2) or a name
/// synthesised from a wildcard (§3.1.3.4) (Unbound
/// `val_nsec_prove_nodata_dsreply`).
fn nsec_proves_no_cut(zone: &Name, qname: &Name, nsecs: &[&Record]) -> bool {
    let in_zone = || {
        nsecs
            .iter()
            .filter_map(|r| as_nsec(r).map(|n| (&r.name, n)))
            .filter(|(owner, _)| zone.zone_of(owner))
    };
    if let Some((_, n)) = in_zone().find(|(owner, _)| *owner == qname) {
        let types = n.type_set();
        return !types.contains(HType::NS)
            && !types.contains(HType::DS)
            && (!types.contains(HType::SOA) || qname.is_root());
    }
    nsec_proof(zone, qname, DenialGoal::NoData(HType::DS), nsecs).is_ok()
}

fn nsec_proof(
    zone: &Name,
    qname: &Name,
    goal: DenialGoal,
    nsecs: &[&Record],
) -> Result<(), String> {
    let in_zone: Vec<(&Name, &NSEC)> = nsecs
        .iter()
        .filter_map(|r| as_nsec(r).map(|n| (&r.name, n)))
        .filter(|(owner, _)| zone.zone_of(owner))
        .collect();
    if in_zone.is_empty() {
        return Err(format!("no NSEC records from zone {zone}"));
    }
    let covering = |name: &Name| {
        in_zone
            .iter()
            .find(|(owner, n)| nsec_covers(owner, n.next_domain_name(), name))
            .copied()
    };
    let matching = |name: &Name| in_zone.iter().find(|(owner, _)| *owner == name).copied();
    // RFC 6840 §4.1: an NSEC with NS but no SOA is from the parent side of a
    // delegation and proves nothing below it.
    let is_delegation =
        |n: &NSEC| n.type_set().contains(HType::NS) && !n.type_set().contains(HType::SOA);

    let need_ns = goal == DenialGoal::InsecureDelegation;
    let goal = if need_ns {
        DenialGoal::NoData(HType::DS)
    } else {
        goal
    };
    match goal {
        DenialGoal::NoData(qtype) => {
            if let Some((_, n)) = matching(qname) {
                let types = n.type_set();
                if need_ns && !types.contains(HType::NS) {
                    return Err(format!(
                        "the NSEC at {qname} has no NS bit: not a delegation"
                    ));
                }
                if types.contains(qtype) {
                    return Err(format!("the NSEC at {qname} lists {qtype}"));
                }
                if types.contains(HType::CNAME) {
                    return Err(format!("the NSEC at {qname} lists CNAME"));
                }
                if qtype == HType::DS {
                    if types.contains(HType::SOA) && !qname.is_root() {
                        return Err(format!("the NSEC at {qname} is from the child zone"));
                    }
                } else if is_delegation(n) {
                    return Err(format!(
                        "the NSEC at {qname} is from the parent of a delegation"
                    ));
                }
                return Ok(());
            }
            if need_ns {
                return Err(format!("no NSEC matches the delegation {qname}"));
            }
            let Some((owner, n)) = covering(qname) else {
                return Err(format!("no NSEC matches or covers {qname}"));
            };
            // Empty non-terminal (RFC 4035 §3.1.3.2, RFC 7129 §3.2): the
            // covering NSEC's next name is below qname, so qname exists.
            if qname.zone_of(n.next_domain_name()) && n.next_domain_name() != qname {
                return Ok(());
            }
            // Wildcard NODATA (RFC 4035 §3.1.3.4): qname covered, *.ce matched.
            let ce = common_ancestor(qname, owner)
                .max_by_depth(&common_ancestor(qname, n.next_domain_name()))
                .clone();
            let wc = wildcard_of(&ce).ok_or("wildcard name too long")?;
            match matching(&wc) {
                Some((_, w))
                    if !w.type_set().contains(qtype) && !w.type_set().contains(HType::CNAME) =>
                {
                    Ok(())
                }
                Some(_) => Err(format!("the NSEC at {wc} lists {qtype}")),
                None => Err(format!(
                    "an NSEC covers {qname} (NXDOMAIN proof) but the answer is NODATA"
                )),
            }
        }
        DenialGoal::NxDomain => {
            let Some((owner, n)) = covering(qname) else {
                if matching(qname).is_some() {
                    return Err(format!("an NSEC shows {qname} exists"));
                }
                return Err(format!("no NSEC covers {qname}"));
            };
            if owner.zone_of(qname) && is_delegation(n) {
                return Err(format!("the covering NSEC at {owner} is a delegation"));
            }
            // Closest encloser: deepest ancestor of qname that exists, derived
            // from the covering NSEC's owner and next names (RFC 4035 §5.4).
            let ce = common_ancestor(qname, owner)
                .max_by_depth(&common_ancestor(qname, n.next_domain_name()))
                .clone();
            let wc = wildcard_of(&ce).ok_or("wildcard name too long")?;
            if covering(&wc).is_some() {
                Ok(())
            } else if matching(&wc).is_some() {
                Err(format!(
                    "wildcard {wc} exists, so {qname} should have been synthesised"
                ))
            } else {
                Err(format!("no NSEC proves wildcard {wc} does not exist"))
            }
        }
        // Normalised to NoData(DS) above.
        DenialGoal::InsecureDelegation => Err("insecure delegation goal not normalised".into()),
        DenialGoal::WildcardAnswer(_) => {
            if covering(qname).is_some() {
                Ok(())
            } else {
                Err(format!("no NSEC proves {qname} itself does not exist"))
            }
        }
    }
}

trait Deeper {
    fn max_by_depth<'a>(&'a self, other: &'a Self) -> &'a Self;
}

impl Deeper for Name {
    fn max_by_depth<'a>(&'a self, other: &'a Self) -> &'a Self {
        if other.num_labels() > self.num_labels() {
            other
        } else {
            self
        }
    }
}

/// RFC 4648 §7 base32hex, lower case, no padding (RFC 5155 §3.3 owner labels).
fn base32hex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
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

struct Nsec3Entry<'a> {
    /// Lower-case base32hex hash from the owner's first label.
    owner_hash: String,
    next_hash: String,
    data: &'a NSEC3,
}

fn nsec3_proof(zone: &Name, qname: &Name, goal: DenialGoal, nsec3s: &[&Record]) -> Denial {
    let need_ns = goal == DenialGoal::InsecureDelegation;
    let goal = if need_ns {
        DenialGoal::NoData(HType::DS)
    } else {
        goal
    };
    let mut entries = Vec::new();
    for r in nsec3s {
        let Some(n) = as_nsec3(r) else { continue };
        // RFC 5155 §8.2: owner is one base32hex label directly below the zone.
        if r.name.num_labels() != zone.num_labels() + 1 || !zone.zone_of(&r.name) {
            continue;
        }
        let Some(label) = r.name.iter().next() else {
            continue;
        };
        entries.push(Nsec3Entry {
            owner_hash: String::from_utf8_lossy(label).to_ascii_lowercase(),
            next_hash: base32hex(n.next_hashed_owner_name()),
            data: n,
        });
    }
    let Some(first) = entries.first() else {
        return Denial::Failed(format!("no NSEC3 records from zone {zone}"));
    };
    let (alg, salt, iterations) = (
        first.data.hash_algorithm(),
        first.data.salt().to_vec(),
        first.data.iterations(),
    );
    // RFC 9276 §3.2 / RFC 5155 §10.3: too many iterations -> insecure.
    if iterations > limits::NSEC3_MAX_ITERATIONS {
        return Denial::Insecure(InsecureReason::Nsec3IterationsTooHigh {
            zone: DnsName::from_hickory(zone),
            iterations,
            limit: limits::NSEC3_MAX_ITERATIONS,
        });
    }
    // RFC 5155 §8.2: ignore NSEC3s with other parameters.
    entries.retain(|e| {
        e.data.hash_algorithm() == alg && e.data.salt() == salt && e.data.iterations() == iterations
    });
    let mut hashes = 0usize;
    let mut hash = |name: &Name| -> Option<String> {
        hashes += 1;
        if hashes > limits::MAX_NSEC3_HASHES {
            return None;
        }
        let h: Nsec3HashAlgorithm = alg;
        h.hash(&salt, name, iterations)
            .ok()
            .map(|d| base32hex(d.as_ref()))
    };
    let matching = |h: &str| entries.iter().find(|e| e.owner_hash == h);
    let covering = |h: &str| {
        entries.iter().find(|e| {
            let (o, n) = (e.owner_hash.as_str(), e.next_hash.as_str());
            if o < n {
                o < h && h < n
            } else {
                // Last NSEC3 in the chain wraps around.
                h > o || h < n
            }
        })
    };

    // Closest encloser proof (RFC 5155 §8.3): returns (ce, next closer covered
    // entry opt-out flag).
    let closest_encloser =
        |hash: &mut dyn FnMut(&Name) -> Option<String>| -> Result<(Name, bool), String> {
            let mut candidate = qname.clone();
            let mut next_closer: Option<Name> = None;
            for _ in 0..=qname.num_labels() {
                if !zone.zone_of(&candidate) {
                    break;
                }
                let h = hash(&candidate).ok_or("NSEC3 hash budget exhausted")?;
                if matching(&h).is_some() {
                    let Some(nc) = next_closer else {
                        return Err(format!("an NSEC3 matches {qname}, so it exists"));
                    };
                    let nch = hash(&nc).ok_or("NSEC3 hash budget exhausted")?;
                    return match covering(&nch) {
                        Some(e) => Ok((candidate, e.data.opt_out())),
                        None => Err(format!(
                            "closest encloser {candidate} found but no NSEC3 covers the next closer name {nc}"
                        )),
                    };
                }
                if candidate == *zone {
                    break;
                }
                next_closer = Some(candidate.clone());
                candidate = candidate.base_name();
            }
            Err(format!("no NSEC3 proves a closest encloser for {qname}"))
        };

    match goal {
        DenialGoal::NxDomain => match closest_encloser(&mut hash) {
            Ok((ce, opt_out)) => {
                let Some(wc) = wildcard_of(&ce) else {
                    return Denial::Failed("wildcard name too long".into());
                };
                let Some(wh) = hash(&wc) else {
                    return Denial::Failed("NSEC3 hash budget exhausted".into());
                };
                if covering(&wh).is_some() {
                    // RFC 5155 §9.2: under an opt-out span the name may sit
                    // below an unsigned delegation; Unbound calls it insecure.
                    if opt_out {
                        Denial::OptOut
                    } else {
                        Denial::Proven(DenialKind::Nsec3)
                    }
                } else if matching(&wh).is_some() {
                    Denial::Failed(format!(
                        "wildcard {wc} exists, so {qname} should have been synthesised"
                    ))
                } else {
                    Denial::Failed(format!("no NSEC3 proves wildcard {wc} does not exist"))
                }
            }
            Err(e) => Denial::Failed(e),
        },
        DenialGoal::NoData(qtype) => {
            let Some(qh) = hash(qname) else {
                return Denial::Failed("NSEC3 hash budget exhausted".into());
            };
            if let Some(e) = matching(&qh) {
                let types = e.data.type_set();
                // Unbound `nsec3_prove_nods`: the child's NSEC3 (SOA) or a
                // DS bit is bogus; no NS bit means no delegation here.
                if need_ns
                    && !types.contains(HType::NS)
                    && !types.contains(HType::DS)
                    && (!types.contains(HType::SOA) || qname.is_root())
                {
                    return Denial::NotDelegation(DenialKind::Nsec3);
                }
                if types.contains(qtype) {
                    return Denial::Failed(format!("the NSEC3 for {qname} lists {qtype}"));
                }
                if types.contains(HType::CNAME) {
                    return Denial::Failed(format!("the NSEC3 for {qname} lists CNAME"));
                }
                if qtype == HType::DS && types.contains(HType::SOA) && !qname.is_root() {
                    return Denial::Failed(format!("the NSEC3 for {qname} is from the child zone"));
                }
                return Denial::Proven(DenialKind::Nsec3);
            }
            // RFC 5155 §8.6: DS NODATA may be an opt-out span; §8.7 wildcard NODATA.
            match closest_encloser(&mut hash) {
                Ok((_, true)) if qtype == HType::DS => Denial::OptOut,
                _ if need_ns => Denial::Failed(format!(
                    "no NSEC3 matches the delegation {qname} and no opt-out span covers it"
                )),
                // RFC 5155 §8.7 wildcard NODATA, and §9.2: with the next
                // closer name in an opt-out span the answer is insecure, with
                // or without a wildcard (Unbound `nsec3_do_prove_nodata`
                // cases 4 and 5).
                Ok((ce, opt_out)) => {
                    let Some(wc) = wildcard_of(&ce) else {
                        return Denial::Failed("wildcard name too long".into());
                    };
                    let Some(wh) = hash(&wc) else {
                        return Denial::Failed("NSEC3 hash budget exhausted".into());
                    };
                    match matching(&wh) {
                        Some(e)
                            if !e.data.type_set().contains(qtype)
                                && !e.data.type_set().contains(HType::CNAME) =>
                        {
                            if opt_out {
                                Denial::OptOut
                            } else {
                                Denial::Proven(DenialKind::Nsec3)
                            }
                        }
                        None if opt_out => Denial::OptOut,
                        _ => Denial::Failed(format!("no NSEC3 matches {qname}")),
                    }
                }
                Err(_) => Denial::Failed(format!("no NSEC3 matches {qname}")),
            }
        }
        // Normalised to NoData(DS) above.
        DenialGoal::InsecureDelegation => {
            Denial::Failed("insecure delegation goal not normalised".into())
        }
        DenialGoal::WildcardAnswer(labels) => {
            // RFC 5155 §8.8: the next closer name (one label below the
            // wildcard's parent) must be covered.
            let keep = usize::from(labels) + 1;
            if usize::from(qname.num_labels()) < keep {
                return Denial::Failed("RRSIG labels inconsistent with owner".into());
            }
            let nc = qname.trim_to(keep);
            let Some(h) = hash(&nc) else {
                return Denial::Failed("NSEC3 hash budget exhausted".into());
            };
            match covering(&h) {
                // RFC 5155 §9.2: an opt-out span may hide an unsigned
                // delegation at the next closer name; Unbound
                // (`nsec3_prove_wildcard`) calls the answer insecure.
                Some(e) if e.data.opt_out() => Denial::OptOut,
                Some(_) => Denial::Proven(DenialKind::Nsec3),
                None => Denial::Failed(format!("no NSEC3 covers the next closer name {nc}")),
            }
        }
    }
}

/// The DNSKEYs of `records` (a DNSKEY RRset).
pub(crate) fn dnskeys<'a>(records: &[&'a Record]) -> Vec<&'a DNSKEY> {
    records.iter().filter_map(|r| as_dnskey(r)).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hickory_proto::{
        dnssec::{
            Algorithm, DigestType, DnssecSigner, SigningKey,
            crypto::EcdsaSigningKey,
            rdata::{DNSKEY, DS, RRSIG},
        },
        rr::{RecordSet, rdata::A},
    };
    use time::OffsetDateTime;

    use super::*;

    const NOW: u64 = 1_795_000_000;

    struct Key {
        signer: DnssecSigner,
        dnskey: DNSKEY,
    }

    fn key(zone: &str) -> Key {
        let der = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).unwrap();
        let sk = EcdsaSigningKey::from_pkcs8(&der, Algorithm::ECDSAP256SHA256).unwrap();
        let public = sk.to_public_key().unwrap();
        let dnskey = DNSKEY::from_key(&public);
        let signer = DnssecSigner::new(
            dnskey.clone(),
            Box::new(sk),
            Name::from_ascii(zone).unwrap(),
            Duration::from_secs(86_400),
        );
        Key { signer, dnskey }
    }

    fn a_rrset(owner: &str) -> RecordSet {
        let mut set = RecordSet::with_ttl(Name::from_ascii(owner).unwrap(), HType::A, 300);
        set.add_rdata(RData::A(A::new(192, 0, 2, 1)));
        set
    }

    /// Signs `set` with an RRSIG whose inception is `inception_offset` seconds
    /// from `NOW` (valid for one day).
    fn sign(set: &RecordSet, key: &Key, inception_offset: i64) -> Record {
        let inception =
            OffsetDateTime::from_unix_timestamp(NOW.cast_signed() + inception_offset).unwrap();
        let sig = RRSIG::from_rrset(set, DNSClass::IN, inception, &key.signer).unwrap();
        Record::from_rdata(
            set.name().clone(),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(sig)),
        )
    }

    fn check(set: &RecordSet, sig: &Record, keys: &[&DNSKEY]) -> Result<u16, BogusReason> {
        let zone = Name::from_ascii("example.lab.").unwrap();
        let records: Vec<&Record> = set.records_without_rrsigs().collect();
        verify_rrset(&zone, set.name(), HType::A, &records, &[sig], keys, NOW)
    }

    #[test]
    fn valid_signature_verifies() {
        let k = key("example.lab.");
        let set = a_rrset("www.example.lab.");
        let sig = sign(&set, &k, -3600);
        assert_eq!(check(&set, &sig, &[&k.dnskey]), Ok(key_tag(&k.dnskey)));
    }

    #[test]
    fn expired_and_not_yet_valid_are_told_apart() {
        let k = key("example.lab.");
        let set = a_rrset("www.example.lab.");
        let expired = sign(&set, &k, -2 * 86_400);
        match check(&set, &expired, &[&k.dnskey]) {
            Err(BogusReason::SignatureExpired {
                rrset,
                expired,
                key_tag: t,
                ..
            }) => {
                assert_eq!(rrset.to_string(), "www.example.lab/A");
                assert_eq!(t, key_tag(&k.dnskey));
                assert_eq!(expired, format_time(truncate_u32(NOW - 86_400), NOW));
            }
            other => panic!("{other:?}"),
        }
        let future = sign(&set, &k, 3600);
        assert!(matches!(
            check(&set, &future, &[&k.dnskey]),
            Err(BogusReason::SignatureNotYetValid { .. })
        ));
    }

    #[test]
    fn wrong_key_and_tampered_data() {
        let k = key("example.lab.");
        let other = key("example.lab.");
        let set = a_rrset("www.example.lab.");
        let sig = sign(&set, &k, -60);
        assert!(matches!(
            check(&set, &sig, &[&other.dnskey]),
            Err(BogusReason::NoMatchingKey { .. })
        ));
        let mut tampered = RecordSet::with_ttl(set.name().clone(), HType::A, 300);
        tampered.add_rdata(RData::A(A::new(192, 0, 2, 66)));
        assert!(matches!(
            check(&tampered, &sig, &[&k.dnskey]),
            Err(BogusReason::SignatureInvalid { .. })
        ));
        let records: Vec<&Record> = set.records_without_rrsigs().collect();
        let zone = Name::from_ascii("example.lab.").unwrap();
        assert!(matches!(
            verify_rrset(
                &zone,
                set.name(),
                HType::A,
                &records,
                &[],
                &[&k.dnskey],
                NOW
            ),
            Err(BogusReason::RrsigsMissing { .. })
        ));
    }

    #[test]
    fn ds_matching() {
        let k = key("example.lab.");
        let zone = Name::from_ascii("example.lab.").unwrap();
        let public = k.signer.key().to_public_key().unwrap();
        let ds = DS::from_key(&public, &zone, DigestType::SHA256).unwrap();
        assert!(ds_matches(&zone, &ds, &k.dnskey));
        assert!(ds_supported(&ds));
        let other = key("example.lab.");
        assert!(!ds_matches(&zone, &ds, &other.dnskey));
        let wrong_owner = Name::from_ascii("other.lab.").unwrap();
        assert!(!ds_matches(&wrong_owner, &ds, &k.dnskey));
    }

    fn nsec(owner: &str, next: &str, types: &[HType]) -> Record {
        Record::from_rdata(
            Name::from_ascii(owner).unwrap(),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                Name::from_ascii(next).unwrap(),
                types.iter().copied(),
            ))),
        )
    }

    #[test]
    fn nsec_proofs_rfc4035_appendix_b() {
        // Zone example. from RFC 4035 App. A (subset of its NSEC chain).
        let zone = Name::from_ascii("example.").unwrap();
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let apex = nsec(
            "example.",
            "a.example.",
            &[HType::NS, HType::SOA, HType::MX],
        );
        let ab = nsec(
            "ai.example.",
            "b.example.",
            &[HType::A, HType::HINFO, HType::AAAA],
        );
        let wc = nsec("*.w.example.", "x.w.example.", &[HType::MX]);
        let ns1 = nsec("ns1.example.", "ns2.example.", &[HType::A]);
        // B.2 name error: ml.example. covered by b.example -> ns1.example, and
        // the wildcard *.example. covered by the apex NSEC.
        let b = nsec("b.example.", "ns1.example.", &[HType::NS, HType::DS]);
        assert_eq!(
            prove_denial(
                &zone,
                &n("ml.example."),
                DenialGoal::NxDomain,
                &[&b, &apex],
                &[]
            ),
            Denial::Proven(DenialKind::Nsec)
        );
        // Without the wildcard proof the NXDOMAIN is not proven.
        assert!(matches!(
            prove_denial(&zone, &n("ml.example."), DenialGoal::NxDomain, &[&b], &[]),
            Denial::Failed(_)
        ));
        // B.3 no data: ns1.example. MX.
        assert_eq!(
            prove_denial(
                &zone,
                &n("ns1.example."),
                DenialGoal::NoData(HType::MX),
                &[&ns1],
                &[]
            ),
            Denial::Proven(DenialKind::Nsec)
        );
        assert!(matches!(
            prove_denial(
                &zone,
                &n("ns1.example."),
                DenialGoal::NoData(HType::A),
                &[&ns1],
                &[]
            ),
            Denial::Failed(_)
        ));
        // B.7 wildcard no data: a.z.w.example. AAAA.
        let zw = nsec("x.y.w.example.", "xx.example.", &[HType::MX]);
        assert_eq!(
            prove_denial(
                &zone,
                &n("a.z.w.example."),
                DenialGoal::NoData(HType::AAAA),
                &[&zw, &wc],
                &[]
            ),
            Denial::Proven(DenialKind::Nsec)
        );
        // B.6 wildcard expansion: a.z.w.example. MX covered by x.y.w -> xx.
        assert_eq!(
            prove_denial(
                &zone,
                &n("a.z.w.example."),
                DenialGoal::WildcardAnswer(2),
                &[&zw],
                &[]
            ),
            Denial::Proven(DenialKind::Nsec)
        );
        // A delegation NSEC (NS without SOA) does not prove NODATA below the cut.
        assert!(matches!(
            prove_denial(
                &zone,
                &n("b.example."),
                DenialGoal::NoData(HType::A),
                &[&b],
                &[]
            ),
            Denial::Failed(_)
        ));
        // But it proves DS absence? No: it lists DS.
        assert!(matches!(
            prove_denial(
                &zone,
                &n("b.example."),
                DenialGoal::NoData(HType::DS),
                &[&b],
                &[]
            ),
            Denial::Failed(_)
        ));
        let _ = ab;
    }

    /// RFC 6840 §4.4 with Unbound's reading: asked to prove an insecure
    /// delegation, an NSEC without the NS bit (or an empty non-terminal
    /// proof) shows there is no cut at all; the child's own NSEC (SOA) or a
    /// DS bit is no proof of anything.
    #[test]
    fn ds_denials_tell_no_cut_from_insecure_cut() {
        let zone = Name::from_ascii("example.").unwrap();
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let goal = DenialGoal::InsecureDelegation;
        let delegation = nsec("b.example.", "ns1.example.", &[HType::NS, HType::RRSIG]);
        assert_eq!(
            prove_denial(&zone, &n("b.example."), goal, &[&delegation], &[]),
            Denial::Proven(DenialKind::Nsec)
        );
        let host = nsec("ns1.example.", "ns2.example.", &[HType::A, HType::RRSIG]);
        assert_eq!(
            prove_denial(&zone, &n("ns1.example."), goal, &[&host], &[]),
            Denial::NotDelegation(DenialKind::Nsec)
        );
        // ent.example. exists only as the parent of a.ent.example.
        let ent = nsec("d.example.", "a.ent.example.", &[HType::A]);
        assert_eq!(
            prove_denial(&zone, &n("ent.example."), goal, &[&ent], &[]),
            Denial::NotDelegation(DenialKind::Nsec)
        );
        let child_apex = nsec("c.example.", "x.c.example.", &[HType::SOA, HType::NS]);
        assert!(matches!(
            prove_denial(&zone, &n("c.example."), goal, &[&child_apex], &[]),
            Denial::Failed(_)
        ));
        let with_ds = nsec("e.example.", "f.example.", &[HType::NS, HType::DS]);
        assert!(matches!(
            prove_denial(&zone, &n("e.example."), goal, &[&with_ds], &[]),
            Denial::Failed(_)
        ));
    }

    #[test]
    fn base32hex_matches_rfc4648_vectors() {
        assert_eq!(base32hex(b"f"), "co");
        assert_eq!(base32hex(b"fo"), "cpng");
        assert_eq!(base32hex(b"foobar"), "cpnmuoj1e8");
    }

    #[test]
    fn serial_arithmetic() {
        assert!(serial_lt(1, 2));
        assert!(serial_lt(u32::MAX, 1));
        assert!(!serial_lt(2, 1));
        assert_eq!(
            format_time(1_795_000_000, 1_795_000_100),
            "2026-11-18T11:06:40Z"
        );
    }
}
