//! Just enough of a Dockerfile parser to name the base image of the stage being built: the
//! warmed-base fast path reuses that image's stored scan and scans only what the build added.
//!
//! Follows BuildKit's Dockerfile frontend where it matters for `FROM`: parser directives (`escape`),
//! line continuations (comment lines inside them dropped), heredoc bodies skipped, global `ARG`s
//! before the first `FROM` with their defaults overridden by `build-arg:NAME` options, the automatic
//! platform arguments (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`, `BUILDPLATFORM`,
//! `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`) from the `platform` option, `$VAR` / `${VAR}` /
//! `${VAR:-word}` / `${VAR-word}` / `${VAR:+word}` / `${VAR+word}` expansion, `FROM … AS name` stage
//! chains, the `target` option, and named contexts (`context:<name>` options) replacing an image.
//! Anything it cannot pin to one image is [`Base::Unknown`] with the reason, and the caller scans the
//! whole result instead.

use std::collections::BTreeMap;

/// Largest Dockerfile read (BuildKit's own limit is far larger; a build file past this is not a
/// Dockerfile anyone writes by hand).
pub const MAX_DOCKERFILE: usize = 4 << 20;
/// Most stages followed.
const MAX_STAGES: usize = 1024;

/// The base of the stage being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// A registry image, normalised as BuildKit resolves it (`docker.io/library/debian:bookworm`,
    /// digests kept: `…@sha256:…`).
    Image(String),
    /// `FROM scratch`: nothing below the build.
    Scratch,
    /// A base this parser cannot pin to one image (a local or `oci-layout` named context, an empty
    /// expansion, …), with the reason.
    Unknown(String),
}

/// Why the Dockerfile could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    /// Over [`MAX_DOCKERFILE`].
    #[error("Dockerfile is {0} bytes, over the {MAX_DOCKERFILE} byte limit")]
    TooLarge(usize),
    /// No `FROM` instruction.
    #[error("Dockerfile has no FROM instruction")]
    NoFrom,
    /// The `target` option names no stage.
    #[error("target stage {0:?} not found in the Dockerfile")]
    NoTarget(String),
    /// A `FROM` line without an image.
    #[error("line {0}: FROM without an image")]
    BadFrom(usize),
}

/// One `FROM`.
#[derive(Debug, Clone)]
struct Stage {
    /// The image or stage name, expanded.
    base: String,
    /// `AS` name, lowercased.
    name: Option<String>,
}

/// The base image of the stage `opts["target"]` names (else the last stage), following
/// `FROM <stage>` chains to an image. `opts` are the frontend options as BuildKit passes them
/// (`build-arg:NAME`, `target`, `platform`, `context:NAME`).
pub fn final_base(
    dockerfile: &str,
    opts: &BTreeMap<String, String>,
) -> Result<Base, DockerfileError> {
    if dockerfile.len() > MAX_DOCKERFILE {
        return Err(DockerfileError::TooLarge(dockerfile.len()));
    }
    let mut args = platform_args(opts.get("platform").map(String::as_str));
    let mut stages: Vec<Stage> = Vec::new();
    for (line_no, instruction) in instructions(dockerfile) {
        let (word, rest) = split_word(&instruction);
        match word.to_ascii_uppercase().as_str() {
            "ARG" if stages.is_empty() => {
                for decl in split_fields(rest) {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n.to_owned(), Some(unquote(d))),
                        None => (decl.clone(), None),
                    };
                    let given = opts.get(&format!("build-arg:{name}")).cloned();
                    if let Some(v) = given.or(default.map(|d| expand(&d, &args))) {
                        args.insert(name, v);
                    }
                }
            }
            "FROM" => {
                if stages.len() >= MAX_STAGES {
                    break;
                }
                let fields: Vec<String> = split_fields(rest)
                    .into_iter()
                    .filter(|f| !f.starts_with("--"))
                    .collect();
                let Some(image) = fields.first() else {
                    return Err(DockerfileError::BadFrom(line_no));
                };
                let name = match (fields.get(1), fields.get(2)) {
                    (Some(kw), Some(n)) if kw.eq_ignore_ascii_case("as") => {
                        Some(n.to_ascii_lowercase())
                    }
                    _ => None,
                };
                stages.push(Stage {
                    base: expand(image, &args),
                    name,
                });
            }
            _ => {}
        }
    }
    let Some(last) = stages.len().checked_sub(1) else {
        return Err(DockerfileError::NoFrom);
    };
    let mut index = match opts.get("target").filter(|t| !t.is_empty()) {
        None => last,
        Some(t) => {
            let t = t.to_ascii_lowercase();
            stages
                .iter()
                .position(|s| s.name.as_deref() == Some(t.as_str()))
                .ok_or(DockerfileError::NoTarget(t))?
        }
    };
    // A FROM names an earlier stage, or an image; each hop goes strictly backwards, so this ends.
    loop {
        let Some(stage) = stages.get(index) else {
            return Ok(Base::Unknown("stage chain broken".into()));
        };
        let base = stage.base.clone();
        if base.is_empty() {
            return Ok(Base::Unknown("FROM expands to an empty image name".into()));
        }
        let lower = base.to_ascii_lowercase();
        let earlier = stages.get(..index).and_then(|s| {
            s.iter()
                .rposition(|s| s.name.as_deref() == Some(lower.as_str()))
        });
        match earlier {
            Some(i) => index = i,
            None => return Ok(resolve_image(&base, opts)),
        }
    }
}

