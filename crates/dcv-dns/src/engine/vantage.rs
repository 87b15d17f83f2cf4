//! The vantage preflight's questions (the judgements are in
//! [`crate::vantage`]): a random, never-existing TLD asked of the first
//! [`VANTAGE_SERVERS_PER_FAMILY`] root server addresses of each family, over
//! UDP and TCP with EDNS and the DO bit, all at once; the root's keys are
//! validated through the engine's own cache (the check needs them anyway), and
//! each denial's NSEC proof is verified with them.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures::future::join_all;
use hickory_proto::{
    rr::{Name, RData, Record},
    serialize::binary::{BinDecoder, Restrict},
};

use crate::{
    dnssec::DenialGoal,
    evidence::{QueryPath, RecordEvidence, ResponseEvidence},
    lookup::CutSource,
    security::{BogusReason, Security},
    types::{DnsName, RecordType},
    vantage::{
        AddressFamily, FamilyReach, InterceptionSign, NotTestedReason, ProbeVerdict, ProofCheck,
        Reach, VANTAGE_MAX_WAIT, VANTAGE_SERVERS_PER_FAMILY, VantageProbe, VantageReport,
        failed_verdict, interception_signs,
    },
};

use super::{Engine, chain::check_denial};

/// The paths each probed root server is asked over.
const PATHS: [QueryPath; 2] = [QueryPath::UDP_EDNS, QueryPath::TCP_EDNS];

/// Random characters in the probe's TLD label: 36^12 (62 bits) names, so no
/// cache along the way can have seen it.
const RANDOM_LABEL_CHARS: usize = 12;

impl Engine {
    /// Asks the root servers in use what this machine can test: which address
    /// families reach them over UDP and TCP, and whether the answers are the
    /// root's own (see [`crate::vantage`]). Bounded by the configured query
    /// timeout (two attempts' worth) and never longer than
    /// [`VANTAGE_MAX_WAIT`]; honours the server policy (a refused root is
    /// "not tested", with no packet sent).
    pub async fn vantage_preflight(&self) -> VantageReport {
        let started = Instant::now();
        let config = self.config();
        let deadline = tokio::time::Instant::now() + preflight_wait(config.query_timeout);
        let qname = random_tld();

        let mut targets: Vec<(DnsName, SocketAddr, AddressFamily, QueryPath)> = Vec::new();
        let mut disabled = Vec::new();
        for family in AddressFamily::ALL {
            if family == AddressFamily::Ipv6 && !config.use_ipv6 {
                disabled.push(family);
                continue;
            }
            let mut servers: Vec<(DnsName, SocketAddr)> = Vec::new();
            for hint in config
                .root_hints
                .iter()
                .filter(|h| AddressFamily::of(h.addr) == family)
            {
                let addr = SocketAddr::new(hint.addr, config.port);
                if servers.len() < VANTAGE_SERVERS_PER_FAMILY
                    && !servers.iter().any(|(_, a)| *a == addr)
                {
                    servers.push((hint.name.clone(), addr));
                }
            }
            for (name, addr) in servers {
                for path in PATHS {
                    targets.push((name.clone(), addr, family, path));
                }
            }
        }

        let asked = join_all(targets.into_iter().map(|(name, server, family, path)| {
            let qname = &qname;
            async move {
                let t = Instant::now();
                let probe = self.probe_path_shared(server, qname, RecordType::NS, path);
                let exchange = tokio::time::timeout_at(deadline, probe)
                    .await
                    .ok()
                    .flatten();
                (name, server, family, path, exchange, t.elapsed())
            }
        }))
        .await;

        // Header signs first: they need no keys.
        let mut probes: Vec<VantageProbe> = asked
            .into_iter()
            .map(|(server_name, server, family, path, exchange, elapsed)| {
                let verdict = match exchange.as_ref().and_then(|e| e.response()) {
                    Some(r) => {
                        let signs = interception_signs(r, false);
                        if signs.is_empty() {
                            ProbeVerdict::Root {
                                proof: ProofCheck::NotChecked {
                                    why: "pending".to_owned(),
                                },
                            }
                        } else {
                            ProbeVerdict::Intercepted { signs }
                        }
                    }
                    None => failed_verdict(exchange.as_ref()),
                };
                VantageProbe {
                    server_name,
                    server,
                    family,
                    path,
                    exchange,
                    elapsed,
                    verdict,
                }
            })
            .collect();

        // The proofs, for answers that look like the root's, unless
        // interception is already certain (no need to wait for keys then).
        let intercepted = probes
            .iter()
            .any(|p| matches!(p.verdict, ProbeVerdict::Intercepted { .. }));
        let needs_proof = probes
            .iter()
            .any(|p| matches!(p.verdict, ProbeVerdict::Root { .. }));
        if needs_proof && !intercepted {
            let keys = self.root_keys(deadline).await;
            for p in &mut probes {
                if !matches!(p.verdict, ProbeVerdict::Root { .. }) {
                    continue;
                }
                let Some(response) = p.exchange.as_ref().and_then(|e| e.response()) else {
                    continue;
                };
                p.verdict = self.judge_proof(&qname, response, &keys);
            }
        } else {
            for p in &mut probes {
                if let ProbeVerdict::Root { proof } = &mut p.verdict {
                    *proof = ProofCheck::NotChecked {
                        why: "another probe already shows the interception".to_owned(),
                    };
                }
            }
        }

        let families = AddressFamily::ALL
            .into_iter()
            .map(|family| {
                let of = |tcp: bool| {
                    if disabled.contains(&family) {
                        return Reach::NotTested {
                            why: NotTestedReason::Disabled,
                        };
                    }
                    Reach::from_probes(
                        probes
                            .iter()
                            .filter(|p| p.family == family && p.path.tcp == tcp),
                    )
                };
                FamilyReach {
                    family,
                    udp: of(false),
                    tcp: of(true),
                }
            })
            .collect();
        VantageReport {
            qname,
            families,
            probes,
            elapsed: started.elapsed(),
        }
    }

