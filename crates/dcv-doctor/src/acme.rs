//! `--acme-directory`: what a real ACME CA says, beside dcv-doctor's own
//! prediction. Without `--acme-complete` the dry run (account, order,
//! authorizations, challenges offered, refusals) runs concurrently with the
//! check and publishes nothing. With it, the response is published first
//! (`--webroot` for HTTP-01, `--dns-update` + `--tsig-key` for DNS-01), the
//! check runs against exactly that token, the CA validates, and both verdicts
//! go into the report; the response is removed afterwards and every
//! authorization of the order is deactivated.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use dcv_acme::dns_update::{self, TsigKey};
use dcv_acme::{AcmeClient, ChallengeKind, Failure, Step, Verdict, publish};
use dcv_diagnosis::acme::{
    AcmeAuthorization, AcmeDryRun, AcmeProblem, AcmeStep, AcmeValidation, ProblemKind,
};
use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::{CaId, Method, Report};

use crate::cli::AcmeArgs;
use crate::input_file::InputFile;

/// How to complete a validation.
#[derive(Debug, Clone)]
pub enum Completion {
    /// HTTP-01: write the response under this web root.
    Http { webroot: PathBuf },
    /// DNS-01: RFC 2136 update at this primary with this key.
    Dns { server: SocketAddr, key: TsigKey },
}

impl Completion {
    fn kind(&self) -> ChallengeKind {
        match self {
            Completion::Http { .. } => ChallengeKind::Http01,
            Completion::Dns { .. } => ChallengeKind::Dns01,
        }
    }

    fn method(&self) -> Method {
        match self {
            Completion::Http { .. } => Method::Http,
            Completion::Dns { .. } => Method::Dns,
        }
    }
}

/// `--acme-*`, validated.
#[derive(Debug, Clone)]
pub struct AcmeOptions {
    pub directory: String,
    pub ca_cert: Option<PathBuf>,
    pub completion: Option<Completion>,
}

/// Validates the `--acme-*` flags against the check (bad input: exit 2).
pub fn options(args: &AcmeArgs, cfg: &CheckConfig) -> Result<Option<AcmeOptions>, String> {
    let Some(directory) = &args.acme_directory else {
        return Ok(None);
    };
    let url = url::Url::parse(directory)
        .map_err(|e| format!("--acme-directory {directory:?} is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "--acme-directory {directory:?}: ACME is spoken over https only (RFC 8555 §6.1)"
        ));
    }
    let completion = match (args.acme_complete, &args.webroot, &args.dns_update) {
        (false, _, _) => None,
        (true, Some(webroot), None) => {
            if !cfg.methods.contains(&Method::Http) {
                return Err(
                    "--webroot completes HTTP-01: check with --method http (or all)".to_owned(),
                );
            }
            if !webroot.is_dir() {
                let problem = if webroot.exists() {
                    "not a directory"
                } else {
                    "not found"
                };
                return Err(format!(
                    "web root {} (named by --webroot): {problem}",
                    webroot.display()
                ));
            }
            Some(Completion::Http {
                webroot: webroot.clone(),
            })
        }
        (true, None, Some(server)) => {
            if !cfg.methods.contains(&Method::Dns) {
                return Err(
                    "--dns-update completes DNS-01: check with --method dns (or all)".to_owned(),
                );
            }
            let server =
                dns_update::parse_server(server).map_err(|e| format!("--dns-update: {e}"))?;
            let key_file = args
                .tsig_key
                .as_ref()
                .ok_or_else(|| "--dns-update needs --tsig-key".to_owned())?;
            let file = InputFile::new(key_file, "TSIG key", "--tsig-key");
            let text = file.read_text().map_err(|e| e.to_string())?;
            let key = TsigKey::parse(&text).map_err(|e| {
                let detail = match e {
                    dns_update::DnsUpdateError::Key(detail) => detail,
                    other => other.to_string(),
                };
                file.malformed(detail).to_string()
            })?;
            Some(Completion::Dns { server, key })
        }
        (true, _, _) => {
            return Err(
                "--acme-complete needs --webroot DIR (HTTP-01) or --dns-update SERVER --tsig-key FILE (DNS-01)"
                    .to_owned(),
            );
        }
    };
    if let Some(path) = &args.acme_ca_cert {
        // Read now so a wrong file is bad input (exit 2), not an unreachable CA.
        InputFile::new(path, "CA certificate", "--acme-ca-cert")
            .read_certificates_pem()
            .map_err(|e| e.to_string())?;
    }
    Ok(Some(AcmeOptions {
        directory: directory.clone(),
        ca_cert: args.acme_ca_cert.clone(),
        completion,
    }))
}

