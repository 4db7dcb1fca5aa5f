//! What BuildKit hands the frontend process: `BUILDKIT_FRONTEND_OPT_<i>=key=value` options, and the
//! `build-arg:STELLA_*` settings addressed to us, which are the only options we strip before
//! forwarding the build to the Dockerfile frontend.
//!
//! | build arg | values | default | effect |
//! |---|---|---|---|
//! | `STELLA_FAST_PATH` | `true`/`false` | `true` | reuse the base image's stored scan and walk only `DiffOp(base, final)` |
//! | `STELLA_CYCLONEDX` | `true`/`false` | `false` | attach a CycloneDX document next to the SPDX one |
//! | `STELLA_SBOM_MODE` | `compact`/`full` | `compact` | `compact`: every package, no per-file entries; `full`: plus each owned file with its SHA-1 and SHA-256 (as the generator's `mode`) |
//! | `STELLA_SBOM_VIEW` | `inventory`/`usage` | `inventory` | `usage`: only what the image's entrypoint uses |
//! | `STELLA_DOCKERFILE_FRONTEND` | image reference | — | run this Dockerfile frontend image (`gateway.v0`) instead of the built-in `dockerfile.v0` |
//!
//! `build-arg:SOURCE_DATE_EPOCH` (forwarded unchanged) sets the documents' time.
//!
//! Everything here parses strings from the environment of a process someone else started: no
//! panics, bounded sizes, and a typed error naming the option that is wrong.

use std::collections::BTreeMap;

/// Prefix of the environment variables that carry the frontend options.
pub const OPT_ENV_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";
/// The build-arg prefix of options addressed to us.
pub const OUR_PREFIX: &str = "build-arg:STELLA_";
/// Most options accepted (BuildKit sends tens).
pub const MAX_OPTIONS: usize = 10_000;
/// Longest accepted option (key and value) in bytes.
pub const MAX_OPTION_LEN: usize = 1 << 20;

/// A frontend option or setting we cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionError {
    /// `BUILDKIT_FRONTEND_OPT_<i>` without `key=value`.
    #[error("{var}: expected key=value")]
    Malformed {
        /// The environment variable.
        var: String,
    },
    /// Too many options or one too long.
    #[error("frontend options exceed the {what} limit of {limit}")]
    TooLarge {
        /// `count` or `length`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A `build-arg:STELLA_*` value outside its set.
    #[error("build-arg:{name}={value:?}: expected {expected}")]
    BadValue {
        /// The build arg.
        name: String,
        /// What was given.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// `build-arg:SOURCE_DATE_EPOCH` not a whole number of seconds.
    #[error("build-arg:SOURCE_DATE_EPOCH={0:?} is not a whole number of seconds")]
    Epoch(String),
}

/// The options from `BUILDKIT_FRONTEND_OPT_<i>` variables (others ignored), keyed by option name.
/// A later duplicate key wins, in index order.
pub fn parse_env<I, K, V>(vars: I) -> Result<BTreeMap<String, String>, OptionError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut indexed: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for (k, v) in vars {
        let (k, v) = (k.as_ref(), v.as_ref());
        let Some(index) = k.strip_prefix(OPT_ENV_PREFIX) else {
            continue;
        };
        let Ok(index) = index.parse::<u64>() else {
            continue;
        };
        if v.len() > MAX_OPTION_LEN {
            return Err(OptionError::TooLarge {
                what: "length",
                limit: MAX_OPTION_LEN,
            });
        }
        let Some((key, value)) = v.split_once('=') else {
            return Err(OptionError::Malformed { var: k.to_owned() });
        };
        indexed.insert(index, (key.to_owned(), value.to_owned()));
        if indexed.len() > MAX_OPTIONS {
            return Err(OptionError::TooLarge {
                what: "count",
                limit: MAX_OPTIONS,
            });
        }
    }
    Ok(indexed.into_values().collect())
}

/// Which SBOM content to write (the generator's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SbomMode {
    /// Every package, no per-file entries.
    #[default]
    Compact,
    /// Every package plus each file a package owns, with its SHA-1 and SHA-256; written compact
    /// when that would not fit the gateway's message limit.
    Full,
}

/// Which view of the inventory to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SbomView {
    /// Everything found.
    #[default]
    Inventory,
    /// Only what the entrypoint uses.
    Usage,
}

/// Our settings, from the `build-arg:STELLA_*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Use the warmed-base fast path when the final base is a registry image.
    pub fast_path: bool,
    /// Attach CycloneDX as well as SPDX.
    pub cyclonedx: bool,
    /// Full or compact.
    pub mode: SbomMode,
    /// Inventory or usage.
    pub view: SbomView,
    /// A Dockerfile frontend image to run instead of the built-in one.
    pub dockerfile_frontend: Option<String>,
    /// `build-arg:SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fast_path: true,
            cyclonedx: false,
            mode: SbomMode::Compact,
            view: SbomView::Inventory,
            dockerfile_frontend: None,
            source_date_epoch: None,
        }
    }
}

fn boolean(name: &str, value: &str) -> Result<bool, OptionError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(OptionError::BadValue {
            name: name.to_owned(),
            value: value.to_owned(),
            expected: "true or false",
        }),
    }
}

