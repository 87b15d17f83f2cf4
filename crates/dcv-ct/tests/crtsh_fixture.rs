//! The count against a crt.sh-compatible search on loopback that serves rows
//! read back from real certificates (dcv-lab's CT fixture): test CAs named
//! like Let's Encrypt's intermediates and another CA's sign a precertificate
//! and a certificate per issuance.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use dcv_ct::{CtClient, CtErrorKind, CtSource, LimitStatus, NameSet, assess};
use dcv_lab::ct::{CtLog, CtMode, CtServer, TestCa};
use time::OffsetDateTime;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn hours(h: i64) -> time::Duration {
    time::Duration::hours(h)
}

struct World {
    server: CtServer,
    yr1: TestCa,
    ye1: TestCa,
    google: TestCa,
    staging: TestCa,
    now: OffsetDateTime,
}

async fn world() -> World {
    let server = CtServer::start(LOOPBACK, CtLog::default()).await.unwrap();
    World {
        server,
        yr1: TestCa::lets_encrypt("YR1", 432_476).unwrap(),
        ye1: TestCa::lets_encrypt("YE1", 432_952).unwrap(),
        google: TestCa::new("US", "Google Trust Services", "WR1", 1).unwrap(),
        staging: TestCa::new(
            "US",
            "(STAGING) Let's Encrypt",
            "(STAGING) Pretend Pear X1",
            2,
        )
        .unwrap(),
        now: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
    }
}

async fn count(w: &World, order: &[&str]) -> dcv_ct::Assessment {
    let source = CtSource::parse(&w.server.url()).unwrap();
    let order = NameSet::new(order);
    let rows = CtClient::new()
        .unwrap()
        .rows_for(&source, &order)
        .await
        .unwrap();
    assess(&order, &rows.rows, w.now)
}

#[tokio::test]
async fn five_in_any_order_and_case_reach_the_limit_with_the_exact_retry_time() {
    let w = world().await;
    let log = &w.server.log;
    let first = w.now - hours(30);
    // The same set, written five ways, from two intermediates.
    let spellings: [&[&str]; 5] = [
        &["example.lab", "www.example.lab"],
        &["www.example.lab", "example.lab"],
        &["WWW.Example.lab", "EXAMPLE.lab"],
        &["example.lab", "www.EXAMPLE.LAB"],
        &["Www.example.lab", "example.LAB"],
    ];
    for (n, names) in spellings.iter().enumerate() {
        let ca = if n % 2 == 0 { &w.yr1 } else { &w.ye1 };
        log.issue(ca, names, first + hours(i64::try_from(n).unwrap() * 2))
            .unwrap();
    }
    // Not the same set, another CA, and Let's Encrypt staging: none count.
    log.issue(&w.yr1, &["www.example.lab"], first).unwrap();
    log.issue(&w.google, &["example.lab", "www.example.lab"], first)
        .unwrap();
    log.issue(&w.staging, &["example.lab", "www.example.lab"], first)
        .unwrap();

    // Rows look like crt.sh's: the issuer DN in its C, O, CN order.
    let issuers: Vec<String> = w
        .server
        .log
        .rows("%.example.lab")
        .iter()
        .map(|r| r["issuer_name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        issuers.contains(&"C=US, O=Let's Encrypt, CN=YR1".to_owned()),
        "{issuers:?}"
    );
    assert!(issuers.contains(&"C=US, O=Google Trust Services, CN=WR1".to_owned()));
    let a = count(&w, &["www.example.lab", "example.lab"]).await;
    // 8 issuances, each a precertificate and a certificate, each found by
    // both searches (`example.lab` and `%.example.lab`) where its names match.
    assert_eq!(a.lets_encrypt_certificates, 6, "{a:#?}");
    assert_eq!(a.other_ca_certificates, 2);
    let d = &a.duplicate;
    assert_eq!(d.status, LimitStatus::Reached);
    assert_eq!((d.used(), d.remaining), (5, 0));
    assert_eq!(d.in_period.len(), 5);
    for i in &d.in_period {
        assert_eq!(i.crtsh_ids.len(), 2, "precertificate + certificate: {i:?}");
    }
    // The first token is back 33 h 36 min after the first of the five.
    assert_eq!(
        d.next_possible,
        Some(first + time::Duration::minutes(33 * 60 + 36))
    );
    // Both searches were made, nothing else.
    let mut queries = w.server.log.queries();
    queries.sort();
    assert_eq!(
        queries,
        vec!["%.example.lab".to_owned(), "example.lab".to_owned()]
    );
    // The set was issued before, so this order is a renewal: the
    // per-registered-domain limit does not apply to it.
    assert!(a.renewal_of.is_some());
    assert_eq!(a.domains[0].registered_domain, "example.lab");
    assert_eq!(a.domains[0].state.status, LimitStatus::Exempt);
}

#[tokio::test]
async fn four_of_five_warn_and_leave_one() {
    let w = world().await;
    for n in 0..4 {
        w.server
            .log
            .issue(&w.yr1, &["shop.example.lab"], w.now - hours(10 - n))
            .unwrap();
    }
    let a = count(&w, &["SHOP.example.lab"]).await;
    assert_eq!(a.duplicate.status, LimitStatus::NearlyReached);
    assert_eq!((a.duplicate.used(), a.duplicate.remaining), (4, 1));
    assert_eq!(a.duplicate.next_possible, None);
    assert!(a.renewal_of.is_some());
}

#[tokio::test]
async fn a_new_set_counts_against_its_registered_domain() {
    let w = world().await;
    for n in 0..46 {
        w.server
            .log
            .issue(&w.ye1, &[&format!("h{n}.example.lab")], w.now - hours(2))
            .unwrap();
    }
    let a = count(&w, &["new.example.lab"]).await;
    assert!(a.renewal_of.is_none());
    assert_eq!(a.duplicate.status, LimitStatus::Ok);
    let d = &a.domains[0].state;
    assert_eq!(d.status, LimitStatus::NearlyReached, "{d:#?}");
    assert_eq!((d.used(), d.remaining), (46, 4));
}

#[tokio::test]
async fn a_source_that_fails_is_a_typed_could_not_check() {
    let w = world().await;
    let order = NameSet::new(["www.example.lab"]);
    let client = CtClient::new()
        .unwrap()
        .with_timeout(Duration::from_millis(800));
    let source = CtSource::parse(&w.server.url()).unwrap();
    for (mode, kind) in [
        (CtMode::Unavailable, CtErrorKind::Status),
        (CtMode::NotJson, CtErrorKind::Malformed),
        (CtMode::Silent, CtErrorKind::Timeout),
    ] {
        w.server.log.set_mode(mode);
        let e = client.rows_for(&source, &order).await.unwrap_err();
        assert_eq!(e.kind, kind, "{mode:?}: {e}");
        assert!(e.url.starts_with(&w.server.url()), "{e:?}");
    }
    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
        l.local_addr().unwrap()
    };
    let e = client
        .rows_for(
            &CtSource::parse(&format!("http://{closed}/")).unwrap(),
            &order,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, CtErrorKind::Connect, "{e}");
}
