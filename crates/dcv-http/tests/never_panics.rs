//! Property tests: the policy and parsing code never panics on any input a
//! server can send, and keeps its bounds.

use dcv_http::{ProbeConfig, check_redirect, ip_policy, message::go_quote};
use proptest::prelude::*;
use url::Url;

fn base() -> Url {
    Url::parse("http://example.com/.well-known/acme-challenge/tok").expect("base")
}

proptest! {
    #[test]
    fn redirect_policy_total(location in ".{0,300}", status in 300u16..400, followed in 0usize..20) {
        let cfg = ProbeConfig::default();
        let visited = vec![base().to_string()];
        match check_redirect(&cfg, &base(), status, &location, &visited, followed) {
            Ok(t) => {
                prop_assert!(matches!(status, 301 | 302 | 307 | 308));
                prop_assert!(followed <= cfg.max_redirects);
                prop_assert!(t.logical_port == 80 || t.logical_port == 443);
                prop_assert!(t.url.path().len() <= 2000);
                prop_assert!(!t.host.is_empty());
                prop_assert!(t.url.as_str() != base().as_str());
                if let Some(ip) = t.ip {
                    prop_assert!(!ip_policy::is_reserved(ip));
                }
            }
            Err(bad) => {
                prop_assert!(!bad.reason.boulder_text().is_empty());
            }
        }
    }

    #[test]
    fn redirect_policy_urlish(
        scheme in "(http|https|ftp|HTTP|javascript)",
        host in "[a-z0-9.\\-\\[\\]:%]{0,40}",
        port in proptest::option::of(0u32..70000),
        path in "[ -~]{0,60}",
    ) {
        let loc = match port {
            Some(p) => format!("{scheme}://{host}:{p}/{path}"),
            None => format!("{scheme}://{host}/{path}"),
        };
        let _ = check_redirect(&ProbeConfig::default(), &base(), 302, &loc, &[], 0);
    }

    #[test]
    fn go_quote_is_total(s in any::<String>()) {
        let q = go_quote(&s);
        prop_assert!(q.starts_with('"') && q.ends_with('"'));
        prop_assert!(!q[1..q.len() - 1].contains('\n'));
    }

    #[test]
    fn ip_policy_is_total(v4 in any::<u32>(), v6 in any::<u128>()) {
        let _ = ip_policy::classify(std::net::Ipv4Addr::from(v4).into());
        let _ = ip_policy::classify(std::net::Ipv6Addr::from(v6).into());
    }
}
