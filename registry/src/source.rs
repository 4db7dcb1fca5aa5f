//! What users type to name an image, parsed the way skopeo and Syft users write it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::SourceError;
use crate::reference::Reference;
use crate::tarindex::TarIndex;

/// An image source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `dir:PATH`, or an existing directory: a root filesystem, scanned as is.
    Dir(PathBuf),
    /// `layer:FILE`, or a file that is neither kind of image archive: one layer tarball.
    Layer(PathBuf),
    /// `oci:DIR[:TAG]`: an OCI image layout directory.
    OciLayout {
        /// The layout directory.
        path: PathBuf,
        /// Matched against `org.opencontainers.image.ref.name`.
        tag: Option<String>,
    },
    /// `docker-archive:FILE[:REF]`: a `docker save` tarball. REF is a `RepoTags` entry or `@N`.
    DockerArchive {
        /// The tarball.
        path: PathBuf,
        /// Which image of a multi-image archive.
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:TAG]`: a tar of an OCI image layout.
    OciArchive {
        /// The tarball.
        path: PathBuf,
        /// Matched against `org.opencontainers.image.ref.name`.
        tag: Option<String>,
    },
    /// `docker://REF` or a bare reference: an image in a registry.
    Remote(Reference),
}

impl Source {
    /// Parses a source. Explicit transports (`dir:`, `layer:`, `oci:`, `docker-archive:`, `oci-archive:`,
    /// `docker://`) win; otherwise an existing directory is a rootfs, an existing file is sniffed
    /// (`manifest.json` at the tar root → docker archive, `oci-layout` → OCI archive, else a layer), and
    /// anything else must be a registry reference. As in skopeo, the first `:` after the transport ends the
    /// path.
    pub fn parse(s: &str) -> Result<Source, SourceError> {
        let bad = |reason: &str| SourceError::InvalidSource {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            return Reference::parse(rest).map(Source::Remote);
        }
        if let Some((transport, rest)) = s.split_once(':') {
            let split = |rest: &str| -> Result<(PathBuf, Option<String>), SourceError> {
                let (path, extra) = match rest.split_once(':') {
                    Some((p, e)) => (p, Some(e)),
                    None => (rest, None),
                };
                if path.is_empty() {
                    return Err(bad(&format!("missing path after '{transport}:'")));
                }
                if extra == Some("") {
                    return Err(bad("empty name after the path's ':'"));
                }
                Ok((PathBuf::from(path), extra.map(str::to_owned)))
            };
            let whole_path = |rest: &str| {
                if rest.is_empty() {
                    Err(bad(&format!("missing path after '{transport}:'")))
                } else {
                    Ok(PathBuf::from(rest))
                }
            };
            match transport {
                "dir" => return whole_path(rest).map(Source::Dir),
                "layer" => return whole_path(rest).map(Source::Layer),
                "oci" => {
                    let (path, tag) = split(rest)?;
                    return Ok(Source::OciLayout { path, tag });
                }
                "oci-archive" => {
                    let (path, tag) = split(rest)?;
                    return Ok(Source::OciArchive { path, tag });
                }
                "docker-archive" => {
                    let (path, reference) = split(rest)?;
                    return Ok(Source::DockerArchive { path, reference });
                }
                "docker-daemon" | "containers-storage" | "podman" | "registry" => {
                    return Err(bad(&format!(
                        "the '{transport}:' transport is not supported; export the image with \
                         `docker save -o img.tar` and use docker-archive:img.tar, or push it to a registry"
                    )))
                }
                _ => {}
            }
        }
        let path = Path::new(s);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Ok(Source::Dir(path.to_owned())),
            Ok(m) if m.is_file() => return Ok(sniff_file(path)),
            _ => {}
        }
        Reference::parse(s).map(Source::Remote).map_err(|e| {
            if s.starts_with(['.', '/', '~']) {
                bad("no such file or directory, and not an image reference")
            } else {
                e
            }
        })
    }

    /// True for sources that resolve to an image (everything but `Dir` and `Layer`).
    pub fn is_image(&self) -> bool {
        !matches!(self, Source::Dir(_) | Source::Layer(_))
    }
}

/// Decides what kind of tarball `path` is by what sits at its root.
fn sniff_file(path: &Path) -> Source {
    match TarIndex::scan(path) {
        Ok(idx) if idx.contains("manifest.json") => Source::DockerArchive {
            path: path.to_owned(),
            reference: None,
        },
        Ok(idx) if idx.contains("oci-layout") && idx.contains("index.json") => Source::OciArchive {
            path: path.to_owned(),
            tag: None,
        },
        // Compressed or not a tar at all: let the layer reader decide.
        _ => Source::Layer(path.to_owned()),
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |o: &Option<String>| o.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        match self {
            Source::Dir(p) => write!(f, "dir:{}", p.display()),
            Source::Layer(p) => write!(f, "layer:{}", p.display()),
            Source::OciLayout { path, tag } => write!(f, "oci:{}{}", path.display(), opt(tag)),
            Source::OciArchive { path, tag } => {
                write!(f, "oci-archive:{}{}", path.display(), opt(tag))
            }
            Source::DockerArchive { path, reference } => {
                write!(f, "docker-archive:{}{}", path.display(), opt(reference))
            }
            Source::Remote(r) => write!(f, "docker://{r}"),
        }
    }
}

impl std::str::FromStr for Source {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::parse(s)
    }
}
