//! The few LLB graphs the frontend asks BuildKit to solve, built by hand from the `pb` messages.
//!
//! A [`Definition`] is a list of marshalled [`Op`]s, each named by the SHA-256 of its bytes, ending
//! in a terminal op with no body whose single input is the result. Ops taken from another
//! definition (the inner build's result) are copied byte for byte, so their digests and BuildKit's
//! cache keys are unchanged.

use std::collections::BTreeMap;

use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::proto::pb::{
    self, file_action, op, Definition, DiffOp, ExecOp, FileAction, FileActionMkFile, FileOp, Input,
    LowerDiffInput, Meta, Mount, Op, OpMetadata, Platform, SourceOp, UpperDiffInput,
};

/// `pb.Empty`: an input index meaning scratch.
pub const EMPTY: i64 = -1;
/// `pb.SkipOutput`: a mount whose changes are not an output.
pub const SKIP_OUTPUT: i64 = -1;

/// Where the fragment ExecOp mounts the base image and writes its output.
pub const FRAGMENT_BASE: &str = "/stella/base";
/// The fragment ExecOp's output mount.
pub const FRAGMENT_OUT: &str = "/stella/out";
/// The fragment file's name inside the output mount (and the ref the ExecOp yields).
pub const FRAGMENT_FILE: &str = "fragment.json";
/// The `fragment` flag that leaves out the SHA-256 of unowned native files (the diff's capture).
pub const NO_UNOWNED_DIGESTS: &str = "--no-unowned-digests";

/// A definition we cannot take apart.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LlbError {
    /// No ops at all.
    #[error("definition is empty")]
    Empty,
    /// The last op is not a terminal op with one input.
    #[error("definition's last op is not a terminal op with one input")]
    NoTerminal,
}

