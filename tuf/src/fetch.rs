//! Transports: where metadata and target bytes come from. Every read is bounded: a source that keeps
//! sending is cut off at the limit plus one byte and reported as [`Error::EndlessData`].

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// A source of repository files. Paths are relative: `2.root.json`, `timestamp.json`, or a target
/// path such as `<sha256>.trusted_root.json` (already hash-prefixed when snapshots are consistent).
pub trait Fetcher {
    /// A metadata file, at most `limit` bytes.
    fn fetch_metadata(&self, name: &str, limit: u64) -> Result<Vec<u8>>;
    /// A target file, at most `limit` bytes.
    fn fetch_target(&self, path: &str, limit: u64) -> Result<Vec<u8>>;
}

impl<F: Fetcher + ?Sized> Fetcher for &F {
    fn fetch_metadata(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        (**self).fetch_metadata(name, limit)
    }
    fn fetch_target(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        (**self).fetch_target(path, limit)
    }
}

/// Refuses paths that are absolute, hold `..`/`.`/empty components, backslashes or NUL: a target
/// name comes from metadata and must never leave the directory it is joined to.
pub fn check_relative_path(name: &str) -> Result<()> {
    let bad = |reason: &str| Error::BadTargetName {
        name: name.into(),
        reason: reason.into(),
    };
    if name.is_empty() || name.len() > 1024 {
        return Err(bad("empty or longer than 1024 bytes"));
    }
    if name.contains('\\') || name.contains('\0') {
        return Err(bad("contains a backslash or NUL"));
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("absolute, or has an empty, `.` or `..` component"));
    }
    Ok(())
}

/// Reads at most `limit` bytes from a file; more is [`Error::EndlessData`].
pub(crate) fn read_limited(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                path: what.to_string(),
            }
        } else {
            Error::io(path, e)
        }
    })?;
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > limit {
        return Err(Error::EndlessData {
            what: what.to_string(),
            limit,
        });
    }
    Ok(out)
}

/// A repository on the local file system: the static files a repository publishes, or an offline
/// trust bundle (`tuf/` metadata and `targets/` files).
#[derive(Debug, Clone)]
pub struct LocalDirFetcher {
    metadata_dir: PathBuf,
    targets_dir: PathBuf,
    bundle: bool,
}

impl LocalDirFetcher {
    /// Files as [`crate::Repository`] publishes them: metadata in `dir`, targets in `dir/targets`.
    pub fn repository(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            targets_dir: dir.join("targets"),
            metadata_dir: dir,
            bundle: false,
        }
    }

    /// An offline trust bundle: metadata in `dir/tuf`, targets in `dir/targets`. Bundles may hold
    /// unversioned `snapshot.json`/`targets.json` and unprefixed target names; when the versioned or
    /// hash-prefixed file is absent the plain one is read instead. That is safe: the bytes are
    /// still checked against the versions and hashes the trusted metadata names.
    pub fn bundle(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            metadata_dir: dir.join("tuf"),
            targets_dir: dir.join("targets"),
            bundle: true,
        }
    }
}

fn strip_version(name: &str) -> Option<&str> {
    let (v, rest) = name.split_once('.')?;
    (v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() && rest != "root.json").then_some(rest)
}

fn strip_hash(path: &str) -> Option<String> {
    let (dir, base) = match path.rsplit_once('/') {
        Some((d, b)) => (Some(d), b),
        None => (None, path),
    };
    let (h, rest) = base.split_once('.')?;
    if !(h.len() == 64 || h.len() == 128) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(match dir {
        Some(d) => format!("{d}/{rest}"),
        None => rest.to_string(),
    })
}

impl Fetcher for LocalDirFetcher {
    fn fetch_metadata(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        check_relative_path(name)?;
        match read_limited(&self.metadata_dir.join(name), name, limit) {
            Err(Error::NotFound { .. }) if self.bundle => match strip_version(name) {
                Some(plain) => read_limited(&self.metadata_dir.join(plain), name, limit),
                None => Err(Error::NotFound { path: name.into() }),
            },
            other => other,
        }
    }

