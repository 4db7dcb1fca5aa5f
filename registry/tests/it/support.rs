//! Test helpers: small OCI layouts built by hand, a real `docker-registry` process, a tiny HTTP server
//! (for the token server and for a lying registry), and ES256 JWTs.
//!
//! Shared by two test binaries: the registry crate's `tests/it` and the stella CLI's `tests/e2e`, which
//! includes this file with `#[path = "../../../registry/tests/it/support.rs"] mod support;`. It must
//! therefore stay self-contained: no `crate::` paths, only dependencies both packages declare.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// An uncompressed layer tar holding the given files.
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Writes `bytes` as `blobs/sha256/<hex>`; returns a descriptor.
pub fn write_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let digest = sha256(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// Writes layers, config and manifest for one single-platform image; returns the manifest descriptor
/// (with `platform`) and the config digest.
pub fn write_image(
    layout: &Path,
    os: &str,
    arch: &str,
    variant: Option<&str>,
    layers: &[Vec<u8>],
) -> (Value, String) {
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|l| write_blob(layout, "application/vnd.oci.image.layer.v1.tar", l))
        .collect();
    let mut config = json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch, "os": os,
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha256(l)).collect::<Vec<_>>()},
        "history": [{"created_by": "test"}],
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_desc = write_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &config_bytes,
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": layer_descs,
    });
    let mut desc = write_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let mut platform = json!({"os": os, "architecture": arch});
    if let Some(v) = variant {
        platform["variant"] = json!(v);
    }
    desc["platform"] = platform;
    (desc, config_desc["digest"].as_str().unwrap().to_owned())
}

/// Writes an image index over `manifests`; returns its descriptor.
pub fn write_index(layout: &Path, manifests: Vec<Value>) -> Value {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    write_blob(
        layout,
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).unwrap(),
    )
}

/// Writes `oci-layout` and `index.json` with the given `(tag, descriptor)` entries.
pub fn write_layout(layout: &Path, entries: Vec<(&str, Value)>) {
    std::fs::create_dir_all(layout).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let manifests: Vec<Value> = entries
        .into_iter()
        .map(|(tag, mut d)| {
            d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
            d
        })
        .collect();
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

/// A layout with tags `single` (linux/amd64, two layers) and `multi` (index: amd64, arm64/v8, arm/v7).
pub struct TestLayout {
    pub path: PathBuf,
    pub single_config: String,
    pub arm64_config: String,
}

pub fn build_test_layout(path: &Path) -> TestLayout {
    let base = layer_tar(&[("etc/os-release", b"ID=test\n")]);
    let app = layer_tar(&[("app/hello.txt", b"hello\n")]);
    let (single, single_config) = write_image(path, "linux", "amd64", None, &[base.clone(), app]);
    let (amd, _) = write_image(path, "linux", "amd64", None, std::slice::from_ref(&base));
    let (arm64, arm64_config) = write_image(
        path,
        "linux",
        "arm64",
        Some("v8"),
        &[layer_tar(&[("arch", b"arm64")])],
    );
    let (arm, _) = write_image(
        path,
        "linux",
        "arm",
        Some("v7"),
        &[layer_tar(&[("arch", b"arm")])],
    );
    let index = write_index(path, vec![amd, arm64, arm]);
    write_layout(path, vec![("single", single), ("multi", index)]);
    TestLayout {
        path: path.to_owned(),
        single_config,
        arm64_config,
    }
}

/// Skips the calling test (returns `None`) with a message, or panics under CI (the `CI` environment
/// variable is set), where a missing tool or data set must fail the run rather than pass it silently.
pub fn require<T>(what: Option<T>, why: &str) -> Option<T> {
    if what.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "required under CI but missing: {why}"
        );
        eprintln!("skipping: {why} (run tests/run.sh)");
    }
    what
}

/// The corpus directory (CORPUS_DIR, else target/corpus), when it has been built.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/corpus"));
    let ok = dir.join("oci/.done").is_file() && dir.join("app.tar").is_file();
    require(
        ok.then_some(dir),
        "the corpus (CORPUS_DIR or target/corpus)",
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `tool` runs (`tool --version`); under CI a missing tool fails the test (see [`require`]).
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    require(found.then_some(()), &format!("{tool} is not installed")).is_some()
}

/// `docker-registry` (CNCF distribution) and `skopeo`, both needed to run and fill a real registry.
pub fn registry_tools() -> bool {
    // `&`, not `&&`: outside CI every missing tool gets its skip message.
    have("docker-registry") & have("skopeo")
}

