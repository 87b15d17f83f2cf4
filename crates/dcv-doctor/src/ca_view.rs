//! `check` with what only the CA knows: the DNS/HTTP check (here, or with
//! remote perspectives) and, when asked, the Certificate Transparency count
//! beside it (`--ct`) and a real ACME CA's own word around it
//! (`--acme-directory`), all folded into one report.

use dcv_ct::CtSource;
use dcv_diagnosis::Report;
use dcv_diagnosis::config::CheckConfig;

use crate::mpic::{self, MpicOptions, PerspectiveSpec};

/// Everything `check` was asked to do beyond the DNS/HTTP check itself.
#[derive(Debug, Clone, Default)]
pub struct CaViewOptions {
    /// `--ct` / `--ct-url`.
    pub ct: Option<CtSource>,
    /// `--acme-directory` and its completion flags.
    pub acme: Option<crate::acme::AcmeOptions>,
}

/// The remote perspectives `--perspectives` / `--perspective` name and the
/// BR 3.2.2.9 options (`--as-of`).
pub fn perspectives(
    args: &crate::cli::CheckArgs,
    cfg: &CheckConfig,
) -> anyhow::Result<(Vec<PerspectiveSpec>, MpicOptions)> {
    let perspectives = load_perspectives(args.perspectives.as_deref(), &args.perspective_urls)?;
    let mut opts = MpicOptions::for_check(cfg);
    if let Some(date) = parse_as_of(args.as_of.as_deref())? {
        opts.as_of = date;
    }
    Ok((perspectives, opts))
}

/// `--perspectives FILE` and every `--perspective URL` (check, watch, batch).
pub fn load_perspectives(
    file: Option<&std::path::Path>,
    urls: &[String],
) -> anyhow::Result<Vec<PerspectiveSpec>> {
    let mut perspectives = Vec::new();
    if let Some(path) = file {
        perspectives = mpic::load_perspectives(path)?;
    }
    for url in urls {
        perspectives.push(mpic::perspective_from_url(url)?);
    }
    Ok(perspectives)
}

/// `--as-of YYYY-MM-DD`: the date whose BR 3.2.2.9 phase applies.
pub fn parse_as_of(date: Option<&str>) -> anyhow::Result<Option<time::Date>> {
    date.map(|d| dcv_mpic::parse_date(d).map_err(|e| anyhow::anyhow!("--as-of {e}")))
        .transpose()
}

/// The DNS/HTTP check: from here, or with remote perspectives.
pub async fn base_check(
    cfg: CheckConfig,
    perspectives: &[PerspectiveSpec],
    opts: &MpicOptions,
) -> Report {
    if perspectives.is_empty() {
        dcv_diagnosis::runner::run_check(cfg).await
    } else {
        mpic::run_mpic_check(cfg, perspectives, opts).await
    }
}

/// The check and the CT count concurrently (the count costs the slowest CT
/// query, not an addition to the check's time).
pub async fn run(
    cfg: CheckConfig,
    perspectives: &[PerspectiveSpec],
    mpic_opts: &MpicOptions,
    view: &CaViewOptions,
) -> Report {
    let names = cfg.order_names();
    let cas = cfg.cas.clone();
    let ct = async {
        match &view.ct {
            Some(source) => crate::ct::count(source, &names, &cas).await,
            None => Vec::new(),
        }
    };
    let main = async {
        match &view.acme {
            Some(acme) => {
                crate::acme::run(cfg, acme, |cfg| base_check(cfg, perspectives, mpic_opts)).await
            }
            None => base_check(cfg, perspectives, mpic_opts).await,
        }
    };
    let (mut report, ct_findings) = tokio::join!(main, ct);
    report.add_findings(ct_findings);
    report
}
