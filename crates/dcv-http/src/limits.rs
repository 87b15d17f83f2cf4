//! Named limits of the HTTP-01 probe, each with its source.
//!
//! Boulder references are to Let's Encrypt's validation authority, `va/http.go`
//! and `va/va.go`; BR is the CA/Browser Forum Baseline Requirements.

use std::time::Duration;

/// Boulder `maxRedirect = 10`. The check `numRedirects > maxRedirect` runs
/// *before* the counter is incremented, so redirects 1..=11 are followed and
/// the 12th redirect response fails with `Too many redirects` (Boulder's test
/// expects the failure at `/max-redirect/12`).
pub const MAX_REDIRECTS: usize = 10;

/// Boulder `maxResponseSize = 128`: at most 128 bytes of the final body are
/// read, and a body of 128 bytes or more is refused (`Invalid response`).
pub const CA_BODY_LIMIT: usize = 128;

/// How much of each body we keep to recognise challenge and block pages.
/// Our own limit (Let's Debug reads 8192 bytes); never read unbounded.
pub const BODY_EXCERPT_LIMIT: usize = 8 * 1024;

/// Boulder `maxPathSize = 2000`: longest redirect path, in bytes
/// (`Redirect target too long`).
pub const MAX_REDIRECT_PATH_BYTES: usize = 2000;

/// Boulder `singleDialTimeout`: 10 s per TCP dial.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Boulder's transport `TLSHandshakeTimeout: 10 * time.Second`.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for the response head after the request is written. Boulder
/// has no separate limit (the RPC deadline governs); ours keeps a slow server
/// from eating the whole budget.
pub const RESPONSE_HEADERS_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to read the (capped) body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Overall budget for one address's chain, redirects included: Boulder's
/// RA->VA deadline (20 s) minus the 200 ms it shaves off in
/// `processHTTPValidation`.
pub const TOTAL_DEADLINE: Duration = Duration::from_millis(19_800);

/// Let's Encrypt's validation user agent (Boulder `userAgent` config); WAF
/// allow-lists key on it.
pub const LETS_ENCRYPT_USER_AGENT: &str =
    "Mozilla/5.0 (compatible; Let's Encrypt validation server; +https://www.letsencrypt.org)";

/// RFC 8555 §8.3: the HTTP-01 resource lives under this path.
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Most response headers kept per hop as evidence (our own bound).
pub const MAX_KEPT_HEADERS: usize = 64;

/// Longest header value kept per header (our own bound).
pub const MAX_KEPT_HEADER_VALUE: usize = 512;

/// Cap on hyper's read buffer (`max_buf_size`, default about 400 KiB), which
/// bounds the response head we accept. Our own bound; a larger head is a
/// malformed response.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

/// Bytes of the first server read kept to recognise protocol mix-ups
/// (`HTTP/` on the TLS port, a TLS record or an h2 SETTINGS frame on port 80).
pub const SNIFF_BYTES: usize = 16;

/// AAAA addresses compared with the first A when no expected body is given
/// (`compare`): each costs two requests. Our own bound; the CA uses only the
/// first AAAA, other CAs and perspectives may pick the next ones.
pub const MAX_COMPARED_AAAA: usize = 4;

/// How much longer than the probe's own fetches the address comparison may
/// run; its requests still running then are dropped and not compared. Our
/// own bound: a slow site root must not hold the check up.
pub const COMPARISON_GRACE: Duration = Duration::from_secs(2);

/// RFC 1035 §2.3.4: a name is at most 253 characters in text form.
pub const MAX_HOSTNAME_LEN: usize = 253;
