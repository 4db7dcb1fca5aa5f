//! The Attestor service: the transparency log behind the Rekor v2 write API and the C2SP static
//! reads, the RFC 3161 timestamp authority, and the Attestor API that turns a signed DSSE envelope
//! into a Sigstore bundle v0.3 (DESIGN.md §8).
//!
//! State lives under `DIR/attestor/`: `log-key.pk8` (Ed25519, 0600), `log/` (the C2SP tree:
//! `checkpoint`, `tile/...`, any static web server can serve it), `tsa/` (the TSA chain and key),
//! `entries/<uuid>.json` (the bundles handed out, for `GET /rekor/entries/{uuid}`).

mod api;
mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use signer_gateway::dsse::Envelope;

use crate::bundle::{Bundle, BundleContent, VerificationContent, BUNDLE_V03_MEDIA_TYPE};
use crate::merkle::Hash;
use crate::rekor::{HashedRekordV002, InclusionProof, TlogEntry, Verifier};
use crate::sequencer::{Backend, BatchConfig, Sequencer, SequencerError};
use crate::shared::PgSequencer;
use crate::store::{Appended, LogStore};
use crate::trust_root::{
    rfc3339, CertificateAuthority as TrustedCa, SigningConfig, TransparencyLogInstance,
    TrustedRoot, ValidFor,
};
use crate::tsa::TimestampAuthority;

pub use api::{app, routes};

/// The uuid of an entry: lower-case hex of its leaf hash.
pub fn hex_id(leaf: &Hash) -> String {
    api::hex(leaf)
}

/// Milliseconds since the Unix epoch.
pub type ClockMs = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock, in milliseconds.
pub fn system_clock_ms() -> ClockMs {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

/// How the Attestor runs.
#[derive(Debug, Clone)]
pub struct AttestorConfig {
    /// The URL clients reach this service at (log, TSA and Attestor API), without a trailing `/`.
    pub public_url: String,
    /// The checkpoint origin; default `<host of public_url>/log`. Fixed at the first run.
    pub origin: Option<String>,
    /// Sequencer batching.
    pub batch: BatchConfig,
    /// Largest request body accepted (`POST /rekor/entries` carries whole DSSE envelopes).
    pub max_body_bytes: usize,
    /// Largest body of the Rekor v2 write API and the TSA.
    pub max_entry_bytes: usize,
    /// `x5t#S256` thumbprints of the client certificates allowed to `POST /rekor/entries` (the
    /// Signer's). Empty with `open_writes = false`: only in-process callers may write.
    pub writers: Vec<String>,
    /// Lets `POST /rekor/entries` be called without a client certificate (tests, a loopback-only
    /// single-user install). Off by default.
    pub open_writes: bool,
    /// Forward writes to an external Rekor v2 (primary, then mirror) instead of the local log.
    pub upstream: Option<UpstreamSettings>,
    /// Several nodes on one log: the PostgreSQL connection string of the shared sequencer
    /// ([`crate::shared`]); every node opens the same `data_dir` on a shared filesystem.
    pub sequencer_postgres: Option<String>,
}

impl AttestorConfig {
    /// Defaults for a service at `public_url`.
    pub fn new(public_url: impl Into<String>) -> AttestorConfig {
        AttestorConfig {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            origin: None,
            batch: BatchConfig::default(),
            max_body_bytes: 16 * 1024 * 1024,
            max_entry_bytes: 128 * 1024,
            writers: Vec::new(),
            open_writes: false,
            upstream: None,
            sequencer_postgres: None,
        }
    }
}

/// The `attestor` section of the stack's configuration file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    origin: Option<String>,
    max_batch: Option<usize>,
    max_delay_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    #[serde(default)]
    writers: Vec<String>,
    #[serde(default)]
    open_writes: bool,
    upstream: Option<UpstreamFile>,
    sequencer: Option<SequencerFile>,
}

/// `attestor.sequencer`: several nodes on one log.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SequencerFile {
    /// PostgreSQL connection string (`host=/run/postgresql dbname=stella` or a URL).
    postgres: String,
}

