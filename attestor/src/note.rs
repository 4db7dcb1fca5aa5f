//! C2SP signed notes (<https://c2sp.org/signed-note>) and tlog checkpoints
//! (<https://c2sp.org/tlog-checkpoint>) with Ed25519 keys.
//!
//! A signed note is UTF-8 text ending in a newline, a blank line, then one or more lines
//! `— <key name> <base64(key hash || signature)>`. The key hash is the first 4 bytes of
//! SHA-256(name || "\n" || 0x01 || public key); the whole digest is the log ID that Rekor v2
//! publishes in `trusted_root.json`. Signatures from keys we were not given (witnesses) are
//! ignored; a signature from our key that does not verify is an error.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ring::rand::SecureRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The signature type byte for Ed25519 keys.
const ALG_ED25519: u8 = 0x01;
/// Largest signed note accepted (a checkpoint is a few hundred bytes; witnesses add lines).
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// Most signature lines accepted in one note (as golang.org/x/mod/sumdb/note).
pub const MAX_SIGNATURES: usize = 100;
/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a note, key or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Key names are non-empty, without spaces, newlines or `+`.
    #[error("invalid key name {0:?}: must be non-empty without whitespace or '+'")]
    BadKeyName(String),
    /// A key could not be read.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
    /// The note text is malformed.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// No signature line from the verifier's key.
    #[error("note has no signature from key {name}+{key_hash}")]
    NoSignature {
        /// The verifier's key name.
        name: String,
        /// Its key hash, hex.
        key_hash: String,
    },
    /// A signature line from our key did not verify.
    #[error("signature from key {name} does not verify")]
    BadSignature {
        /// The key name.
        name: String,
    },
    /// The key could not sign.
    #[error("signing failed")]
    Signing,
    /// The checkpoint body is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
    /// The checkpoint is for another log.
    #[error("checkpoint origin {got:?} is not the expected {expected:?}")]
    WrongOrigin {
        /// Origin line found.
        got: String,
        /// Origin wanted.
        expected: String,
    },
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadKeyName(name.chars().take(200).collect()));
    }
    Ok(())
}

fn key_digest(name: &str, public_key: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public_key);
    h.finalize().into()
}

fn first4(d: &[u8; 32]) -> [u8; 4] {
    [d[0], d[1], d[2], d[3]]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A log's Ed25519 signing key with its note key name (the checkpoint origin).
pub struct NoteSigner {
    name: String,
    pair: Ed25519KeyPair,
    public: [u8; 32],
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_hash", &hex(&self.key_hash()))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer from a PKCS#8 Ed25519 private key (v1 or v2 document).
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<Self, NoteError> {
        check_name(name)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| NoteError::BadKey("not a PKCS#8 Ed25519 private key"))?;
        let public = <[u8; 32]>::try_from(pair.public_key().as_ref())
            .map_err(|_| NoteError::BadKey("Ed25519 public key is not 32 bytes"))?;
        Ok(Self {
            name: name.to_owned(),
            pair,
            public,
        })
    }

    /// A fresh key; returns the signer and its PKCS#8 (v2) document to store.
    pub fn generate(name: &str, rng: &dyn SecureRandom) -> Result<(Self, Vec<u8>), NoteError> {
        check_name(name)?;
        let doc = Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| NoteError::Signing)?;
        let signer = Self::from_pkcs8(name, doc.as_ref())?;
        Ok((signer, doc.as_ref().to_vec()))
    }

    /// The key name (the log origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The public key as DER SubjectPublicKeyInfo (for `trusted_root.json`).
    pub fn spki_der(&self) -> Vec<u8> {
        let mut out = ED25519_SPKI_PREFIX.to_vec();
        out.extend_from_slice(&self.public);
        out
    }

    /// The 4-byte key hash that tags this key's signature lines.
    pub fn key_hash(&self) -> [u8; 4] {
        first4(&self.log_id())
    }

    /// The full SHA-256(name || "\n" || 0x01 || key): Rekor v2's `logId.keyId`.
    pub fn log_id(&self) -> [u8; 32] {
        key_digest(&self.name, &self.public)
    }

    /// The verifier key string `name+hex(key hash)+base64(0x01 || key)`.
    pub fn vkey(&self) -> String {
        vkey_string(&self.name, &self.public)
    }

    /// A verifier for this key.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            public: self.public,
        }
    }

    /// Sign note text (non-empty, ending in a newline, no blank line inside): returns the text,
    /// a blank line and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.pair.sign(text.as_bytes());
        let mut blob = self.key_hash().to_vec();
        blob.extend_from_slice(sig.as_ref());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

