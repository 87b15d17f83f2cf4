//! DNS-01 by dynamic update: the `_acme-challenge` TXT record added and
//! removed at the zone's primary with RFC 2136 UPDATE messages signed with
//! TSIG (RFC 8945), the way `nsupdate`/`knsupdate` do, built with
//! hickory-proto. The zone is found by asking the same server for the SOA.
//! The server's signed answer is verified.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordSet, RecordType, TSigner};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

use crate::limits;

/// Why an update failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsUpdateError {
    #[error("TSIG key: {0}")]
    Key(String),
    #[error("{server}: {detail}")]
    Exchange { server: SocketAddr, detail: String },
    #[error("{server} refused the update of {name}: {rcode}")]
    Refused {
        server: SocketAddr,
        name: String,
        rcode: String,
    },
}

/// A TSIG key: its name, algorithm and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn algorithm(name: &str) -> Result<TsigAlgorithm, DnsUpdateError> {
    match name
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .as_str()
    {
        "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
        other => Err(DnsUpdateError::Key(format!(
            "algorithm {other:?} is not supported (hmac-sha256, hmac-sha384, hmac-sha512)"
        ))),
    }
}

impl TsigKey {
    /// Parses `hmac-sha256:name:base64secret` (the `-y` form) or a BIND /
    /// Knot key file (`key "name" { algorithm hmac-sha256; secret "..."; };`,
    /// as `tsig-keygen` and `keymgr -t` write).
    pub fn parse(text: &str) -> Result<TsigKey, DnsUpdateError> {
        let text = text.trim();
        let (algo, name, secret) = if let Some(rest) = text.strip_prefix("key") {
            let name = rest
                .split('"')
                .nth(1)
                .or_else(|| rest.split_whitespace().next())
                .ok_or_else(|| DnsUpdateError::Key("no key name".to_owned()))?;
            let body = rest
                .split_once('{')
                .map_or("", |(_, b)| b.rsplit_once('}').map_or(b, |(b, _)| b));
            let field = |key: &str| {
                body.split(';')
                    .map(str::trim)
                    .find_map(|s| s.strip_prefix(key))
                    .map(|v| v.trim().trim_matches('"').to_owned())
                    .ok_or_else(|| DnsUpdateError::Key(format!("no {key} in the key file")))
            };
            (field("algorithm")?, name.to_owned(), field("secret")?)
        } else {
            let mut parts = text.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(n), Some(s)) => (a.to_owned(), n.to_owned(), s.to_owned()),
                _ => {
                    return Err(DnsUpdateError::Key(
                        "expected `hmac-sha256:name:secret` or a `key \"name\" { ... };` block"
                            .to_owned(),
                    ));
                }
            }
        };
        algorithm(&algo)?;
        let secret = data_encoding::BASE64
            .decode(secret.trim().as_bytes())
            .map_err(|e| DnsUpdateError::Key(format!("the secret is not base64: {e}")))?;
        if secret.is_empty() {
            return Err(DnsUpdateError::Key("the secret is empty".to_owned()));
        }
        Name::from_ascii(&name)
            .map_err(|e| DnsUpdateError::Key(format!("key name {name:?}: {e}")))?;
        Ok(TsigKey {
            name,
            algorithm: algo.trim().to_ascii_lowercase(),
            secret,
        })
    }

    /// Reads and parses a key file.
    pub fn from_file(path: &Path) -> Result<TsigKey, DnsUpdateError> {
        let err = |e: String| DnsUpdateError::Key(format!("{}: {e}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.len() > limits::MAX_KEY_FILE_BYTES {
            return Err(err("too large for a key file".to_owned()));
        }
        TsigKey::parse(&std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?)
    }

    fn signer(&self) -> Result<TSigner, DnsUpdateError> {
        let name = Name::from_ascii(&self.name).map_err(|e| DnsUpdateError::Key(e.to_string()))?;
        TSigner::new(
            self.secret.clone(),
            algorithm(&self.algorithm)?,
            name,
            limits::TSIG_FUDGE,
        )
        .map_err(|e| DnsUpdateError::Key(e.to_string()))
    }
}

