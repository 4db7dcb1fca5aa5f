//! Running the services: `stella serve` (Authority + Signer in one process), `stella-authority` and
//! `stella-signer` (each on its own). Binaries parse arguments into [`ServeOptions`] and call [`run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{app, authority_app, signer_app, system_clock, Config, Roles, Stack};
use crate::jose::JwkSet;

/// What to run and where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Keys and state; created on first run.
    pub data_dir: PathBuf,
    /// The address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// A JSON configuration file (see [`Config`]); defaults otherwise.
    pub config: Option<PathBuf>,
    /// Which services.
    pub roles: Roles,
    /// For a Signer on its own: the Authority's base URL (its JWKS and license keys are fetched
    /// from there and refreshed every minute).
    pub authority_url: Option<String>,
    /// More services in the same process (`stella serve` attaches the Attestor): called once the
    /// stack is open, with the stack and its public URL; the routes it returns are served too.
    pub attach: Option<Attach>,
    /// Turn the dev identity on (`stella serve` does, when it runs without a configuration file).
    pub dev_identity: bool,
}

/// Builds the routes of an attached service from the open stack and its public URL.
pub type AttachFn = dyn Fn(&Arc<Stack>, &str) -> Result<axum::Router, String> + Send + Sync;

/// See [`ServeOptions::attach`].
#[derive(Clone)]
pub struct Attach(pub Arc<AttachFn>);

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attach(..)")
    }
}

/// Why the services could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error(transparent)]
    Start(#[from] super::StartError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the Authority at {url}: {reason}")]
    Authority { url: String, reason: String },
    #[error("a Signer on its own needs --authority URL")]
    NoAuthority,
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Loads the configuration file, or the defaults.
pub fn load_config(path: Option<&PathBuf>) -> Result<Config, RunError> {
    match path {
        None => Ok(Config::default()),
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| RunError::Config {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            Config::parse(&bytes).map_err(|reason| RunError::Config {
                path: p.clone(),
                reason,
            })
        }
    }
}

/// Logs to stderr through `tracing`: `STELLA_LOG` = error, warn, info (default) or debug.
pub fn init_tracing() {
    let level = match std::env::var("STELLA_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Binds, opens the state and serves until Ctrl-C / SIGTERM. `ready` is told the bound address
/// once the services answer.
pub async fn run(
    opts: ServeOptions,
    ready: impl FnOnce(SocketAddr, &Arc<Stack>),
) -> Result<(), RunError> {
    let mut cfg = load_config(opts.config.as_ref())?;
    cfg.dev_identity |= opts.dev_identity;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| RunError::Listen {
        addr: opts.listen,
        source,
    })?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let own_url = format!("{scheme}://{addr}");
    if !opts.roles.authority {
        let url = opts.authority_url.clone().ok_or(RunError::NoAuthority)?;
        let trust = fetch_trust(&url).await?;
        cfg.issuer = Some(trust.issuer.clone());
        let stack = Stack::open_roles(&opts.data_dir, opts.roles, cfg, &own_url, system_clock())?;
        stack.attach_remote_attestor()?;
        stack.set_trust(trust.authority, trust.license, trust.license_issuer);
        let refresher = stack.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                match fetch_trust(&url).await {
                    Ok(t) => refresher.set_trust(t.authority, t.license, t.license_issuer),
                    Err(e) => tracing::warn!(error = %e, "keeping the last Authority keys"),
                }
            }
        });
        ready(addr, &stack);
        return super::serve(listener, signer_app(stack), shutdown())
            .await
            .map_err(RunError::Serve);
    }
    let stack = Stack::open_roles(&opts.data_dir, opts.roles, cfg, &own_url, system_clock())?;
    if stack.cfg.release_keys.is_empty() && opts.roles.signer {
        tracing::warn!("no release_keys configured: the scanner release-integrity check is off");
    }
    let rotator = stack.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(300)).await;
            match rotator.rotate_keys() {
                Ok(true) => tracing::info!("Authority key set rotated"),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "Authority key rotation failed"),
            }
        }
    });
    let mut router = if opts.roles.signer {
        app(stack.clone())
    } else {
        authority_app(stack.clone())
    };
    if opts.roles.signer {
        stack.attach_remote_attestor()?;
    }
    if let Some(Attach(attach)) = &opts.attach {
        let extra = attach(&stack, &stack.public_url).map_err(|reason| RunError::Config {
            path: opts.config.clone().unwrap_or_default(),
            reason,
        })?;
        router = router.merge(extra);
    }
    ready(addr, &stack);
    match &stack.cfg.tls {
        Some(tls) => {
            let config = super::tls::server_config(tls).map_err(|reason| RunError::Config {
                path: opts.config.clone().unwrap_or_default(),
                reason,
            })?;
            super::tls::serve_tls(listener, router, config, shutdown())
                .await
                .map_err(RunError::Serve)
        }
        None => super::serve(listener, router, shutdown())
            .await
            .map_err(RunError::Serve),
    }
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}

/// What a Signer on its own takes from its Authority.
#[derive(Debug)]
pub struct Trust {
    pub issuer: String,
    pub authority: JwkSet,
    pub license: JwkSet,
    pub license_issuer: String,
}

/// Fetches the Authority's issuer, OpTok keys and license keys.
pub async fn fetch_trust(url: &str) -> Result<Trust, RunError> {
    let base = url.trim_end_matches('/');
    let err = |reason: String| RunError::Authority {
        url: base.to_owned(),
        reason,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("{url}: HTTP {}", r.status()));
            }
            r.bytes().await.map_err(|e| format!("{url}: {e}"))
        }
    };
    let disc: Value = serde_json::from_slice(
        &get("/.well-known/openid-configuration")
            .await
            .map_err(err)?,
    )
    .map_err(|e| err(format!("discovery is not JSON: {e}")))?;
    let issuer = disc
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| err("discovery has no issuer".into()))?
        .to_owned();
    let license_issuer = disc
        .get("stella_license_issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| err("discovery has no stella_license_issuer".into()))?
        .to_owned();
    let authority =
        JwkSet::parse(&get("/jwks").await.map_err(err)?).map_err(|e| err(format!("/jwks: {e}")))?;
    let license = JwkSet::parse(&get("/license/jwks").await.map_err(err)?)
        .map_err(|e| err(format!("/license/jwks: {e}")))?;
    Ok(Trust {
        issuer,
        authority,
        license,
        license_issuer,
    })
}
