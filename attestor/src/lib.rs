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
//! - [`tsa`]: an RFC 3161 Time-Stamp Authority (TimeStampReq in, TimeStampResp out) and a
//!   verifier for RFC 3161 timestamps (ours and Sigstore's), for the bundle's timestamp.
//! - [`breaker`]: the circuit breaker (Closed / Open / HalfOpen) with the time as an argument.
//!
//! And the edges, which touch the disk, the clock and the network:
//!
//! - [`store`]: the durable log, laid out as a C2SP static tree under one directory.
//! - [`sequencer`]: batches submissions into durable appends (max batch, max delay).


pub mod breaker;
pub mod merkle;
pub mod note;
pub mod sequencer;
pub mod store;
pub mod tiles;
pub mod tsa;
