//! `stella demo`: the whole product loop on the embedded default, in one process, with no external
//! service. Each step is the real command (`cp`, `scan`, `sbom push`, `attest`, `trust export`,
//! `verify`, `trust bundle create`), parsed by clap from the argv a user would type — which the demo
//! prints — and run in-process; the stack is what `stella serve` runs, on its own thread and runtime
//! on 127.0.0.1:0. The demo adds only the glue: the per-layer table, readiness, and the tampering.
//!
//! Everything goes under `--out` (default target/demo), with fixed names:
//!
//! ```text
//! image/                   the copied image, then its referrers (SBOM, Sigstore bundle)
//! sbom.cdx.json            the CycloneDX SBOM
//! data/                    the stack's data directory (keys, log, TSA; client/dpop-key.pem)
//! attestation.sigstore.json  the Sigstore bundle
//! trusted_root.json        the stack's trusted root (`stella trust export`)
//! trust-bundle.tar.zst     the offline trust bundle (`stella trust bundle create`)
//! tampered/                the image with a bundle one byte of whose signed statement was changed
//! ```

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use registry::referrers::{Artifact, ANNOTATION_BUNDLE_PREDICATE_TYPE, ARTIFACT_SIGSTORE_BUNDLE};
use registry::target::{self, Target};
use registry::PushOptions;
use serde_json::Value;

use crate::exit;

pub const AFTER_HELP: &str = "\
Runs, with no external service and in a few seconds:
  1. stella cp IMAGE oci:OUT/image:demo          a fresh copy: IMAGE is never modified
  2. stella scan                                 the SBOM, and the components each layer introduced
  3. stella serve (in-process, 127.0.0.1:0)      Authority + Signer + Attestor, dev identity
  4. stella sbom push                            the SBOM as an OCI referrer of the image
  5. stella attest --server URL                  signed, logged, the Sigstore bundle attached
  6. stella trust export + stella verify         online, with the stack's trusted root
  7. stella trust bundle create                  the offline trust bundle
  8. stella verify --offline --trust-bundle      offline
  9. a tampered copy (one byte of the signed statement changed) must fail verification
Each step prints the command it runs; the files in OUT have fixed names and are replaced on each run.

Exit codes: 0 every step passed; otherwise the failing step's exit code (see `stella --help`),
with a message naming the step.";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The image to run the loop on (anything `stella cp` reads, e.g. oci:DIR:TAG). Default: the
    /// corpus app image, oci:$CORPUS_DIR/oci:app (CORPUS_DIR default target/corpus).
    #[arg(long)]
    image: Option<String>,
    /// Where everything goes (fixed file names, replaced on each run).
    #[arg(long, default_value = "target/demo")]
    out: PathBuf,
}

/// A failure: exit code and message.
type Failure = (u8, String);

/// The tag of the copied image.
const TAG: &str = "demo";
/// How many steps [`demo`] runs.
const STEPS: usize = 9;
/// How long the stack may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(args: DemoArgs) -> u8 {
    let started = Instant::now();
    let mut steps = Steps::default();
    match demo(&args, &mut steps) {
        Ok(()) => {
            println!(
                "\nstella demo: all {STEPS} steps passed in {:.2}s; files in {}",
                started.elapsed().as_secs_f64(),
                args.out.display()
            );
            exit::OK
        }
        Err((code, msg)) if steps.n == 0 => {
            eprintln!("stella demo: {msg}");
            code
        }
        Err((code, msg)) => {
            eprintln!(
                "stella demo: step {}/{STEPS} ({}) failed: {msg}",
                steps.n, steps.title
            );
            code
        }
    }
}

/// Numbers, times and names the steps.
#[derive(Debug, Default)]
struct Steps {
    n: usize,
    title: &'static str,
}

impl Steps {
    fn run<T>(
        &mut self,
        title: &'static str,
        f: impl FnOnce() -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.n += 1;
        self.title = title;
        println!("\n[{}/{STEPS}] {title}", self.n);
        let t = Instant::now();
        let value = f()?;
        println!("    ok ({:.2}s)", t.elapsed().as_secs_f64());
        Ok(value)
    }
}

