//! `scripts/interop` brings the interop world up and down by hand:
//!
//! ```text
//! interop-world up DIR     # Knot x4, Unbound x2, Pebble, web hosts + sink; detached, pidfiles in DIR/pids
//! interop-world down DIR   # stops exactly those pids, checks their sockets are free
//! interop-world serve DIR  # (internal) the web hosts (also serving DIR/webroot) and the never-answering name server
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use dcv_interop::{net, web::WebHosts, world};

fn usage() -> ExitCode {
    eprintln!("usage: interop-world up|down|serve DIR");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(cmd), Some(dir)) = (args.get(1), args.get(2)) else {
        return usage();
    };
    let dir = PathBuf::from(dir);
    let result = match cmd.as_str() {
        "up" => up(&dir),
        "down" => world::stop_dir(&dir),
        "serve" => serve(&dir),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop-world {cmd}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn up(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.join("pids").exists() {
        // A previous world's directory: keys and journals must start fresh.
        world::stop_dir(dir)?;
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let w = world::World::start(dir, true)?;
    let exe = std::env::current_exe()?;
    let web = world::spawn_detached(
        dir,
        "web",
        std::process::Command::new(exe).arg("serve").arg(dir),
    );
    let sink = std::net::SocketAddr::new(net::SINK.into(), 53);
    let ready = web.is_ok()
        && (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            !world::socket_free(false, sink)
        });
    if !ready {
        drop(w);
        let _ = world::stop_dir(dir);
        anyhow::bail!(
            "the web hosts did not start (see {}/logs/web.out)",
            dir.display()
        );
    }
    w.detach();
    println!(
        "interop world up in {d}\n  resolver (validating Unbound): {r}:53   plain Unbound for delv: {p}:53\n  Pebble: {url} (CA: {d}/pebble/ca.pem); web root of the token hosts: {d}/webroot\n  dcv-doctor check <host> --ca letsencrypt --root-hints {d}/root.hints --trust-anchor {d}/trust-anchor.ds --allow-private\n  stop with: scripts/interop down",
        d = dir.display(),
        r = net::RESOLVER,
        p = net::PLAIN_RESOLVER,
        url = world::World::directory_url(),
    );
    Ok(())
}

fn serve(dir: &std::path::Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let hosts = WebHosts::start().await?;
        // Token hosts also serve DIR/webroot/.well-known/acme-challenge/,
        // for `dcv-doctor check --acme-complete --webroot DIR/webroot`.
        let webroot = dir.join("webroot");
        std::fs::create_dir_all(&webroot)?;
        hosts.tokens.serve_webroot(&webroot);
        world::record_sockets(dir, &hosts.sockets)?;
        std::future::pending::<()>().await;
        Ok(())
    })
}
