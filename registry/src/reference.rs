//! Docker image references (`[registry/]repo[:tag][@digest]`), normalized the way the docker CLI and
//! `distribution/reference.ParseNormalizedNamed` do: `docker.io` is the default registry, one-component
//! names get `library/`, and the tag defaults to `latest` when no digest is given.

use std::fmt;

use crate::digest::Digest;
use crate::error::SourceError;

/// The registry that short names like `alpine` resolve to.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalized registry reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes a reference such as `alpine`, `ghcr.io/o/r:1`, `repo@sha256:…` or
    /// `localhost:5000/repo:tag@sha256:…`.
    pub fn parse(input: &str) -> Result<Self, SourceError> {
        let bad = |reason: &str| SourceError::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(bad("empty reference"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d)?)),
            None => (input, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to the registry's port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag.get(last_slash..).and_then(|t| t.find(':')) {
            Some(i) => {
                let split = last_slash + i;
                (
                    name_tag.get(..split).unwrap_or_default(),
                    name_tag.get(split + 1..),
                )
            }
            None => (name_tag, None),
        };
        if name.is_empty() {
            return Err(bad("missing repository name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("repository name is longer than 255 characters"));
        }
        if let Some(t) = tag {
            validate_tag(t).map_err(|r| bad(&r))?;
        }

        let (registry, remainder) = split_registry(name);
        let registry = match registry {
            Some(r) => {
                validate_registry(r).map_err(|r| bad(&r))?;
                if r == "index.docker.io" {
                    DOCKER_HUB.to_owned()
                } else {
                    r.to_owned()
                }
            }
            None => {
                if is_64_hex(remainder) {
                    return Err(bad(
                        "a 64-character hexadecimal string is an image ID, not a name; use repo@sha256:<hex>",
                    ));
                }
                DOCKER_HUB.to_owned()
            }
        };
        for component in remainder.split('/') {
            validate_component(component).map_err(|r| bad(&r))?;
        }
        let repository = if registry == DOCKER_HUB && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder.to_owned()
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written in references (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (`latest` when neither tag nor digest was given).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry for: the digest when there is one (it pins the content), else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The host:port the registry API is served from (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The host without the port, brackets removed for IPv6 literals.
    pub fn host_without_port(&self) -> &str {
        host_of(&self.registry)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `host[:port]` → `host` (`[::1]:5000` → `::1`).
pub(crate) fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Docker's rule: the first component is a registry when it contains `.` or `:`, is `localhost`, or has
/// uppercase letters (repository names cannot), and there is more than one component.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn validate_registry(r: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry '{r}' has an unclosed IPv6 bracket"))?;
        if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("registry '{r}' has an invalid IPv6 address"));
        }
        let port = match after {
            "" => None,
            a => Some(
                a.strip_prefix(':')
                    .ok_or_else(|| format!("registry '{r}' has text after the IPv6 address"))?,
            ),
        };
        (None, port)
    } else {
        match r.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(r), None),
        }
    };
    if let Some(host) = host {
        let ok_label = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || !host.split('.').all(ok_label) {
            return Err(format!("registry host '{host}' is not a valid host name"));
        }
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("registry port '{port}' is not a number"));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty path component (check for '//' or a trailing '/')".to_owned());
    }
    if c.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(format!("repository name must be lowercase ('{c}')"));
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        let start = i;
        if expect_alnum {
            while i < bytes.len() && bytes.get(i).copied().is_some_and(alnum) {
                i += 1;
            }
            if i == start {
                return Err(format!(
                    "path component '{c}' may only contain a-z, 0-9 and single '.', '_', '__' or '-' runs between them"
                ));
            }
        } else {
            while i < bytes.len() && !bytes.get(i).copied().is_some_and(alnum) {
                i += 1;
            }
            let sep = c.get(start..i).unwrap_or_default();
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return Err(format!(
                    "path component '{c}' has an invalid separator '{sep}'"
                ));
            }
        }
        expect_alnum = !expect_alnum;
    }
    if expect_alnum {
        return Err(format!(
            "path component '{c}' must end with a letter or digit"
        ));
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(t: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = t.chars();
    match chars.next() {
        None => return Err("empty tag after ':'".to_owned()),
        Some(c) if !word(c) => {
            return Err(format!("tag '{t}' must start with a letter, digit or '_'"))
        }
        Some(_) => {}
    }
    if t.len() > MAX_TAG_LEN {
        return Err(format!("tag '{t}' is longer than 128 characters"));
    }
    if !chars.all(|c| word(c) || c == '.' || c == '-') {
        return Err(format!(
            "tag '{t}' may only contain letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

fn is_64_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalizes_like_docker() {
        let cases: &[(&str, &str, &str, Option<&str>, bool)] = &[
            (
                "alpine",
                "docker.io",
                "library/alpine",
                Some("latest"),
                false,
            ),
            (
                "alpine:3.19",
                "docker.io",
                "library/alpine",
                Some("3.19"),
                false,
            ),
            ("user/app", "docker.io", "user/app", Some("latest"), false),
            (
                "index.docker.io/alpine",
                "docker.io",
                "library/alpine",
                Some("latest"),
                false,
            ),
            ("ghcr.io/o/r/x:v1", "ghcr.io", "o/r/x", Some("v1"), false),
            ("localhost/app", "localhost", "app", Some("latest"), false),
            (
                "localhost:5000/app:1",
                "localhost:5000",
                "app",
                Some("1"),
                false,
            ),
            (
                "127.0.0.1:5000/test/img:1",
                "127.0.0.1:5000",
                "test/img",
                Some("1"),
                false,
            ),
            ("[::1]:5000/app", "[::1]:5000", "app", Some("latest"), false),
            ("repo@X", "docker.io", "library/repo", None, true),
            (
                "host:5000/repo:tag@X",
                "host:5000",
                "repo",
                Some("tag"),
                true,
            ),
            (
                "a/b__c-d.e--f_g:T_1.x-y",
                "docker.io",
                "a/b__c-d.e--f_g",
                Some("T_1.x-y"),
                false,
            ),
        ];
        for (input, reg, repo, tag, has_digest) in cases {
            let input = input.replace('X', D);
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry(), *reg, "{input}");
            assert_eq!(r.repository(), *repo, "{input}");
            assert_eq!(r.tag(), *tag, "{input}");
            assert_eq!(r.digest().is_some(), *has_digest, "{input}");
            // Display round trip.
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r, "{input}");
        }
    }

    #[test]
    fn rejects_bad_references() {
        let cases = [
            ("", "empty"),
            ("Alpine", "lowercase"),
            ("docker.io/Library/alpine", "lowercase"),
            ("alpine:", "empty tag"),
            ("alpine:-x", "must start"),
            // ':' before the last '/' makes "alpine:a" a registry with a non-numeric port.
            ("alpine:a/b", "not a number"),
            ("alpine@sha256:abc", "hex digits"),
            (
                "alpine@md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported algorithm",
            ),
            ("a//b", "empty path component"),
            ("a/b/", "empty path component"),
            ("a-/b", "must end"),
            ("-a", "may only contain"),
            ("a...b", "invalid separator"),
            ("a b", "whitespace"),
            ("host:port/x", "not a number"),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "image ID",
            ),
        ];
        for (input, needle) in cases {
            let e = Reference::parse(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
    }

    #[test]
    fn api_host_for_docker_hub() {
        assert_eq!(
            Reference::parse("alpine").unwrap().api_host(),
            "registry-1.docker.io"
        );
        assert_eq!(
            Reference::parse("[::1]:5000/a")
                .unwrap()
                .host_without_port(),
            "::1"
        );
        assert_eq!(
            Reference::parse("localhost:5000/a")
                .unwrap()
                .host_without_port(),
            "localhost"
        );
    }
}
