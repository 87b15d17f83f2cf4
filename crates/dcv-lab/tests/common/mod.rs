//! Raw DNS exchanges with lab servers: hickory-proto messages over tokio sockets,
//! so tests see exactly what a server put on the wire.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dcv_lab::Lab;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub const WAIT: Duration = Duration::from_secs(2);

pub fn query_message(name: &str, rtype: RecordType, dnssec: bool, payload: u16) -> Message {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    edns.set_dnssec_ok(dnssec);
    m.set_edns(edns);
    m
}

/// One UDP exchange; `None` on timeout.
pub async fn udp_raw(addr: SocketAddr, request: &Message) -> Option<Message> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(bind).await.unwrap();
    socket
        .send_to(&request.to_vec().unwrap(), addr)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

/// One TCP exchange; `None` on timeout.
pub async fn tcp_raw(addr: SocketAddr, request: &Message) -> Option<Message> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let bytes = request.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    let buf = tokio::time::timeout(WAIT, read).await.ok()??;
    Some(Message::from_vec(&buf).unwrap())
}

pub async fn udp(addr: SocketAddr, name: &str, rtype: RecordType, dnssec: bool) -> Option<Message> {
    udp_raw(addr, &query_message(name, rtype, dnssec, 4096)).await
}

pub async fn tcp(addr: SocketAddr, name: &str, rtype: RecordType, dnssec: bool) -> Option<Message> {
    tcp_raw(addr, &query_message(name, rtype, dnssec, 4096)).await
}

/// The first (IPv4) socket address of a lab server.
pub fn v4(lab: &Lab, server: &str) -> SocketAddr {
    lab.server_socket_addrs(server)
        .into_iter()
        .find(SocketAddr::is_ipv4)
        .unwrap()
}

/// The IPv6 socket address of a lab server.
pub fn v6(lab: &Lab, server: &str) -> SocketAddr {
    lab.server_socket_addrs(server)
        .into_iter()
        .find(SocketAddr::is_ipv6)
        .unwrap()
}

pub fn of_type(records: &[Record], rtype: RecordType) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .collect()
}

pub fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

pub fn ips(records: &[Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            hickory_proto::rr::RData::A(a) => Some(IpAddr::V4(a.0)),
            hickory_proto::rr::RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}