/// `attestor.upstream`: forward to an external Rekor v2.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamFile {
    primary: UpstreamLogFile,
    mirror: Option<UpstreamLogFile>,
    #[serde(default = "default_threshold")]
    failure_threshold: u32,
    #[serde(default = "default_open_ms")]
    open_timeout_ms: u64,
    #[serde(default = "default_upstream_timeout_ms")]
    timeout_ms: u64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamLogFile {
    url: String,
    /// The checkpoint origin (the log key's name).
    origin: String,
    /// Its Ed25519 public key, base64 SPKI DER.
    public_key: String,
}

fn default_threshold() -> u32 {
    3
}
fn default_open_ms() -> u64 {
    30_000
}
fn default_upstream_timeout_ms() -> u64 {
    5_000
}

/// A log the Attestor forwards to in upstream mode.
#[derive(Debug, Clone)]
pub struct UpstreamLog {
    pub url: String,
    pub origin: String,
    pub spki_der: Vec<u8>,
}

impl UpstreamLog {
    /// Its Rekor v2 log id: SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ Ed25519 key).
    pub fn log_id(&self) -> [u8; 32] {
        use sha2::Digest;
        let raw = self
            .spki_der
            .get(self.spki_der.len().saturating_sub(32)..)
            .unwrap_or(&[]);
        let mut h = sha2::Sha256::new();
        h.update(self.origin.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(raw);
        h.finalize().into()
    }
}

/// Upstream mode settings.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub logs: Vec<UpstreamLog>,
    pub breaker: crate::breaker::BreakerConfig,
    pub timeout: std::time::Duration,
}

impl AttestorConfig {
    /// Reads the `attestor` section of the configuration (`null` = defaults): `origin`,
    /// `max_batch`, `max_delay_ms`, `max_body_bytes`, `writers`, `open_writes`, `upstream`
    /// and `sequencer` (`{"postgres": "<connection string>"}`, exclusive with `upstream`).
    pub fn from_json(v: &Value, public_url: &str) -> Result<AttestorConfig, String> {
        let f: FileConfig = if v.is_null() {
            FileConfig::default()
        } else {
            serde_json::from_value(v.clone()).map_err(|e| format!("attestor: {e}"))?
        };
        let mut c = AttestorConfig::new(public_url);
        c.origin = f.origin;
        if let Some(n) = f.max_batch {
            if n == 0 || n > 65_536 {
                return Err(format!("attestor.max_batch is {n}; use 1 to 65536"));
            }
            c.batch.max_batch = n;
        }
        if let Some(ms) = f.max_delay_ms {
            if ms > 10_000 {
                return Err(format!("attestor.max_delay_ms is {ms}; at most 10000"));
            }
            c.batch.max_delay = std::time::Duration::from_millis(ms);
        }
        if let Some(b) = f.max_body_bytes {
            c.max_body_bytes = b;
        }
        c.writers = f.writers;
        c.open_writes = f.open_writes;
        if let Some(sq) = f.sequencer {
            if f.upstream.is_some() {
                return Err(
                    "attestor.sequencer and attestor.upstream exclude each other: an upstream \
                     Attestor keeps no log of its own"
                        .into(),
                );
            }
            sq.postgres
                .parse::<postgres::Config>()
                .map_err(|e| format!("attestor.sequencer.postgres: {e}"))?;
            c.sequencer_postgres = Some(sq.postgres);
        }
        if let Some(u) = f.upstream {
            let log = |l: UpstreamLogFile, what: &str| -> Result<UpstreamLog, String> {
                use base64::Engine;
                let spki_der = base64::engine::general_purpose::STANDARD
                    .decode(l.public_key.trim())
                    .map_err(|_| format!("attestor.upstream.{what}.public_key is not base64"))?;
                crate::note::NoteVerifier::from_spki(&l.origin, &spki_der).map_err(|e| {
                    format!("attestor.upstream.{what}.public_key is not an Ed25519 key: {e}")
                })?;
                Ok(UpstreamLog {
                    url: l.url.trim_end_matches('/').to_owned(),
                    origin: l.origin,
                    spki_der,
                })
            };
            let mut logs = vec![log(u.primary, "primary")?];
            if let Some(m) = u.mirror {
                logs.push(log(m, "mirror")?);
            }
            c.upstream = Some(UpstreamSettings {
                logs,
                breaker: crate::breaker::BreakerConfig {
                    failure_threshold: u.failure_threshold,
                    open_timeout_ms: u.open_timeout_ms,
                    ..Default::default()
                },
                timeout: std::time::Duration::from_millis(u.timeout_ms.max(1)),
            });
        }
        Ok(c)
    }
}

