//! `dcv-doctor serve` as a process: with no flags it listens on localhost
//! with a `SQLite` file and prints the URL; with the lab's flags it checks a
//! lab name through its API; SIGTERM stops it with exit 0.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;
use dcv_lab::catalogue::{KEY_AUTHZ, TOKEN};
use serde_json::{Value, json};

/// The address `serve` listens on when given no `--listen`.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Bounds on starting, one request, one lab check and stopping.
const START_WAIT: Duration = Duration::from_secs(30);
const REQUEST_WAIT: Duration = Duration::from_secs(10);
const CHECK_WAIT: Duration = Duration::from_secs(40);
const STOP_WAIT: Duration = Duration::from_secs(20);

/// The `serve` process, killed on drop if a test failed before stopping it.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Serve {
    /// SIGTERM (what service managers send), then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill runs (Debian's procps)");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(
                started.elapsed() < STOP_WAIT,
                "serve did not stop within {STOP_WAIT:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `dcv-doctor serve ARGS` with its data directory in `data` and
/// returns it with its first stdout line (the URL line).
fn serve(args: &[std::ffi::OsString], data: &std::path::Path) -> (Serve, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .arg("serve")
        .args(args)
        .env("XDG_DATA_HOME", data)
        .env("HOME", data)
        .env_remove("DCV_DOCTOR_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dcv-doctor runs");
    let stdout: ChildStdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(START_WAIT)
        .unwrap_or_else(|_| panic!("serve printed nothing within {START_WAIT:?}"));
    (serve, line)
}

/// The `http://HOST:PORT` in the URL line.
fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches(['/', ';', ')', ','])
        .to_owned()
}

/// One HTTP/1.1 request over a fresh connection: status and body.
fn http(base: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    stream.set_read_timeout(Some(REQUEST_WAIT)).unwrap();
    let payload = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let content_type = if body.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n",
        payload.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(&payload).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, rest) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not HTTP: {response:?}"));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "this little client reads whole bodies only: {head}"
    );
    (status, rest.to_owned())
}

#[test]
fn with_no_flags_it_listens_on_localhost_with_sqlite_and_prints_the_url() {
    if let Err(e) = std::net::TcpListener::bind(DEFAULT_LISTEN) {
        panic!(
            "{DEFAULT_LISTEN} is in use ({e}): this test starts serve on its default address; stop what listens there"
        );
    }
    let data = tempfile::tempdir().unwrap();
    let (serve, line) = serve(&[], data.path());
    assert!(
        line.contains(&format!("listening on http://{DEFAULT_LISTEN}")),
        "{line}"
    );
    let store = data.path().join("dcv-doctor");
    assert!(line.contains("store: sqlite:"), "{line}");
    assert!(line.contains(&store.display().to_string()), "{line}");
    assert!(!line.contains("--allow-private"), "{line}");

    let (status, body) = http(&url_in(&line), "GET", "/healthz", None);
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["database"], "sqlite", "{health}");
    let files: Vec<_> = std::fs::read_dir(&store).unwrap().collect();
    assert!(!files.is_empty(), "no SQLite file in {}", store.display());

    assert!(serve.terminate().success(), "exit 0 after SIGTERM");
}

#[test]
fn with_the_lab_flags_it_checks_a_lab_name_and_stops_on_sigterm() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(healthy())).unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = lab.write_files(data.path()).unwrap();
    let db = data.path().join("checks.sqlite");
    let mut args = lab_flags(&lab, &files);
    args.extend(
        [
            "--allow-private",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &format!("sqlite:{}", db.display()),
        ]
        .map(Into::into),
    );
    let (serve, line) = serve(&args, data.path());
    assert!(line.contains("--allow-private"), "{line}");
    let base = url_in(&line);

    let (status, body) = http(
        &base,
        "POST",
        "/api/v1/checks",
        Some(
            &json!({"hostname": "www.example.lab", "ca": ["letsencrypt"], "method": ["http"], "http_token": TOKEN, "http_body": KEY_AUTHZ}),
        ),
    );
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let check = loop {
        let (status, body) = http(&base, "GET", &format!("/api/v1/checks/{id}"), None);
        assert_eq!(status, 200, "{body}");
        let check: Value = serde_json::from_str(&body).unwrap();
        if check["status"] != "queued" && check["status"] != "running" {
            break check;
        }
        assert!(started.elapsed() < CHECK_WAIT, "still {}", check["status"]);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(check["status"], "done", "{check:#}");
    assert_eq!(check["verdict"], "pass", "{check:#}");
    assert!(db.exists(), "the store is the file --database-url names");

    assert!(serve.terminate().success(), "exit 0 after SIGTERM");
    drop(lab);
}