/// The files of the demo (see the module docs).
struct Paths {
    out: PathBuf,
    layout: PathBuf,
    sbom: PathBuf,
    data: PathBuf,
    bundle: PathBuf,
    root: PathBuf,
    trust_bundle: PathBuf,
    tampered: PathBuf,
}

impl Paths {
    fn new(out: &Path) -> Paths {
        Paths {
            out: out.to_path_buf(),
            layout: out.join("image"),
            sbom: out.join("sbom.cdx.json"),
            data: out.join("data"),
            bundle: out.join("attestation.sigstore.json"),
            root: out.join("trusted_root.json"),
            trust_bundle: out.join("trust-bundle.tar.zst"),
            tampered: out.join("tampered"),
        }
    }

    /// Removes what an earlier run left (only the demo's own names: OUT may hold other files).
    /// Refuses to when the source image is one of them.
    fn clear(&self, source: &str) -> Result<(), Failure> {
        if let Ok(Target::Layout { path, .. }) = Target::parse(source) {
            let own = |dir: &Path| {
                let (Ok(src), Ok(dir)) = (path.canonicalize(), dir.canonicalize()) else {
                    return false;
                };
                src.starts_with(dir)
            };
            if own(&self.layout) || own(&self.tampered) {
                return Err((
                    exit::USAGE,
                    format!(
                        "the image {source} is the demo's own output, which each run replaces: \
                         copy it elsewhere first (stella cp {source} oci:DIR:TAG) or give another --out"
                    ),
                ));
            }
        }
        std::fs::create_dir_all(&self.out)
            .map_err(|e| (exit::OUTPUT, format!("{}: {e}", self.out.display())))?;
        for dir in [&self.layout, &self.data, &self.tampered] {
            match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err((exit::OUTPUT, format!("{}: {e}", dir.display())));
                }
                _ => {}
            }
        }
        for file in [&self.sbom, &self.bundle, &self.root, &self.trust_bundle] {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err((exit::OUTPUT, format!("{}: {e}", file.display())));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn image(&self) -> String {
        format!("oci:{}:{TAG}", self.layout.display())
    }

    fn tampered_image(&self) -> String {
        format!("oci:{}:{TAG}", self.tampered.display())
    }
}

/// The corpus app image, where `scripts/demo.sh` builds it.
fn default_image() -> Result<String, Failure> {
    let corpus = std::env::var_os("CORPUS_DIR")
        .map_or_else(|| PathBuf::from("target/corpus"), PathBuf::from);
    let layout = corpus.join("oci");
    if !layout.join("index.json").is_file() {
        return Err((
            exit::SOURCE,
            format!(
                "the corpus image {} is not built: run scripts/demo.sh (or \
                 tests/corpus/build-corpus.sh), set CORPUS_DIR, or give --image oci:DIR:TAG",
                layout.display()
            ),
        ));
    }
    Ok(format!("oci:{}:app", layout.display()))
}

