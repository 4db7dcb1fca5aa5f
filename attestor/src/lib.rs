//! The Attestor (DESIGN.md §8): every attestation the stack signs is logged in an append-only,
//! verifiable transparency log, timestamped, and handed back as a Sigstore bundle v0.3 that standard
//! Sigstore verifiers accept given the stack's `trusted_root.json`.
//!
//! The pure, synchronous modules (bytes in, values out; no clock, files or network of their own):
//!
//! - [`merkle`]: RFC 6962/9162 hashing, inclusion and consistency proofs (verify and generate over a
//!   [`merkle::NodeSource`]), and the compact right edge used to append.
//! - [`tiles`]: C2SP tlog-tiles paths, tiles and entry bundles.
//! - [`note`]: C2SP signed notes and tlog checkpoints with Ed25519 keys.
//! - [`jcs`]: RFC 8785 canonical JSON.
//! - [`rekor`]: Rekor v2 `hashedrekord` v0.0.2 requests (validated like Rekor v2) and entries.
//! - [`bundle`]: Sigstore bundle v0.3.
//! - [`trust_root`]: Sigstore TrustedRoot, SigningConfig and ClientTrustConfig documents.
//! - [`tsa`]: an RFC 3161 Time-Stamp Authority (TimeStampReq in, TimeStampResp out) and a
//!   verifier for RFC 3161 timestamps (ours and Sigstore's), for the bundle's timestamp.
//! - [`breaker`]: the circuit breaker (Closed / Open / HalfOpen) with the time as an argument.
//!
//! And the edges, which touch the disk, the clock and the network:
//!
//! - [`store`]: the durable log, laid out as a C2SP static tree under one directory.
//! - [`sequencer`]: batches submissions into durable appends (max batch, max delay).
//! - [`service`]: the Attestor over HTTP (axum): Rekor v2 write API, C2SP static reads, the TSA,
//!   `POST /rekor/entries` → Sigstore bundle, trusted_root.json / ClientTrustConfig export.
//! - [`shared`]: several nodes on one log: the sequencer lock and record in PostgreSQL, the tiles
//!   on a shared filesystem.
//! - [`upstream`]: forwarding to an external Rekor v2 through the breaker, with mirror failover
//!   and cached tiles.

pub mod breaker;
pub mod bundle;
pub mod jcs;
pub mod merkle;
pub mod note;
pub mod rekor;
pub mod sequencer;
pub mod service;
pub mod shared;
pub mod store;
pub mod tiles;
pub mod trust_root;
pub mod tsa;
pub mod upstream;
pub mod verify;
