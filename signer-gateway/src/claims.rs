//! Claims an SBOM predicate carries about its attestation and itself, as the verifier reads them:
//! in CycloneDX, `metadata.properties` entries; in SPDX 2.3 (which has no properties), lines
//! `NAME=VALUE` of the document's `creationInfo.comment`.

use serde_json::{json, Value};

/// The license the attestation was signed under (stamped by `stella attest` from the PoE; the
/// Signer refuses a statement whose stamp is not its PoE's license).
pub const LICENSE_ID: &str = "stella:attestation:licenseId";
/// The digest of the policy the build was gated with (`stella attest --policy FILE`).
pub const POLICY_DIGEST: &str = "stella:attestation:policyDigest";
/// The SBOM's view: `inventory` or `usage` (stamped by the scanner).
pub const VIEW: &str = "stella:sbom:view";

/// The value of claim `name` in an SBOM predicate, if it carries one.
pub fn read<'a>(predicate: &'a Value, name: &str) -> Option<&'a str> {
    let cyclonedx = predicate
        .pointer("/metadata/properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|p| p.get("value")?.as_str());
    cyclonedx.or_else(|| {
        predicate
            .pointer("/creationInfo/comment")?
            .as_str()?
            .lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix('='))
    })
}

/// Sets claim `name` in a CycloneDX or SPDX predicate (replacing an earlier value); false when the
/// document is neither.
pub fn stamp(predicate: &mut Value, name: &str, value: &str) -> bool {
    if predicate.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let Some(doc) = predicate.as_object_mut() else {
            return false;
        };
        let meta = doc.entry("metadata").or_insert_with(|| json!({}));
        let Some(meta) = meta.as_object_mut() else {
            return false;
        };
        let props = meta.entry("properties").or_insert_with(|| json!([]));
        let Some(props) = props.as_array_mut() else {
            return false;
        };
        props.retain(|p| p.get("name").and_then(Value::as_str) != Some(name));
        props.push(json!({"name": name, "value": value}));
        true
    } else if predicate.get("spdxVersion").is_some_and(Value::is_string) {
        let Some(doc) = predicate.as_object_mut() else {
            return false;
        };
        let info = doc.entry("creationInfo").or_insert_with(|| json!({}));
        let Some(info) = info.as_object_mut() else {
            return false;
        };
        let old = info.get("comment").and_then(Value::as_str).unwrap_or("");
        let mut lines: Vec<&str> = old
            .lines()
            .filter(|l| {
                l.trim()
                    .strip_prefix(name)
                    .is_none_or(|rest| !rest.starts_with('='))
            })
            .collect();
        let line = format!("{name}={value}");
        lines.push(&line);
        info.insert("comment".into(), json!(lines.join("\n")));
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_and_read_both_formats() {
        let mut cdx = json!({"bomFormat": "CycloneDX", "metadata": {"properties": [
            {"name": VIEW, "value": "usage"}, {"name": LICENSE_ID, "value": "old"}]}});
        assert!(stamp(&mut cdx, LICENSE_ID, "LIC-1"));
        assert_eq!(read(&cdx, LICENSE_ID), Some("LIC-1"));
        assert_eq!(read(&cdx, VIEW), Some("usage"));
        assert_eq!(
            cdx["metadata"]["properties"].as_array().map(Vec::len),
            Some(2)
        );

        let mut spdx = json!({"spdxVersion": "SPDX-2.3",
            "creationInfo": {"comment": "stella:sbom:view=inventory\nstella:attestation:licenseId=x"}});
        assert!(stamp(&mut spdx, LICENSE_ID, "LIC-2"));
        assert!(stamp(&mut spdx, POLICY_DIGEST, "sha256:ab"));
        assert_eq!(read(&spdx, LICENSE_ID), Some("LIC-2"));
        assert_eq!(read(&spdx, POLICY_DIGEST), Some("sha256:ab"));
        assert_eq!(read(&spdx, VIEW), Some("inventory"));
        // A longer name sharing the prefix is not the claim.
        assert_eq!(
            read(
                &json!({"creationInfo": {"comment": "stella:sbom:viewX=1"}}),
                VIEW
            ),
            None
        );

        assert!(!stamp(&mut json!({"x": 1}), VIEW, "usage"));
        assert!(!stamp(
            &mut json!({"bomFormat": "CycloneDX", "metadata": 1}),
            VIEW,
            "usage"
        ));
    }
}