fn demo(args: &DemoArgs, steps: &mut Steps) -> Result<(), Failure> {
    let p = Paths::new(&args.out);
    let source = match &args.image {
        Some(i) => i.clone(),
        None => default_image()?,
    };
    println!(
        "stella demo: the whole loop on {source}, in this process (no external service); output in {}",
        p.out.display()
    );
    let image = p.image();

    steps.run("copy the image into a fresh OCI layout", || {
        p.clear(&source)?;
        stella_ok("cp", &[&source, &image, &"--no-referrers"], |a: Argv<_>| {
            crate::cp::run(a.args)
        })
    })?;

    steps.run("scan it: the SBOM, and what each layer introduced", || {
        stella_ok("scan", &[&image, &"--output", &p.sbom], |a: Argv<_>| {
            crate::scan::run(a.args)
        })?;
        print_layers(&p.sbom)
    })?;

    let url = steps.run(
        "start the embedded stack (Authority + Signer + Attestor, dev identity)",
        || start_stack(&p.data),
    )?;

    steps.run("attach the SBOM as an OCI referrer of the image", || {
        stella_ok(
            "sbom",
            &[&"push", &image, &"--sbom", &p.sbom],
            |s: Sub<_>| crate::referrers::run_sbom(s.cmd),
        )
    })?;

    steps.run(
        "attest: sign, log, attach the Sigstore bundle as a referrer",
        || {
            let key = p.data.join("client").join("dpop-key.pem");
            stella_ok(
                "attest",
                &[
                    &image,
                    &"--sbom",
                    &p.sbom,
                    &"--server",
                    &url,
                    &"--key",
                    &key,
                    &"--bundle-out",
                    &p.bundle,
                    &"--dev-identity",
                ],
                |a: Argv<_>| crate::attest::run(a.args),
            )?;
            list_referrers(&image)
        },
    )?;

    steps.run("verify online, with the stack's trusted root", || {
        stella_ok(
            "trust",
            &[
                &"export",
                &"--data-dir",
                &p.data,
                &"--url",
                &url,
                &"--trusted-root",
                &p.root,
            ],
            |s: Sub<_>| crate::trust::run(s.cmd),
        )?;
        stella_ok(
            "verify",
            &[&image, &"--trusted-root", &p.root],
            |a: Argv<_>| crate::verify::run(a.args),
        )
    })?;

    steps.run("create the offline trust bundle", || {
        stella_ok(
            "trust",
            &[
                &"bundle",
                &"create",
                &"--data-dir",
                &p.data,
                &"--url",
                &url,
                &"--image",
                &image,
                &"--out",
                &p.trust_bundle,
            ],
            |s: Sub<_>| crate::trust::run(s.cmd),
        )
    })?;

    steps.run("verify offline, from the trust bundle alone", || {
        stella_ok(
            "verify",
            &[&image, &"--offline", &"--trust-bundle", &p.trust_bundle],
            |a: Argv<_>| crate::verify::run(a.args),
        )
    })?;

    steps.run(
        "tamper: a copy whose bundle has one byte changed must fail",
        || {
            tamper(&p)?;
            let code = stella(
                "verify",
                &[
                    &p.tampered_image(),
                    &"--offline",
                    &"--trust-bundle",
                    &p.trust_bundle,
                ],
                |a: Argv<_>| crate::verify::run(a.args),
            )?;
            if code == exit::NOT_VERIFIED {
                println!("    refused, as it must be (exit {code})");
                Ok(())
            } else {
                Err((
                    exit::FAILURE,
                    format!(
                    "verification of the tampered copy exited with {code}, not {} (not verified)",
                    exit::NOT_VERIFIED
                ),
                ))
            }
        },
    )?;
    Ok(())
}

/// One command's arguments (what follows `stella NAME`).
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct Argv<T: Args> {
    #[command(flatten)]
    args: T,
}

/// A command group's arguments (what follows `stella NAME`, e.g. `push …` of `sbom`).
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct Sub<T: Subcommand> {
    #[command(subcommand)]
    cmd: T,
}

/// Runs `stella NAME ARGV…` in-process, printing the command line first; the command's exit code.
/// The command prints its own output and errors.
fn stella<P: Parser>(
    name: &str,
    argv: &[&dyn AsRef<OsStr>],
    run: impl FnOnce(P) -> u8,
) -> Result<u8, Failure> {
    let argv: Vec<OsString> = argv.iter().map(|a| a.as_ref().to_owned()).collect();
    let shown: Vec<String> = argv
        .iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect();
    println!("    $ stella {name} {}", shown.join(" "));
    let parsed =
        P::try_parse_from(&argv).map_err(|e| (exit::USAGE, format!("stella {name}: {e}")))?;
    Ok(run(parsed))
}

/// [`stella`], where anything but success is a failure.
fn stella_ok<P: Parser>(
    name: &str,
    argv: &[&dyn AsRef<OsStr>],
    run: impl FnOnce(P) -> u8,
) -> Result<(), Failure> {
    match stella(name, argv, run)? {
        exit::OK => Ok(()),
        code => Err((
            code,
            format!("`stella {name}` exited with {code} (its message is above)"),
        )),
    }
}

