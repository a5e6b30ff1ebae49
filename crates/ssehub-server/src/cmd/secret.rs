//! The HS256 secret of `serve` and `token`: given as a value (a flag or
//! `SSEHUB_JWT_SECRET`), or as a file, never both.

use std::path::Path;

use anyhow::{bail, Context};

/// The secret from `value` (named `value_name` in messages) or the file
/// `file` (named `file_name`); `None` if neither is given.
///
/// A file's content less one trailing newline (LF or CRLF, as editors and
/// `echo` leave) is the secret. An empty secret, or both sources at once, is
/// an error; the messages never show the secret.
pub(crate) fn hs256(
    value: Option<&str>,
    value_name: &str,
    file: Option<&Path>,
    file_name: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    let secret = match (value, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            bail!("{value_name} and {file_name} are both set: give the secret one way only")
        }
        (Some(value), None) => value.as_bytes().to_vec(),
        (None, Some(path)) => {
            let mut bytes = std::fs::read(path)
                .with_context(|| format!("{file_name} {}: cannot read it", path.display()))?;
            if bytes.ends_with(b"\r\n") {
                bytes.truncate(bytes.len() - 2);
            } else if bytes.ends_with(b"\n") {
                bytes.truncate(bytes.len() - 1);
            }
            if bytes.is_empty() {
                bail!(
                    "{file_name} {}: the file is empty (the JWT secret must not be)",
                    path.display()
                );
            }
            bytes
        }
    };
    if secret.is_empty() {
        bail!("{value_name} is empty: the JWT secret must not be");
    }
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::hs256;

    fn from_file(content: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ssehub-secret-unit-{}-{n}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        let secret = hs256(None, "--secret", Some(&path), "--secret-file");
        std::fs::remove_file(&path).unwrap();
        secret
    }

    #[test]
    fn one_trailing_newline_is_not_part_of_the_secret() {
        assert_eq!(from_file(b"s3cret").unwrap().unwrap(), b"s3cret");
        assert_eq!(from_file(b"s3cret\n").unwrap().unwrap(), b"s3cret");
        assert_eq!(from_file(b"s3cret\r\n").unwrap().unwrap(), b"s3cret");
        // Only one: the rest is the secret's.
        assert_eq!(from_file(b"s3cret\n\n").unwrap().unwrap(), b"s3cret\n");
        assert_eq!(from_file(b" s3cret \r").unwrap().unwrap(), b" s3cret \r");
    }

    #[test]
    fn empty_or_twice_given_secrets_are_errors() {
        for content in [&b""[..], b"\n", b"\r\n"] {
            let e = from_file(content).unwrap_err().to_string();
            assert!(e.contains("--secret-file") && e.contains("empty"), "{e}");
        }
        let e = hs256(Some(""), "--secret", None, "--secret-file").unwrap_err();
        assert!(e.to_string().contains("--secret is empty"), "{e}");
        let path = std::path::Path::new("/nonexistent");
        let e = hs256(Some("x"), "--secret", Some(path), "--secret-file").unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
        assert!(hs256(None, "--secret", None, "--secret-file")
            .unwrap()
            .is_none());
    }
}