/// Which CA a directory is, and why we think so: the partner CAs' ACME
/// hosts; anything else is compared with the one `--ca` selected, else with
/// Let's Encrypt (Pebble, its test CA, follows its rules but for the
/// deviations docs/interop.md lists).
pub fn ca_for(directory: &str, cfg: &CheckConfig) -> (CaId, String) {
    let host = url::Url::parse(directory)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let known = [
        (
            "acme-v02.api.letsencrypt.org",
            CaId::Letsencrypt,
            "Let's Encrypt production",
        ),
        (
            "acme-staging-v02.api.letsencrypt.org",
            CaId::Letsencrypt,
            "Let's Encrypt staging",
        ),
        (
            "dv.acme-v02.api.pki.goog",
            CaId::Google,
            "Google Trust Services production",
        ),
        (
            "dv.acme-v02.test-api.pki.goog",
            CaId::Google,
            "Google Trust Services staging",
        ),
        ("acme.ssl.com", CaId::Sslcom, "SSL.com"),
    ];
    if let Some((_, ca, what)) = known.iter().find(|(h, _, _)| *h == host) {
        return (*ca, format!("{host} is {what}"));
    }
    match cfg.cas.as_slice() {
        [only] => (
            *only,
            format!("{host} is not a known CA; compared with --ca {only}"),
        ),
        _ => (
            CaId::Letsencrypt,
            format!(
                "{host} is not a known CA; compared with Let's Encrypt (whose test CA is Pebble)"
            ),
        ),
    }
}

fn problem(p: &dcv_acme::Problem) -> AcmeProblem {
    AcmeProblem {
        kind: ProblemKind::from_type(&p.type_urn),
        type_urn: p.type_urn.clone(),
        detail: p.detail.clone(),
        status: p.status,
        subproblems: p.subproblems.clone(),
    }
}

fn step(s: Step) -> AcmeStep {
    match s {
        Step::NewAccount => AcmeStep::NewAccount,
        Step::NewOrder => AcmeStep::NewOrder,
        Step::Authorization => AcmeStep::Authorization,
        Step::Publish => AcmeStep::Publish,
        Step::Validation => AcmeStep::Validation,
    }
}

fn record_failure(dry: &mut AcmeDryRun, e: &dcv_acme::client::StepError) {
    dry.failed_step = Some(step(e.step));
    match &e.failure {
        Failure::Problem(p) => dry.problem = Some(problem(p)),
        Failure::Unavailable(why) => dry.unavailable = Some(why.clone()),
    }
}

fn fail_publish(dry: &mut AcmeDryRun, why: String) {
    dry.failed_step = Some(AcmeStep::Publish);
    dry.unavailable = Some(why);
}

/// Account and order; the order's URL and client on success.
async fn open(
    opts: &AcmeOptions,
    names: &[String],
    dry: &mut AcmeDryRun,
) -> Option<(AcmeClient, dcv_acme::PendingOrder)> {
    let client = match AcmeClient::connect(&opts.directory, opts.ca_cert.as_deref()).await {
        Ok(c) => c,
        Err(e) => {
            record_failure(dry, &e);
            return None;
        }
    };
    dry.account = Some(client.account_url().to_owned());
    match client.order(names).await {
        Ok(order) => {
            dry.order = Some(order.url.clone());
            dry.authorizations = order
                .authorizations
                .iter()
                .map(|a| AcmeAuthorization {
                    identifier: a.identifier.clone(),
                    wildcard: a.wildcard,
                    status: a.status.clone(),
                    challenges: a.challenges.clone(),
                })
                .collect();
            Some((client, order))
        }
        Err(e) => {
            record_failure(dry, &e);
            None
        }
    }
}

/// Runs the dry run (and the completion, if asked) around `check`, which
/// runs the DNS/HTTP check for a config. Returns the check's report with the
/// ACME findings added.
pub async fn run<F, Fut>(cfg: CheckConfig, opts: &AcmeOptions, check: F) -> Report
where
    F: FnOnce(CheckConfig) -> Fut,
    Fut: Future<Output = Report>,
{
    let names = cfg.order_names();
    let (ca, ca_basis) = ca_for(&opts.directory, &cfg);
    let mut dry = AcmeDryRun {
        directory: opts.directory.clone(),
        ca,
        ca_basis,
        account: None,
        order: None,
        identifiers: names.clone(),
        authorizations: Vec::new(),
        failed_step: None,
        problem: None,
        unavailable: None,
        validation: None,
    };
    let mut report = match &opts.completion {
        None => {
            let dry_run = async {
                if let Some((client, order)) = open(opts, &names, &mut dry).await {
                    client.deactivate(&order.url).await;
                }
            };
            let (report, ()) = tokio::join!(check(cfg), dry_run);
            report
        }
        Some(completion) => complete(cfg, opts, completion, &names, &mut dry, check).await,
    };
    let findings = dcv_diagnosis::rules::acme::findings(&dry, &report);
    report.add_findings(findings);
    report
}