fn vkey_string(name: &str, public: &[u8; 32]) -> String {
    let mut key = vec![ALG_ED25519];
    key.extend_from_slice(public);
    format!(
        "{name}+{}+{}",
        hex(&first4(&key_digest(name, public))),
        STANDARD.encode(key)
    )
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "text must be non-empty and end in a newline",
        ));
    }
    if text.contains("\n\n") {
        return Err(NoteError::Malformed("text must not contain a blank line"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("text contains control characters"));
    }
    Ok(())
}

/// A note text whose signature by some key has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Names of the signature lines that were not from the verifier's key (unverified).
    pub other_signers: Vec<String>,
}

/// An Ed25519 note verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    public: [u8; 32],
}

impl NoteVerifier {
    /// A verifier from a key name and raw public key.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            public: public_key,
        })
    }

    /// Parse a verifier key `name+hash+base64(0x01 || key)`; the hash must match.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("verifier key is not name+hash+key"));
        };
        check_name(name)?;
        let key = STANDARD
            .decode(key)
            .map_err(|_| NoteError::BadKey("verifier key is not base64"))?;
        let Some((&ALG_ED25519, public)) = key.split_first() else {
            return Err(NoteError::BadKey(
                "verifier key is not an Ed25519 (0x01) key",
            ));
        };
        let public = <[u8; 32]>::try_from(public)
            .map_err(|_| NoteError::BadKey("Ed25519 key is not 32 bytes"))?;
        let v = Self::new(name, public)?;
        if hash != hex(&v.key_hash()) {
            return Err(NoteError::BadKey(
                "verifier key hash does not match name and key",
            ));
        }
        Ok(v)
    }

    /// A verifier from a DER SubjectPublicKeyInfo holding an Ed25519 key (as in
    /// `trusted_root.json` `publicKey.rawBytes`).
    pub fn from_spki(name: &str, der: &[u8]) -> Result<Self, NoteError> {
        let public = der
            .strip_prefix(&ED25519_SPKI_PREFIX[..])
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or(NoteError::BadKey("not an Ed25519 SubjectPublicKeyInfo"))?;
        Self::new(name, public)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The 4-byte key hash.
    pub fn key_hash(&self) -> [u8; 4] {
        first4(&self.log_id())
    }

    /// The full key digest (Rekor v2 log ID).
    pub fn log_id(&self) -> [u8; 32] {
        key_digest(&self.name, &self.public)
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        vkey_string(&self.name, &self.public)
    }

    /// Check a signed note: find this key's signature line (by name and key hash) among any
    /// others and verify it. Lines from other keys are ignored.
    pub fn verify(&self, signed: &str) -> Result<Note, NoteError> {
        if signed.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("note is too large"));
        }
        let split = signed
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = signed.split_at(split + 1);
        let sigs = sigs.get(1..).unwrap_or_default();
        check_text(text)?;
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block is empty or lacks a final newline",
            ));
        }
        let want_hash = self.key_hash();
        let mut others = Vec::new();
        let mut verified = false;
        for (i, line) in sigs.split_terminator('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signature lines"));
            }
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
                "signature line does not start with an em dash",
            ))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "signature line has no space after the name",
            ))?;
            check_name(name).map_err(|_| NoteError::Malformed("bad key name in signature line"))?;
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            let Some((hash, sig)) = blob.split_first_chunk::<4>() else {
                return Err(NoteError::Malformed("signature is shorter than a key hash"));
            };
            if name == self.name && *hash == want_hash {
                UnparsedPublicKey::new(&ED25519, &self.public)
                    .verify(text.as_bytes(), sig)
                    .map_err(|_| NoteError::BadSignature {
                        name: self.name.clone(),
                    })?;
                verified = true;
            } else {
                others.push(name.to_owned());
            }
        }
        if !verified {
            return Err(NoteError::NoSignature {
                name: self.name.clone(),
                key_hash: hex(&want_hash),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            other_signers: others,
        })
    }
}

