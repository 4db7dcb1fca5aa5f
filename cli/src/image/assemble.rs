//! The image itself, byte for byte: one gzip layer holding the binary at the root, the config, the
//! manifest. Pure and deterministic: the same binary and spec give the same manifest digest, because
//! nothing here reads the clock or the environment (the tar entry's mtime is the image's `created`,
//! with no user or group names; the gzip header has no time and no file name; JSON keys come in a
//! fixed order).

use std::collections::BTreeMap;
use std::io::Write as _;

use registry::referrers::DescriptorPlatform;
use registry::upload::ImageUpload;
use registry::{Digest, Platform, OCI_CONFIG, OCI_MANIFEST};
use serde_json::{json, Value};

/// The layer's media type (OCI, gzip).
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker's default `PATH`, which BuildKit also sets on a `FROM scratch` image; kept so the image
/// matches the one the Dockerfile builds.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What goes into the image besides the binary.
#[derive(Debug, Clone)]
pub struct Spec {
    /// File name of the binary at the image root; the Entrypoint is `["/<name>"]`.
    pub binary_name: String,
    /// `os`, `architecture`, `variant` of the config.
    pub platform: Platform,
    /// Seconds since the epoch: the config's `created`, the history entry's, the tar entry's mtime.
    pub created: u64,
    /// The config's `Labels`.
    pub labels: BTreeMap<String, String>,
    /// The history entry's `created_by`.
    pub created_by: String,
}

/// A tar holding only `name` (a regular file, mode 0755, owner 0:0, mtime `mtime`, no user or group
/// names) with `content`.
pub fn layer_tar(name: &str, content: &[u8], mtime: u64) -> Result<Vec<u8>, String> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .map_err(|e| format!("cannot name the layer entry '{name}': {e}"))?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::with_capacity(content.len() + 2048));
    builder
        .append(&header, content)
        .and_then(|()| builder.into_inner())
        .map_err(|e| format!("cannot write the layer tar: {e}"))
}

/// gzip with no mtime, no file name and OS "unknown" (255), so the bytes depend on the input only.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .map_err(|e| format!("cannot compress the layer: {e}"))
}

/// Assembles the image: layer, config, manifest.
pub fn assemble(binary: &[u8], spec: &Spec) -> Result<ImageUpload, String> {
    let tar = layer_tar(&spec.binary_name, binary, spec.created)?;
    let diff_id = Digest::sha256_of(&tar).to_string();
    let layer = gzip(&tar)?;
    drop(tar);
    let created = scanner_core::time::format_rfc3339(i64::try_from(spec.created).unwrap_or(0));
    let config = config_json(spec, &created, &diff_id);
    let config =
        serde_json::to_vec(&config).map_err(|e| format!("cannot write the config: {e}"))?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [descriptor(LAYER_GZIP, &layer)],
    });
    let manifest =
        serde_json::to_vec(&manifest).map_err(|e| format!("cannot write the manifest: {e}"))?;
    let platform = DescriptorPlatform {
        os: spec.platform.os.clone(),
        architecture: spec.platform.architecture.clone(),
        variant: spec.platform.variant.clone(),
    };
    ImageUpload::new(manifest, vec![config, layer], Some(platform)).map_err(|e| e.to_string())
}

fn config_json(spec: &Spec, created: &str, diff_id: &str) -> Value {
    let mut config = serde_json::Map::new();
    config.insert("created".to_owned(), json!(created));
    config.insert("architecture".to_owned(), json!(spec.platform.architecture));
    if let Some(v) = &spec.platform.variant {
        config.insert("variant".to_owned(), json!(v));
    }
    config.insert("os".to_owned(), json!(spec.platform.os));
    config.insert(
        "config".to_owned(),
        json!({
            "Env": [DEFAULT_PATH],
            "Entrypoint": [format!("/{}", spec.binary_name)],
            "Labels": spec.labels,
        }),
    );
    config.insert(
        "rootfs".to_owned(),
        json!({"type": "layers", "diff_ids": [diff_id]}),
    );
    config.insert(
        "history".to_owned(),
        json!([{"created": created, "created_by": spec.created_by}]),
    );
    Value::Object(config)
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": Digest::sha256_of(bytes).to_string(),
        "size": bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(created: u64) -> Spec {
        Spec {
            binary_name: "stella-generator".to_owned(),
            platform: Platform::new("linux", "amd64", None),
            created,
            labels: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
            created_by: "test".to_owned(),
        }
    }

    #[test]
    fn the_layer_holds_only_the_binary_owned_by_root() {
        let tar = layer_tar("stella-generator", b"\x7fELF...", 1_700_000_000).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<_> = archive.entries().unwrap().map(Result::unwrap).collect();
        assert_eq!(entries.len(), 1);
        let h = entries[0].header();
        assert_eq!(h.path().unwrap().to_str(), Some("stella-generator"));
        assert_eq!(h.mode().unwrap(), 0o755);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.groupname().unwrap(), Some(""));
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
    }

    #[test]
    fn gzip_has_no_time_or_name() {
        let gz = gzip(b"hello").unwrap();
        // ID1 ID2 CM FLG MTIME(4) XFL OS
        assert_eq!(
            &gz[..4],
            &[0x1f, 0x8b, 8, 0],
            "no FNAME/FEXTRA/FCOMMENT flags"
        );
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "mtime 0");
        assert_eq!(gz[9], 255, "OS unknown");
    }

    #[test]
    fn same_input_same_digest_and_the_config_says_what_it_must() {
        let a = assemble(b"binary", &spec(0)).unwrap();
        let b = assemble(b"binary", &spec(0)).unwrap();
        assert_eq!(a.descriptor().digest, b.descriptor().digest);
        assert_ne!(
            a.descriptor().digest,
            assemble(b"binary", &spec(1)).unwrap().descriptor().digest
        );
        assert_ne!(
            a.descriptor().digest,
            assemble(b"other", &spec(0)).unwrap().descriptor().digest
        );
        let config: Value = serde_json::from_slice(&a.blobs()[0].1).unwrap();
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["config"]["Entrypoint"], json!(["/stella-generator"]));
        assert!(config["config"].get("Cmd").is_none());
        assert_eq!(config["config"]["Labels"]["a"], "b");
        assert_eq!(config["history"][0]["created_by"], "test");
        let layer = &a.blobs()[1].1;
        let tar = {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(layer.as_slice()),
                &mut out,
            )
            .unwrap();
            out
        };
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            Digest::sha256_of(&tar).to_string()
        );
        let manifest: Value = serde_json::from_slice(a.manifest()).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], LAYER_GZIP);
        assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    }
}
