//! Test helpers: fixed keys and dates, metadata builders, a tiny loopback HTTP server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use stella_tuf::repository::{meta_entry, sign, target_entry, to_bytes};
use stella_tuf::SigningKey;

/// 2030-01-01T00:00:00Z: "now" for every fixture.
pub const NOW: i64 = 1_893_456_000;
pub const FUTURE: &str = "2031-01-01T00:00:00Z";
pub const PAST: &str = "2029-12-01T00:00:00Z";

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32]).unwrap()
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every file under `dir`, by relative path.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn write_tree(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    write_tree(to, &read_tree(from));
}

/// Root `signed` with the given root keys/threshold and one key each for the other roles.
pub fn root_signed(
    version: u64,
    expires: &str,
    root_keys: &[&SigningKey],
    threshold: u64,
    targets: &SigningKey,
    snapshot: &SigningKey,
    timestamp: &SigningKey,
) -> Value {
    let mut keys = serde_json::Map::new();
    for k in root_keys.iter().chain([&targets, &snapshot, &timestamp]) {
        keys.insert(k.keyid(), json!(k.public()));
    }
    let ids: Vec<String> = root_keys.iter().map(|k| k.keyid()).collect();
    json!({
        "_type": "root", "spec_version": "1.0.31", "version": version, "expires": expires,
        "consistent_snapshot": true, "keys": keys,
        "roles": {
            "root": {"keyids": ids, "threshold": threshold},
            "targets": {"keyids": [targets.keyid()], "threshold": 1},
            "snapshot": {"keyids": [snapshot.keyid()], "threshold": 1},
            "timestamp": {"keyids": [timestamp.keyid()], "threshold": 1},
        },
    })
}

pub fn signed_bytes(signed: &Value, keys: &[&SigningKey]) -> Vec<u8> {
    to_bytes(&sign(signed, keys).unwrap())
}

pub fn targets_signed(version: u64, expires: &str, files: &[(&str, &[u8])]) -> Value {
    let mut t = serde_json::Map::new();
    for (name, bytes) in files {
        let custom =
            json!({"stella": {"usage": name.trim_end_matches(".json"), "status": "active"}});
        t.insert(name.to_string(), target_entry(bytes, Some(custom)));
    }
    json!({"_type": "targets", "spec_version": "1.0.31", "version": version, "expires": expires,
        "targets": t})
}

pub fn snapshot_signed(version: u64, expires: &str, targets_meta: Value) -> Value {
    json!({"_type": "snapshot", "spec_version": "1.0.31", "version": version, "expires": expires,
        "meta": {"targets.json": targets_meta}})
}

pub fn timestamp_signed(version: u64, expires: &str, snapshot_bytes: &[u8], sv: u64) -> Value {
    json!({"_type": "timestamp", "spec_version": "1.0.31", "version": version, "expires": expires,
        "meta": {"snapshot.json": meta_entry(snapshot_bytes, sv)}})
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    stella_tuf::keys::hex(&sha2::Sha256::digest(b))
}

/// A static file server on 127.0.0.1 for `dir`; `/endless` streams without end. Returns the base URL.
pub fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line
                    .split(' ')
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                if path.ends_with("endless") || path.contains("endless.") {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                    let chunk = vec![b' '; 64 * 1024];
                    while stream.write_all(&chunk).is_ok() {}
                    return;
                }
                match std::fs::read(dir.join(path))
                    .ok()
                    .filter(|_| !path.contains(".."))
                {
                    Some(body) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(&body);
                    }
                    None => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/")
}