    fn fetch_target(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        check_relative_path(path)?;
        match read_limited(&self.targets_dir.join(path), path, limit) {
            Err(Error::NotFound { .. }) if self.bundle => match strip_hash(path) {
                Some(plain) => read_limited(&self.targets_dir.join(plain), path, limit),
                None => Err(Error::NotFound { path: path.into() }),
            },
            other => other,
        }
    }
}

/// A repository over HTTP(S). Plain `http://` is accepted only for loopback hosts (tests, a local
/// `stella serve`); the metadata is signed either way, but TLS keeps what a client asks for private.
#[derive(Debug)]
pub struct HttpFetcher {
    metadata_base: String,
    targets_base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

fn check_url(url: &str) -> Result<()> {
    let bad = |reason: &str| Error::Fetch {
        path: url.into(),
        reason: reason.into(),
    };
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(bad(
            "the repository URL must be https:// (or http:// on loopback)",
        ));
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Ok(())
    } else {
        Err(bad("plain http:// is only allowed for loopback hosts"))
    }
}

impl HttpFetcher {
    /// Metadata under `base`, targets under `base/targets/`.
    pub fn new(base: &str) -> Result<Self> {
        let b = with_slash(base);
        Self::with_targets_base(&b, &format!("{b}targets/"))
    }

    /// Metadata and targets under separate base URLs (python-tuf's `metadata_base_url` and
    /// `target_base_url`).
    pub fn with_targets_base(metadata_base: &str, targets_base: &str) -> Result<Self> {
        check_url(metadata_base)?;
        check_url(targets_base)?;
        let fail = |reason: String| Error::Fetch {
            path: metadata_base.into(),
            reason,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            metadata_base: with_slash(metadata_base),
            targets_base: with_slash(targets_base),
            client,
            runtime,
        })
    }

    fn get(&self, url: String, what: &str, limit: u64) -> Result<Vec<u8>> {
        let fetch = async {
            let fail = |reason: String| Error::Fetch {
                path: url.clone(),
                reason,
            };
            let mut resp = self
                .client
                .get(&url)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN
            {
                return Err(Error::NotFound { path: url.clone() });
            }
            if !status.is_success() {
                return Err(fail(format!("HTTP {status}")));
            }
            let endless = || Error::EndlessData {
                what: what.to_string(),
                limit,
            };
            if resp.content_length().is_some_and(|l| l > limit) {
                return Err(endless());
            }
            let mut out = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
                if (out.len() + chunk.len()) as u64 > limit {
                    return Err(endless());
                }
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        };
        // A scoped thread, so the fetcher also works when called from inside an async runtime.
        std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(fetch))
                .join()
                .unwrap_or_else(|_| {
                    Err(Error::Fetch {
                        path: what.to_string(),
                        reason: "download thread panicked".into(),
                    })
                })
        })
    }
}

impl Fetcher for HttpFetcher {
    fn fetch_metadata(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        check_relative_path(name)?;
        self.get(format!("{}{name}", self.metadata_base), name, limit)
    }
    fn fetch_target(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        check_relative_path(path)?;
        self.get(format!("{}{path}", self.targets_base), path, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in ["a", "a/b.json", "x..y"] {
            assert!(check_relative_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/../b", "..", "a//b", "a\\b", "./a"] {
            assert!(check_relative_path(bad).is_err(), "{bad}");
        }
        assert_eq!(strip_version("3.snapshot.json"), Some("snapshot.json"));
        assert_eq!(strip_version("3.root.json"), None);
        let h = "a".repeat(64);
        assert_eq!(strip_hash(&format!("{h}.k.pub")).as_deref(), Some("k.pub"));
        assert!(check_url("http://10.0.0.1/").is_err());
        assert!(check_url("http://127.0.0.1:8080/tuf/").is_ok());
    }
}
