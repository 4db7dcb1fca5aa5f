//! The Attestor (DESIGN.md §8): every attestation the stack signs is logged in an append-only,
//! verifiable transparency log, timestamped, and handed back as a Sigstore bundle v0.3 that standard
//! Sigstore verifiers accept given the stack's `trusted_root.json`.
//!
//! The pure, synchronous modules (bytes in, values out; no clock, files or network of their own):
//!
//! (modules are added as they land)

/// Sigstore bundle v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json`).
pub mod bundle;
/// RFC 8785 canonical JSON, the form Rekor v2 hashes entry bodies in.
pub mod jcs;
/// Rekor v2 `hashedrekord` v0.0.2 requests and entry bodies, and transparency-log entries.
pub mod rekor;
/// Sigstore TrustedRoot, SigningConfig v0.2 and ClientTrustConfig documents.
pub mod trust_root;
