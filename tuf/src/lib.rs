//! A TUF 1.0 client and repository tooling for the stack's trust distribution (DESIGN.md §9).
//!
//! **Client** ([`Updater`]): the spec's detailed client workflow (§5) over a [`Fetcher`] (HTTP(S)
//! or a local directory / offline bundle) and a [`Cache`] directory. The checks live in the sans-IO
//! [`TrustedSet`]: bytes in, trusted metadata or one precise [`Error`] variant out (rollback,
//! freeze, mix-and-match, threshold, endless data, …). The clock is a parameter.
//!
//! **Repository** ([`Repository`]): create a repository (root keys offline, threshold), add and
//! remove targets, refresh the timestamp, rotate root keys, rotate target keys with a grace period
//! ([`stella::rotate_key`]); publishes static files any web server serves.
//!
//! Delegated targets roles are followed when a target is looked up (pre-order depth-first search,
//! `paths` / `path_hash_prefixes`, terminating roles, at most 32 roles). Not done here: the
//! repository tooling only writes top-level targets (no delegations), succinct hash-bin
//! delegations (TAP 15) and other TAPs.
//!
//! ```no_run
//! # fn main() -> Result<(), stella_tuf::Error> {
//! let now = 1_900_000_000;
//! // Online: a cache directory whose metadata/root.json was pinned by `stella trust init`.
//! let fetcher = stella_tuf::HttpFetcher::new("https://tuf.example.com/")?;
//! let mut up = stella_tuf::Updater::new("/home/me/.config/stella/trust", fetcher, now)?;
//! up.refresh()?;
//! let trusted_root: Vec<u8> = up.download_target("trusted_root.json")?;
//! // Offline, later: the verified cache only.
//! let same = stella_tuf::cached_target("/home/me/.config/stella/trust", "trusted_root.json", now)?;
//! # let _ = (trusted_root, same); Ok(()) }
//! ```

pub mod cache;
pub mod canonical;
mod error;
pub mod fetch;
pub mod keys;
pub mod metadata;
pub mod repository;
pub mod stella;
pub mod time;
pub mod trusted;
mod updater;

pub use cache::{default_trust_dir, Cache};
pub use error::{Error, Result};
pub use fetch::{Fetcher, HttpFetcher, LocalDirFetcher};
pub use keys::{Key, SigningKey};
pub use metadata::{Metadata, Role, Root, Snapshot, TargetFile, Targets, Timestamp};
pub use repository::{Expiry, InitOptions, Repository};
pub use trusted::TrustedSet;
pub use updater::{
    bundle_files, bundle_keys, bundle_target, cached_keys, cached_target, load_cached, Config,
    Updater,
};
