//! Registry credentials (docker `config.json`) and `WWW-Authenticate` challenges.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::SourceError;
use crate::reference::DOCKER_HUB;

/// Largest docker config we read.
const MAX_DOCKER_CONFIG_BYTES: u64 = 4 << 20;

/// Credentials for one registry. `Debug` never shows secrets.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token from `docker login` against token servers that issue them.
    IdentityToken {
        username: String,
        token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken { username, .. } => {
                write!(f, "IdentityToken({username}, <redacted>)")
            }
        }
    }
}

impl Credentials {
    pub(crate) fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => {
                username
            }
        }
    }
}

/// What the docker config says about one registry.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialLookup {
    pub(crate) credentials: Option<Credentials>,
    /// The config file consulted, for messages.
    pub(crate) config_path: Option<PathBuf>,
    /// The credential helper consulted (`docker-credential-<name>`), mentioned in auth errors.
    pub(crate) helper: Option<String>,
}

#[derive(Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// Finds credentials for `registry` (as written in references: `docker.io`, `host:5000`).
/// `explicit` is a config path the user named (it must exist); otherwise the default path is optional.
pub(crate) fn lookup(
    registry: &str,
    explicit: Option<&Path>,
) -> Result<CredentialLookup, SourceError> {
    let (path, must_exist) = match explicit {
        Some(p) => (p.to_owned(), true),
        None => match default_docker_config_path() {
            Some(p) => (p, false),
            None => return Ok(CredentialLookup::default()),
        },
    };
    let bytes = match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_DOCKER_CONFIG_BYTES => {
            return Err(SourceError::DockerConfig {
                path,
                reason: "larger than 4 MiB".to_owned(),
            })
        }
        Ok(_) => std::fs::read(&path).map_err(|e| SourceError::io(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(CredentialLookup::default())
        }
        Err(e) => return Err(SourceError::io(&path, e)),
    };
    lookup_in(&bytes, registry, &path)
}

pub(crate) fn lookup_in(
    bytes: &[u8],
    registry: &str,
    path: &Path,
) -> Result<CredentialLookup, SourceError> {
    let search = std::env::var_os("PATH").unwrap_or_default();
    lookup_with(bytes, registry, path, &search)
}

/// [`lookup_in`] with the directories helpers are searched in (`PATH`'s form).
pub(crate) fn lookup_with(
    bytes: &[u8],
    registry: &str,
    path: &Path,
    search: &std::ffi::OsStr,
) -> Result<CredentialLookup, SourceError> {
    let bad = |reason: String| SourceError::DockerConfig {
        path: path.to_owned(),
        reason,
    };
    let file: DockerConfigFile =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let want = normalize_key(registry);
    let per_registry = file
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize_key(k) == want)
        .map(|(k, v)| (k.clone(), v.clone()));
    let entry = file
        .auths
        .iter()
        .find(|(k, _)| normalize_key(k) == want)
        .map(|(_, v)| v);
    let credentials = match entry {
        None => None,
        Some(e) => {
            let (mut username, mut password) = (e.username.clone(), e.password.clone());
            if let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| bad(format!("the 'auth' for {registry} is not base64")))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| bad(format!("the 'auth' for {registry} is not UTF-8")))?;
                let (u, p) = decoded.split_once(':').ok_or_else(|| {
                    bad(format!("the 'auth' for {registry} is not user:password"))
                })?;
                username = Some(u.to_owned());
                password = Some(p.to_owned());
            }
            match (
                e.identitytoken.as_deref().filter(|t| !t.is_empty()),
                username,
                password,
            ) {
                (Some(token), u, _) => Some(Credentials::IdentityToken {
                    username: u.unwrap_or_default(),
                    token: token.to_owned(),
                }),
                (None, Some(username), Some(password)) if !username.is_empty() => {
                    Some(Credentials::Basic { username, password })
                }
                _ => None,
            }
        }
    };
    // docker's order: a per-registry helper, then credentials in the file, then the default store.
    let helper = match (per_registry, &credentials, &file.creds_store) {
        (Some((key, name)), _, _) => Some((key, name)),
        (None, None, Some(store)) if !store.is_empty() => {
            Some((server_url(registry), store.clone()))
        }
        _ => None,
    };
    let (credentials, helper) = match helper {
        Some((server, name)) => (run_helper(&name, &server, registry, search)?, Some(name)),
        None => (credentials, None),
    };
    Ok(CredentialLookup {
        credentials,
        config_path: Some(path.to_owned()),
        helper,
    })
}

/// How docker names a registry to credential helpers.
fn server_url(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}

const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const MAX_HELPER_OUTPUT: u64 = 1 << 20;

