//! `--ct` / `--ct-url`: Let's Encrypt's certificate limits counted from
//! Certificate Transparency for the order's exact set of names, as findings
//! (`rate_limited_duplicate`, `rate_limited_domain`, or `ct_unavailable`
//! when the search cannot answer). Runs beside the DNS and HTTP check.

use dcv_ct::{CtClient, CtSource, NameSet};
use dcv_diagnosis::rules::ct::{CtContext, findings, unavailable};
use dcv_diagnosis::{CaId, Finding};

use crate::cli::CtArgs;

/// The CT source the flags ask for, if any (`--ct-url` implies `--ct`).
pub fn source(args: &CtArgs) -> Result<Option<CtSource>, String> {
    match &args.ct_url {
        Some(url) => CtSource::parse(url)
            .map(Some)
            .map_err(|e| format!("--ct-url: {e}")),
        None if args.ct => Ok(Some(CtSource::crt_sh())),
        None => Ok(None),
    }
}

/// What the count found for `names` (the hostname first, then the order's
/// other names), or why it could not count.
pub async fn count(source: &CtSource, names: &[String], cas: &[CaId]) -> Vec<Finding> {
    count_with(source, names, cas, None).await
}

/// [`count`] with a per-query timeout (tests of a source that never answers).
pub async fn count_with(
    source: &CtSource,
    names: &[String],
    cas: &[CaId],
    timeout: Option<std::time::Duration>,
) -> Vec<Finding> {
    let order = NameSet::new(names);
    let client = match CtClient::new() {
        Ok(c) => timeout.map_or(c.clone(), |t| c.with_timeout(t)),
        Err(e) => return vec![unavailable(source.as_str(), &e)],
    };
    match client.rows_for(source, &order).await {
        Ok(rows) => {
            let now = time::OffsetDateTime::now_utc();
            let assessment = dcv_ct::assess(&order, &rows.rows, now);
            let ctx = CtContext {
                source: source.as_str(),
                queries: &rows.queries,
                cas,
            };
            findings(&ctx, &assessment)
        }
        Err(e) => vec![unavailable(source.as_str(), &e)],
    }
}

/// `explain` of a rate-limit message with `--ct`: the same count for the
/// hostname the message names (or `--hostname`) and `--san` names. `None`
/// for a message that is not about a certificate limit; an error (exit 2)
/// when no hostname is known.
pub async fn explain_count(
    e: &dcv_diagnosis::explain::Explanation,
    hostname: Option<&str>,
    sans: &[String],
    source: &CtSource,
) -> anyhow::Result<Option<Vec<Finding>>> {
    use dcv_diagnosis::FindingCode;
    if !matches!(
        e.finding,
        Some(FindingCode::RateLimitedDuplicate | FindingCode::RateLimitedDomain)
    ) {
        return Ok(None);
    }
    let Some(host) = hostname.map(str::to_owned).or_else(|| e.hostname.clone()) else {
        anyhow::bail!(
            "the message names no hostname: give --hostname (and --san for the order's other names) to count"
        );
    };
    let host = dcv_diagnosis::identifier::Hostname::parse(&host)
        .map_err(|err| anyhow::anyhow!("--hostname {host:?}: {err}"))?;
    let mut names = vec![host.to_string()];
    for san in sans {
        let san = dcv_diagnosis::identifier::Hostname::parse(san)
            .map_err(|err| anyhow::anyhow!("--san {san:?}: {err}"))?;
        names.push(san.to_string());
    }
    Ok(Some(count(source, &names, &[CaId::Letsencrypt]).await))
}
