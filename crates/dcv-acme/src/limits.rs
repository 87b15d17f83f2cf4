//! Bounds of every ACME exchange. Each cites why.

use std::time::Duration;

/// Connecting to the ACME server (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One ACME request, headers and body. Boulder answers in well under a
/// second; a busy staging can take several.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest ACME response body read: directories, orders and authorizations
/// are a few KiB (an order of 100 names is about 10 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long to wait for the CA to decide a validation once told to start
/// (Boulder validates within its 20 s RPC deadline; remote perspectives and
/// DNS retries stay inside it).
pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(90);

/// Between two reads of an authorization while the CA validates (Pebble's
/// `retryAfter`, Boulder's typical Retry-After).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Authorizations read per order (Let's Encrypt: at most 100 identifiers).
pub const MAX_AUTHORIZATIONS: usize = 100;

/// One DNS UPDATE exchange (RFC 2136) with the primary, per try.
pub const DNS_UPDATE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tries of a DNS UPDATE over UDP before giving up (then TCP once).
pub const DNS_UPDATE_TRIES: u32 = 2;

/// RFC 8945 §5.2.3: the fudge (allowed clock skew) we sign with, as nsupdate.
pub const TSIG_FUDGE: u16 = 300;

/// TTL of the published DNS-01 record: short, so resolvers do not keep it
/// (or its absence) long.
pub const TXT_TTL: u32 = 5;

/// Largest TSIG key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;
