//! Platforms (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`) and containerd-style matching.

use std::fmt;

use crate::error::SourceError;

/// An image platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// `amd64`, `arm64`, `arm`, …
    pub architecture: String,
    /// `v7`, `v8`, … when the architecture has variants.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`. Common aliases are normalized (`x86_64`→`amd64`, `aarch64`→`arm64`).
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let bad = |reason: &str| SourceError::InvalidPlatform {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad("wrong number of '/'-separated parts")),
        };
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        if !part_ok(os) || !part_ok(arch) || variant.is_some_and(|v| !part_ok(v)) {
            return Err(bad(
                "parts must be non-empty and contain only letters, digits, '_', '-', '.'",
            ));
        }
        Ok(Platform::new(os, arch, variant))
    }

    /// Builds a platform, normalizing OS and architecture aliases (not the variant defaults).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let arch = architecture.to_ascii_lowercase();
        let (architecture, default_variant) = match arch.as_str() {
            "x86_64" | "x86-64" => ("amd64".to_owned(), None),
            "aarch64" => ("arm64".to_owned(), None),
            "armhf" => ("arm".to_owned(), Some("v7")),
            "armel" => ("arm".to_owned(), Some("v6")),
            "i386" | "i686" => ("386".to_owned(), None),
            _ => (arch, None),
        };
        let variant = variant
            .map(str::to_ascii_lowercase)
            .or(default_variant.map(str::to_owned));
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// The platform of the machine we run on, as Docker picks it (always `linux`: images are Linux
    /// images even on macOS hosts).
    pub fn host() -> Self {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform::new("linux", arch, variant)
    }

    /// Whether an image of platform `candidate` satisfies this wanted platform. Like containerd's
    /// matcher: `arm64` means `arm64/v8`, `arm` means `arm/v7`, `amd64/v1` means `amd64`; and an `amd64`
    /// request without a variant accepts any `amd64` variant (v2, v3, …).
    pub fn matches(&self, candidate: &Platform) -> bool {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return false;
        }
        if self.architecture == "amd64" && self.variant.is_none() {
            return true;
        }
        normalized_variant(self) == normalized_variant(candidate)
    }

    /// True when `candidate` matches without relying on variant leniency (used to prefer exact hits).
    pub(crate) fn matches_exactly(&self, candidate: &Platform) -> bool {
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && normalized_variant(self) == normalized_variant(candidate)
    }
}

fn normalized_variant(p: &Platform) -> Option<String> {
    let v = p.variant.as_deref();
    let v = match (p.architecture.as_str(), v) {
        ("arm64", None | Some("8" | "v8" | "v8.0")) => Some("v8"),
        ("arm", None | Some("7")) => Some("v7"),
        ("arm", Some("6")) => Some("v6"),
        ("arm", Some("5")) => Some("v5"),
        ("amd64", Some("v1")) => None,
        (_, v) => v,
    };
    v.map(str::to_owned)
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn parses() {
        assert_eq!(
            p("linux/arm64/v8"),
            Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: Some("v8".into())
            }
        );
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert_eq!(p("Linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "linux/am d64",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_rules() {
        let yes = [
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/v7", "linux/arm"),
            ("linux/amd64", "linux/amd64/v3"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64", "linux/amd64"),
        ];
        let no = [
            ("linux/arm/v6", "linux/arm/v7"),
            ("linux/arm", "linux/arm/v6"),
            ("linux/amd64/v3", "linux/amd64"),
            ("linux/arm64", "linux/amd64"),
            ("windows/amd64", "linux/amd64"),
            ("linux/arm64/v9", "linux/arm64"),
        ];
        for (want, have) in yes {
            assert!(p(want).matches(&p(have)), "{want} should match {have}");
        }
        for (want, have) in no {
            assert!(!p(want).matches(&p(have)), "{want} should not match {have}");
        }
    }

    #[test]
    fn host_is_linux() {
        assert_eq!(Platform::host().os, "linux");
    }
}
