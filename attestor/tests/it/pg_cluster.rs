//! A throwaway PostgreSQL cluster (Debian's server binaries) on 127.0.0.1 for the tests of the
//! shared sequencer; also used by the CLI's end-to-end tests (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway PostgreSQL cluster on 127.0.0.1, stopped on drop.
pub struct Postgres {
    child: Child,
    /// libpq connection string.
    pub url: String,
    /// The server binaries (psql, pg_isready...).
    pub bindir: PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pg_bindir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("initdb").is_file() {
            return Some(p);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop()
}

/// PostgreSQL refuses to run as root: run it as `nobody` then.
fn as_postgres_user(bin: &Path) -> Command {
    // The effective uid, from /proc (no libc dependency).
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// Starts a cluster; `None` (test skipped) only outside CI when no server is installed.
pub fn start_postgres() -> Option<Postgres> {
    let Some(bin) = pg_bindir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL (Debian package postgresql) must be installed under CI"
        );
        eprintln!("SKIPPED: no PostgreSQL server binaries (apt-get install postgresql)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sock = dir.path().join("sock");
    std::fs::create_dir(&sock).unwrap();
    for p in [dir.path(), sock.as_path()] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).ok();
    }
    let out = as_postgres_user(&bin.join("initdb"))
        .args([
            "-U",
            "stella",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = as_postgres_user(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&sock)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "max_connections=20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pg = Postgres {
        child,
        url: format!("host=127.0.0.1 port={port} user=stella dbname=postgres"),
        bindir: bin.clone(),
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Some(pg);
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Postgres {
    /// One value from `psql -Atc` (the stock client, not ours).
    pub fn psql(&self, q: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "stella",
                "-d",
                "postgres",
                "-Atc",
                q,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}
