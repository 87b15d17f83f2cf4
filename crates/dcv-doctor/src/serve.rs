//! `dcv-doctor serve`: flags to a `dcv_web::ServeConfig`, perspectives
//! profiles as `dcv_web::Corroborator`s (the MPIC coordinator's remote
//! half), start, print the URL, serve until interrupted, stop gracefully.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use dcv_diagnosis::Report;
use dcv_diagnosis::config::CheckConfig;
use dcv_web::ratelimit::Rate;
use dcv_web::{Corroborator, Fold, Profiles, ServeConfig};
use futures::future::BoxFuture;

use crate::cli::{LogFormat, ServeArgs};
use crate::mpic::{self, MpicOptions, PerspectiveSpec};

/// One `--perspectives NAME=FILE` profile: its agents corroborate each check
/// that names it (BR 3.2.2.9).
#[derive(Debug)]
struct MpicProfile {
    perspectives: Arc<Vec<PerspectiveSpec>>,
}

impl Corroborator for MpicProfile {
    fn corroborate(&self, cfg: CheckConfig) -> BoxFuture<'static, Fold> {
        let perspectives = Arc::clone(&self.perspectives);
        Box::pin(async move {
            let opts = MpicOptions::for_check(&cfg);
            let answers = mpic::ask_perspectives(&cfg, &perspectives, &opts).await;
            let fold: Fold = Box::new(move |report: &mut Report| {
                mpic::apply_answers(report, &answers, &opts);
            });
            fold
        })
    }
}

/// `NAME=FILE` profiles, loaded and validated.
pub(crate) fn profiles(specs: &[String]) -> anyhow::Result<Profiles> {
    let mut out: Profiles = BTreeMap::new();
    for spec in specs {
        let (name, file) = spec
            .split_once('=')
            .with_context(|| format!("--perspectives {spec:?}: expected NAME=FILE"))?;
        anyhow::ensure!(
            !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "--perspectives {spec:?}: the name must be 1-32 letters, digits, '-' or '_'"
        );
        let perspectives = mpic::load_perspectives(std::path::Path::new(file))?;
        let profile: Arc<dyn Corroborator> = Arc::new(MpicProfile {
            perspectives: Arc::new(perspectives),
        });
        anyhow::ensure!(
            out.insert(name.to_owned(), profile).is_none(),
            "--perspectives {name:?} given twice"
        );
    }
    Ok(out)
}

/// Validates the flags into the service's configuration.
pub fn serve_config(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let client_rate: Rate = args
        .client_rate
        .parse()
        .map_err(|e| anyhow::anyhow!("--client-rate {e}"))?;
    let host_rate: Rate = args
        .host_rate
        .parse()
        .map_err(|e| anyhow::anyhow!("--host-rate {e}"))?;
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite:{}", dcv_web::store::default_sqlite_path().display()),
    };
    Ok(ServeConfig {
        listen: args.listen,
        database_url,
        policy: crate::config::server_policy(&args.policy)?,
        workers: usize::try_from(args.workers).unwrap_or(4),
        max_queued: usize::try_from(args.max_queued).unwrap_or(64),
        client_rate,
        host_rate,
        profiles: profiles(&args.perspectives)?,
    })
}

/// Resolves on Ctrl-C or SIGTERM (what service managers send). The handlers
/// are installed when this is called, not when the future is first polled:
/// a signal that arrives right after the URL is printed must stop the
/// service gracefully, not kill it.
pub(crate) fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `dcv-doctor serve`.
pub async fn run_serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    dcv_web::init_logging(args.log_format == LogFormat::Json);
    let cfg = serve_config(args)?;
    let database = dcv_web::server::redact(&cfg.database_url);
    let allow_private = cfg.policy.allow_private;
    let mut server = dcv_web::start(cfg).await?;
    let stop = stop_signal();
    println!(
        "dcv-doctor serve: listening on {} (store: {database}){}",
        server.url(),
        if allow_private {
            "; --allow-private: private and reserved targets are checked"
        } else {
            ""
        }
    );
    tokio::select! {
        () = stop => {
            eprintln!("dcv-doctor serve: stopping (running checks finish, queued ones stay queued)");
        }
        () = server.wait() => {
            anyhow::bail!("the server stopped unexpectedly");
        }
    }
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