/// An image name after named contexts: `context:<name>` options replace it.
fn resolve_image(name: &str, opts: &BTreeMap<String, String>) -> Base {
    if name.eq_ignore_ascii_case("scratch") {
        return Base::Scratch;
    }
    let normalized = normalize(name);
    let context = opts.get(&format!("context:{name}")).or_else(|| {
        normalized
            .as_ref()
            .and_then(|n| opts.get(&format!("context:{n}")))
    });
    if let Some(value) = context {
        return match value.strip_prefix("docker-image://") {
            Some(image) => normalize(image).map_or_else(
                || {
                    Base::Unknown(format!(
                        "named context {name}={value}: not an image reference"
                    ))
                },
                Base::Image,
            ),
            None => Base::Unknown(format!(
                "named context {name}={value} is not a registry image"
            )),
        };
    }
    normalized.map_or_else(
        || Base::Unknown(format!("{name:?} is not an image reference")),
        Base::Image,
    )
}

/// Normalises an image reference the way Docker does: a default registry (`docker.io`), the
/// `library/` namespace for official images, and `:latest` when neither tag nor digest is given.
/// `None` when it cannot be a reference (upper case in the repository, spaces, empty parts).
pub fn normalize(reference: &str) -> Option<String> {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    // A tag is after the last ':' that comes after the last '/'.
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name.get(slash..).and_then(|last| last.find(':')) {
        Some(i) => (name.get(..slash + i)?, name.get(slash + i + 1..)),
        None => (name, None),
    };
    let mut parts: Vec<&str> = repo.split('/').collect();
    let has_domain = parts.len() > 1
        && parts
            .first()
            .is_some_and(|d| d.contains('.') || d.contains(':') || *d == "localhost");
    let domain = if has_domain {
        parts.remove(0).to_owned()
    } else {
        "docker.io".to_owned()
    };
    let domain = if domain == "index.docker.io" {
        "docker.io".to_owned()
    } else {
        domain
    };
    if domain == "docker.io" && parts.len() == 1 {
        parts.insert(0, "library");
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        return None;
    }
    let ref_ok = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    if tag.is_some_and(|t| !ref_ok(t, b"._-") || t.len() > 128)
        || digest.is_some_and(|d| !ref_ok(d, b":+._-") || !d.contains(':'))
    {
        return None;
    }
    let mut out = format!("{domain}/{}", parts.join("/"));
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Some(out)
}

/// The automatic platform arguments for `platform` (`os/arch[/variant]`, the first of a list),
/// defaulting to linux/amd64 like a linux/amd64 BuildKit worker.
fn platform_args(platform: Option<&str>) -> BTreeMap<String, String> {
    let p = platform
        .and_then(|p| p.split(',').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("linux/amd64");
    let mut it = p.split('/');
    let os = it.next().unwrap_or("linux").to_owned();
    let arch = it.next().unwrap_or("amd64").to_owned();
    let variant = it.next().unwrap_or("").to_owned();
    let mut m = BTreeMap::new();
    for (prefix, full) in [("TARGET", p), ("BUILD", "linux/amd64")] {
        let (o, a, v) = if prefix == "TARGET" {
            (os.clone(), arch.clone(), variant.clone())
        } else {
            ("linux".to_owned(), "amd64".to_owned(), String::new())
        };
        m.insert(format!("{prefix}PLATFORM"), full.to_owned());
        m.insert(format!("{prefix}OS"), o);
        m.insert(format!("{prefix}ARCH"), a);
        m.insert(format!("{prefix}VARIANT"), v);
    }
    m
}

/// Logical instructions with their first line number: directives read, continuations joined,
/// comments and heredoc bodies dropped.
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut escape = '\\';
    let mut lines = text.lines().enumerate().peekable();
    // Parser directives: `# key=value` lines at the very top.
    while let Some((_, line)) = lines.peek() {
        let Some(body) = line.trim_start().strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = body.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || k.contains(char::is_whitespace) {
            break;
        }
        if k == "escape" && v.trim() == "`" {
            escape = '`';
        }
        lines.next();
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut heredoc: Vec<String> = Vec::new();
    for (i, line) in lines {
        if let Some(end) = heredoc.first() {
            if line.trim_start_matches('\t') == end.as_str() {
                heredoc.remove(0);
            }
            continue;
        }
        let trimmed = line.trim_start();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !current.is_empty() && trimmed.starts_with('#') {
            continue;
        }
        if current.is_empty() {
            start = i + 1;
        }
        let t = line.trim_end();
        if let Some(body) = t.strip_suffix(escape) {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let instruction = std::mem::take(&mut current);
        heredoc = heredoc_ends(&instruction);
        out.push((start, instruction.trim().to_owned()));
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_owned()));
    }
    out
}