/// The per-layer table: for each layer of the image, its diffID and how many components it
/// introduced (the scanner records on each component the layer that introduced it).
fn print_layers(sbom: &Path) -> Result<(), Failure> {
    let bytes =
        std::fs::read(sbom).map_err(|e| (exit::SOURCE, format!("{}: {e}", sbom.display())))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| (exit::SOURCE, format!("{} is not JSON: {e}", sbom.display())))?;
    // Layer index → (diffID, components introduced).
    let mut layers: BTreeMap<u64, (String, usize)> = BTreeMap::new();
    let image = doc.pointer("/metadata/component").unwrap_or(&Value::Null);
    for (name, value) in properties(image) {
        if let Some(index) = name
            .strip_prefix("stella:layer:")
            .and_then(|i| i.parse().ok())
        {
            layers.insert(index, (value.to_owned(), 0));
        }
    }
    let (mut total, mut no_layer) = (0usize, 0usize);
    let mut pending: Vec<&Value> = doc
        .get("components")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    while let Some(c) = pending.pop() {
        total += 1;
        let index = properties(c)
            .find(|(name, _)| *name == "stella:layer:index")
            .and_then(|(_, v)| v.parse::<u64>().ok());
        match index {
            Some(i) => layers.entry(i).or_insert_with(|| ("?".to_owned(), 0)).1 += 1,
            None => no_layer += 1,
        }
        if let Some(nested) = c.get("components").and_then(Value::as_array) {
            pending.extend(nested);
        }
    }
    println!("    layer  diffID               components");
    for (index, (diff_id, count)) in &layers {
        let short = diff_id.get(..19).unwrap_or(diff_id);
        println!("    {index:>5}  {short:<19}  {count:>10}");
    }
    if no_layer > 0 {
        println!("           (not from a layer)   {no_layer:>10}");
    }
    println!(
        "    {total} components in {} layers, written to {}",
        layers.len(),
        sbom.display()
    );
    Ok(())
}

/// The CycloneDX `properties` of a component, as (name, value).
fn properties(component: &Value) -> impl Iterator<Item = (&str, &str)> {
    component
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name").and_then(Value::as_str)?,
                p.get("value").and_then(Value::as_str)?,
            ))
        })
}

