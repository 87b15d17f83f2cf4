//! Every flag, variable and config key that names a file: when the file is
//! missing, a directory, not text, not PEM or malformed, the binary exits 2
//! with one line on stderr that names the file, what is wrong with it and who
//! named it, and prints nothing on stdout.
//!
//! ("Permission denied" is mapped too, but root, which CI runs as, reads
//! every file; `input_file`'s unit tests cover the wording.)

use std::path::PathBuf;
use std::process::Command;

use dcv_doctor::mpic::self_signed;

const TOKEN: &str = "file-errors-test-token-0123456789";

/// A directory of good and bad files the cases point at.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (cert, key) = self_signed(&["127.0.0.1".to_owned()]).unwrap();
        std::fs::write(d.join("cert.pem"), cert).unwrap();
        std::fs::write(d.join("key.pem"), key).unwrap();
        std::fs::write(d.join("token"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(d.join("short-token"), "abc\n").unwrap();
        std::fs::write(d.join("text"), "hello, not PEM\n").unwrap();
        std::fs::write(d.join("binary"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
        std::fs::write(d.join("bad.zone"), ". IN NS\nthis is not a zone file {{{\n").unwrap();
        std::fs::create_dir(d.join("a-directory")).unwrap();
        let entry = |token: &str, cert: &str| {
            format!(
                "[[perspective]]\nname = \"eu-1\"\nurl = \"https://127.0.0.1:8443/v1/check\"\nregion = \"eu\"\nrir = \"RIPE\"\ntoken_file = \"{token}\"\nca_cert_file = \"{cert}\"\n"
            )
        };
        std::fs::write(
            d.join("p-no-token.toml"),
            entry("missing-token", "cert.pem"),
        )
        .unwrap();
        std::fs::write(
            d.join("p-short-token.toml"),
            entry("short-token", "cert.pem"),
        )
        .unwrap();
        std::fs::write(d.join("p-no-cert.toml"), entry("token", "missing.pem")).unwrap();
        std::fs::write(d.join("p-text-cert.toml"), entry("token", "text")).unwrap();
        std::fs::write(d.join("p-bad.toml"), "[[perspective]]\nname = \n").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

/// Runs the binary; asserts exit 2, empty stdout, and one stderr line that
/// contains every one of `mentions`.
fn assert_file_error(args: &[String], env: &[(&str, &str)], mentions: &[&str]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"));
    cmd.args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {stderr}"
    );
    for m in mentions {
        assert!(
            stderr.contains(m),
            "{args:?}: {stderr:?} does not mention {m:?}"
        );
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn dns_source_files_name_the_flag_and_the_problem() {
    let f = Files::new();
    // The same two flags in every command that takes them.
    for command in [
        &["check", "example.com"][..],
        &["dns", "example.com", "A"],
        &["batch", "/dev/null"],
    ] {
        for (flag, what) in [
            ("--root-hints", "root hints"),
            ("--trust-anchor", "trust anchor"),
        ] {
            let missing = f.arg("missing");
            let mut a = args(command);
            a.extend([flag.to_owned(), missing.clone()]);
            assert_file_error(
                &a,
                &[],
                &[
                    &format!("cannot read {what} file {missing}"),
                    &format!("(named by {flag})"),
                    ": not found",
                ],
            );
            let mut a = args(command);
            a.extend([flag.to_owned(), f.arg("a-directory")]);
            assert_file_error(&a, &[], &[&f.arg("a-directory"), flag, "is a directory"]);
            let mut a = args(command);
            a.extend([flag.to_owned(), f.arg("binary")]);
            assert_file_error(&a, &[], &[&f.arg("binary"), flag, "not UTF-8 text"]);
            let mut a = args(command);
            a.extend([flag.to_owned(), f.arg("bad.zone")]);
            assert_file_error(
                &a,
                &[],
                &[
                    &format!("{what} file {}", f.arg("bad.zone")),
                    flag,
                    ": malformed: ",
                ],
            );
        }
    }
}

#[test]
fn batch_input_names_the_argument_and_the_problem() {
    let f = Files::new();
    for (file, problem) in [
        ("missing", ": not found"),
        ("a-directory", "is a directory"),
        ("binary", "not UTF-8 text"),
    ] {
        assert_file_error(
            &args(&["batch", &f.arg(file)]),
            &[],
            &[
                &format!("hostname list file {}", f.arg(file)),
                "(named by batch's INPUT argument)",
                problem,
            ],
        );
    }
}

#[test]
fn perspectives_files_name_the_key_and_the_problem() {
    let f = Files::new();
    let check = |toml: &str| args(&["check", "example.com", "--perspectives", &f.arg(toml)]);
    assert_file_error(
        &check("missing.toml"),
        &[],
        &[
            &format!("cannot read perspectives file {}", f.arg("missing.toml")),
            "(named by --perspectives)",
            "not found",
        ],
    );
    assert_file_error(
        &check("p-bad.toml"),
        &[],
        &[
            &format!("perspectives file {}", f.arg("p-bad.toml")),
            "(named by --perspectives)",
            "malformed",
            "(line 2)",
        ],
    );
    let key =
        |k: &str, toml: &str| format!("(named by {k} of perspective \"eu-1\" in {})", f.arg(toml));
    assert_file_error(
        &check("p-no-token.toml"),
        &[],
        &[
            &format!("cannot read token file {}", f.arg("missing-token")),
            &key("token_file", "p-no-token.toml"),
            "not found",
        ],
    );
    assert_file_error(
        &check("p-short-token.toml"),
        &[],
        &[
            &f.arg("short-token"),
            &key("token_file", "p-short-token.toml"),
            "malformed: the token must be at least 16",
        ],
    );
    assert_file_error(
        &check("p-no-cert.toml"),
        &[],
        &[
            &format!("cannot read CA certificate file {}", f.arg("missing.pem")),
            &key("ca_cert_file", "p-no-cert.toml"),
            "not found",
        ],
    );
    assert_file_error(
        &check("p-text-cert.toml"),
        &[],
        &[
            &format!("CA certificate file {}", f.arg("text")),
            &key("ca_cert_file", "p-text-cert.toml"),
            "not PEM",
            "BEGIN CERTIFICATE",
        ],
    );
}

#[test]
fn perspective_url_certificate_names_the_variable() {
    let f = Files::new();
    let check = args(&[
        "check",
        "example.com",
        "--perspective",
        "https://127.0.0.1:8443/v1/check",
    ]);
    for (file, problem) in [
        ("missing", "not found"),
        ("text", "not PEM"),
        ("a-directory", "is a directory"),
    ] {
        let path = f.arg(file);
        assert_file_error(
            &check,
            &[
                ("DCV_DOCTOR_AGENT_TOKEN", TOKEN),
                ("DCV_DOCTOR_AGENT_CA_CERT", &path),
            ],
            &[&path, "(named by $DCV_DOCTOR_AGENT_CA_CERT)", problem],
        );
    }
}

#[test]
fn agent_files_name_the_flag_and_the_problem() {
    let f = Files::new();
    let agent = |extra: &[String]| {
        let mut a = args(&[
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "a",
            "--region",
            "r",
            "--rir",
            "RIPE",
        ]);
        a.extend_from_slice(extra);
        a
    };
    let flag = |flag: &str, file: &str| vec![flag.to_owned(), f.arg(file)];
    assert_file_error(
        &agent(&flag("--token-file", "missing")),
        &[],
        &[
            &format!("cannot read token file {}", f.arg("missing")),
            "(named by --token-file)",
            "not found",
        ],
    );
    assert_file_error(
        &agent(&flag("--token-file", "short-token")),
        &[],
        &[
            &f.arg("short-token"),
            "(named by --token-file)",
            "at least 16 printable characters",
        ],
    );
    let token = flag("--token-file", "token");
    for (cert, key, mentions) in [
        (
            "text",
            "key.pem",
            vec![
                f.arg("text"),
                "(named by --tls-cert)".into(),
                "not PEM".into(),
                "BEGIN CERTIFICATE".into(),
            ],
        ),
        (
            "missing",
            "key.pem",
            vec![
                f.arg("missing"),
                "(named by --tls-cert)".into(),
                "not found".into(),
            ],
        ),
        (
            "cert.pem",
            "text",
            vec![
                f.arg("text"),
                "(named by --tls-key)".into(),
                "not PEM".into(),
                "PRIVATE KEY".into(),
            ],
        ),
        (
            "cert.pem",
            "a-directory",
            vec![
                f.arg("a-directory"),
                "(named by --tls-key)".into(),
                "is a directory".into(),
            ],
        ),
    ] {
        let mut a = token.clone();
        a.extend(flag("--tls-cert", cert));
        a.extend(flag("--tls-key", key));
        let mentions: Vec<&str> = mentions.iter().map(String::as_str).collect();
        assert_file_error(&agent(&a), &[], &mentions);
    }
    let mut a = token.clone();
    a.extend([
        "--cert-out".to_owned(),
        f.arg("a-directory/no/such/dir/cert.pem"),
    ]);
    assert_file_error(
        &agent(&a),
        &[],
        &[
            &f.arg("a-directory/no/such/dir/cert.pem"),
            "(named by --cert-out)",
            "cannot write",
        ],
    );
}

#[test]
fn lab_dir_names_the_flag() {
    assert_file_error(
        &args(&["lab", "valid", "--dir", "/dev/null/lab"]),
        &[],
        &["/dev/null/lab", "(named by --dir)", "Not a directory"],
    );
}