/// The CA and CT log the stack's keyless certificates come from (the Signer's), for the trusted
/// root.
#[derive(Debug, Clone, Default)]
pub struct KeylessTrust {
    /// The CA chain, root last.
    pub ca_chain_der: Vec<Vec<u8>>,
    /// The CT log's public key.
    pub ct_spki_der: Vec<u8>,
}

/// Why the Attestor could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum AttestorError {
    #[error("attestor state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("the log: {0}")]
    Log(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the timestamp authority: {0}")]
    Tsa(String),
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
}

/// What the sequencer hands each submitter.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub appended: Appended,
    pub size: u64,
    pub root: Hash,
    pub checkpoint: Arc<str>,
    pub proof: Vec<Hash>,
}

impl Receipt {
    /// The entry's index (new or the existing one of a duplicate).
    pub fn index(&self) -> u64 {
        match self.appended {
            Appended::New(i) | Appended::Duplicate(i) => i,
        }
    }
}

struct StoreBackend {
    store: Arc<RwLock<LogStore>>,
    /// Several nodes on one log: appends go through the PostgreSQL sequencer.
    shared: Option<PgSequencer>,
}

impl Backend for StoreBackend {
    type Receipt = Receipt;
    fn append(&mut self, entries: &[Vec<u8>]) -> Result<Vec<Receipt>, String> {
        let mut st = self
            .store
            .write()
            .map_err(|_| "the log store lock is poisoned".to_owned())?;
        let out = match &mut self.shared {
            None => st.append_batch(entries).map_err(|e| e.to_string())?,
            Some(pg) => pg.append(&mut st, entries)?,
        };
        let checkpoint: Arc<str> = out.checkpoint.as_str().into();
        let indices: Vec<u64> = out.indices.iter().map(|a| a.index()).collect();
        let proofs = st
            .inclusion_proofs(&indices, out.size)
            .map_err(|e| e.to_string())?;
        Ok(out
            .indices
            .iter()
            .zip(proofs)
            .map(|(a, proof)| Receipt {
                appended: *a,
                size: out.size,
                root: out.root,
                checkpoint: checkpoint.clone(),
                proof,
            })
            .collect())
    }
}

/// A logged attestation.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Hex SHA-256 leaf hash of the entry body: the entry's stable id.
    pub uuid: String,
    pub index: u64,
    /// The entry was already in the log (the same digest, signature and verifier).
    pub duplicate: bool,
    pub tlog_entry: TlogEntry,
    pub bundle: Bundle,
}

/// The Attestor: log, TSA and bundle assembly.
pub struct Attestor {
    pub cfg: AttestorConfig,
    origin: String,
    log_id: [u8; 32],
    log_spki: Vec<u8>,
    created_secs: u64,
    store: Arc<RwLock<LogStore>>,
    /// Other nodes append to the same directory: reads catch up first.
    shared: bool,
    seq: Sequencer<Receipt>,
    /// Upstream mode: where writes and reads go instead of the local log.
    upstream: Option<crate::upstream::Upstream>,
    tsa: TimestampAuthority,
    tsa_valid_from: u64,
    keyless: RwLock<KeylessTrust>,
    dir: PathBuf,
    rng: SystemRandom,
    now_ms: ClockMs,
}

impl std::fmt::Debug for Attestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestor")
            .field("origin", &self.origin)
            .field("public_url", &self.cfg.public_url)
            .finish_non_exhaustive()
    }
}

