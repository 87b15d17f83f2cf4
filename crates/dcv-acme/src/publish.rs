//! HTTP-01 by web root: the response file the web server serves at
//! `/.well-known/acme-challenge/<token>` (RFC 8555 §8.3), written and removed
//! again, nothing else touched.

use std::path::{Path, PathBuf};

/// The path under the web root (RFC 8555 §8.3).
pub const CHALLENGE_DIR: &str = ".well-known/acme-challenge";

/// Why the response could not be written or removed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "the CA's token {0:?} is not base64url (RFC 8555 §8.1); refusing to use it as a file name"
    )]
    BadToken(String),
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
}

/// RFC 8555 §8.1: tokens are base64url characters; anything else could
/// escape the directory.
fn check_token(token: &str) -> Result<(), PublishError> {
    if token.is_empty()
        || token.len() > 256
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PublishError::BadToken(token.to_owned()));
    }
    Ok(())
}

/// Writes `key_authorization` to `<webroot>/.well-known/acme-challenge/<token>`
/// (creating the two directories if needed) and returns the file's path.
pub fn write(
    webroot: &Path,
    token: &str,
    key_authorization: &str,
) -> Result<PathBuf, PublishError> {
    check_token(token)?;
    let dir = webroot.join(CHALLENGE_DIR);
    let io = |path: &Path, e: std::io::Error| PublishError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let file = dir.join(token);
    std::fs::write(&file, key_authorization).map_err(|e| io(&file, e))?;
    Ok(file)
}

/// Removes the file [`write`] wrote.
pub fn remove(file: &Path) -> Result<(), PublishError> {
    std::fs::remove_file(file).map_err(|e| PublishError::Io {
        path: file.display().to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_goes_where_the_ca_looks_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "tok_en-1", "tok_en-1.thumb").unwrap();
        assert_eq!(file, dir.path().join(".well-known/acme-challenge/tok_en-1"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "tok_en-1.thumb");
        remove(&file).unwrap();
        assert!(!file.exists());
        for bad in ["", "../x", "a/b", "a.b", "a b"] {
            assert!(matches!(
                write(dir.path(), bad, "x"),
                Err(PublishError::BadToken(_))
            ));
        }
    }
}