/// `IP` or `IP:PORT` (53 by default); a name is refused: the update goes
/// where the user says, never through the system resolver.
pub fn parse_server(input: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = input.parse::<SocketAddr>() {
        return Ok(addr);
    }
    input
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{input:?} is not an IP address or IP:PORT"))
}

/// Sends `message` to `server` and returns the answer's bytes: UDP with
/// retries, then TCP when the answer is truncated or UDP never answers.
async fn exchange(server: SocketAddr, message: &[u8], id: u16) -> Result<Vec<u8>, String> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse().map_err(|e| format!("{e}"))?
    } else {
        "0.0.0.0:0".parse().map_err(|e| format!("{e}"))?
    };
    let udp = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    udp.connect(server).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    for _ in 0..limits::DNS_UPDATE_TRIES {
        udp.send(message).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + limits::DNS_UPDATE_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, udp.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(n)) if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                    let truncated = buf[2] & 0x02 != 0;
                    if !truncated {
                        return Ok(buf[..n].to_vec());
                    }
                    return tcp_exchange(server, message).await;
                }
                Ok(Ok(_)) => {} // not our answer
            }
        }
    }
    tcp_exchange(server, message).await
}

async fn tcp_exchange(server: SocketAddr, message: &[u8]) -> Result<Vec<u8>, String> {
    let work = async {
        let mut s = TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(message.len()).map_err(|_| "message too large".to_owned())?;
        s.write_all(&len.to_be_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(message).await.map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut answer).await.map_err(|e| e.to_string())?;
        Ok(answer)
    };
    tokio::time::timeout(limits::DNS_UPDATE_TIMEOUT, work)
        .await
        .map_err(|_| {
            format!(
                "no answer over TCP within {}s",
                limits::DNS_UPDATE_TIMEOUT.as_secs()
            )
        })?
}

/// The zone that holds `name` at `server` (FQDN): the SOA owner in the
/// answer (an apex) or in the authority section (a name below it).
pub async fn zone_name(server: SocketAddr, name: &str) -> Result<String, DnsUpdateError> {
    let name = Name::from_ascii(name.trim_end_matches('.').to_owned() + ".").map_err(|e| {
        DnsUpdateError::Exchange {
            server,
            detail: format!("{name:?}: {e}"),
        }
    })?;
    zone_of(server, &name).await.map(|z| z.to_string())
}

async fn zone_of(server: SocketAddr, name: &Name) -> Result<Name, DnsUpdateError> {
    let err = |detail: String| DnsUpdateError::Exchange { server, detail };
    let mut query = Message::query();
    query.metadata.recursion_desired = false;
    query.add_query(Query::query(name.clone(), RecordType::SOA));
    let bytes = query.to_vec().map_err(|e| err(e.to_string()))?;
    let answer = exchange(server, &bytes, query.metadata.id)
        .await
        .map_err(err)?;
    let answer = Message::from_vec(&answer).map_err(|e| err(format!("bad answer: {e}")))?;
    answer
        .answers
        .iter()
        .chain(&answer.authorities)
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.clone())
        .ok_or_else(|| {
            err(format!(
                "no SOA for {name} in its answer ({}): the server is not authoritative for it",
                answer.metadata.response_code
            ))
        })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs and sends one UPDATE, checks the answer's TSIG and RCODE.