impl Attestor {
    /// Opens (creating on first run) the Attestor's state under `data_dir/attestor` and starts
    /// the sequencer on the current tokio runtime.
    pub fn open(
        data_dir: &Path,
        cfg: AttestorConfig,
        keyless: KeylessTrust,
        now_ms: ClockMs,
    ) -> Result<Arc<Attestor>, AttestorError> {
        let rng = SystemRandom::new();
        let dir = data_dir.join("attestor");
        let now = now_ms();
        let open_all = || -> Result<_, AttestorError> {
            let st = state::open(&dir, &cfg, now, &rng)?;
            let store = LogStore::open(&dir.join("log"), st.signer, now).map_err(|e| {
                AttestorError::State {
                    path: dir.join("log"),
                    reason: e.to_string(),
                }
            })?;
            Ok((store, st.created_secs, st.tsa, st.tsa_valid_from))
        };
        let (opened, shared) = match &cfg.sequencer_postgres {
            None => (open_all()?, None),
            Some(url) => {
                // Under the startup lock, on a thread of its own (the PostgreSQL client blocks,
                // and `open` may be called on an async runtime).
                let mut pg = PgSequencer::new(url.clone());
                let opened = std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut inner = None;
                        pg.startup(|| {
                            inner = Some(open_all());
                            Ok(())
                        })
                        .map_err(AttestorError::Log)?;
                        inner.ok_or_else(|| AttestorError::Log("startup did not run".into()))?
                    })
                    .join()
                    .map_err(|_| AttestorError::Log("node startup panicked".into()))?
                })?;
                (opened, Some(pg))
            }
        };
        let (store, created_secs, tsa, tsa_valid_from) = opened;
        let origin = store.signer().name().to_owned();
        let log_id = store.signer().log_id();
        let log_spki = store.signer().spki_der();
        let is_shared = shared.is_some();
        let store = Arc::new(RwLock::new(store));
        let seq = Sequencer::start(
            StoreBackend {
                store: store.clone(),
                shared,
            },
            cfg.batch,
        );
        let upstream = match &cfg.upstream {
            None => None,
            Some(u) => Some(
                crate::upstream::Upstream::new(crate::upstream::UpstreamConfig {
                    primary: u.logs.first().map(|l| l.url.clone()).unwrap_or_default(),
                    mirror: u.logs.get(1).map(|l| l.url.clone()),
                    breaker: u.breaker,
                    timeout: u.timeout,
                    cache_dir: dir.join("upstream-cache"),
                })
                .map_err(|e| AttestorError::Log(e.to_string()))?,
            ),
        };
        Ok(Arc::new(Attestor {
            cfg,
            origin,
            log_id,
            log_spki,
            created_secs,
            store,
            shared: is_shared,
            seq,
            upstream,
            tsa,
            tsa_valid_from,
            keyless: RwLock::new(keyless),
            dir,
            rng,
            now_ms,
        }))
    }

    /// The checkpoint origin (also the log key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The Rekor v2 log id: SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ Ed25519 key).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The log's Ed25519 public key (SPKI DER).
    pub fn log_public_key(&self) -> &[u8] {
        &self.log_spki
    }

    /// The TSA's chain, leaf first.
    pub fn tsa_chain(&self) -> Vec<Vec<u8>> {
        self.tsa.chain_der()
    }

    /// The current signed checkpoint.
    pub fn checkpoint(&self) -> Result<String, AttestorError> {
        Ok(self.read_store()?.checkpoint().to_owned())
    }

    /// Replaces the keyless CA / CT material (a Signer on its own learns it later).
    pub fn set_keyless_trust(&self, k: KeylessTrust) {
        if let Ok(mut w) = self.keyless.write() {
            *w = k;
        }
    }

    fn read_store(&self) -> Result<std::sync::RwLockReadGuard<'_, LogStore>, AttestorError> {
        if self.shared {
            // Other nodes' batches: reading the small checkpoint file, and the new leaves when
            // it moved.
            self.store
                .write()
                .map_err(|_| AttestorError::Log("the log store lock is poisoned".into()))?
                .catch_up()
                .map_err(|e| AttestorError::Log(e.to_string()))?;
        }
        self.store
            .read()
            .map_err(|_| AttestorError::Log("the log store lock is poisoned".into()))
    }

    /// Appends a canonical hashedrekord body; waits until a checkpoint covers it.
    pub async fn append(&self, body: Vec<u8>) -> Result<Receipt, AttestorError> {
        Ok(self.seq.submit(body).await?)
    }

    /// A fresh inclusion proof for `index` against the current checkpoint.
    pub fn prove(&self, index: u64) -> Result<(InclusionProof, Vec<u8>), AttestorError> {
        let st = self.read_store()?;
        let size = st.size();
        if index >= size {
            return Err(AttestorError::BadRequest(format!(
                "index {index} is beyond the log size {size}"
            )));
        }
        let hashes = st
            .inclusion_proof(index, size)
            .map_err(|e| AttestorError::Log(e.to_string()))?;
        let body = st
            .entry(index)
            .map_err(|e| AttestorError::Log(e.to_string()))?;
        Ok((
            InclusionProof {
                log_index: index,
                root_hash: st.root().to_vec(),
                tree_size: size,
                hashes: hashes.iter().map(|h| h.to_vec()).collect(),
                checkpoint: st.checkpoint().to_owned(),
            },
            body,
        ))
    }

    /// The index of the entry with this leaf hash.
    pub fn lookup(&self, leaf: &Hash) -> Result<Option<u64>, AttestorError> {
        Ok(self.read_store()?.lookup(leaf))
    }

    /// A C2SP static file (`checkpoint`, `tile/...`).
    pub fn read_static(&self, path: &str) -> Result<Option<Vec<u8>>, AttestorError> {
        self.read_store()?
            .read_static(path)
            .map_err(|e| AttestorError::Log(e.to_string()))
    }

    /// The upstream client, in upstream mode.
    pub fn upstream(&self) -> Option<&crate::upstream::Upstream> {
        self.upstream.as_ref()
    }

    /// The transparency-log entry of a receipt.
    pub fn tlog_entry(&self, r: &Receipt, body: Vec<u8>) -> TlogEntry {
        TlogEntry {
            log_index: r.index(),
            log_id: self.log_id.to_vec(),
            kind: "hashedrekord".into(),
            version: "0.0.2".into(),
            integrated_time: None,
            inclusion_promise: None,
            inclusion_proof: InclusionProof {
                log_index: r.index(),
                root_hash: r.root.to_vec(),
                tree_size: r.size,
                hashes: r.proof.iter().map(|h| h.to_vec()).collect(),
                checkpoint: r.checkpoint.to_string(),
            },
            canonicalized_body: body,
        }
    }

    /// An RFC 3161 timestamp response over `message`.
    pub fn timestamp(&self, message: &[u8]) -> Result<Vec<u8>, AttestorError> {
        self.tsa
            .timestamp_message(message, (self.now_ms)(), self.serial()?, &self.rng)
            .map_err(|e| AttestorError::Tsa(e.to_string()))
    }

    /// Answers a DER TimeStampReq.
    pub fn timestamp_request(&self, request_der: &[u8]) -> Result<Vec<u8>, AttestorError> {
        self.tsa
            .respond(request_der, (self.now_ms)(), self.serial()?, &self.rng)
            .map_err(|e| AttestorError::Tsa(e.to_string()))
    }

    fn serial(&self) -> Result<u128, AttestorError> {
        let mut b = [0u8; 16];
        self.rng
            .fill(&mut b)
            .map_err(|_| AttestorError::Tsa("no randomness for the serial number".into()))?;
        // Positive and non-zero: DER INTEGERs of serials must be positive.
        Ok((u128::from_be_bytes(b) >> 1) | 1)
    }

    /// Logs a signed DSSE envelope: checks its signature by the certificate's (or key's) P-256
    /// key, timestamps the signature, appends the hashedrekord entry over SHA-256(PAE) and
    /// assembles the Sigstore bundle v0.3.
    pub async fn log_dsse(
        &self,
        envelope: &Envelope,
        content: VerificationContent,
    ) -> Result<Logged, AttestorError> {
        let (verifier, spki) = match &content {
            VerificationContent::Certificate(der) => (
                Verifier::X509Certificate { der: der.clone() },
                spki_of(der)?,
            ),
            VerificationContent::X509Chain(chain) => {
                let leaf = chain.first().ok_or_else(|| {
                    AttestorError::BadRequest("the certificate chain is empty".into())
                })?;
                (
                    Verifier::X509Certificate { der: leaf.clone() },
                    spki_of(leaf)?,
                )
            }
            VerificationContent::PublicKey { .. } => {
                return Err(AttestorError::BadRequest(
                    "a public-key bundle needs the key itself: use log_dsse_with_key".into(),
                ))
            }
        };
        self.log_verified(envelope, content, verifier, &spki).await
    }

    /// Logs a DSSE envelope signed by a plain P-256 key (`spki_der`); the bundle names the key by
    /// `hint`.
    pub async fn log_dsse_with_key(
        &self,
        envelope: &Envelope,
        spki_der: &[u8],
        hint: &str,
    ) -> Result<Logged, AttestorError> {
        self.log_verified(
            envelope,
            VerificationContent::PublicKey {
                hint: hint.to_owned(),
            },
            Verifier::PublicKey {
                spki_der: spki_der.to_vec(),
            },
            spki_der,
        )
        .await
    }

    async fn log_verified(
        &self,
        envelope: &Envelope,
        content: VerificationContent,
        verifier: Verifier,
        spki: &[u8],
    ) -> Result<Logged, AttestorError> {
        envelope.verify_p256(spki).map_err(|e| {
            AttestorError::BadRequest(format!(
                "the envelope's signature does not verify with the given key: {e}"
            ))
        })?;
        let signature = envelope
            .signatures
            .first()
            .map(|s| s.sig.clone())
            .ok_or_else(|| AttestorError::BadRequest("the envelope has no signature".into()))?;
        let entry = HashedRekordV002::for_dsse(envelope, verifier)
            .map_err(|e| AttestorError::BadRequest(e.to_string()))?;
        let body = entry
            .canonical_body()
            .map_err(|e| AttestorError::BadRequest(e.to_string()))?;
        let timestamp = self.timestamp(&signature)?;
        let uuid = crate::service::api::hex(&crate::merkle::leaf_hash(&body));
        let (tlog_entry, appended) = match &self.upstream {
            None => {
                let receipt = self.append(body.clone()).await?;
                (self.tlog_entry(&receipt, body), receipt.appended)
            }
            Some(up) => {
                let request = serde_json::to_vec(&entry.request_json()).unwrap_or_default();
                let a = up
                    .submit(&request)
                    .await
                    .map_err(|e| AttestorError::Log(e.to_string()))?;
                match a.status {
                    200 | 201 => {
                        let v: Value = serde_json::from_slice(&a.body).map_err(|e| {
                            AttestorError::Log(format!("the upstream answer is not JSON: {e}"))
                        })?;
                        let t = TlogEntry::from_json(&v)
                            .map_err(|e| AttestorError::Log(format!("the upstream answer: {e}")))?;
                        let index = t.log_index;
                        (t, Appended::New(index))
                    }
                    409 => {
                        return Err(AttestorError::BadRequest(format!(
                            "the upstream log already holds this entry: {}",
                            String::from_utf8_lossy(&a.body)
                        )))
                    }
                    s => {
                        return Err(AttestorError::BadRequest(format!(
                            "the upstream log refused the entry (HTTP {s}): {}",
                            String::from_utf8_lossy(&a.body)
                        )))
                    }
                }
            }
        };
        let receipt_index = tlog_entry.log_index;
        let bundle = Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            content,
            tlog_entries: vec![tlog_entry.clone()],
            rfc3161_timestamps: vec![timestamp],
            body: BundleContent::Dsse(envelope.clone()),
        };
        let duplicate = matches!(appended, Appended::Duplicate(_));
        self.save_bundle(&uuid, &bundle, duplicate)?;
        Ok(Logged {
            uuid,
            index: receipt_index,
            duplicate,
            tlog_entry,
            bundle,
        })
    }

    fn bundle_path(&self, uuid: &str) -> Option<PathBuf> {
        (uuid.len() == 64 && uuid.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join("entries").join(format!("{uuid}.json")))
    }

    fn save_bundle(
        &self,
        uuid: &str,
        bundle: &Bundle,
        duplicate: bool,
    ) -> Result<(), AttestorError> {
        let Some(path) = self.bundle_path(uuid) else {
            return Ok(());
        };
        if duplicate && path.exists() {
            return Ok(());
        }
        signer_gateway::service::state::write_private(&path, &bundle.to_json_bytes()).map_err(|e| {
            AttestorError::State {
                path: path.clone(),
                reason: e.to_string(),
            }
        })
    }

    /// The bundle handed out for `uuid`, if any.
    pub fn saved_bundle(&self, uuid: &str) -> Option<Value> {
        let bytes = std::fs::read(self.bundle_path(uuid)?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The stack's Sigstore TrustedRoot: this log, the keyless CA, the CT log and the TSA.
    pub fn trusted_root(&self) -> TrustedRoot {
        let keyless = self.keyless.read().map(|k| k.clone()).unwrap_or_default();
        trusted_root_of(&TrustInputs {
            public_url: &self.cfg.public_url,
            log_spki: &self.log_spki,
            log_id: self.log_id,
            created_secs: self.created_secs,
            tsa_chain: self.tsa.chain_der(),
            tsa_valid_from: self.tsa_valid_from,
            keyless: &keyless,
            upstream: self
                .cfg
                .upstream
                .as_ref()
                .map(|u| u.logs.as_slice())
                .unwrap_or(&[]),
        })
    }

    /// A Sigstore ClientTrustConfig: the trusted root plus where the services are.
    pub fn client_trust_config(&self) -> Value {
        let signing = signing_config(&self.cfg.public_url, self.created_secs);
        crate::trust_root::client_trust_config(&self.trusted_root(), &signing)
    }
}

/// What the trusted root is made of.
struct TrustInputs<'a> {
    public_url: &'a str,
    log_spki: &'a [u8],
    log_id: [u8; 32],
    created_secs: u64,
    tsa_chain: Vec<Vec<u8>>,
    tsa_valid_from: u64,
    keyless: &'a KeylessTrust,
    upstream: &'a [UpstreamLog],
}

