//! The lab wires HTTP responders: `{http4:NAME}` resolves to a responder that
//! really serves the token on the lab's HTTP port.

mod common;

use common::{ips, udp, v4};
use dcv_lab::Lab;
use dcv_lab::catalogue::{self, KEY_AUTHZ, NS1, TOKEN, WEB, WWW};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn www_points_at_a_live_responder() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    assert_ne!(lab.http_port(), 0);
    assert_ne!(lab.https_port(), 0);
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    let ip = ips(&m.answers)[0];
    assert_eq!(lab.responder_addrs(WEB)[0], ip);

    let mut stream = TcpStream::connect((ip, lab.http_port())).await.unwrap();
    let request = format!(
        "GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: www.example.lab\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(KEY_AUTHZ), "{response}");
    assert_eq!(lab.responder(WEB).unwrap().requests().len(), 1);
}

#[tokio::test]
async fn files_for_the_cli() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let dir = std::env::temp_dir().join(format!(
        "dcv-lab-files-{}-{}",
        std::process::id(),
        lab.dns_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let files = lab.write_files(&dir).unwrap();
    let ta = std::fs::read_to_string(&files.trust_anchor).unwrap();
    assert_eq!(ta.trim_end(), lab.trust_anchor_ds().unwrap());
    assert!(ta.starts_with(". 86400 IN DS "));
    let hints = std::fs::read_to_string(&files.root_hints).unwrap();
    assert_eq!(hints, lab.root_hints_zone());
    std::fs::remove_dir_all(&dir).unwrap();
}
