//! Authoritative answering from one [`Zone`]: referrals, CNAME/DNAME, wildcards,
//! NXDOMAIN/NODATA, and the NSEC/NSEC3 proofs that go with each (RFC 4035 §3.1,
//! RFC 5155 §7.2).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::zone::{Denial, Key, Rrset, Zone, key};

/// How many CNAME/DNAME links one answer follows inside a zone.
const MAX_CHAIN: usize = 8;

/// The sections of an authoritative response.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) rcode: ResponseCode,
    pub(crate) authoritative: bool,
    pub(crate) answers: Vec<Record>,
    pub(crate) authorities: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
}

enum Step {
    Done,
    Chase(Name),
}

impl Zone {
    /// Answers `qname`/`qtype`, adding DNSSEC records when `dnssec` (DO) is set.
    pub(crate) fn answer(&self, qname: &Name, qtype: RecordType, dnssec: bool) -> Answer {
        let mut ans = Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        };
        let mut name = qname.clone();
        let mut seen: Vec<Key> = Vec::new();
        for depth in 0..=MAX_CHAIN {
            seen.push(key(&name));
            match self.step(&name, qtype, dnssec, depth > 0, &mut ans) {
                Step::Done => break,
                Step::Chase(target) => {
                    // Out of zone or a loop: stop here, the resolver goes on.
                    if !self.apex.zone_of(&target) || seen.contains(&key(&target)) {
                        break;
                    }
                    name = target;
                }
            }
        }
        ans
    }

    fn node_exists(&self, k: &Key) -> bool {
        self.nodes.contains_key(k) && !self.occluded(k)
    }

    fn step(
        &self,
        qname: &Name,
        qtype: RecordType,
        dnssec: bool,
        chasing: bool,
        ans: &mut Answer,
    ) -> Step {
        let apex_labels = self.apex.num_labels();
        let q_labels = qname.num_labels();
        let qkey = key(qname);

        // Zone cuts and DNAMEs on the way down from the apex.
        for n in apex_labels..=q_labels {
            let ancestor = qname.trim_to(usize::from(n));
            let k = key(&ancestor);
            let Some(node) = self.nodes.get(&k) else {
                continue;
            };
            let is_q = n == q_labels;
            if n > apex_labels && self.cuts.contains(&k) && !(is_q && qtype == RecordType::DS) {
                if !chasing {
                    self.referral(&ancestor, dnssec, ans);
                }
                return Step::Done;
            }
            if !is_q && let Some(dname) = node.get(RecordType::DNAME) {
                return Self::synthesize_dname(qname, &ancestor, dname, dnssec, ans);
            }
        }

        if let Some(node) = self.nodes.get(&qkey).filter(|_| !self.occluded(&qkey)) {
            if qtype == RecordType::ANY {
                for set in node.rrsets.values() {
                    set.emit(dnssec, &mut ans.answers);
                }
                return Step::Done;
            }
            if let Some(set) = node.get(qtype) {
                set.emit(dnssec, &mut ans.answers);
                return Step::Done;
            }
            if let Some(cname) = node.get(RecordType::CNAME) {
                cname.emit(dnssec, &mut ans.answers);
                return cname_target(cname).map_or(Step::Done, Step::Chase);
            }
            self.nodata(qname, dnssec, ans);
            return Step::Done;
        }

        if self.ents.contains(&qkey) && !self.occluded(&qkey) {
            self.nodata(qname, dnssec, ans);
            return Step::Done;
        }

        // Closest encloser and wildcard (RFC 4592).
        let mut ce = qname.base_name();
        while ce.num_labels() > apex_labels
            && !self.node_exists(&key(&ce))
            && !self.ents.contains(&key(&ce))
        {
            ce = ce.base_name();
        }
        let Ok(wildcard) = ce.prepend_label("*") else {
            self.nxdomain(qname, &ce, None, dnssec, ans);
            return Step::Done;
        };
        if let Some(node) = self.nodes.get(&key(&wildcard)) {
            if let Some(set) = node.get(qtype).or_else(|| node.get(RecordType::CNAME)) {
                set.emit_as(qname, dnssec, &mut ans.answers);
                if dnssec {
                    self.prove_no_exact(qname, &ce, ans);
                }
                if set.records.first().map(Record::record_type) == Some(RecordType::CNAME)
                    && qtype != RecordType::CNAME
                {
                    return cname_target(set).map_or(Step::Done, Step::Chase);
                }
                return Step::Done;
            }
            // Wildcard NODATA: SOA, no exact match, and the wildcard lacks the type.
            self.push_soa(dnssec, ans);
            if dnssec {
                self.prove_no_exact(qname, &ce, ans);
                self.prove_nodata_at(&wildcard, ans);
            }
            return Step::Done;
        }
        self.nxdomain(qname, &ce, Some(&wildcard), dnssec, ans);
        Step::Done
    }

    fn push_soa(&self, dnssec: bool, ans: &mut Answer) {
        if let Some(soa) = self.soa() {
            soa.emit(dnssec, &mut ans.authorities);
        }
    }

    fn nodata(&self, qname: &Name, dnssec: bool, ans: &mut Answer) {
        self.push_soa(dnssec, ans);
        if dnssec {
            self.prove_nodata_at(qname, ans);
        }
    }

    fn nxdomain(
        &self,
        qname: &Name,
        ce: &Name,
        wildcard: Option<&Name>,
        dnssec: bool,
        ans: &mut Answer,
    ) {
        ans.rcode = ResponseCode::NXDomain;
        self.push_soa(dnssec, ans);
        if !dnssec {
            return;
        }
        self.prove_no_exact(qname, ce, ans);
        if let Some(w) = wildcard {
            match &self.denial {
                Denial::Nsec(_) => self.push_nsec_covering(w, ans),
                Denial::Nsec3 { .. } => self.push_nsec3_covering(w, ans),
                Denial::None => {}
            }
        }
    }

    /// Proof that `qname` itself does not exist (NSEC cover, or NSEC3 closest
    /// encloser match + next closer cover).
    fn prove_no_exact(&self, qname: &Name, ce: &Name, ans: &mut Answer) {
        match &self.denial {
            Denial::None => {}
            Denial::Nsec(_) => self.push_nsec_covering(qname, ans),
            Denial::Nsec3 { .. } => {
                self.push_nsec3_matching(ce, ans);
                let next_closer = qname.trim_to(usize::from(ce.num_labels()) + 1);
                self.push_nsec3_covering(&next_closer, ans);
            }
        }
    }

    /// Proof that `name` exists but lacks the queried type (also no-DS proofs).
    fn prove_nodata_at(&self, name: &Name, ans: &mut Answer) {
        match &self.denial {
            Denial::None => {}
            Denial::Nsec(chain) => {
                let k = key(name);
                if let Some(set) = chain.get(&k) {
                    self.push_denial(set, ans);
                } else {
                    // Empty non-terminal: the NSEC that covers it.
                    self.push_nsec_covering(name, ans);
                }
            }
            Denial::Nsec3 { chain, .. } => {
                let matched = self.nsec3_hash(name).and_then(|h| chain.get(&h)).is_some();
                if matched {
                    self.push_nsec3_matching(name, ans);
                } else {
                    // Opt-out: closest provable encloser + opt-out cover of next closer.
                    let mut ce = name.base_name();
                    while ce.num_labels() > self.apex.num_labels()
                        && self.nsec3_hash(&ce).and_then(|h| chain.get(&h)).is_none()
                    {
                        ce = ce.base_name();
                    }
                    self.prove_no_exact(name, &ce, ans);
                }
            }
        }
    }

    fn push_denial(&self, set: &Rrset, ans: &mut Answer) {
        if !self.drop_denial {
            set.emit(true, &mut ans.authorities);
        }
    }

    fn push_nsec_covering(&self, name: &Name, ans: &mut Answer) {
        if let Denial::Nsec(chain) = &self.denial {
            let k = key(name);
            let set = chain
                .range(..k)
                .next_back()
                .or_else(|| chain.iter().next_back())
                .map(|(_, s)| s);
            if let Some(set) = set {
                self.push_denial(set, ans);
            }
        }
    }

    fn push_nsec3_matching(&self, name: &Name, ans: &mut Answer) {
        if let (Denial::Nsec3 { chain, .. }, Some(h)) = (&self.denial, self.nsec3_hash(name))
            && let Some(set) = chain.get(&h)
        {
            self.push_denial(set, ans);
        }
    }

    fn push_nsec3_covering(&self, name: &Name, ans: &mut Answer) {
        if let (Denial::Nsec3 { chain, .. }, Some(h)) = (&self.denial, self.nsec3_hash(name)) {
            let set = chain
                .range(..h)
                .next_back()
                .or_else(|| chain.iter().next_back())
                .map(|(_, s)| s);
            if let Some(set) = set {
                self.push_denial(set, ans);
            }
        }
    }

    fn referral(&self, cut: &Name, dnssec: bool, ans: &mut Answer) {
        ans.authoritative = false;
        let Some(node) = self.nodes.get(&key(cut)) else {
            return;
        };
        if let Some(ns) = node.get(RecordType::NS) {
            ns.emit(false, &mut ans.authorities);
            for r in &ns.records {
                if let RData::NS(NS(target)) = &r.data {
                    if !self.apex.zone_of(target) {
                        continue;
                    }
                    if let Some(glue) = self.nodes.get(&key(target)) {
                        for t in [RecordType::A, RecordType::AAAA] {
                            if let Some(set) = glue.get(t) {
                                set.emit(false, &mut ans.additionals);
                            }
                        }
                    }
                }
            }
        }
        if dnssec {
            if let Some(ds) = node.get(RecordType::DS) {
                ds.emit(true, &mut ans.authorities);
            } else {
                self.prove_nodata_at(cut, ans);
            }
        }
    }

    fn synthesize_dname(
        qname: &Name,
        owner: &Name,
        dname: &Rrset,
        dnssec: bool,
        ans: &mut Answer,
    ) -> Step {
        dname.emit(dnssec, &mut ans.answers);
        let Some(record) = dname.records.first() else {
            return Step::Done;
        };
        let RData::Unknown { rdata, .. } = &record.data else {
            return Step::Done;
        };
        let Ok(target) = Name::from_vec_bytes(&rdata.anything) else {
            return Step::Done;
        };
        // qname = prefix + owner  =>  prefix + target
        let prefix_len = usize::from(qname.num_labels() - owner.num_labels());
        let prefix: Vec<&[u8]> = qname.iter().take(prefix_len).collect();
        let Ok(new) = Name::from_labels(prefix).and_then(|p| p.append_domain(&target)) else {
            ans.rcode = ResponseCode::YXDomain;
            return Step::Done;
        };
        ans.answers.push(Record::from_rdata(
            qname.clone(),
            record.ttl,
            RData::CNAME(CNAME(new.clone())),
        ));
        Step::Chase(new)
    }
}

fn cname_target(set: &Rrset) -> Option<Name> {
    set.records.iter().find_map(|r| match &r.data {
        RData::CNAME(CNAME(t)) => Some(t.clone()),
        _ => None,
    })
}

trait NameBytes: Sized {
    fn from_vec_bytes(bytes: &[u8]) -> Result<Self, hickory_proto::ProtoError>;
}

impl NameBytes for Name {
    /// Decodes an uncompressed wire-format name (DNAME RDATA).
    fn from_vec_bytes(bytes: &[u8]) -> Result<Self, hickory_proto::ProtoError> {
        use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
        let mut decoder = BinDecoder::new(bytes);
        Ok(Self::read(&mut decoder)?)
    }
}