/// Publish, predict, validate, clean up.
async fn complete<F, Fut>(
    mut cfg: CheckConfig,
    opts: &AcmeOptions,
    completion: &Completion,
    names: &[String],
    dry: &mut AcmeDryRun,
    check: F,
) -> Report
where
    F: FnOnce(CheckConfig) -> Fut,
    Fut: Future<Output = Report>,
{
    let Some((client, order)) = open(opts, names, dry).await else {
        return check(cfg).await;
    };
    let host = cfg.hostname.to_string();
    let base = cfg.hostname.base().to_owned();
    let kind = completion.kind();
    let authz = order
        .authorizations
        .iter()
        .find(|a| a.identifier == base && a.wildcard == cfg.hostname.is_wildcard());
    let offered = authz.and_then(|a| a.offered.iter().find(|o| o.kind == kind));
    let (Some(authz), Some(offered)) = (authz, offered) else {
        fail_publish(
            dry,
            format!("the CA offers no {} challenge for {host}", kind.label()),
        );
        client.deactivate(&order.url).await;
        return check(cfg).await;
    };
    if authz.status == "valid" {
        fail_publish(
            dry,
            format!(
                "the CA already holds a valid authorization for {host} (reused), so it would not validate again"
            ),
        );
        client.deactivate(&order.url).await;
        return check(cfg).await;
    }
    // Publish.
    let published = match completion {
        Completion::Http { webroot } => {
            match publish::write(webroot, &offered.token, &offered.key_authorization) {
                Ok(file) => Ok(Published::File(file)),
                Err(e) => Err(e.to_string()),
            }
        }
        Completion::Dns { server, key } => {
            let name = format!("_acme-challenge.{base}");
            match dns_update::add_txt(*server, key, &name, &offered.dns_value).await {
                Ok(zone) => Ok(Published::Txt {
                    server: *server,
                    zone,
                    name,
                }),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let published = match published {
        Ok(p) => p,
        Err(why) => {
            fail_publish(dry, why);
            client.deactivate(&order.url).await;
            return check(cfg).await;
        }
    };
    // Predict, for exactly this token.
    match completion.method() {
        Method::Http => {
            cfg.http_token = Some(offered.token.clone());
            cfg.http_body = Some(offered.key_authorization.clone());
        }
        Method::Dns => cfg.txt_values = vec![offered.dns_value.clone()],
    }
    let report = check(cfg).await;
    // Ask the CA.
    let verdict = client
        .validate(
            &order.url,
            &base,
            kind,
            dcv_acme::limits::VALIDATION_TIMEOUT,
        )
        .await;
    let cleaned_up = match (&published, completion) {
        (Published::File(file), _) => publish::remove(file).is_ok(),
        (Published::Txt { server, zone, name }, Completion::Dns { key, .. }) => {
            dns_update::delete_txt(*server, key, zone, name, &offered.dns_value)
                .await
                .is_ok()
        }
        (Published::Txt { .. }, Completion::Http { .. }) => false,
    };
    client.deactivate(&order.url).await;
    match verdict {
        Ok(v) => {
            let (ca_valid, ca_problem) = match v {
                Verdict::Valid => (true, None),
                Verdict::Invalid { problem: p } => (false, p.as_ref().map(problem)),
            };
            dry.validation = Some(AcmeValidation {
                identifier: host,
                method: completion.method(),
                published: published.describe(&offered.dns_value),
                ca_valid,
                ca_problem,
                cleaned_up,
            });
        }
        Err(e) => record_failure(dry, &e),
    }
    report
}

/// What was published, to remove it again.
enum Published {
    File(PathBuf),
    Txt {
        server: SocketAddr,
        zone: String,
        name: String,
    },
}

impl Published {
    fn describe(&self, dns_value: &str) -> String {
        match self {
            Published::File(file) => file.display().to_string(),
            Published::Txt { server, name, .. } => {
                format!("{name} TXT \"{dns_value}\" (RFC 2136 update at {server})")
            }
        }
    }
}
