//! Frontend speed on the corpus app image with BuildKit's mounts emulated in-process
//! (`stella_frontend::testing::Bridge` serving the unpacked rootfs over an in-memory HTTP/2
//! connection): medians over RUNS (default 7) of one whole frontend run with the warmed-base fast
//! path (the base's fragment ExecOp already cached, as on a warmed BuildKit; the DiffOp and the
//! fragment ExecOp over it run again each time, as for a new build), one with the full
//! path, and Trivy (offline) on the same final rootfs.
//!
//!   cargo bench -p stella-frontend --bench frontend [-- RUNS]   (or scripts/bench-frontend.sh)
//!
//! Needs CORPUS_DIR (tests/corpus/build-corpus.sh), umoci, and TRIVY_VENV for the Trivy column.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stella_frontend::flow::{self, Env};
use stella_frontend::testing::{Bridge, Config};

const BASE: &str = "docker.io/library/debian:bookworm";
const APP_CONFIG: &str = r#"{"created":"2024-05-06T07:08:09Z","architecture":"amd64","os":"linux","config":{"Entrypoint":["/usr/bin/node"],"Cmd":["/srv/app/index.js"],"WorkingDir":"/srv/app"}}"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unpack(corpus: &Path, tag: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("frontend-corpus");
    let root = out.join(tag);
    let done = out.join(format!("{tag}.done"));
    if !done.is_file() {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&out).unwrap();
        let st = Command::new("umoci")
            .args(["raw", "unpack", "--image"])
            .arg(format!("{}:{tag}", corpus.join("oci").display()))
            .arg(&root)
            .stdout(Stdio::null())
            .status()
            .expect("umoci");
        assert!(st.success(), "umoci raw unpack {tag}");
        std::fs::write(&done, b"").unwrap();
    }
    root
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn one_run(bridge: &Bridge, env: &Env) -> (Duration, bool) {
    let (a, b) = tokio::io::duplex(4 << 20);
    let server_bridge = bridge.clone();
    let server =
        tokio::spawn(async move { stella_frontend::testing::serve(&server_bridge, b).await });
    let start = Instant::now();
    let channel = stella_frontend::transport::channel_over(a).await.unwrap();
    let client = stella_frontend::transport::client(channel);
    let outcome = flow::run(client, env).await.expect("frontend run");
    let took = start.elapsed();
    server.abort();
    (took, outcome.scans.iter().all(|s| s.fast))
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let corpus = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/corpus"));
    if !corpus.join("oci/.done").is_file() {
        eprintln!(
            "SKIP: no corpus at {} (tests/corpus/build-corpus.sh)",
            corpus.display()
        );
        return;
    }
    let app = unpack(&corpus, "app");
    let minbase = unpack(&corpus, "minbase");

    let mut config = Config::new(app.clone());
    config.images.insert(BASE.to_owned(), minbase.clone());
    config.dockerfile = Some((
        "Dockerfile".to_owned(),
        "FROM debian:bookworm\nCOPY . /srv/app\n".to_owned(),
    ));
    config
        .configs
        .insert("linux/amd64".to_owned(), APP_CONFIG.to_owned());
    let bridge = Bridge::new(config);
    let env = |fast: bool| {
        let mut opts = BTreeMap::new();
        opts.insert(
            "source".to_owned(),
            "registry.test/stella/frontend:1".to_owned(),
        );
        opts.insert("filename".to_owned(), "Dockerfile".to_owned());
        if !fast {
            opts.insert("build-arg:STELLA_FAST_PATH".to_owned(), "false".to_owned());
        }
        Env {
            opts,
            session_id: "bench".to_owned(),
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // Warm the base (the fragment ExecOp runs once and is cached) and the page cache.
    let (warm, fast_used) = rt.block_on(one_run(&bridge, &env(true)));
    assert!(fast_used, "the fast path was not taken");
    eprintln!(
        "warm-up (fragment ExecOp of the base, cold): {:.0} ms",
        warm.as_secs_f64() * 1e3
    );
    rt.block_on(one_run(&bridge, &env(false)));

    let trivy = std::env::var_os("TRIVY_VENV")
        .or_else(|| std::env::var_os("STELLA_VENV"))
        .map(PathBuf::from)
        .filter(|v| v.join("bin/trivy").is_file());
    let trivy_once = |venv: &Path| -> Duration {
        let out = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let st = Command::new("bash")
            .arg(repo_root().join("tests/corpus/trivy-offline.sh"))
            .arg("rootfs")
            .arg(&app)
            .args(["--format", "cyclonedx", "-o"])
            .arg(out.path().join("t.json"))
            .env("TRIVY_VENV", venv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("trivy");
        assert!(st.success(), "trivy failed");
        start.elapsed()
    };
    if let Some(v) = &trivy {
        trivy_once(v);
    }

    let (mut fast, mut full, mut tri) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // A new build on the warmed base: the base's fragment ExecOp is cached, the DiffOp and the
        // fragment ExecOp over it run again (in-process here, inside BuildKit's container there).
        bridge.forget_build_cache();
        fast.push(rt.block_on(one_run(&bridge, &env(true))).0);
        full.push(rt.block_on(one_run(&bridge, &env(false))).0);
        if let Some(v) = &trivy {
            tri.push(trivy_once(v));
        }
    }
    let (f, u) = (median(fast), median(full));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("frontend on the corpus app image ({runs} runs, medians, BuildKit mounts emulated in-process)");
    println!(
        "  fast path (warmed base, diff ExecOp): {:8.1} ms  {}",
        ms(f),
        if ms(f) <= 300.0 {
            "(target <= 300 ms: met)"
        } else {
            "(target <= 300 ms: NOT met)"
        }
    );
    println!(
        "  full path (whole rootfs walked):      {:8.1} ms  full/fast = {:.2}",
        ms(u),
        ms(u) / ms(f)
    );
    if tri.is_empty() {
        println!("  trivy rootfs (offline):               skipped (no TRIVY_VENV with bin/trivy)");
    } else {
        let t = median(tri);
        println!("  trivy rootfs (offline):               {:8.1} ms  trivy/fast = {:.2}, trivy/full = {:.2}", ms(t), ms(t) / ms(f), ms(t) / ms(u));
    }
}