/// A `docker-registry` (CNCF distribution) on 127.0.0.1, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; `auth_yaml` is the `auth:` section body (indented two spaces), or empty.
    pub fn start(auth_yaml: &str) -> Registry {
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: stella-test-secret\n{}",
                dir.path().join("data").display(),
                if auth_yaml.is_empty() { String::new() } else { format!("auth:\n{auth_yaml}") }
            );
            let cfg = dir.path().join("config.yml");
            std::fs::write(&cfg, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut reg = Registry {
                child,
                port,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = reg.child.try_wait() {
                    break; // exited (port taken?): retry with another port
                }
                if http_status(port, "/v2/").is_some() {
                    return reg;
                }
                thread::sleep(Duration::from_millis(100));
            }
            let log =
                std::fs::read_to_string(reg._dir.path().join("registry.log")).unwrap_or_default();
            eprintln!("registry on {port} did not come up; log:\n{log}");
        }
        panic!("docker-registry did not start");
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status code of a plain `GET path` to 127.0.0.1:port, if anything answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `skopeo copy` an OCI layout image into the registry. `creds` is `user:pass`.
pub fn skopeo_push(layout: &Path, tag: &str, dest: &str, creds: Option<&str>, all: bool) -> String {
    let work = tempfile::tempdir().unwrap();
    let digest_file = work.path().join("digest");
    let mut cmd = Command::new("skopeo");
    cmd.env("REGISTRY_AUTH_FILE", work.path().join("auth.json"))
        .env("DOCKER_CONFIG", work.path())
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--retry-times",
            "0",
        ]);
    match creds {
        Some(c) => {
            cmd.args(["--dest-creds", c]);
        }
        None => {
            cmd.arg("--dest-no-creds");
        }
    }
    if all {
        cmd.arg("--all");
    }
    cmd.arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"))
        .stdin(Stdio::null());
    let out = cmd.output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(digest_file)
        .unwrap()
        .trim()
        .to_owned()
}

/// A request as the tiny server sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The request body as sent (a POST form's fields are also in `query`); read by the cli's e2e
    /// tests, which share this harness.
    #[allow(dead_code)]
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A one-connection-at-a-time HTTP/1.1 server on 127.0.0.1 (each connection closed after one reply).
pub struct TinyServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TinyServer {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TinyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Handler = Arc::new(handler);
        let stop2 = stop.clone();
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let handler = handler.clone();
                thread::spawn(move || {
                    let _ = serve_one(conn, &handler);
                });
            }
        });
        TinyServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TinyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(conn: TcpStream, handler: &Handler) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), parse_query(q)),
        None => (target.clone(), Vec::new()),
    };
    let mut query = query;
    if method == "POST" {
        query.extend(parse_query(&String::from_utf8_lossy(&body)));
    }
    let reply = handler(&Request {
        method,
        path,
        query,
        headers,
        body,
    });
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    )?;
    for (k, v) in &reply.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(out, "\r\n")?;
    out.write_all(&reply.body)?;
    out.flush()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A docker `config.json` with basic credentials for `host`.
pub fn docker_config(dir: &Path, host: &str, user: &str, pass: &str) -> PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let path = dir.join("config.json");
    std::fs::write(&path, json!({"auths": {host: {"auth": auth}}}).to_string()).unwrap();
    path
}

/// An ES256 token issuer: a P-256 key and its self-signed certificate (the registry's `rootcertbundle`).
pub struct TokenIssuer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    pub cert_pem: String,
}

impl TokenIssuer {
    pub fn new() -> TokenIssuer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["stella-test-token-issuer".to_owned()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .unwrap();
        TokenIssuer {
            key: signer,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
        }
    }

    /// A JWT granting `access` (distribution's resource-scoped claims), signed ES256 with `x5c`.
    pub fn token(&self, issuer: &str, audience: &str, subject: &str, access: Value) -> String {
        use base64::Engine as _;
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let b64 = base64::engine::general_purpose::STANDARD;
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [b64.encode(&self.cert_der)]});
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": issuer, "sub": subject, "aud": audience,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", rand_suffix()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url.encode(header.to_string()),
            b64url.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let sig = self.key.sign(&rng, signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", b64url.encode(sig.as_ref()))
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Parses `repository:name:pull,push` scopes (space-separated, possibly several `scope` params) into
/// distribution's `access` claim.
pub fn access_for(scopes: &[&str]) -> Value {
    let mut out = Vec::new();
    for s in scopes.iter().flat_map(|s| s.split(' ')) {
        let mut it = s.rsplitn(2, ':');
        let (Some(actions), Some(rest)) = (it.next(), it.next()) else {
            continue;
        };
        let Some((typ, name)) = rest.split_once(':') else {
            continue;
        };
        let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
        out.push(json!({"type": typ, "name": name, "actions": actions}));
    }
    Value::Array(out)
}
