//! The Attestor (DESIGN.md §8): every attestation the stack signs is logged in an append-only,
//! verifiable transparency log, timestamped, and handed back as a Sigstore bundle v0.3 that standard
//! Sigstore verifiers accept given the stack's `trusted_root.json`.
//!
//! The pure, synchronous modules (bytes in, values out; no clock, files or network of their own):
//!
//! - [`tsa`]: RFC 3161 Time-Stamp Authority (TimeStampReq in, TimeStampResp out) and verifier.
//!
//! (modules are added as they land)

pub mod tsa;
