//! Signing and every zone fault, checked on the wire: signatures verify with
//! the served keys (or, for the fault, do not), DS records match (or not), and
//! denial proofs are present (or broken) as the scenario says.

mod common;

use common::{of_type, rcode, tcp, udp, v4};
use dcv_lab::catalogue::{self, NS1, ROOT_NS, TLD_NS, WWW, ZONE};
use dcv_lab::{Lab, Scenario, Signing};
use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

fn now() -> u32 {
    u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn dnssec_data(r: &Record) -> Option<&DNSSECRData> {
    match &r.data {
        RData::DNSSEC(d) => Some(d),
        _ => None,
    }
}

fn rrsigs(records: &[Record], covered: RecordType) -> Vec<RRSIG> {
    records
        .iter()
        .filter_map(|r| match dnssec_data(r) {
            Some(DNSSECRData::RRSIG(s)) if s.input().type_covered == covered => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn dnskeys(records: &[Record]) -> Vec<DNSKEY> {
    records
        .iter()
        .filter_map(|r| match dnssec_data(r) {
            Some(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn ds_records(records: &[Record]) -> Vec<DS> {
    records
        .iter()
        .filter_map(|r| match dnssec_data(r) {
            Some(DNSSECRData::DS(d)) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn nsecs(records: &[Record]) -> Vec<(Name, NSEC)> {
    records
        .iter()
        .filter_map(|r| match dnssec_data(r) {
            Some(DNSSECRData::NSEC(n)) => Some((r.name.clone(), n.clone())),
            _ => None,
        })
        .collect()
}

fn nsec3s(records: &[Record]) -> Vec<NSEC3> {
    records
        .iter()
        .filter_map(|r| match dnssec_data(r) {
            Some(DNSSECRData::NSEC3(n)) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// Whether `sig` verifies, with one of `keys`, over the RR set of its covered
/// type at one of the owners present in `section`.
fn verifies(keys: &[DNSKEY], sig: &RRSIG, section: &[Record]) -> bool {
    let covered: Vec<&Record> = section
        .iter()
        .filter(|r| r.record_type() == sig.input().type_covered)
        .collect();
    covered.iter().any(|owner| {
        let set: Vec<&Record> = covered
            .iter()
            .copied()
            .filter(|r| r.name == owner.name)
            .collect();
        keys.iter().any(|k| {
            k.calculate_key_tag().unwrap() == sig.input().key_tag
                && k.verify_rrsig(&owner.name, DNSClass::IN, sig, set.iter().copied())
                    .is_ok()
        })
    })
}

async fn zone_keys(lab: &Lab, server: &str, zone: &str) -> (Vec<DNSKEY>, Message) {
    let m = udp(v4(lab, server), zone, RecordType::DNSKEY, true)
        .await
        .unwrap();
    (dnskeys(&m.answers), m)
}

/// The DS set the parent serves for `zone` (through a DS query with DO).
async fn parent_ds(lab: &Lab, parent_server: &str, zone: &str) -> Message {
    udp(v4(lab, parent_server), zone, RecordType::DS, true)
        .await
        .unwrap()
}

#[tokio::test]
async fn valid_chain_verifies_from_trust_anchor_to_www() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();

    // Trust anchor DS covers the root KSK, which signs the root DNSKEY set.
    let ta = lab.trust_anchor_ds().unwrap();
    let (_, sets) = Parser::new(ta.as_str(), None, Some(Name::root()))
        .parse()
        .unwrap();
    let anchor: Vec<DS> = sets
        .values()
        .flat_map(|s| ds_records(&s.records_without_rrsigs().cloned().collect::<Vec<_>>()))
        .collect();
    assert_eq!(anchor.len(), 1);
    let (root_keys, root_dnskey) = zone_keys(&lab, ROOT_NS, ".").await;
    assert_eq!(root_keys.len(), 2);
    let ksk = root_keys
        .iter()
        .find(|k| anchor[0].covers(&Name::root(), k).unwrap())
        .expect("trust anchor matches a root key");
    let dnskey_sigs = rrsigs(&root_dnskey.answers, RecordType::DNSKEY);
    assert!(verifies(
        std::slice::from_ref(ksk),
        &dnskey_sigs[0],
        &root_dnskey.answers
    ));
    assert!(
        lab.trust_anchor_dnskey()
            .unwrap()
            .contains(" DNSKEY 257 3 13 ")
    );

    // The lab. DS at the root covers lab.'s KSK; example.lab. likewise at lab.
    for (parent, child_server, child) in [(ROOT_NS, TLD_NS, "lab."), (TLD_NS, NS1, ZONE)] {
        let ds_msg = parent_ds(&lab, parent, child).await;
        assert!(ds_msg.metadata.authoritative);
        let ds = ds_records(&ds_msg.answers);
        assert_eq!(ds.len(), 1);
        let parent_keys = zone_keys(&lab, parent, &parent_zone(child)).await.0;
        assert!(verifies(
            &parent_keys,
            &rrsigs(&ds_msg.answers, RecordType::DS)[0],
            &ds_msg.answers
        ));
        let (keys, msg) = zone_keys(&lab, child_server, child).await;
        assert!(keys.iter().any(|k| ds[0].covers(&name(child), k).unwrap()));
        let sigs = rrsigs(&msg.answers, RecordType::DNSKEY);
        assert_eq!(sigs.len(), 1, "DNSKEY signed by the KSK only");
        assert!(verifies(&keys, &sigs[0], &msg.answers));
    }

    // www A: signed by the ZSK, valid now (inception now-1h, expiration now+30d).
    let keys = zone_keys(&lab, NS1, ZONE).await.0;
    let www = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    let sig = &rrsigs(&www.answers, RecordType::A)[0];
    assert!(verifies(&keys, sig, &www.answers));
    let (inception, expiration) = (
        sig.input().sig_inception.get(),
        sig.input().sig_expiration.get(),
    );
    assert!(inception <= now() - 3000 && inception >= now() - 4000);
    assert!(expiration > now() + 29 * 86_400);

    // Without DO: no RRSIGs.
    let plain = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert!(rrsigs(&plain.answers, RecordType::A).is_empty());
}

/// RFC 4034 canonical order key.
fn canon(n: &Name) -> Vec<Vec<u8>> {
    n.iter().rev().map(<[u8]>::to_ascii_lowercase).collect()
}

/// Whether the NSEC `owner` → `next` covers `q` (with wrap-around at the end).
fn covers(owner: &Name, next: &Name, q: &Name) -> bool {
    let (o, n, q) = (canon(owner), canon(next), canon(q));
    if o < n {
        o < q && q < n
    } else {
        o < q || q < n
    }
}

fn parent_zone(child: &str) -> String {
    match child.split_once('.') {
        Some((_, "")) | None => ".".to_owned(),
        Some((_, rest)) => rest.to_owned(),
    }
}

#[tokio::test]
async fn referral_carries_signed_ds() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, true)
        .await
        .unwrap();
    assert!(!referral.metadata.authoritative);
    assert_eq!(ds_records(&referral.authorities).len(), 1);
    assert_eq!(rrsigs(&referral.authorities, RecordType::DS).len(), 1);
    assert!(rrsigs(&referral.authorities, RecordType::NS).is_empty());
}

#[tokio::test]
async fn nsec_proofs_for_nxdomain_nodata_wildcard_and_ent() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let ns1 = v4(&lab, NS1);
    let keys = zone_keys(&lab, NS1, ZONE).await.0;

    let nx = udp(ns1, "nx.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    assert_eq!(rcode(&nx), ResponseCode::NXDomain);
    let proofs = nsecs(&nx.authorities);
    assert!(!proofs.is_empty());
    let q = name("nx.example.lab.");
    assert!(
        proofs
            .iter()
            .any(|(owner, n)| covers(owner, n.next_domain_name(), &q))
    );
    let wildcard = name("*.example.lab.");
    assert!(
        proofs
            .iter()
            .any(|(owner, n)| covers(owner, n.next_domain_name(), &wildcard))
    );
    for sig in rrsigs(&nx.authorities, RecordType::NSEC) {
        assert!(verifies(&keys, &sig, &nx.authorities));
    }
    assert_eq!(rrsigs(&nx.authorities, RecordType::SOA).len(), 1);

    let nodata = udp(ns1, WWW, RecordType::TXT, true).await.unwrap();
    let proof = nsecs(&nodata.authorities);
    assert_eq!(proof.len(), 1);
    assert_eq!(proof[0].0.to_ascii(), WWW);
    let types: Vec<RecordType> = proof[0].1.type_bit_maps().collect();
    assert!(types.contains(&RecordType::A) && !types.contains(&RecordType::TXT));

    let wild = udp(ns1, "x.wild.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    assert_eq!(wild.answers[0].name.to_ascii(), "x.wild.example.lab.");
    let sig = &rrsigs(&wild.answers, RecordType::A)[0];
    assert_eq!(sig.input().num_labels, 3, "RRSIG labels show the wildcard");
    assert_eq!(
        nsecs(&wild.authorities).len(),
        1,
        "proof that x.wild does not exist"
    );

    let ent = udp(ns1, "sub.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    assert_eq!(rcode(&ent), ResponseCode::NoError);
    assert_eq!(nsecs(&ent.authorities).len(), 1);
}

#[tokio::test]
async fn nsec3_proofs() {
    let lab = Lab::start(catalogue::valid_nsec3()).await.unwrap();
    let ns1 = v4(&lab, NS1);
    let keys = zone_keys(&lab, NS1, ZONE).await.0;
    let nx = udp(ns1, "nx.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    assert_eq!(rcode(&nx), ResponseCode::NXDomain);
    let proofs = nsec3s(&nx.authorities);
    assert!(
        (2..=3).contains(&proofs.len()),
        "closest encloser, next closer, wildcard"
    );
    for sig in rrsigs(&nx.authorities, RecordType::NSEC3) {
        assert!(verifies(&keys, &sig, &nx.authorities));
    }
    let param = udp(ns1, ZONE, RecordType::NSEC3PARAM, true).await.unwrap();
    assert_eq!(of_type(&param.answers, RecordType::NSEC3PARAM).len(), 1);
}

#[tokio::test]
async fn expired_and_not_yet_valid_signatures() {
    let lab = Lab::start(catalogue::rrsig_exp_a()).await.unwrap();
    let keys = zone_keys(&lab, NS1, ZONE).await.0;
    let www = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    let sig = &rrsigs(&www.answers, RecordType::A)[0];
    assert!(sig.input().sig_expiration.get() < now(), "expired");
    assert!(
        verifies(&keys, sig, &www.answers),
        "only the window is wrong"
    );
    let caa = udp(v4(&lab, NS1), ZONE, RecordType::CAA, true)
        .await
        .unwrap();
    assert!(
        rrsigs(&caa.answers, RecordType::CAA)[0]
            .input()
            .sig_expiration
            .get()
            > now()
    );

    let lab = Lab::start(catalogue::rrsig_not_yet_a()).await.unwrap();
    let www = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    let sig = &rrsigs(&www.answers, RecordType::A)[0];
    assert!(sig.input().sig_inception.get() > now(), "not yet valid");

    let lab = Lab::start(catalogue::rrsig_exp_all()).await.unwrap();
    let (_, dnskey) = zone_keys(&lab, NS1, ZONE).await;
    let sig = &rrsigs(&dnskey.answers, RecordType::DNSKEY)[0];
    assert!(sig.input().sig_expiration.get() < now());
}

#[tokio::test]
async fn missing_and_corrupt_signatures() {
    let lab = Lab::start(catalogue::rrsig_no_a()).await.unwrap();
    let www = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    assert_eq!(of_type(&www.answers, RecordType::A).len(), 1);
    assert!(rrsigs(&www.answers, RecordType::A).is_empty());
    let caa = udp(v4(&lab, NS1), ZONE, RecordType::CAA, true)
        .await
        .unwrap();
    assert_eq!(rrsigs(&caa.answers, RecordType::CAA).len(), 1);

    let lab = Lab::start(catalogue::rrsig_no_all()).await.unwrap();
    let (_, dnskey) = zone_keys(&lab, NS1, ZONE).await;
    assert!(rrsigs(&dnskey.answers, RecordType::DNSKEY).is_empty());

    let lab = Lab::start(catalogue::bad_rrsig_a()).await.unwrap();
    let keys = zone_keys(&lab, NS1, ZONE).await.0;
    let www = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    let sig = &rrsigs(&www.answers, RecordType::A)[0];
    assert!(!verifies(&keys, sig, &www.answers));
}

#[tokio::test]
async fn ds_matching_no_dnskey() {
    for scenario in [catalogue::ds_bad_tag(), catalogue::ds_bogus_digest()] {
        let label = scenario.name.clone();
        let lab = Lab::start(scenario).await.unwrap();
        let ds = ds_records(&parent_ds(&lab, TLD_NS, ZONE).await.answers);
        assert_eq!(ds.len(), 1, "{label}");
        let keys = zone_keys(&lab, NS1, ZONE).await.0;
        assert_eq!(keys.len(), 2);
        // RFC 4035 §5.2: a DS matches a key when tag, algorithm and digest agree.
        // (`DS::covers` checks the digest only.)
        for k in &keys {
            let matches = ds[0].key_tag() == k.calculate_key_tag().unwrap()
                && ds[0].algorithm() == k.algorithm()
                && ds[0].covers(&name(ZONE), k).unwrap();
            assert!(!matches, "{label}");
        }
        let digest_ok = keys.iter().any(|k| ds[0].covers(&name(ZONE), k).unwrap());
        assert_eq!(digest_ok, label == "ds-bad-tag", "only the tag is wrong");
        let tags: Vec<u16> = keys
            .iter()
            .map(|k| k.calculate_key_tag().unwrap())
            .collect();
        assert_eq!(
            tags.contains(&ds[0].key_tag()),
            label == "ds-bogus-digest-value"
        );
    }
}

#[tokio::test]
async fn dnskey_not_signed_by_ksk() {
    let lab = Lab::start(catalogue::no_rrsig_ksk()).await.unwrap();
    let (keys, msg) = zone_keys(&lab, NS1, ZONE).await;
    let ksk = keys.iter().find(|k| k.secure_entry_point()).unwrap();
    let zsk = keys.iter().find(|k| !k.secure_entry_point()).unwrap();
    let sigs = rrsigs(&msg.answers, RecordType::DNSKEY);
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].input().key_tag, zsk.calculate_key_tag().unwrap());
    assert_ne!(sigs[0].input().key_tag, ksk.calculate_key_tag().unwrap());
    assert!(verifies(std::slice::from_ref(zsk), &sigs[0], &msg.answers));
}

#[tokio::test]
async fn insecure_delegation_proves_no_ds() {
    // NSEC: the NSEC at the cut shows NS but no DS.
    let lab = Lab::start(catalogue::insecure_delegation()).await.unwrap();
    let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, true)
        .await
        .unwrap();
    assert!(ds_records(&referral.authorities).is_empty());
    let proof = nsecs(&referral.authorities);
    assert_eq!(proof.len(), 1);
    assert_eq!(proof[0].0.to_ascii(), ZONE);
    let types: Vec<RecordType> = proof[0].1.type_bit_maps().collect();
    assert!(types.contains(&RecordType::NS) && !types.contains(&RecordType::DS));
    assert!(zone_keys(&lab, NS1, ZONE).await.0.is_empty());

    // no-ds: same proof, but the child is signed.
    let lab = Lab::start(catalogue::no_ds()).await.unwrap();
    let ds = parent_ds(&lab, TLD_NS, ZONE).await;
    assert!(ds_records(&ds.answers).is_empty());
    assert_eq!(nsecs(&ds.authorities).len(), 1);
    assert_eq!(zone_keys(&lab, NS1, ZONE).await.0.len(), 2);

    // NSEC3 with and without opt-out.
    for opt_out in [false, true] {
        let scenario = catalogue::base(&Signing::Nsec3 {
            iterations: 0,
            salt: String::new(),
            opt_out,
        })
        .with_zone(ZONE, |z| z.signing = Signing::Unsigned);
        let lab = Lab::start(scenario).await.unwrap();
        let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, true)
            .await
            .unwrap();
        assert!(ds_records(&referral.authorities).is_empty());
        let proof = nsec3s(&referral.authorities);
        assert!(!proof.is_empty(), "opt_out={opt_out}");
        assert_eq!(proof.iter().any(NSEC3::opt_out), opt_out);
        if !opt_out {
            let types: Vec<RecordType> = proof[0].type_bit_maps().collect();
            assert_eq!(types, vec![RecordType::NS]);
        }
    }
}

#[tokio::test]
async fn broken_denial_proofs() {
    // Missing: NXDOMAIN with SOA but no NSEC3.
    let lab = Lab::start(catalogue::nsec3_missing()).await.unwrap();
    let nx = udp(v4(&lab, NS1), "nx.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    assert_eq!(rcode(&nx), ResponseCode::NXDomain);
    assert_eq!(of_type(&nx.authorities, RecordType::SOA).len(), 1);
    assert!(nsec3s(&nx.authorities).is_empty());

    // Corrupt NSEC: signed, but next = \000.owner, covering nothing, and the
    // bitmap claims the common types exist.
    let lab = Lab::start(catalogue::bad_nsec()).await.unwrap();
    let keys = zone_keys(&lab, NS1, ZONE).await.0;
    let nx = udp(v4(&lab, NS1), "nx.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    let proofs = nsecs(&nx.authorities);
    assert!(!proofs.is_empty());
    for (owner, nsec) in &proofs {
        let next = nsec.next_domain_name();
        assert_eq!(next.iter().next().unwrap(), &[0u8][..]);
        assert_eq!(&next.base_name(), owner);
        assert!(nsec.type_bit_maps().any(|t| t == RecordType::A));
    }
    for sig in rrsigs(&nx.authorities, RecordType::NSEC) {
        assert!(verifies(&keys, &sig, &nx.authorities));
    }

    // Corrupt NSEC3: next hash = own hash + 1.
    let lab = Lab::start(catalogue::bad_nsec3_next()).await.unwrap();
    let nx = udp(v4(&lab, NS1), "nx.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    for (record, nsec3) in nx.authorities.iter().filter_map(|r| match dnssec_data(r) {
        Some(DNSSECRData::NSEC3(n)) => Some((r, n)),
        _ => None,
    }) {
        let own = nsec3.next_hashed_owner_name_base32().unwrap().to_ascii();
        let owner = record.name.iter().next().unwrap().to_ascii_lowercase();
        // base32hex keeps order: h+1 sorts right after h and shares its prefix.
        assert!(own.as_bytes() > owner.as_slice());
        assert_eq!(own.len(), owner.len());
        assert_eq!(own.as_bytes()[..24], owner[..24]);
    }
}

#[tokio::test]
async fn nsec3_high_iterations() {
    let lab = Lab::start(catalogue::nsec3_iter_200()).await.unwrap();
    let nx = udp(v4(&lab, NS1), "nx.example.lab.", RecordType::A, true)
        .await
        .unwrap();
    let proofs = nsec3s(&nx.authorities);
    assert!(!proofs.is_empty());
    for p in proofs {
        assert_eq!(p.iterations(), 200);
        assert_eq!(p.salt(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }
}

#[tokio::test]
async fn truncation_respects_client_udp_size() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let ns1 = v4(&lab, NS1);
    let small = common::query_message(ZONE, RecordType::ANY, true, 512);
    let m = common::udp_raw(ns1, &small).await.unwrap();
    assert!(
        m.metadata.truncation,
        "apex ANY with DO does not fit 512 bytes"
    );
    assert!(m.answers.is_empty());
    assert!(m.edns.is_some(), "OPT echoed on the truncated answer");
    let big = common::query_message(ZONE, RecordType::ANY, true, 4096);
    let m = common::udp_raw(ns1, &big).await.unwrap();
    assert!(!m.metadata.truncation);
    assert!(!m.answers.is_empty());
    let m = tcp(ns1, ZONE, RecordType::ANY, true).await.unwrap();
    assert!(!m.metadata.truncation);
    assert!(m.edns.unwrap().flags().dnssec_ok, "DO echoed");
}

#[tokio::test]
async fn every_catalogue_scenario_starts() {
    let all: Vec<Scenario> = catalogue::all();
    let mut names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "catalogue names are unique");
    for scenario in all {
        let label = scenario.name.clone();
        let lab = Lab::start(scenario)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        // A lossy scenario loses the first try: ask again, as a resolver would.
        let root = v4(&lab, ROOT_NS);
        let m = match udp(root, ".", RecordType::SOA, true).await {
            Some(m) => m,
            None => udp(root, ".", RecordType::SOA, true).await.unwrap(),
        };
        assert_eq!(rcode(&m), ResponseCode::NoError, "{label}");
        assert!(catalogue::by_name(&label).is_some());
    }
}

#[tokio::test]
async fn ds_algorithm_and_digest_type_overrides() {
    for (scenario, alg, digest) in [
        (catalogue::ds_bad_key_algo(), 8u8, 2u8),
        (catalogue::ds_unassigned_key_algo(), 100, 2),
        (catalogue::ds_reserved_key_algo(), 200, 2),
        (catalogue::ds_unassigned_digest_algo(), 13, 100),
    ] {
        let label = scenario.name.clone();
        let lab = Lab::start(scenario).await.unwrap();
        let ds = ds_records(&parent_ds(&lab, TLD_NS, ZONE).await.answers);
        assert_eq!(ds.len(), 1, "{label}");
        assert_eq!(u8::from(ds[0].algorithm()), alg, "{label}");
        assert_eq!(u8::from(ds[0].digest_type()), digest, "{label}");
        let keys = zone_keys(&lab, NS1, ZONE).await.0;
        let ksk = keys.iter().find(|k| k.secure_entry_point()).unwrap();
        assert_eq!(ds[0].key_tag(), ksk.calculate_key_tag().unwrap(), "{label}");
    }
}

#[tokio::test]
async fn dnskey_set_without_ksk_or_zsk() {
    let lab = Lab::start(catalogue::no_ksk()).await.unwrap();
    let (keys, msg) = zone_keys(&lab, NS1, ZONE).await;
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].secure_entry_point(), "only the ZSK is published");
    assert_eq!(
        rrsigs(&msg.answers, RecordType::DNSKEY).len(),
        1,
        "signed by the absent KSK"
    );
    assert!(!verifies(
        &keys,
        &rrsigs(&msg.answers, RecordType::DNSKEY)[0],
        &msg.answers
    ));

    let lab = Lab::start(catalogue::no_zsk()).await.unwrap();
    let keys = zone_keys(&lab, NS1, ZONE).await.0;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].secure_entry_point(), "only the KSK is published");
    let www = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    assert!(!verifies(
        &keys,
        &rrsigs(&www.answers, RecordType::A)[0],
        &www.answers
    ));
}

/// Zones signed with each algorithm publish DNSKEYs and RRSIGs of that
/// algorithm, and the parent's DS names it.
#[tokio::test]
async fn each_key_algorithm_signs_the_zone_and_its_ds() {
    use hickory_proto::dnssec::PublicKey as _;
    for alg in dcv_lab::KeyAlgorithm::ALL {
        let lab = Lab::start(catalogue::valid().with_zone(catalogue::ZONE, |z| z.algorithm = alg))
            .await
            .unwrap();
        let m = common::udp(
            common::v4(&lab, catalogue::NS1),
            catalogue::ZONE,
            RecordType::DNSKEY,
            true,
        )
        .await
        .unwrap();
        let algs: Vec<u8> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(u8::from(k.public_key().algorithm())),
                RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(u8::from(s.input().algorithm)),
                _ => None,
            })
            .collect();
        assert_eq!(algs.len(), 3, "{alg:?}: {m:?}");
        assert!(algs.iter().all(|a| *a == alg.number()), "{alg:?}: {algs:?}");
        let m = common::udp(
            common::v4(&lab, catalogue::TLD_NS),
            catalogue::ZONE,
            RecordType::DS,
            true,
        )
        .await
        .unwrap();
        let ds: Vec<u8> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(d)) => Some(u8::from(d.algorithm())),
                _ => None,
            })
            .collect();
        assert_eq!(ds, [alg.number()], "{alg:?}");
    }
}
