//! DNSSEC key material for lab zones, one [`KeyAlgorithm`] per zone.
//!
//! ECDSA (13, 14) and Ed25519 (15) keys are made by ring on the spot. ring
//! cannot generate RSA keys, so algorithm 8 keys come from a small pool made
//! once per process by `ldns-keygen` (Debian `ldnsutils`, which the test
//! suite needs anyway) and converted from BIND's private-key text to PKCS#1.
//! Zones share pool keys: a validator keys DNSKEY sets by owner, and every
//! DS digest covers the owner name, so sharing changes no verdict.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey, RsaSigningKey};
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{Algorithm, SigningKey};
use rustls_pki_types::PrivatePkcs1KeyDer;

use crate::LabError;
use crate::scenario::KeyAlgorithm;
use crate::zone::dnssec_err;

/// RSA keys in the pool: enough that KSK and ZSK differ and neighbouring
/// zones get different pairs.
const RSA_POOL_SIZE: usize = 4;
/// RSA modulus size: ring signs with 2048..=4096-bit keys only.
const RSA_BITS: &str = "2048";
/// Bound on one `ldns-keygen` run (about 0.3 s for 2048 bits here).
const KEYGEN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// A signing key and its DNSKEY (flags 257 for a KSK, 256 for a ZSK).
pub(crate) fn make(
    algorithm: KeyAlgorithm,
    ksk: bool,
) -> Result<(Box<dyn SigningKey>, DNSKEY), LabError> {
    let key: Box<dyn SigningKey> = match algorithm {
        KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::EcdsaP384Sha384 => {
            let alg = if algorithm == KeyAlgorithm::EcdsaP256Sha256 {
                Algorithm::ECDSAP256SHA256
            } else {
                Algorithm::ECDSAP384SHA384
            };
            let pkcs8 = EcdsaSigningKey::generate_pkcs8(alg).map_err(dnssec_err)?;
            Box::new(EcdsaSigningKey::from_pkcs8(&pkcs8, alg).map_err(dnssec_err)?)
        }
        KeyAlgorithm::Ed25519 => {
            let pkcs8 = Ed25519SigningKey::generate_pkcs8().map_err(dnssec_err)?;
            Box::new(Ed25519SigningKey::from_pkcs8(&pkcs8).map_err(dnssec_err)?)
        }
        KeyAlgorithm::RsaSha256 => {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let pool = rsa_pool()?;
            let der = &pool[NEXT.fetch_add(1, Ordering::Relaxed) % pool.len()];
            let der = PrivatePkcs1KeyDer::from(der.as_slice());
            Box::new(RsaSigningKey::from_pkcs1(&der, Algorithm::RSASHA256).map_err(dnssec_err)?)
        }
    };
    let public = key.to_public_key().map_err(dnssec_err)?;
    Ok((key, DNSKEY::new(true, ksk, false, public)))
}

/// The process-wide RSA pool (PKCS#1 DER), made on first use.
fn rsa_pool() -> Result<&'static [Vec<u8>], LabError> {
    static POOL: OnceLock<Result<Vec<Vec<u8>>, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dcv-lab-rsa-{}", std::process::id()));
        let made = (|| {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            (0..RSA_POOL_SIZE).map(|_| ldns_rsa_key(&dir)).collect()
        })();
        let _ = std::fs::remove_dir_all(&dir);
        made
    })
    .as_deref()
    .map_err(|e| LabError::Dnssec(e.clone()))
}

/// Runs `ldns-keygen` once in `dir` and returns the key as PKCS#1 DER.
fn ldns_rsa_key(dir: &Path) -> Result<Vec<u8>, String> {
    let program = ["/usr/bin/ldns-keygen", "/usr/local/bin/ldns-keygen"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            "RSA (algorithm 8) lab keys need `ldns-keygen`: apt-get install -y ldnsutils".to_owned()
        })?;
    let mut child = Command::new(&program)
        .current_dir(dir)
        .args(["-a", "RSASHA256", "-b", RSA_BITS, "rsa-pool.invalid"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let deadline = std::time::Instant::now() + KEYGEN_DEADLINE;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("ldns-keygen took longer than {KEYGEN_DEADLINE:?}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let base = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || base.is_empty() || base.contains('/') {
        return Err(format!("ldns-keygen failed ({}): {base}", out.status));
    }
    let text = std::fs::read_to_string(dir.join(format!("{base}.private")))
        .map_err(|e| format!("reading {base}.private: {e}"))?;
    for ext in ["key", "private", "ds"] {
        let _ = std::fs::remove_file(dir.join(format!("{base}.{ext}")));
    }
    bind_private_to_pkcs1(&text)
}

/// BIND's `Private-key-format: v1.x` RSA fields, in RFC 8017 §A.1.2 order.
const RSA_FIELDS: [&str; 8] = [
    "Modulus",
    "PublicExponent",
    "PrivateExponent",
    "Prime1",
    "Prime2",
    "Exponent1",
    "Exponent2",
    "Coefficient",
];

/// `RSAPrivateKey ::= SEQUENCE { version 0, n, e, d, p, q, dP, dQ, qInv }`
/// (RFC 8017 §A.1.2) in DER, from BIND's private-key text.
fn bind_private_to_pkcs1(text: &str) -> Result<Vec<u8>, String> {
    let mut body = der_integer(&[0]);
    for field in RSA_FIELDS {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .ok_or_else(|| format!("private key has no {field}"))?;
        body.extend(der_integer(&base64_decode(value.trim())?));
    }
    let mut out = vec![0x30];
    out.extend(der_length(body.len()));
    out.extend(body);
    Ok(out)
}

/// A DER INTEGER from unsigned big-endian bytes (X.690 §8.3).
fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let mut value = bytes[start..].to_vec();
    if value.first().is_none_or(|b| b & 0x80 != 0) {
        value.insert(0, 0);
    }
    let mut out = vec![0x02];
    out.extend(der_length(value.len()));
    out.extend(value);
    out
}

/// A DER length (X.690 §8.1.3: short form below 128, else long form).
fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).unwrap_or(0)];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | u8::try_from(bytes.len()).unwrap_or(0)];
    out.extend(bytes);
    out
}

/// RFC 4648 §4 base64 (padding optional, whitespace ignored).
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("bad base64 character {:?}", char::from(c))),
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap_or(0));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert!(base64_decode("Zm9v*").is_err());
    }

    #[test]
    fn der_integers_and_lengths() {
        assert_eq!(der_integer(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(der_integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(der_integer(&[]), vec![2, 1, 0]);
        assert_eq!(der_length(0x7f), vec![0x7f]);
        assert_eq!(der_length(0x100), vec![0x82, 1, 0]);
    }

    #[test]
    fn every_algorithm_signs() {
        for alg in KeyAlgorithm::ALL {
            let (key, dnskey) = make(alg, true).unwrap();
            assert_eq!(u8::from(key.algorithm()), alg.number());
            assert!(dnskey.secure_entry_point());
        }
    }
}
