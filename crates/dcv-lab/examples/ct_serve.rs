//! Serves a crt.sh-compatible CT search on loopback until interrupted, for
//! trying `dcv-doctor check --ct-url` by hand:
//! `cargo run -p dcv-lab --example ct_serve -- [N] [NAME]...`
//! logs N certificates (default 5) for the set of NAMEs (default
//! `www.example.lab example.lab`) from a test CA named like Let's Encrypt's
//! YR1, one every 2 hours ending now, each as a precertificate and a
//! certificate; then prints the URL to give `--ct-url`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use dcv_lab::ct::{CtLog, CtServer, TestCa};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: i64 = args.next().map_or(Ok(5), |n| n.parse())?;
    let mut names: Vec<String> = args.collect();
    if names.is_empty() {
        names = vec!["www.example.lab".to_owned(), "example.lab".to_owned()];
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let server = CtServer::start(IpAddr::V4(Ipv4Addr::LOCALHOST), CtLog::default()).await?;
    let ca = TestCa::lets_encrypt("YR1", 432_476)?;
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
    for n in 0..count {
        let at = now - time::Duration::hours(2 * (count - n));
        let serial = server.log.issue(&ca, &names, at)?;
        println!("logged {} issued {at} serial {serial}", names.join(","));
    }
    println!("--ct-url {}", server.url());
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