/// The `sha256:<hex>` digest of marshalled op bytes.
pub fn digest(bytes: &[u8]) -> String {
    let sum = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in sum {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An LLB graph under construction.
#[derive(Debug, Default)]
pub struct Builder {
    ops: Vec<Vec<u8>>,
    seen: std::collections::BTreeSet<String>,
    metadata: BTreeMap<String, OpMetadata>,
}

/// An output of an op in a [`Builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The op's digest.
    pub digest: String,
    /// The output index.
    pub index: i64,
}

impl Output {
    fn input(&self) -> Input {
        Input {
            digest: self.digest.clone(),
            index: self.index,
        }
    }
}

impl Builder {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, op: &Op, caps: &[&str], description: &str) -> String {
        let bytes = op.encode_to_vec();
        let d = digest(&bytes);
        if self.seen.insert(d.clone()) {
            self.ops.push(bytes);
        }
        let meta = self.metadata.entry(d.clone()).or_default();
        for c in caps {
            meta.caps.insert((*c).to_owned(), true);
        }
        if !description.is_empty() {
            meta.description
                .insert("llb.customname".to_owned(), description.to_owned());
        }
        d
    }

    /// Adds every op of `def` (unchanged) and returns its result.
    pub fn import(&mut self, def: &Definition) -> Result<Output, LlbError> {
        let last = def.def.last().ok_or(LlbError::Empty)?;
        let terminal = Op::decode(last.as_slice()).map_err(|_| LlbError::NoTerminal)?;
        let [input] = terminal.inputs.as_slice() else {
            return Err(LlbError::NoTerminal);
        };
        if terminal.op.is_some() {
            return Err(LlbError::NoTerminal);
        }
        let n = def.def.len();
        for bytes in def.def.iter().take(n.saturating_sub(1)) {
            let d = digest(bytes);
            if self.seen.insert(d) {
                self.ops.push(bytes.clone());
            }
        }
        for (k, v) in &def.metadata {
            self.metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(Output {
            digest: input.digest.clone(),
            index: input.index,
        })
    }

    /// `docker-image://<reference>` for `platform` (the worker's default when `None`).
    pub fn image(&mut self, reference: &str, platform: Option<&Platform>) -> Output {
        let op = Op {
            op: Some(op::Op::Source(SourceOp {
                identifier: format!("docker-image://{reference}"),
                attrs: BTreeMap::new(),
            })),
            platform: platform.cloned(),
            ..Op::default()
        };
        let d = self.push(&op, &["source.image"], "");
        Output {
            digest: d,
            index: 0,
        }
    }

    /// `local://<name>` from the client session, only `include` paths.
    pub fn local(&mut self, name: &str, session: &str, include: &[&str]) -> Output {
        let mut attrs = BTreeMap::new();
        attrs.insert("local.session".to_owned(), session.to_owned());
        attrs.insert("local.sharedkeyhint".to_owned(), name.to_owned());
        if !include.is_empty() {
            let patterns = serde_json::to_string(include).unwrap_or_default();
            attrs.insert("local.includepattern".to_owned(), patterns);
        }
        let op = Op {
            op: Some(op::Op::Source(SourceOp {
                identifier: format!("local://{name}"),
                attrs,
            })),
            ..Op::default()
        };
        let d = self.push(&op, &["source.local"], "");
        Output {
            digest: d,
            index: 0,
        }
    }

    /// What `upper` changed relative to `lower`.
    pub fn diff(&mut self, lower: &Output, upper: &Output) -> Output {
        let op = Op {
            inputs: vec![lower.input(), upper.input()],
            op: Some(op::Op::Diff(DiffOp {
                lower: Some(LowerDiffInput { input: 0 }),
                upper: Some(UpperDiffInput { input: 1 }),
            })),
            ..Op::default()
        };
        let d = self.push(&op, &["diffop"], "[stella] diff base..final");
        Output {
            digest: d,
            index: 0,
        }
    }

    /// Runs `stella-frontend fragment` from `frontend` (our own image) over `rootfs` (the base
    /// image, or the build's `DiffOp`) mounted read-only, with no network; the output (index 0)
    /// holds [`FRAGMENT_FILE`]. `name` is the vertex name shown in the build's progress.
    pub fn fragment_exec(
        &mut self,
        frontend: &Output,
        rootfs: &Output,
        unowned_digests: bool,
        name: &str,
    ) -> Output {
        let mut args = vec!["/stella-frontend".to_owned(), "fragment".to_owned()];
        if !unowned_digests {
            args.push(NO_UNOWNED_DIGESTS.to_owned());
        }
        args.push(FRAGMENT_BASE.to_owned());
        args.push(format!("{FRAGMENT_OUT}/{FRAGMENT_FILE}"));
        let op = Op {
            inputs: vec![frontend.input(), rootfs.input()],
            op: Some(op::Op::Exec(ExecOp {
                meta: Some(Meta {
                    args,
                    env: vec!["PATH=/".to_owned()],
                    cwd: "/".to_owned(),
                    user: String::new(),
                }),
                mounts: vec![
                    Mount {
                        input: 0,
                        dest: "/".to_owned(),
                        output: SKIP_OUTPUT,
                        readonly: true,
                        ..Mount::default()
                    },
                    Mount {
                        input: 1,
                        dest: FRAGMENT_BASE.to_owned(),
                        output: SKIP_OUTPUT,
                        readonly: true,
                        ..Mount::default()
                    },
                    Mount {
                        input: EMPTY,
                        dest: FRAGMENT_OUT.to_owned(),
                        output: 0,
                        readonly: false,
                        ..Mount::default()
                    },
                ],
                network: pb::NetMode::None as i32,
                security: pb::SecurityMode::Sandbox as i32,
            })),
            ..Op::default()
        };
        let d = self.push(
            &op,
            &[
                "exec.meta.base",
                "exec.mount.bind",
                "exec.meta.network",
                "exec.mount.selector",
            ],
            name,
        );
        Output {
            digest: d,
            index: 0,
        }
    }

    /// Files (`path`, bytes) written into scratch by one FileOp, with mode 0644 and time `epoch`.
    pub fn files(&mut self, files: &[(String, Vec<u8>)], epoch: i64) -> Output {
        let n = files.len();
        let actions = files
            .iter()
            .enumerate()
            .map(|(i, (path, data))| FileAction {
                // The first action starts from scratch; each later one from the previous action's
                // result (an index past the op's inputs, of which there are none).
                input: if i == 0 { EMPTY } else { i as i64 - 1 },
                secondary_input: EMPTY,
                output: if i + 1 == n { 0 } else { SKIP_OUTPUT },
                action: Some(file_action::Action::Mkfile(FileActionMkFile {
                    path: format!("/{}", path.trim_start_matches('/')),
                    mode: 0o644,
                    data: data.clone(),
                    timestamp: epoch.saturating_mul(1_000_000_000),
                })),
            })
            .collect();
        let op = Op {
            op: Some(op::Op::File(FileOp { actions })),
            ..Op::default()
        };
        let d = self.push(&op, &["file.base"], "[stella] SBOM attestations");
        Output {
            digest: d,
            index: 0,
        }
    }

    /// The definition whose result is `out`.
    pub fn build(mut self, out: &Output) -> Definition {
        let terminal = Op {
            inputs: vec![out.input()],
            ..Op::default()
        };
        self.ops.push(terminal.encode_to_vec());
        Definition {
            def: self.ops,
            metadata: self.metadata,
        }
    }
}

/// A platform id (`linux/arm64/v8`) as an LLB platform.
pub fn platform(id: &str) -> Option<Platform> {
    let mut parts = id.split('/');
    let os = parts.next().filter(|s| !s.is_empty())?;
    let arch = parts.next().filter(|s| !s.is_empty())?;
    let variant = parts.next().unwrap_or_default();
    if parts.next().is_some() {
        return None;
    }
    Some(Platform {
        os: os.to_owned(),
        architecture: arch.to_owned(),
        variant: variant.to_owned(),
        ..Platform::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn import_keeps_ops_and_finds_the_result() {
        let mut b = Builder::new();
        let img = b.image("docker.io/library/debian:bookworm", None);
        let inner = b.build(&img);
        let mut b2 = Builder::new();
        let out = b2.import(&inner).unwrap();
        assert_eq!(out, img);
        let base = b2.image(
            "docker.io/library/debian:bookworm",
            platform("linux/amd64").as_ref(),
        );
        let d = b2.diff(&base, &out);
        let def = b2.build(&d);
        assert_eq!(def.def.len(), 4);
        assert_eq!(digest(&def.def[0]), img.digest);
        assert!(def.metadata[&d.digest].caps.contains_key("diffop"));
        let terminal = Op::decode(def.def[3].as_slice()).unwrap();
        assert_eq!(terminal.inputs[0].digest, d.digest);
        assert_eq!(
            Builder::new().import(&Definition::default()),
            Err(LlbError::Empty)
        );
    }

    #[test]
    fn platforms() {
        let p = platform("linux/arm64/v8").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_str()),
            ("linux", "arm64", "v8")
        );
        assert!(platform("linux").is_none());
        assert!(platform("a/b/c/d").is_none());
    }
}
