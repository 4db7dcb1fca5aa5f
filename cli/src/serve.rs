//! `stella serve` and `stella license`: the Authority + Signer stack in one process, and licenses for
//! self-hosted use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use attestor::service::{system_clock_ms, Attestor, AttestorConfig, KeylessTrust};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use signer_gateway::jose::b64url_decode;
use signer_gateway::service::client::DpopClient;
use signer_gateway::service::license::{issue_license_token, LicenseTerms};
use signer_gateway::service::run::{init_tracing, load_config, run, Attach, ServeOptions};
use signer_gateway::service::{system_clock, Roles, Stack};

use crate::exit;

/// The stack's keyless CA chain and CT key, for the Attestor's trusted root.
pub fn keyless_trust(stack: &Stack) -> KeylessTrust {
    let (ca_chain_der, ct_spki_der) = stack.keyless_trust();
    KeylessTrust {
        ca_chain_der,
        ct_spki_der,
    }
}

/// The default data directory: `$STELLA_DATA_DIR`, else `$XDG_DATA_HOME/stella`, else
/// `~/.local/share/stella`, else `./stella-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("stella");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/stella"),
        None => PathBuf::from("stella-data"),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Keys and state; created on first run (keys mode 0600). Default: $XDG_DATA_HOME/stella.
    #[arg(long, env = "STELLA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8440")]
    listen: SocketAddr,
    /// JSON configuration: trusted CI issuers, identity rules, plans, limits.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// What `stella serve` runs: the Authority and Signer with the Attestor (log, TSA) attached, and a
/// TUF repository made in `DATA_DIR/tuf` served as-is. Without a configuration file (the embedded
/// default) the dev identity for the local user is on. `stella demo` runs the same, in-process.
pub fn serve_options(
    data_dir: PathBuf,
    listen: SocketAddr,
    config: Option<PathBuf>,
) -> ServeOptions {
    let attestor_dir = data_dir.clone();
    ServeOptions {
        dev_identity: config.is_none(),
        data_dir,
        listen,
        config,
        roles: Roles::BOTH,
        authority_url: None,
        attach: Some(Attach(Arc::new(move |stack, url| {
            let cfg = AttestorConfig::from_json(&stack.cfg.attestor, url)?;
            let att = Attestor::open(&attestor_dir, cfg, keyless_trust(stack), system_clock_ms())
                .map_err(|e| e.to_string())?;
            stack.set_transparency(att.clone());
            let routes = attestor::service::routes(att);
            // A TUF repository made with `stella trust repo init DATA_DIR/tuf` is served as-is,
            // also when it is made (or republished) while the stack runs: files are read per
            // request, and a missing one is a 404.
            Ok(routes.merge(crate::tuf_cmd::routes(attestor_dir.join("tuf"))))
        }))),
    }
}

pub fn run_serve(args: ServeArgs) -> u8 {
    init_tracing();
    let opts = serve_options(
        args.data_dir.unwrap_or_else(default_data_dir),
        args.listen,
        args.config,
    );
    let data_dir = opts.data_dir.clone();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stella serve: cannot start the runtime: {e}");
            return exit::FAILURE;
        }
    };
    let result = runtime.block_on(run(opts, |addr, _| {
        eprintln!(
            "stella serve: Authority + Signer + Attestor (log, TSA) on http://{addr} (data: {}); Ctrl-C stops",
            data_dir.display()
        );
    }));
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("stella serve: {e}");
            exit::FAILURE
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Issue a License Token with this installation's license key (offline, on the data directory).
    Issue(IssueArgs),
    /// Enroll a License Token with the installation key: get a PoE bound to that key.
    Enroll(EnrollArgs),
    /// Show a PoE's terms and, with --server, whether it is still active.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    #[arg(long, env = "STELLA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The customer the license is for.
    #[arg(long)]
    customer: String,
    /// The plan (as configured; built in: team, enterprise).
    #[arg(long, default_value = "team")]
    plan: String,
    /// Lifetime in days.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Newest scanner release year the license covers.
    #[arg(long)]
    valid_release_year: u32,
    /// Newest scanner version the license covers.
    #[arg(long)]
    max_version: String,
    /// Where to write the token (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The Authority's URL.
    #[arg(long)]
    server: String,
    /// File holding the License Token.
    #[arg(long)]
    license_token: PathBuf,
    /// The installation key (PEM PKCS#8 P-256; created with mode 0600 if missing).
    #[arg(long)]
    key: PathBuf,
    /// Where to write the PoE.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// File holding the PoE.
    #[arg(long)]
    poe: PathBuf,
    /// Ask this Authority whether the PoE is active (revocation, expiry).
    #[arg(long)]
    server: Option<String>,
    /// Machine-readable output.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    format: String,
}

pub fn run_license(cmd: LicenseCommand) -> u8 {
    let result = match cmd {
        LicenseCommand::Issue(a) => issue(a),
        LicenseCommand::Enroll(a) => enroll(a),
        LicenseCommand::Status(a) => status(a),
    };
    match result {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("stella license: {msg}");
            code
        }
    }
}

type Outcome = Result<u8, (u8, String)>;