/// A tlog checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (unique name of the log).
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash of the tree of `size`.
    pub root: Hash,
    /// Extension lines after the root, without newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root and extension lines, each ending in a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parse checkpoint text (the body of a note, ending in a newline).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::BadCheckpoint("empty origin line"))?;
        let size = lines
            .next()
            .filter(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s.len() == 1 || !s.starts_with('0'))
            })
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(NoteError::BadCheckpoint("size is not a canonical decimal"))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| Hash::try_from(r.as_slice()).ok())
            .ok_or(NoteError::BadCheckpoint(
                "root is not a base64 32-byte hash",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::BadCheckpoint("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Verify a signed checkpoint with the log's key and parse it. The origin must equal the key
/// name, as for every C2SP log.
pub fn open_checkpoint(signed: &str, verifier: &NoteVerifier) -> Result<Checkpoint, NoteError> {
    let note = verifier.verify(signed)?;
    let cp = Checkpoint::parse(&note.text)?;
    if cp.origin != verifier.name {
        return Err(NoteError::WrongOrigin {
            got: cp.origin,
            expected: verifier.name.clone(),
        });
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::generate("example.com/log", &ring::rand::SystemRandom::new())
            .unwrap()
            .0
    }

    #[test]
    fn sign_verify_round_trip_with_witness_lines() {
        let s = signer();
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 42,
            root: [9; 32],
            extensions: vec!["ext one".into()],
        };
        let signed = s.sign(&cp.to_text()).unwrap();
        let v = NoteVerifier::from_vkey(&s.vkey()).unwrap();
        assert_eq!(v, s.verifier());
        assert_eq!(open_checkpoint(&signed, &v).unwrap(), cp);
        let spki = NoteVerifier::from_spki("example.com/log", &s.spki_der()).unwrap();
        assert_eq!(spki, v);
        // A witness line before and after ours is ignored.
        let with_witness = signed.replace(
            "\n\n",
            "\n\n\u{2014} witness.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        ) + "\u{2014} other.example BBBBBBBBBBBB\n";
        let note = v.verify(&with_witness).unwrap();
        assert_eq!(note.other_signers, vec!["witness.example", "other.example"]);
        // Tampered text, wrong key, missing signature.
        assert!(matches!(
            v.verify(&signed.replace("42", "43")),
            Err(NoteError::BadSignature { .. })
        ));
        assert!(matches!(
            signer().verifier().verify(&signed),
            Err(NoteError::NoSignature { .. })
        ));
        assert!(v.verify(cp.to_text().as_str()).is_err());
    }

    #[test]
    fn refuses_malformed_text_and_keys() {
        let s = signer();
        assert!(s.sign("no newline").is_err());
        assert!(s.sign("a\n\nb\n").is_err());
        assert!(NoteSigner::generate("bad name", &ring::rand::SystemRandom::new()).is_err());
        assert!(NoteSigner::generate("a+b", &ring::rand::SystemRandom::new()).is_err());
        assert!(NoteVerifier::from_vkey("a+00000000+AQ==").is_err());
        let vk = s.vkey();
        let wrong_hash = vk.replacen('+', "+0", 1);
        assert!(NoteVerifier::from_vkey(&wrong_hash).is_err());
        assert!(NoteVerifier::from_spki("a", &[0u8; 44]).is_err());
        for bad in [
            "",
            "o\n",
            "o\n1\n",
            "o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "o\n1\nAAAA\n",
            "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
            "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origin_must_match_key_name() {
        let s = signer();
        let cp = Checkpoint {
            origin: "another.log".into(),
            size: 0,
            root: crate::merkle::EMPTY_ROOT,
            extensions: vec![],
        };
        let signed = s.sign(&cp.to_text()).unwrap();
        assert!(matches!(
            open_checkpoint(&signed, &s.verifier()),
            Err(NoteError::WrongOrigin { .. })
        ));
    }
}
