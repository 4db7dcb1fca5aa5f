//! The hook through which the Signer has every signature logged: the Attestor implements
//! [`Transparency`] (in-process in `stella serve`, or over mTLS when it runs apart), and the
//! Signer's answer then carries the Sigstore bundle.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::dsse::Envelope;

/// Who signed an envelope.
#[derive(Debug, Clone, Copy)]
pub enum SignedBy<'a> {
    /// A keyless certificate (DER) and the chain above it, root last.
    Certificate { der: &'a [u8], chain: &'a [Vec<u8>] },
    /// The Signer's configured key (SPKI DER) and its key id.
    Key { spki: &'a [u8], key_id: &'a str },
}

/// What logging returns to the Signer.
#[derive(Debug, Clone)]
pub struct LogReceipt {
    /// The entry's id (hex leaf hash).
    pub uuid: String,
    pub index: u64,
    /// The log's base URL.
    pub log_url: String,
    /// The Sigstore bundle v0.3 (JSON).
    pub bundle: Value,
}

/// Boxed future of [`Transparency::log`].
pub type LogFuture<'a> = Pin<Box<dyn Future<Output = Result<LogReceipt, String>> + Send + 'a>>;

/// A transparency log (with its timestamp authority) the Signer hands every signature to.
pub trait Transparency: Send + Sync + std::fmt::Debug {
    /// Logs `envelope`; resolves once the entry is durably in the log, with its bundle.
    fn log<'a>(&'a self, envelope: &'a Envelope, by: SignedBy<'a>) -> LogFuture<'a>;
}
