//! `stella serve` as a process, and `stella license issue | enroll | status` against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{stella, tempdir};

/// A `stella serve` process on a free port, killed on drop.
pub(crate) struct Served {
    pub child: Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(data: &std::path::Path) -> Served {
    serve_with(data, None)
}

/// `stella serve` with a configuration file.
pub(crate) fn serve_with(data: &std::path::Path, config: Option<&std::path::Path>) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd
        .env("STELLA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address is announced on stderr once the port is bound.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = tx.send(format!(
                    "http://{}",
                    rest.split_whitespace().next().unwrap()
                ));
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("stella serve announced its address");
    Served { child, url }
}

fn get(url: &str) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let path = format!(
        "/{}",
        url.trim_start_matches("http://")
            .split_once('/')
            .map(|x| x.1)
            .unwrap_or("")
    );
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(&host) {
            use std::io::{Read, Write};
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            return buf.split_whitespace().nth(1)?.parse().ok();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn serve_issue_enroll_status_and_keys_on_disk() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let served = serve(&data);
    assert_eq!(get(&format!("{}/healthz", served.url)), Some(200));
    assert_eq!(get(&format!("{}/readyz", served.url)), Some(200));
    // Keys were created on first run, owner-only.
    #[cfg(unix)]
    for f in [
        "signer/key.pk8",
        "license/issuer.pk8",
        "secrets/admin-token",
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }

    let lt = dir.path().join("lt.jwt");
    let d = data.to_str().unwrap();
    let out = stella(&[
        "license",
        "issue",
        "--data-dir",
        d,
        "--customer",
        "CUST-ACME",
        "--plan",
        "team",
        "--valid-release-year",
        "2026",
        "--max-version",
        "1.99",
        "--out",
        lt.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = stella(&[
        "license",
        "issue",
        "--data-dir",
        d,
        "--customer",
        "C",
        "--plan",
        "gold",
        "--valid-release-year",
        "2026",
        "--max-version",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plan gold is not configured"));

    let key = dir.path().join("installation.pem");
    let poe = dir.path().join("poe.jwt");
    let out = stella(&[
        "license",
        "enroll",
        "--server",
        &served.url,
        "--license-token",
        lt.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        poe.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .contains("BEGIN PRIVATE KEY"));

    let out = stella(&[
        "license",
        "status",
        "--poe",
        poe.to_str().unwrap(),
        "--server",
        &served.url,
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["claims"]["customer_id"], "CUST-ACME");
    assert_eq!(v["claims"]["plan"], "team");
    assert_eq!(v["claims"]["valid_release_year"], 2026);

    // A License Token made by another installation's key is refused by this one.
    let other = dir.path().join("other");
    let lt2 = dir.path().join("lt2.jwt");
    let out = stella(&[
        "license",
        "issue",
        "--data-dir",
        other.to_str().unwrap(),
        "--customer",
        "X",
        "--valid-release-year",
        "2026",
        "--max-version",
        "1",
        "--out",
        lt2.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = stella(&[
        "license",
        "enroll",
        "--server",
        &served.url,
        "--license-token",
        lt2.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        dir.path().join("p2").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_entitlement"));
    drop(served);

    // Restarted on the same data directory: the PoE issued before still verifies.
    let served = serve(&data);
    let out = stella(&[
        "license",
        "status",
        "--poe",
        poe.to_str().unwrap(),
        "--server",
        &served.url,
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["active"], true, "{v}");
}