fn issue(a: IssueArgs) -> Outcome {
    let cfg = load_config(a.config.as_ref()).map_err(|e| (exit::USAGE, e.to_string()))?;
    if !cfg.plans.contains_key(&a.plan) {
        let known: Vec<_> = cfg.plans.keys().cloned().collect();
        return Err((
            exit::USAGE,
            format!(
                "plan {} is not configured (known: {})",
                a.plan,
                known.join(", ")
            ),
        ));
    }
    let dir = a.data_dir.unwrap_or_else(default_data_dir);
    let roles = Roles {
        authority: true,
        signer: false,
    };
    let stack = Stack::open_roles(&dir, roles, cfg, "http://localhost", system_clock())
        .map_err(|e| (exit::FAILURE, e.to_string()))?;
    let terms = LicenseTerms {
        customer_id: a.customer,
        plan: a.plan,
        valid_release_year: a.valid_release_year,
        max_version: a.max_version,
        lifetime_secs: a.days.saturating_mul(86_400),
    };
    let (id, token) = issue_license_token(stack.license_signer(), &terms, (stack.now)())
        .map_err(|e| (exit::FAILURE, e))?;
    write_out(a.out.as_ref(), &token)?;
    eprintln!("stella license: issued {id}");
    Ok(exit::OK)
}

fn write_out(out: Option<&PathBuf>, text: &str) -> Result<(), (u8, String)> {
    match out {
        Some(p) => signer_gateway::service::state::write_private(p, format!("{text}\n").as_bytes())
            .map_err(|e| (exit::OUTPUT, e.to_string())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

fn read_token(path: &PathBuf, what: &str) -> Result<String, (u8, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| (exit::SOURCE, format!("{what} {}: {e}", path.display())))?;
    let t = text.trim().to_owned();
    if t.is_empty() || t.len() > 16 * 1024 || t.split('.').count() != 3 {
        return Err((
            exit::SOURCE,
            format!("{what} {}: not a JWT", path.display()),
        ));
    }
    Ok(t)
}

fn runtime() -> Result<tokio::runtime::Runtime, (u8, String)> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (exit::FAILURE, format!("cannot start the runtime: {e}")))
}

fn enroll(a: EnrollArgs) -> Outcome {
    let lt = read_token(&a.license_token, "license token")?;
    let client = DpopClient::load_or_create(&a.key).map_err(|e| (exit::SOURCE, e.to_string()))?;
    let answer = runtime()?
        .block_on(client.enroll(&a.server, &lt))
        .map_err(|e| (exit::REGISTRY, e.to_string()))?;
    let poe = answer
        .get("poe")
        .and_then(Value::as_str)
        .ok_or((exit::FAILURE, "the answer has no PoE".to_owned()))?;
    write_out(Some(&a.out), poe)?;
    eprintln!(
        "stella license: enrolled {} as {} (installation key {}), PoE written to {}",
        answer
            .get("license_id")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        answer.get("poe_id").and_then(Value::as_str).unwrap_or("?"),
        client.jkt(),
        a.out.display()
    );
    Ok(exit::OK)
}

fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&b64url_decode(payload).ok()?).ok()
}

fn status(a: StatusArgs) -> Outcome {
    let poe = read_token(&a.poe, "PoE")?;
    let claims = claims_of(&poe).ok_or((exit::SOURCE, "the PoE payload is not JSON".to_owned()))?;
    let online = match &a.server {
        None => None,
        Some(server) => {
            let url = format!("{}/license/introspect", server.trim_end_matches('/'));
            let v: Value = runtime()?
                .block_on(async { reqwest_json(&url, &json!({"poe": poe})).await })
                .map_err(|e| (exit::REGISTRY, e))?;
            Some(v)
        }
    };
    let active = online
        .as_ref()
        .map(|v| v.get("active").and_then(Value::as_bool).unwrap_or(false));
    if a.format == "json" {
        println!(
            "{}",
            json!({"claims": claims, "active": active, "introspection": online})
        );
    } else {
        let g = |k: &str| claims.get(k).map(|v| v.to_string()).unwrap_or_default();
        println!("license   {}", g("license_id"));
        println!("customer  {}", g("customer_id"));
        println!("plan      {} {}", g("plan"), g("quotas"));
        println!(
            "releases  up to {} / version {}",
            g("valid_release_year"),
            g("max_version")
        );
        println!("expires   {} (unix time)", g("exp"));
        println!(
            "bound to  {}",
            claims
                .pointer("/cnf/jkt")
                .map(|v| v.to_string())
                .unwrap_or_default()
        );
        match &online {
            Some(v) => println!(
                "active    {}{}",
                active.unwrap_or(false),
                v.get("reason")
                    .and_then(Value::as_str)
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            None => println!("active    not checked (give --server)"),
        }
    }
    Ok(if active == Some(false) {
        exit::NOT_FOUND
    } else {
        exit::OK
    })
}

async fn reqwest_json(url: &str, body: &Value) -> Result<Value, String> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let r = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url}: HTTP {}", r.status()));
    }
    r.json().await.map_err(|e| format!("{url}: {e}"))
}
