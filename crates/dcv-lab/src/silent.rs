//! A DNS "server" that never answers and counts what reaches it: UDP
//! datagrams and TCP connections on one loopback port. Tests use it as a root
//! or name server to prove that a query was never sent (the count stays 0)
//! or to hold a query in flight for as long as they like.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// Ports tried before giving up: the TCP side may find the UDP port taken.
const BIND_ATTEMPTS: usize = 20;

/// A silent, counting server; dropping it stops it.
#[derive(Debug)]
pub struct SilentServer {
    addr: SocketAddr,
    packets: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl SilentServer {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// Listens on an ephemeral port of `ip` (UDP and TCP, same port).
    pub async fn start_on(ip: IpAddr) -> std::io::Result<Self> {
        let mut last = None;
        for _ in 0..BIND_ATTEMPTS {
            let udp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
            let addr = udp.local_addr()?;
            let tcp = match TcpListener::bind(addr).await {
                Ok(t) => t,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let packets = Arc::new(AtomicUsize::new(0));
            let (p1, p2) = (Arc::clone(&packets), Arc::clone(&packets));
            let tasks = vec![
                tokio::spawn(async move {
                    let mut buf = [0u8; 1500];
                    while udp.recv_from(&mut buf).await.is_ok() {
                        p1.fetch_add(1, Ordering::SeqCst);
                    }
                }),
                tokio::spawn(async move {
                    while let Ok((_conn, _)) = tcp.accept().await {
                        p2.fetch_add(1, Ordering::SeqCst);
                    }
                }),
            ];
            return Ok(Self {
                addr,
                packets,
                tasks,
            });
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free port pair")))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// UDP datagrams and TCP connections received so far.
    pub fn packets(&self) -> usize {
        self.packets.load(Ordering::SeqCst)
    }

    /// Root hints naming this server as the only root (`. NS silent.root.`).
    pub fn root_hints_zone(&self) -> String {
        let rtype = if self.addr.is_ipv4() { "A" } else { "AAAA" };
        format!(
            ". NS silent.root.\nsilent.root. {rtype} {}\n",
            self.addr.ip()
        )
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