/// The terminators of the heredocs (`<<EOF`, `<<-"EOF"`) a RUN/COPY/ADD line opens, in order.
fn heredoc_ends(instruction: &str) -> Vec<String> {
    let (word, rest) = split_word(instruction);
    if !["RUN", "COPY", "ADD"].contains(&word.to_ascii_uppercase().as_str()) {
        return Vec::new();
    }
    let mut ends = Vec::new();
    let mut s = rest;
    while let Some(i) = s.find("<<") {
        let after = s.get(i + 2..).unwrap_or("");
        let after = after.strip_prefix('-').unwrap_or(after);
        let quoted = after.strip_prefix(['"', '\'']);
        let name: String = quoted
            .unwrap_or(after)
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            ends.push(name);
        }
        s = after;
    }
    ends
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (
            s.get(..i).unwrap_or(s),
            s.get(i..).unwrap_or("").trim_start(),
        ),
        None => (s, ""),
    }
}

/// Whitespace-separated fields, honouring double and single quotes (kept in the field).
fn split_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s.get(1..s.len() - 1).unwrap_or(s).to_owned()
    } else {
        s.to_owned()
    }
}

/// Shell-style variable expansion as BuildKit's shell lexer does it for FROM (no command
/// substitution; quotes removed).
fn expand(word: &str, args: &BTreeMap<String, String>) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\'' => {
                i += 1;
                while let Some(&d) = chars.get(i) {
                    i += 1;
                    if d == '\'' {
                        break;
                    }
                    out.push(d);
                }
                continue;
            }
            '"' => {}
            '\\' => {
                if let Some(&d) = chars.get(i + 1) {
                    out.push(d);
                    i += 1;
                }
            }
            '$' => match chars.get(i + 1) {
                Some('{') => {
                    let close = (i + 2..chars.len()).find(|&j| chars.get(j) == Some(&'}'));
                    let Some(close) = close else {
                        out.extend(chars.get(i..).unwrap_or_default());
                        break;
                    };
                    let inner: String =
                        chars.get(i + 2..close).unwrap_or_default().iter().collect();
                    out.push_str(&braced(&inner, args));
                    i = close;
                }
                Some(d) if d.is_ascii_alphabetic() || *d == '_' => {
                    let mut j = i + 1;
                    while chars
                        .get(j)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                    {
                        j += 1;
                    }
                    let name: String = chars.get(i + 1..j).unwrap_or_default().iter().collect();
                    out.push_str(args.get(&name).map_or("", String::as_str));
                    i = j - 1;
                }
                _ => out.push('$'),
            },
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn braced(inner: &str, args: &BTreeMap<String, String>) -> String {
    let split = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(split);
    let value = args.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let v = value.cloned().unwrap_or_default();
    let (cond, word) = if let Some(w) = op.strip_prefix(":-") {
        (Some(!non_empty), w)
    } else if let Some(w) = op.strip_prefix('-') {
        (Some(!set), w)
    } else if let Some(w) = op.strip_prefix(":+") {
        return if non_empty {
            expand(w, args)
        } else {
            String::new()
        };
    } else if let Some(w) = op.strip_prefix('+') {
        return if set { expand(w, args) } else { String::new() };
    } else {
        (None, "")
    };
    match cond {
        Some(true) => expand(word, args),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    fn base(df: &str, kv: &[(&str, &str)]) -> Base {
        final_base(df, &opts(kv)).unwrap()
    }

    fn image(s: &str) -> Base {
        Base::Image(s.into())
    }

    #[test]
    fn last_stage_through_stage_chain_to_image() {
        let df = "# syntax=docker/dockerfile:1\nFROM golang:1.23 AS build\nRUN go build\n\
                  FROM debian:bookworm-slim AS runtime\nFROM runtime AS final\nCOPY --from=build /x /x\n";
        assert_eq!(
            base(df, &[]),
            image("docker.io/library/debian:bookworm-slim")
        );
        assert_eq!(
            base(df, &[("target", "BUILD")]),
            image("docker.io/library/golang:1.23")
        );
        assert_eq!(
            final_base(df, &opts(&[("target", "nope")])),
            Err(DockerfileError::NoTarget("nope".into()))
        );
    }

    #[test]
    fn global_args_build_args_and_platform() {
        let df = "ARG BASE=alpine\nARG VERSION=\"3.20\" REG=registry.example.com:5000\n\
                  FROM --platform=$TARGETPLATFORM ${REG}/team/${BASE}:${VERSION:-edge}\n";
        assert_eq!(
            base(df, &[]),
            image("registry.example.com:5000/team/alpine:3.20")
        );
        assert_eq!(
            base(df, &[("build-arg:VERSION", "3.19")]),
            image("registry.example.com:5000/team/alpine:3.19")
        );
        let df = "FROM example.com/base-${TARGETARCH}:1\n";
        assert_eq!(
            base(df, &[("platform", "linux/arm64")]),
            image("example.com/base-arm64:1")
        );
        let df = "ARG V\nFROM debian:${V:-bookworm}\n";
        assert_eq!(base(df, &[]), image("docker.io/library/debian:bookworm"));
        assert_eq!(
            base("ARG X\nFROM $X\n", &[]),
            Base::Unknown("FROM expands to an empty image name".into())
        );
    }

    #[test]
    fn continuations_comments_heredocs_and_escape_directive() {
        let df = "# escape=`\nFROM ubuntu:24.04 `\n  AS a\nRUN echo `\n# comment inside\n  hi\n\
                  RUN <<EOF\nFROM evil:1\nEOF\nFROM a\n";
        assert_eq!(base(df, &[]), image("docker.io/library/ubuntu:24.04"));
        let df = "FROM node:22 AS x\nCOPY <<-\"END\" /a\n\tFROM nope\n\tEND\n";
        assert_eq!(base(df, &[]), image("docker.io/library/node:22"));
    }

    #[test]
    fn scratch_digests_and_named_contexts() {
        assert_eq!(base("FROM scratch\nCOPY x /\n", &[]), Base::Scratch);
        let d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(
            base(&format!("FROM debian@{d}\n"), &[]),
            image(&format!("docker.io/library/debian@{d}"))
        );
        let df = "FROM alpine\n";
        assert_eq!(
            base(
                df,
                &[("context:alpine", "docker-image://ghcr.io/acme/alpine:1")]
            ),
            image("ghcr.io/acme/alpine:1")
        );
        assert!(matches!(
            base(df, &[("context:alpine", "local:ctx")]),
            Base::Unknown(_)
        ));
    }

    #[test]
    fn bad_input_is_an_error_or_unknown_never_a_panic() {
        assert_eq!(
            final_base("", &BTreeMap::new()),
            Err(DockerfileError::NoFrom)
        );
        assert_eq!(
            final_base("RUN x\n", &BTreeMap::new()),
            Err(DockerfileError::NoFrom)
        );
        assert_eq!(
            final_base("FROM\n", &BTreeMap::new()),
            Err(DockerfileError::BadFrom(1))
        );
        assert!(matches!(
            base("FROM Not/Valid:REF\n", &[]),
            Base::Unknown(_)
        ));
        assert!(matches!(base("FROM ${x\n", &[]), Base::Unknown(_)));
        let big = "#".repeat(MAX_DOCKERFILE + 1);
        assert!(matches!(
            final_base(&big, &BTreeMap::new()),
            Err(DockerfileError::TooLarge(_))
        ));
    }

    #[test]
    fn the_buildkit_example_dockerfile() {
        let df = include_str!("../../examples/buildkit/Dockerfile");
        let py = image("docker.io/library/python:3.12-slim-bookworm");
        assert_eq!(base(df, &[]), py);
        assert_eq!(
            base(
                df,
                &[("build-arg:PYTHON_VERSION", "3.13"), ("target", "build")]
            ),
            image("docker.io/library/python:3.13-slim-bookworm")
        );
    }

    #[test]
    fn normalize_like_docker() {
        assert_eq!(
            normalize("debian").unwrap(),
            "docker.io/library/debian:latest"
        );
        assert_eq!(normalize("user/app:1").unwrap(), "docker.io/user/app:1");
        assert_eq!(normalize("localhost/app").unwrap(), "localhost/app:latest");
        assert_eq!(
            normalize("127.0.0.1:5000/a/b:t").unwrap(),
            "127.0.0.1:5000/a/b:t"
        );
        assert_eq!(
            normalize("index.docker.io/library/x:1").unwrap(),
            "docker.io/library/x:1"
        );
        assert!(normalize("").is_none());
        assert!(normalize("a b").is_none());
        assert!(normalize("x@nodigest").is_none());
    }
}