fn trusted_root_of(t: &TrustInputs<'_>) -> TrustedRoot {
    let keyless = t.keyless;
    let url = t.public_url;
    let mut root = TrustedRoot {
        tlogs: vec![TransparencyLogInstance {
            base_url: url.to_owned(),
            hash_algorithm: "SHA2_256".into(),
            public_key_der: t.log_spki.to_vec(),
            key_details: crate::rekor::KeyDetails::PkixEd25519,
            valid_for: ValidFor {
                start: rfc3339(t.created_secs),
                end: None,
            },
            log_id: t.log_id.to_vec(),
            checkpoint_key_id: None,
        }],
        certificate_authorities: Vec::new(),
        ctlogs: Vec::new(),
        timestamp_authorities: vec![TrustedCa {
            organization: "Stella Ops".into(),
            common_name: "stella timestamp authority".into(),
            uri: format!("{url}/api/v1/timestamp"),
            cert_chain_der: t.tsa_chain.clone(),
            valid_for: ValidFor {
                start: rfc3339(t.tsa_valid_from),
                end: None,
            },
        }],
    };
    // Upstream mode: the logs entries actually go to (their keys' start is not known here).
    for l in t.upstream {
        root.tlogs.push(TransparencyLogInstance {
            base_url: l.url.clone(),
            hash_algorithm: "SHA2_256".into(),
            public_key_der: l.spki_der.clone(),
            key_details: crate::rekor::KeyDetails::PkixEd25519,
            valid_for: ValidFor {
                start: rfc3339(0),
                end: None,
            },
            log_id: l.log_id().to_vec(),
            checkpoint_key_id: None,
        });
    }
    if let Some(ca_root) = keyless.ca_chain_der.last() {
        let start = not_before(ca_root).unwrap_or(t.created_secs);
        root.certificate_authorities.push(TrustedCa {
            organization: "Stella Ops".into(),
            common_name: "stella keyless CA".into(),
            uri: url.to_owned(),
            cert_chain_der: keyless.ca_chain_der.clone(),
            valid_for: ValidFor {
                start: rfc3339(start),
                end: None,
            },
        });
        if !keyless.ct_spki_der.is_empty() {
            root.ctlogs.push(TransparencyLogInstance {
                base_url: format!("{url}/ct"),
                hash_algorithm: "SHA2_256".into(),
                public_key_der: keyless.ct_spki_der.clone(),
                key_details: crate::rekor::KeyDetails::PkixEcdsaP256Sha256,
                valid_for: ValidFor {
                    start: rfc3339(start),
                    end: None,
                },
                log_id: {
                    use sha2::Digest;
                    sha2::Sha256::digest(&keyless.ct_spki_der).to_vec()
                },
                checkpoint_key_id: None,
            });
        }
    }
    root
}