impl Settings {
    /// Reads our settings from the frontend options. Unknown `STELLA_*` build args are an error, so a
    /// typo does not silently change nothing.
    pub fn from_options(opts: &BTreeMap<String, String>) -> Result<Settings, OptionError> {
        let mut s = Settings::default();
        for (key, value) in opts {
            let Some(name) = key.strip_prefix("build-arg:") else {
                continue;
            };
            match name {
                "SOURCE_DATE_EPOCH" if !value.trim().is_empty() => {
                    s.source_date_epoch = Some(
                        value
                            .trim()
                            .parse::<i64>()
                            .map_err(|_| OptionError::Epoch(value.clone()))?,
                    );
                }
                "STELLA_FAST_PATH" => s.fast_path = boolean(name, value)?,
                "STELLA_CYCLONEDX" => s.cyclonedx = boolean(name, value)?,
                "STELLA_SBOM_MODE" => {
                    s.mode = match value.trim() {
                        "compact" | "" => SbomMode::Compact,
                        "full" => SbomMode::Full,
                        _ => {
                            return Err(OptionError::BadValue {
                                name: name.to_owned(),
                                value: value.clone(),
                                expected: "compact or full",
                            })
                        }
                    }
                }
                "STELLA_SBOM_VIEW" => {
                    s.view = match value.trim() {
                        "inventory" | "" => SbomView::Inventory,
                        "usage" => SbomView::Usage,
                        _ => {
                            return Err(OptionError::BadValue {
                                name: name.to_owned(),
                                value: value.clone(),
                                expected: "inventory or usage",
                            })
                        }
                    }
                }
                "STELLA_DOCKERFILE_FRONTEND" => {
                    let v = value.trim();
                    s.dockerfile_frontend = (!v.is_empty()).then(|| v.to_owned());
                }
                other if other.starts_with("STELLA_") => {
                    return Err(OptionError::BadValue {
                        name: other.to_owned(),
                        value: value.clone(),
                        expected:
                            "a known STELLA_* build arg (STELLA_FAST_PATH, STELLA_CYCLONEDX, \
                                   STELLA_SBOM_MODE, STELLA_SBOM_VIEW, STELLA_DOCKERFILE_FRONTEND)",
                    })
                }
                _ => {}
            }
        }
        Ok(s)
    }
}

/// The options to forward to the Dockerfile frontend: the caller's, unchanged, less the
/// `build-arg:STELLA_*` ones, plus `cmdline` when absent (so that dockerfile.v0 does not forward
/// the build to the `# syntax=` frontend — us — again), and, when another Dockerfile frontend
/// image is asked for, its `source`.
pub fn forwarded(opts: &BTreeMap<String, String>, settings: &Settings) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = opts
        .iter()
        .filter(|(k, _)| !k.starts_with(OUR_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !out.contains_key("cmdline") {
        let ours = opts.get("source").cloned().unwrap_or_default();
        out.insert("cmdline".to_owned(), ours);
    }
    if let Some(image) = &settings.dockerfile_frontend {
        // gateway.v0 runs the image named by `source`.
        out.insert("source".to_owned(), image.clone());
    }
    out
}

/// The inner frontend to Solve: `gateway.v0` for a Dockerfile frontend image, else the built-in.
pub fn inner_frontend(settings: &Settings) -> &'static str {
    if settings.dockerfile_frontend.is_some() {
        "gateway.v0"
    } else {
        "dockerfile.v0"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_in_index_order_and_values_keep_equals() {
        let env = [
            ("PATH", "/bin"),
            ("BUILDKIT_FRONTEND_OPT_1", "build-arg:A=x=y"),
            ("BUILDKIT_FRONTEND_OPT_0", "filename=Dockerfile"),
            ("BUILDKIT_FRONTEND_OPT_X", "ignored=1"),
            ("BUILDKIT_FRONTEND_OPT_2", "build-arg:A=last"),
        ];
        let got = parse_env(env).unwrap();
        assert_eq!(
            got,
            opts(&[("filename", "Dockerfile"), ("build-arg:A", "last")])
        );
        assert!(matches!(
            parse_env([("BUILDKIT_FRONTEND_OPT_0", "novalue")]),
            Err(OptionError::Malformed { .. })
        ));
    }

    #[test]
    fn settings_and_forwarding() {
        let o = opts(&[
            ("source", "reg/stella/frontend:1"),
            ("build-arg:STELLA_FAST_PATH", "false"),
            ("build-arg:STELLA_CYCLONEDX", "true"),
            ("build-arg:STELLA_SBOM_VIEW", "usage"),
            ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
            ("build-arg:OTHER", "kept"),
        ]);
        let s = Settings::from_options(&o).unwrap();
        assert!(!s.fast_path && s.cyclonedx);
        assert_eq!(s.view, SbomView::Usage);
        assert_eq!(
            s.mode,
            SbomMode::Compact,
            "compact is the default, as the generator's"
        );
        let full = opts(&[("build-arg:STELLA_SBOM_MODE", "full")]);
        assert_eq!(Settings::from_options(&full).unwrap().mode, SbomMode::Full);
        assert_eq!(s.source_date_epoch, Some(1_700_000_000));
        let f = forwarded(&o, &s);
        assert_eq!(
            f,
            opts(&[
                ("source", "reg/stella/frontend:1"),
                ("cmdline", "reg/stella/frontend:1"),
                ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
                ("build-arg:OTHER", "kept"),
            ])
        );
        assert_eq!(inner_frontend(&s), "dockerfile.v0");
        let bad = opts(&[("build-arg:STELLA_FASTPATH", "1")]);
        assert!(Settings::from_options(&bad).is_err());
        let bad = opts(&[("build-arg:STELLA_SBOM_MODE", "tiny")]);
        assert!(Settings::from_options(&bad).is_err());
    }

    #[test]
    fn other_dockerfile_frontend() {
        let o = opts(&[
            ("cmdline", "reg/stella/frontend:1"),
            (
                "build-arg:STELLA_DOCKERFILE_FRONTEND",
                "docker/dockerfile:1.7",
            ),
        ]);
        let s = Settings::from_options(&o).unwrap();
        assert_eq!(inner_frontend(&s), "gateway.v0");
        let f = forwarded(&o, &s);
        assert_eq!(f["source"], "docker/dockerfile:1.7");
    }
}
