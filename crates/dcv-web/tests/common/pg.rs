//! A throwaway `PostgreSQL` cluster and the two stores a test runs on.
//! Shared with `dcv-doctor`'s worker test (included there by path), so it
//! needs nothing but std, tempfile, sqlx and tokio.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the server binaries (`postgresql-15`), besides PATH.
const PG_BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
    "/usr/local/bin",
    "/usr/bin",
];

fn pg_binary(name: &str) -> PathBuf {
    for dir in PG_BIN_DIRS {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "PostgreSQL's `{name}` was not found in {PG_BIN_DIRS:?}: install Debian's PostgreSQL server (`apt-get install postgresql`) to run the PostgreSQL tests"
    );
}

/// A throwaway `PostgreSQL` cluster on a loopback port, trusting local
/// connections, stopped and deleted on drop. As root, it runs as `nobody`
/// (initdb refuses root).
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `cmd` as `nobody` when we are root.
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let initdb = pg_binary("initdb");
        let postgres = pg_binary("postgres");
        let dir = tempfile::Builder::new()
            .prefix("dcv-web-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the cluster directory");
        }
        let out = as_pg_user(&initdb)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "dcv", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .stdin(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        let child = as_pg_user(&postgres)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        let cluster = PgCluster { dir, child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "postgres did not listen on {port}: {}",
                std::fs::read_to_string(cluster.dir.path().join("postgres.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// A fresh database for one test.
    pub async fn database(&self, name: &str) -> String {
        let admin = format!("postgres://dcv@127.0.0.1:{}/postgres", self.port);
        let started = Instant::now();
        let pool = loop {
            match sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&admin)
                .await
            {
                Ok(p) => break p,
                Err(e) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "postgres does not accept connections: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        format!("postgres://dcv@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate shutdown (SIGQUIT): the data directory goes away anyway.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a test's store lives.
#[derive(Debug)]
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn url(&self) -> String {
        match self {
            Backend::Sqlite(dir) => {
                format!("sqlite:{}", dir.path().join("checks.sqlite3").display())
            }
            Backend::Postgres(url) => url.clone(),
        }
    }
}