/// The trusted root and ClientTrustConfig of the Attestor state under `data_dir` (created if
/// missing), without opening the log: safe while a server runs on the same directory.
pub fn export_trust(
    data_dir: &Path,
    cfg: &AttestorConfig,
    keyless: &KeylessTrust,
    now_ms: u64,
) -> Result<(TrustedRoot, Value), AttestorError> {
    let st = state::open(
        &data_dir.join("attestor"),
        cfg,
        now_ms,
        &SystemRandom::new(),
    )?;
    let root = trusted_root_of(&TrustInputs {
        public_url: &cfg.public_url,
        log_spki: &st.signer.spki_der(),
        log_id: st.signer.log_id(),
        created_secs: st.created_secs,
        tsa_chain: st.tsa.chain_der(),
        tsa_valid_from: st.tsa_valid_from,
        keyless,
        upstream: cfg
            .upstream
            .as_ref()
            .map(|u| u.logs.as_slice())
            .unwrap_or(&[]),
    });
    let signing = signing_config(&cfg.public_url, st.created_secs);
    let ctc = crate::trust_root::client_trust_config(&root, &signing);
    Ok((root, ctc))
}

/// Where the stack's services are, for clients that sign (ClientTrustConfig's signing config).
fn signing_config(url: &str, since: u64) -> SigningConfig {
    let service = |path: &str, v: u32| crate::trust_root::Service {
        url: format!("{url}{path}"),
        major_api_version: v,
        valid_for: ValidFor {
            start: rfc3339(since),
            end: None,
        },
        operator: "stella-ops".into(),
    };
    let any = || crate::trust_root::ServiceConfiguration {
        selector: crate::trust_root::ServiceSelector::Any,
        count: None,
    };
    SigningConfig {
        ca_urls: vec![service("", 1)],
        oidc_urls: vec![service("", 1)],
        rekor_tlog_urls: vec![service("", 2)],
        tsa_urls: vec![service("/api/v1/timestamp", 1)],
        rekor_tlog_config: Some(any()),
        tsa_config: Some(any()),
    }
}

fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>, AttestorError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| AttestorError::BadRequest(format!("the certificate does not parse: {e}")))?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

fn not_before(cert_der: &[u8]) -> Option<u64> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    u64::try_from(cert.validity().not_before.timestamp()).ok()
}

impl signer_gateway::service::transparency::Transparency for Attestor {
    fn log<'a>(
        &'a self,
        envelope: &'a Envelope,
        by: signer_gateway::service::transparency::SignedBy<'a>,
    ) -> signer_gateway::service::transparency::LogFuture<'a> {
        use signer_gateway::service::transparency::{LogReceipt, SignedBy};
        Box::pin(async move {
            let logged = match by {
                SignedBy::Certificate { der, .. } => {
                    self.log_dsse(envelope, VerificationContent::Certificate(der.to_vec()))
                        .await
                }
                SignedBy::Key { spki, key_id } => {
                    self.log_dsse_with_key(envelope, spki, key_id).await
                }
            }
            .map_err(|e| e.to_string())?;
            Ok(LogReceipt {
                uuid: logged.uuid,
                index: logged.index,
                log_url: self.cfg.public_url.clone(),
                bundle: logged.bundle.to_json(),
            })
        })
    }
}