/// Starts what `stella serve` runs on its embedded default, on 127.0.0.1:0 with `data_dir`, on its
/// own thread and runtime (it stops when the process exits), and waits until it answers `/readyz`.
/// Its base URL.
fn start_stack(data_dir: &Path) -> Result<String, Failure> {
    let opts = crate::serve::serve_options(
        data_dir.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
    );
    println!(
        "    (what `stella serve --data-dir {} --listen 127.0.0.1:0` runs, in this process)",
        data_dir.display()
    );
    // The bound address once the services are up, or why the stack stopped.
    let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
    std::thread::Builder::new()
        .name("stella-demo-stack".into())
        .spawn(move || {
            let ready = tx.clone();
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))
                .and_then(|runtime| {
                    runtime
                        .block_on(signer_gateway::service::run::run(opts, move |addr, _| {
                            let _ = ready.send(Ok(addr));
                        }))
                        .map_err(|e| e.to_string())
                });
            let _ = tx.send(Err(result.err().unwrap_or_else(|| "it stopped".into())));
        })
        .map_err(|e| {
            (
                exit::FAILURE,
                format!("cannot start the stack's thread: {e}"),
            )
        })?;
    let started = Instant::now();
    let stopped = |e: String| (exit::FAILURE, format!("the stack did not start: {e}"));
    let addr = rx
        .recv_timeout(READY_TIMEOUT)
        .map_err(|_| stopped(format!("no answer in {}s", READY_TIMEOUT.as_secs())))?
        .map_err(stopped)?;
    let url = format!("http://{addr}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| (exit::FAILURE, e.to_string()))?;
    let readyz = format!("{url}/readyz");
    loop {
        let last = match runtime.block_on(async { http.get(&readyz).send().await }) {
            Ok(r) if r.status().is_success() => break,
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        if let Ok(Err(e)) = rx.try_recv() {
            return Err(stopped(e));
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(stopped(format!(
                "{readyz} not ready after {}s ({last})",
                READY_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("    ready on {url}");
    Ok(url)
}

/// `stella referrers IMAGE`: what is attached now.
fn list_referrers(image: &str) -> Result<(), Failure> {
    stella_ok("referrers", &[&image], |a: Argv<_>| {
        crate::referrers::run_referrers(a.args)
    })
}

/// Makes `tampered/`: the image copied without its referrers, then the attestation's Sigstore bundle
/// attached with one byte of its signed statement changed (the subject digest's first hex digit: the
/// attestation now claims another image). Everything else is left as `stella attest` made it, so
/// the copy is a well-formed layout and only the signature can tell.
fn tamper(p: &Paths) -> Result<(), Failure> {
    let tampered = p.tampered_image();
    stella_ok(
        "cp",
        &[&p.image(), &tampered, &"--no-referrers"],
        |a: Argv<_>| crate::cp::run(a.args),
    )?;
    let what = |e: String| (exit::SOURCE, format!("{}: {e}", p.bundle.display()));
    let bytes = std::fs::read(&p.bundle).map_err(|e| what(e.to_string()))?;
    let mut bundle: Value = serde_json::from_slice(&bytes).map_err(|e| what(e.to_string()))?;
    let payload = bundle
        .pointer_mut("/dsseEnvelope/payload")
        .ok_or_else(|| what("no DSSE payload".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut statement = b64
        .decode(payload.as_str().unwrap_or_default())
        .map_err(|e| what(format!("the DSSE payload is not base64: {e}")))?;
    let parsed: Value = serde_json::from_slice(&statement)
        .map_err(|e| what(format!("the statement is not JSON: {e}")))?;
    let predicate_type = parsed
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let subject = parsed
        .pointer("/subject/0/digest/sha256")
        .and_then(Value::as_str)
        .ok_or_else(|| what("the statement names no sha256 subject".into()))?;
    let at = statement
        .windows(subject.len())
        .position(|w| w == subject.as_bytes())
        .ok_or_else(|| what("the subject digest is not in the statement".into()))?;
    let byte = statement
        .get_mut(at)
        .ok_or_else(|| what("the subject digest is not in the statement".into()))?;
    let was = *byte;
    *byte = if was == b'0' { b'1' } else { b'0' };
    println!(
        "    changed one byte of the signed statement: subject sha256:{}… → sha256:{}{}…",
        subject.get(..12).unwrap_or(subject),
        char::from(*byte),
        subject.get(1..12).unwrap_or_default(),
    );
    *payload = Value::String(b64.encode(&statement));
    let mut content = serde_json::to_vec_pretty(&bundle).unwrap_or_default();
    content.push(b'\n');
    // Attached as `stella attest` attaches a bundle.
    let artifact = Artifact {
        artifact_type: ARTIFACT_SIGSTORE_BUNDLE.to_owned(),
        content,
        annotations: [(ANNOTATION_BUNDLE_PREDICATE_TYPE.to_owned(), predicate_type)]
            .into_iter()
            .collect(),
    };
    let target = Target::parse(&tampered).map_err(|e| (exit::FAILURE, e.to_string()))?;
    let opts = PushOptions {
        insecure: false,
        docker_config: None,
        mount_from: None,
        platform: None,
    };
    let pushed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (exit::FAILURE, format!("cannot start the runtime: {e}")))?
        .block_on(target::push(&target, &artifact, &opts))
        .map_err(|e| (exit::OUTPUT, format!("{tampered}: {e}")))?;
    for r in pushed {
        println!(
            "    attached the tampered bundle {} to {}",
            r.manifest.digest, r.subject.digest
        );
    }
    Ok(())
}