    /// The root's keys, validated from the trust anchor through the engine's
    /// cache, or why they cannot be used (by `deadline`).
    async fn root_keys(&self, deadline: tokio::time::Instant) -> Result<RootKeys, String> {
        let root = DnsName::root();
        if !self.config().trust_anchors.iter().any(|a| a.owner == root) {
            return Err("no trust anchor for the root".to_owned());
        }
        let Ok(zk) =
            tokio::time::timeout_at(deadline, self.zone_keys(&root, CutSource::RootHints)).await
        else {
            return Err("the root's keys were not fetched within the preflight's bound".to_owned());
        };
        match &zk.security {
            Security::Secure => Ok(RootKeys(zk.keys.clone())),
            other => Err(format!("the root's keys do not validate: {other}")),
        }
    }

    /// A header-clean NXDOMAIN: its NSEC/NSEC3 proof checked with the root's
    /// keys (RFC 4035 §5.4).
    fn judge_proof(
        &self,
        qname: &DnsName,
        response: &ResponseEvidence,
        keys: &Result<RootKeys, String>,
    ) -> ProbeVerdict {
        let keys = match keys {
            Ok(k) => k,
            Err(why) => {
                return ProbeVerdict::Root {
                    proof: ProofCheck::NotChecked { why: why.clone() },
                };
            }
        };
        let signs = interception_signs(response, true);
        if !signs.is_empty() {
            return ProbeVerdict::Intercepted { signs };
        }
        let Some(authority) = response
            .authority
            .iter()
            .map(hickory_record)
            .collect::<Option<Vec<Record>>>()
        else {
            return ProbeVerdict::Root {
                proof: ProofCheck::NotChecked {
                    why: "the authority section could not be re-read".to_owned(),
                },
            };
        };
        let key_refs: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = keys.0.iter().collect();
        let now = self.config().clock.now_unix();
        match check_denial(
            &Name::root(),
            &qname.to_hickory(),
            RecordType::NS,
            DenialGoal::NxDomain,
            &authority,
            &key_refs,
            now,
        ) {
            None => ProbeVerdict::Root {
                proof: ProofCheck::Verified,
            },
            Some(Security::Bogus(
                r @ (BogusReason::SignatureExpired { .. }
                | BogusReason::SignatureNotYetValid { .. }),
            )) => ProbeVerdict::Root {
                proof: ProofCheck::NotChecked {
                    why: format!("{r} (is this machine's clock right?)"),
                },
            },
            Some(Security::Bogus(r)) => ProbeVerdict::Intercepted {
                signs: vec![InterceptionSign::InvalidProof {
                    reason: r.to_string(),
                }],
            },
            Some(other) => ProbeVerdict::Root {
                proof: ProofCheck::NotChecked {
                    why: other.to_string(),
                },
            },
        }
    }
}

/// The root's validated DNSKEYs.
struct RootKeys(Vec<hickory_proto::dnssec::rdata::DNSKEY>);

/// A record of the evidence as hickory reads it again from its wire RDATA
/// (NSEC and RRSIG RDATA carry no compressed names, RFC 4034 §4.1.1, §3.1.7).
fn hickory_record(r: &RecordEvidence) -> Option<Record> {
    if r.wire_rdata.is_empty() {
        return None;
    }
    let len = u16::try_from(r.wire_rdata.len()).ok()?;
    let mut decoder = BinDecoder::new(&r.wire_rdata);
    let rdata = RData::read(&mut decoder, r.rtype.to_hickory(), Restrict::new(len)).ok()?;
    Some(Record::from_rdata(r.name.to_hickory(), r.ttl, rdata))
}

/// `dcv-vantage-<random>.`: a TLD no root delegates and no cache has seen.
fn random_tld() -> DnsName {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LABEL_CHARS)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    // Letters, digits and hyphens only, one label: always a valid name.
    DnsName::parse(&format!("dcv-vantage-{random}.")).unwrap_or_else(|_| DnsName::root())
}

/// The preflight's bound: two attempts' worth of the configured query
/// timeout (one lost packet is not "no DNS"), at most [`VANTAGE_MAX_WAIT`].
fn preflight_wait(query_timeout: Duration) -> Duration {
    query_timeout.saturating_mul(2).min(VANTAGE_MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_tld_is_random_and_one_label() {
        let a = random_tld();
        let b = random_tld();
        assert_ne!(a, b);
        assert_eq!(a.label_count(), 1);
        assert!(a.as_str().starts_with("dcv-vantage-"), "{a}");
        assert_eq!(
            preflight_wait(Duration::from_millis(700)),
            Duration::from_millis(1400)
        );
        assert_eq!(preflight_wait(Duration::from_secs(30)), VANTAGE_MAX_WAIT);
    }

    #[test]
    fn evidence_records_read_back_as_hickory_records() {
        let r = RecordEvidence {
            name: DnsName::parse("example").unwrap(),
            rtype: RecordType::A,
            ttl: 60,
            rdata: "192.0.2.1".into(),
            wire_rdata: vec![192, 0, 2, 1],
        };
        let h = hickory_record(&r).unwrap();
        assert_eq!(h.data.to_string(), "192.0.2.1");
        assert!(
            hickory_record(&RecordEvidence {
                wire_rdata: Vec::new(),
                ..r
            })
            .is_none()
        );
    }
}