async fn send_update(
    server: SocketAddr,
    key: &TsigKey,
    name: &Name,
    mut message: Message,
) -> Result<(), DnsUpdateError> {
    let err = |detail: String| DnsUpdateError::Exchange { server, detail };
    let signer = key.signer()?;
    let verifier = message
        .finalize(&signer, now())
        .map_err(|e| err(format!("signing: {e}")))?;
    let bytes = message.to_vec().map_err(|e| err(e.to_string()))?;
    let answer = exchange(server, &bytes, message.metadata.id)
        .await
        .map_err(err)?;
    let parsed = Message::from_vec(&answer).map_err(|e| err(format!("bad answer: {e}")))?;
    if parsed.metadata.message_type != MessageType::Response
        || parsed.metadata.op_code != OpCode::Update
    {
        return Err(err("the answer is not an UPDATE response".to_owned()));
    }
    let rcode = parsed.metadata.response_code;
    if rcode != ResponseCode::NoError {
        return Err(DnsUpdateError::Refused {
            server,
            name: name.to_string(),
            rcode: rcode.to_string(),
        });
    }
    if let Some(mut v) = verifier {
        v.verify(&answer)
            .map_err(|e| err(format!("the answer's TSIG does not verify: {e}")))?;
    }
    Ok(())
}

fn txt_set(name: &Name, value: &str) -> RecordSet {
    let mut set = RecordSet::with_ttl(name.clone(), RecordType::TXT, limits::TXT_TTL);
    set.set_dns_class(DNSClass::IN);
    set.insert(
        Record::from_rdata(
            name.clone(),
            limits::TXT_TTL,
            RData::TXT(TXT::new(vec![value.to_owned()])),
        ),
        0,
    );
    set
}

/// Adds the TXT `value` at `name` (RFC 2136 §2.5.1 "add to an RRset").
/// Returns the zone it went into (FQDN), for [`delete_txt`].
pub async fn add_txt(
    server: SocketAddr,
    key: &TsigKey,
    name: &str,
    value: &str,
) -> Result<String, DnsUpdateError> {
    let name = Name::from_ascii(name.trim_end_matches('.').to_owned() + ".").map_err(|e| {
        DnsUpdateError::Exchange {
            server,
            detail: format!("{name:?}: {e}"),
        }
    })?;
    let zone = zone_of(server, &name).await?;
    let message = update_message::append(txt_set(&name, value), zone.clone(), false, false);
    send_update(server, key, &name, message).await?;
    Ok(zone.to_string())
}

/// Removes exactly that TXT value again (RFC 2136 §2.5.4).
pub async fn delete_txt(
    server: SocketAddr,
    key: &TsigKey,
    zone: &str,
    name: &str,
    value: &str,
) -> Result<(), DnsUpdateError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| DnsUpdateError::Exchange {
        server,
        detail: format!("{what:?}: {e}"),
    };
    let name =
        Name::from_ascii(name.trim_end_matches('.').to_owned() + ".").map_err(|e| bad(name, &e))?;
    let zone = Name::from_ascii(zone).map_err(|e| bad(zone, &e))?;
    if !zone.zone_of(&name) {
        return Err(bad(&name.to_string(), &format!("not in zone {zone}")));
    }
    let message = update_message::delete_by_rdata(txt_set(&name, value), zone, false);
    send_update(server, key, &name, message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_key_forms_parse() {
        let a = TsigKey::parse("hmac-sha256:update.key:c2VjcmV0LXNlY3JldA==").unwrap();
        let b = TsigKey::parse(
            "key \"update.key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldA==\";\n};\n",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.name, "update.key");
        assert!(a.signer().is_ok());
        for bad in [
            "",
            "hmac-md5:k:c2VjcmV0",
            "hmac-sha256:k:not base64!",
            "key \"k\" { algorithm hmac-sha256; };",
        ] {
            assert!(TsigKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn servers_are_addresses() {
        assert_eq!(parse_server("127.0.0.1").unwrap().port(), 53);
        assert_eq!(parse_server("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("[::1]:53").unwrap().port(), 53);
        assert_eq!(parse_server("::1").unwrap().port(), 53);
        assert!(parse_server("ns1.example.com").is_err());
    }
}
