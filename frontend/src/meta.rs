//! The inner result's metadata we read: `refs.platforms` (which platform ids the refs are keyed by)
//! and `containerimage.config[/<id>]` (each platform's image config, for the usage view and the
//! document time). Both are JSON from the Dockerfile frontend; neither is trusted: a value that does
//! not parse is treated as absent, and sizes are capped.

use std::collections::BTreeMap;

use scanner_core::entrytrace::ImageConfig;
use serde::Deserialize;

/// Metadata key listing the platforms of a multi-platform result.
pub const PLATFORMS_KEY: &str = "refs.platforms";
/// Metadata key (prefix) of the image config.
pub const CONFIG_KEY: &str = "containerimage.config";
/// Largest metadata JSON value parsed.
pub const MAX_JSON: usize = 4 << 20;

#[derive(Deserialize)]
struct Platforms {
    #[serde(default)]
    platforms: Vec<PlatformEntry>,
}

#[derive(Deserialize)]
struct PlatformEntry {
    id: String,
}

/// The platform ids `refs.platforms` lists, in its order (duplicates and empty ids dropped).
pub fn platform_ids(metadata: &BTreeMap<String, Vec<u8>>) -> Option<Vec<String>> {
    let raw = metadata.get(PLATFORMS_KEY)?;
    if raw.len() > MAX_JSON {
        return None;
    }
    let p: Platforms = serde_json::from_slice(raw).ok()?;
    let mut out: Vec<String> = Vec::new();
    for e in p.platforms {
        if !e.id.is_empty() && !out.contains(&e.id) {
            out.push(e.id);
        }
    }
    Some(out)
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
}

/// What one platform's image config tells the scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformConfig {
    /// Entrypoint/Cmd/Env/WorkingDir (the usage view's trace start).
    pub run: Option<ImageConfig>,
    /// `created`, in seconds since the epoch.
    pub created: Option<i64>,
    /// `os`.
    pub os: Option<String>,
    /// `architecture`.
    pub architecture: Option<String>,
    /// `variant`.
    pub variant: Option<String>,
}

/// Parses an image config JSON value.
pub fn parse_config(raw: &[u8]) -> Option<PlatformConfig> {
    if raw.len() > MAX_JSON {
        return None;
    }
    let c: ConfigFile = serde_json::from_slice(raw).ok()?;
    let run = c.config.map(|r| ImageConfig {
        entrypoint: r.entrypoint.unwrap_or_default(),
        cmd: r.cmd.unwrap_or_default(),
        working_dir: r.working_dir.filter(|w| !w.is_empty()),
        env: r.env.unwrap_or_default(),
    });
    Some(PlatformConfig {
        run,
        created: c
            .created
            .as_deref()
            .and_then(scanner_core::time::parse_rfc3339),
        os: c.os.filter(|s| !s.is_empty()),
        architecture: c.architecture.filter(|s| !s.is_empty()),
        variant: c.variant.filter(|s| !s.is_empty()),
    })
}

/// The image config of platform `id` (`None` for a single-platform result).
pub fn config_for(metadata: &BTreeMap<String, Vec<u8>>, id: Option<&str>) -> PlatformConfig {
    let key = match id {
        Some(id) => format!("{CONFIG_KEY}/{id}"),
        None => CONFIG_KEY.to_owned(),
    };
    metadata
        .get(&key)
        .or_else(|| metadata.get(CONFIG_KEY))
        .and_then(|raw| parse_config(raw))
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn platforms_and_configs() {
        let mut m = BTreeMap::new();
        m.insert(
            PLATFORMS_KEY.to_owned(),
            br#"{"platforms":[{"id":"linux/amd64","platform":{"os":"linux","architecture":"amd64"}},{"id":"linux/arm64"},{"id":"linux/amd64"}]}"#.to_vec(),
        );
        m.insert(
            format!("{CONFIG_KEY}/linux/arm64"),
            br#"{"created":"2024-01-02T03:04:05Z","architecture":"arm64","os":"linux","config":{"Entrypoint":["/usr/bin/node"],"Cmd":["index.js"],"WorkingDir":"/srv"}}"#.to_vec(),
        );
        assert_eq!(
            platform_ids(&m).unwrap(),
            vec!["linux/amd64".to_owned(), "linux/arm64".to_owned()]
        );
        let c = config_for(&m, Some("linux/arm64"));
        assert_eq!(c.created, Some(1_704_164_645));
        let run = c.run.unwrap();
        assert_eq!(run.entrypoint, vec!["/usr/bin/node".to_owned()]);
        assert_eq!(run.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            config_for(&m, Some("linux/amd64")),
            PlatformConfig::default()
        );
        m.insert(PLATFORMS_KEY.to_owned(), b"{not json".to_vec());
        assert!(platform_ids(&m).is_none());
        assert!(parse_config(b"[1,2]").is_none());
    }
}
