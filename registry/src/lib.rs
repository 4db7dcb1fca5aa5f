//! # registry — OCI image sources and the distribution client
//!
//! Resolves what a user names on the command line (`oci:DIR[:TAG]`, `docker-archive:FILE`,
//! `oci-archive:FILE`, `registry.example/repo:tag`, `docker://…`) into an image: a verified manifest, its
//! config, and where each layer blob can be read. Remote blobs are streamed to a scratch directory with
//! their digests checked on the way; nothing unverified is ever handed on.
