//! Reading the files the command line names (root hints, trust anchors,
//! tokens, certificates, keys, perspective lists, hostname lists). Every error
//! says which file, what is wrong with it (not found, not readable, a
//! directory, too large, not text, not PEM, malformed) and which flag, variable
//! or config key named it, so the user knows what to fix without guessing.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Largest configuration file read: hints, anchors, tokens, PEM and
/// perspective lists are a few KiB; the cap keeps a wrong path (a log, a
/// device) from being read whole.
pub const MAX_INPUT_FILE_BYTES: u64 = 1 << 20;

/// What is wrong with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    NotFound,
    /// Permission denied (the file, or a directory on its path).
    NotReadable,
    IsADirectory,
    TooLarge {
        limit: u64,
    },
    /// Not UTF-8 text.
    NotText,
    /// No PEM block of the expected kind, or a block that does not decode.
    NotPem {
        expected: &'static str,
        detail: String,
    },
    /// Read and decoded, but its content is wrong (a syntax error, a token too
    /// short, ...).
    Malformed(String),
    /// Any other I/O error, as the OS gave it.
    Io(String),
}

impl FileProblem {
    fn from_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound,
            std::io::ErrorKind::PermissionDenied => Self::NotReadable,
            std::io::ErrorKind::IsADirectory => Self::IsADirectory,
            std::io::ErrorKind::InvalidData => Self::NotText,
            _ => Self::Io(e.to_string()),
        }
    }
}

impl FileProblem {
    /// The file was read, but what it holds is wrong.
    pub fn is_about_content(&self) -> bool {
        matches!(self, Self::NotPem { .. } | Self::Malformed(_))
    }
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("not found"),
            Self::NotReadable => f.write_str("not readable (permission denied)"),
            Self::IsADirectory => f.write_str("is a directory, not a file"),
            Self::TooLarge { limit } => write!(f, "larger than {limit} bytes"),
            Self::NotText => f.write_str("not UTF-8 text"),
            Self::NotPem { expected, detail } => {
                write!(f, "not PEM: expected a {expected} block ({detail})")
            }
            Self::Malformed(detail) => write!(f, "malformed: {detail}"),
            Self::Io(detail) => write!(f, "not readable: {detail}"),
        }
    }
}

/// A file named on the command line that could not be used.
#[derive(Debug, Clone, Error)]
#[error(
    "{}{what} file {} (named by {named_by}): {problem}",
    if problem.is_about_content() { "" } else { "cannot read " },
    path.display()
)]
pub struct FileError {
    /// What the file should hold ("root hints", "CA certificate", ...).
    pub what: &'static str,
    pub path: PathBuf,
    /// The flag, environment variable or config key that named it.
    pub named_by: String,
    pub problem: FileProblem,
}

/// A file to read: its path, what it holds and who named it.
#[derive(Debug, Clone)]
pub struct InputFile<'a> {
    pub path: &'a Path,
    pub what: &'static str,
    pub named_by: String,
}

impl<'a> InputFile<'a> {
    pub fn new(path: &'a Path, what: &'static str, named_by: impl Into<String>) -> Self {
        Self {
            path,
            what,
            named_by: named_by.into(),
        }
    }

    /// An error about this file.
    pub fn error(&self, problem: FileProblem) -> FileError {
        FileError {
            what: self.what,
            path: self.path.to_path_buf(),
            named_by: self.named_by.clone(),
            problem,
        }
    }

    /// Content that did not parse: `detail` is the parser's one-line message.
    pub fn malformed(&self, detail: impl std::fmt::Display) -> FileError {
        self.error(FileProblem::Malformed(one_line(&detail.to_string())))
    }

    /// The file's bytes, at most `limit` (pipes such as `<(...)` work too).
    pub fn read_bytes(&self, limit: u64) -> Result<Vec<u8>, FileError> {
        let io = |e: std::io::Error| self.error(FileProblem::from_io(&e));
        let file = std::fs::File::open(self.path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(self.error(FileProblem::IsADirectory));
        }
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > limit {
            return Err(self.error(FileProblem::TooLarge { limit }));
        }
        Ok(bytes)
    }

    /// The file as UTF-8 text, at most [`MAX_INPUT_FILE_BYTES`].
    pub fn read_text(&self) -> Result<String, FileError> {
        String::from_utf8(self.read_bytes(MAX_INPUT_FILE_BYTES)?)
            .map_err(|_| self.error(FileProblem::NotText))
    }

    /// PEM text holding at least one certificate, each of which decodes.
    pub fn read_certificates_pem(&self) -> Result<String, FileError> {
        let text = self.read_text()?;
        let not_pem = |detail: String| {
            self.error(FileProblem::NotPem {
                expected: "-----BEGIN CERTIFICATE-----",
                detail,
            })
        };
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
            cert.map_err(|e| not_pem(e.to_string()))?;
            count += 1;
        }
        if count == 0 {
            return Err(not_pem("none found".to_owned()));
        }
        Ok(text)
    }

    /// PEM text holding a private key (PKCS#8, PKCS#1 or SEC1).
    pub fn read_private_key_pem(&self) -> Result<String, FileError> {
        let text = self.read_text()?;
        PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| {
            self.error(FileProblem::NotPem {
                expected: "-----BEGIN PRIVATE KEY-----",
                detail: match e {
                    rustls_pki_types::pem::Error::NoItemsFound => "none found".to_owned(),
                    other => other.to_string(),
                },
            })
        })?;
        Ok(text)
    }
}

/// A parser's message on one line (TOML errors span several).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_cert(path: &Path) -> InputFile<'_> {
        InputFile::new(path, "CA certificate", "--example")
    }

    #[test]
    fn each_problem_names_the_file_the_flag_and_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = ca_cert(&missing).read_text().unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "cannot read CA certificate file {} (named by --example): not found",
                missing.display()
            )
        );
        let e = ca_cert(dir.path()).read_text().unwrap_err().to_string();
        assert!(e.ends_with("is a directory, not a file"), "{e}");
        let binary = dir.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(
            ca_cert(&binary)
                .read_text()
                .unwrap_err()
                .to_string()
                .ends_with("not UTF-8 text")
        );
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "hello\n").unwrap();
        let e = ca_cert(&text)
            .read_certificates_pem()
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("not PEM: expected a -----BEGIN CERTIFICATE----- block (none found)"),
            "{e}"
        );
        let e = ca_cert(&text)
            .read_private_key_pem()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not PEM: expected a -----BEGIN PRIVATE KEY-----"),
            "{e}"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 1 << 20 | 1]).unwrap();
        assert!(
            ca_cert(&big)
                .read_text()
                .unwrap_err()
                .to_string()
                .ends_with("larger than 1048576 bytes")
        );
    }

    #[test]
    fn malformed_detail_is_one_line() {
        let path = Path::new("/x");
        let e = InputFile::new(path, "perspectives", "--perspectives")
            .malformed("TOML parse error at line 1\n  |\n1 | x\n  | ^\nexpected `=`");
        assert_eq!(
            e.to_string(),
            "perspectives file /x (named by --perspectives): malformed: TOML parse error at line 1 | 1 | x | ^ expected `=`"
        );
    }
}
