//! `check` with what only the CA knows: the DNS/HTTP check (here, or with
//! remote perspectives) and, when asked, the Certificate Transparency count
//! beside it (`--ct`), all folded into one report.

use dcv_ct::CtSource;
use dcv_diagnosis::Report;
use dcv_diagnosis::config::CheckConfig;

use crate::mpic::{self, MpicOptions, PerspectiveSpec};

/// Everything `check` was asked to do beyond the DNS/HTTP check itself.
#[derive(Debug, Clone, Default)]
pub struct CaViewOptions {
    /// `--ct` / `--ct-url`.
    pub ct: Option<CtSource>,
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
    let (mut report, ct_findings) = tokio::join!(base_check(cfg, perspectives, mpic_opts), ct);
    report.add_findings(ct_findings);
    report
}