/// Runs `docker-credential-<name> get` with `server` on stdin. "credentials not found" is `None`.
fn run_helper(
    name: &str,
    server: &str,
    registry: &str,
    search: &std::ffi::OsStr,
) -> Result<Option<Credentials>, SourceError> {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};
    let fail = |reason: String| SourceError::CredentialHelper {
        helper: name.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        return Err(fail(
            "the helper name may only hold letters, digits, '-', '_', '.'".to_owned(),
        ));
    }
    let program = format!("docker-credential-{name}");
    let exe = std::env::split_paths(search)
        .map(|d| d.join(&program))
        .find(|p| p.is_file())
        .ok_or_else(|| fail(format!("{program} is not on PATH (install it, or remove the helper from the docker config)")))?;
    let mut child = Command::new(&exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run {}: {e}", exe.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes());
    }
    let reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.take(MAX_HELPER_OUTPUT).read_to_end(&mut buf);
            buf
        })
    });
    let deadline = std::time::Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "no answer within {}s",
                    HELPER_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(fail(format!("waiting for it failed: {e}"))),
        }
    };
    let out = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let first = text.lines().next().unwrap_or_default().trim();
        return Err(fail(format!(
            "exited with {status}{}",
            if first.is_empty() {
                String::new()
            } else {
                format!(": {}", first.chars().take(200).collect::<String>())
            }
        )));
    }
    #[derive(Deserialize)]
    struct HelperAnswer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let a: HelperAnswer = serde_json::from_slice(&out)
        .map_err(|e| fail(format!("answered something that is not its JSON: {e}")))?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if a.username == "<token>" {
        Credentials::IdentityToken {
            username: String::new(),
            token: a.secret,
        }
    } else {
        Credentials::Basic {
            username: a.username,
            password: a.secret,
        }
    }))
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/x` → `host:5000`.
fn normalize_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => host,
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased: `basic`, `bearer`.
    pub(crate) scheme: String,
    /// Lowercased parameter names.
    pub(crate) params: BTreeMap<String, String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or not).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["scope"], "repository:library/alpine:pull");
        let c = parse_challenge(r#"Basic realm="a \"q\" b", charset=UTF-8"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], r#"a "q" b"#);
        assert_eq!(c.params["charset"], "UTF-8");
        assert_eq!(parse_challenge("Basic").unwrap().params.len(), 0);
        assert!(parse_challenge("").is_none());
    }

    #[test]
    fn finds_credentials() {
        let cfg = br#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNzOndpdGg6Y29sb25z"},
            "127.0.0.1:5000":{"username":"u","password":"p"},
            "ghcr.io":{"identitytoken":"tok","username":"x"}},
            "credHelpers":{"gcr.io":"gcloud"}}"#;
        let p = Path::new("c.json");
        let hub = lookup_in(cfg, "docker.io", p).unwrap();
        assert_eq!(
            hub.credentials,
            Some(Credentials::Basic {
                username: "user".into(),
                password: "pass:with:colons".into()
            })
        );
        assert!(hub.helper.is_none());
        let local = lookup_in(cfg, "127.0.0.1:5000", p).unwrap();
        assert_eq!(local.credentials.unwrap().username(), "u");
        let gh = lookup_in(cfg, "ghcr.io", p).unwrap().credentials.unwrap();
        assert!(matches!(gh, Credentials::IdentityToken { .. }));
        assert!(!format!("{gh:?}").contains("tok\""));
        let gcr = lookup_with(cfg, "gcr.io", p, std::ffi::OsStr::new("/nonexistent")).unwrap_err();
        assert!(
            gcr.to_string()
                .contains("docker-credential-gcloud is not on PATH"),
            "{gcr}"
        );
        assert!(lookup_in(b"{", "x", p).is_err());
        assert!(lookup_in(br#"{"auths":{"x":{"auth":"!!"}}}"#, "x", p).is_err());
    }
}

#[cfg(all(test, unix))]
mod helper_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[allow(clippy::unwrap_used)]
    fn helper(dir: &Path, name: &str, script: &str) {
        let p = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn credential_helpers() {
        let dir = tempfile::tempdir().unwrap();
        // Answers only for the server URL it is given on stdin, and says which one it saw.
        helper(
            dir.path(),
            "stellatest",
            r#"read server
case "$server" in
  127.0.0.1:5000) echo "{\"ServerURL\":\"$server\",\"Username\":\"alice\",\"Secret\":\"pw-from-helper\"}" ;;
  https://index.docker.io/v1/) echo '{"Username":"<token>","Secret":"refresh-tok"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac"#,
        );
        helper(
            dir.path(),
            "broken",
            "echo 'boom: keychain locked' ; exit 3",
        );
        helper(dir.path(), "garbage", "echo not-json");
        let search = dir.path().as_os_str();
        let p = Path::new("c.json");
        let cfg = br#"{"credHelpers":{"127.0.0.1:5000":"stellatest","bad.example":"broken","junk.example":"garbage"},
            "credsStore":"stellatest","auths":{"file.example":{"username":"f","password":"g"}}}"#;
        let got = lookup_with(cfg, "127.0.0.1:5000", p, search).unwrap();
        assert_eq!(
            got.credentials,
            Some(Credentials::Basic {
                username: "alice".into(),
                password: "pw-from-helper".into()
            })
        );
        assert_eq!(got.helper.as_deref(), Some("stellatest"));
        // The store answers for Docker Hub with an identity token.
        let hub = lookup_with(cfg, "docker.io", p, search).unwrap();
        assert!(
            matches!(hub.credentials, Some(Credentials::IdentityToken { ref token, .. }) if token == "refresh-tok")
        );
        // Credentials in the file win over the default store.
        let file = lookup_with(cfg, "file.example", p, search).unwrap();
        assert_eq!(file.credentials.unwrap().username(), "f");
        assert!(file.helper.is_none());
        // Not found is no credentials, not an error.
        let none = lookup_with(cfg, "other.example", p, search).unwrap();
        assert!(none.credentials.is_none());
        let e = lookup_with(cfg, "bad.example", p, search).unwrap_err();
        assert!(
            e.to_string().contains("docker-credential-broken")
                && e.to_string().contains("keychain locked"),
            "{e}"
        );
        let e = lookup_with(cfg, "junk.example", p, search).unwrap_err();
        assert!(e.to_string().contains("not its JSON"), "{e}");
        let e =
            lookup_with(br#"{"credsStore":"../../bin/sh"}"#, "x.example", p, search).unwrap_err();
        assert!(e.to_string().contains("may only hold"), "{e}");
    }
}
