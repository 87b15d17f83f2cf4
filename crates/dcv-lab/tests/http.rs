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
