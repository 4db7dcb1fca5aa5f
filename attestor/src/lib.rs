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
//!
//! And one module that does touch the disk:
//!
//! - [`store`]: the durable log, laid out as a C2SP static tree under one directory.
//!
//! - [`breaker`]: the circuit breaker (Closed / Open / HalfOpen) with the time as an argument.
//! - [`sequencer`]: batches submissions into durable appends (max batch, max delay).

pub mod breaker;
pub mod merkle;
pub mod note;
pub mod store;
pub mod tiles;
pub mod sequencer;
