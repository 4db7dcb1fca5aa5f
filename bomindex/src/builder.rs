//! Building an index: components in, canonical index bytes out.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::BuildError;
use crate::purl::purl_type;
use crate::{FLAG_USAGE_TRACED, HEADER_LEN, MAGIC, VERSION};

/// One SBOM component as the index sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Its package URL.
    pub purl: String,
    /// 0-based index of the image layer that introduced it, when known.
    pub layer: Option<u32>,
    /// True when the image's entrypoint uses it (`stella:usedByEntrypoint`).
    pub used_by_entrypoint: bool,
}

/// Collects components and writes the index. Output depends only on what was added, never on the
/// order of [`IndexBuilder::component`] calls: purls are sorted and deduplicated (a purl found twice
/// is one entry, in the union of its layers, used when either use is).
#[derive(Debug, Clone, Default)]
pub struct IndexBuilder {
    sbom_sha256: [u8; 32],
    usage_traced: bool,
    layers: BTreeMap<u32, String>,
    components: Vec<Component>,
    /// Components of the SBOM that had a purl, before deduplication.
    component_count: u64,
}

impl IndexBuilder {
    /// An empty index of the SBOM whose bytes hash to `sbom_sha256`.
    pub fn new(sbom_sha256: [u8; 32]) -> Self {
        IndexBuilder {
            sbom_sha256,
            ..IndexBuilder::default()
        }
    }

    /// Marks whether usage was traced, i.e. whether the `usedByEntrypoint` set is meaningful (an
    /// empty set then means "nothing is used", not "unknown").
    pub fn usage_traced(&mut self, traced: bool) -> &mut Self {
        self.usage_traced = traced;
        self
    }

    /// Names layer `index` by its diffID. The first name given for an index wins.
    pub fn layer(&mut self, index: u32, diff_id: &str) -> &mut Self {
        self.layers
            .entry(index)
            .or_insert_with(|| diff_id.to_owned());
        self
    }

    /// Adds a component. Empty purls are ignored.
    pub fn component(&mut self, component: Component) -> &mut Self {
        if !component.purl.is_empty() {
            self.component_count = self.component_count.saturating_add(1);
            self.components.push(component);
        }
        self
    }

    /// The index bytes.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        // Sorted, deduplicated purl table; ids are positions in it.
        let mut merged: BTreeMap<&str, (BTreeSet<u32>, bool)> = BTreeMap::new();
        for c in &self.components {
            let e = merged.entry(c.purl.as_str()).or_default();
            e.0.extend(c.layer);
            e.1 |= c.used_by_entrypoint;
        }
        let purl_count = count32(merged.len(), "purls")?;

        let mut layers: BTreeMap<u32, (&str, RoaringBitmap)> = self
            .layers
            .iter()
            .map(|(i, d)| (*i, (d.as_str(), RoaringBitmap::new())))
            .collect();
        let mut types: BTreeMap<String, RoaringBitmap> = BTreeMap::new();
        let mut used = RoaringBitmap::new();
        let mut offsets: Vec<u8> = Vec::with_capacity(4 * (merged.len() + 1));
        let mut blob: Vec<u8> = Vec::new();
        offsets.extend_from_slice(&0u32.to_le_bytes());
        for (id, (purl, (in_layers, is_used))) in (0u32..).zip(&merged) {
            blob.extend_from_slice(purl.as_bytes());
            offsets.extend_from_slice(&count32(blob.len(), "purl table bytes")?.to_le_bytes());
            for l in in_layers {
                layers
                    .entry(*l)
                    .or_insert(("", RoaringBitmap::new()))
                    .1
                    .insert(id);
            }
            if let Some(t) = purl_type(purl) {
                types.entry(t).or_default().insert(id);
            }
            if *is_used {
                used.insert(id);
            }
        }

        let mut purl_section = offsets;
        purl_section.extend_from_slice(&blob);

        let mut layer_section = Vec::new();
        for (index, (diff_id, bitmap)) in &layers {
            layer_section.extend_from_slice(&index.to_le_bytes());
            put_str16(&mut layer_section, diff_id, "layer diffID")?;
            put_bitmap(&mut layer_section, bitmap)?;
        }
        let mut type_section = Vec::new();
        for (name, bitmap) in &types {
            put_str16(&mut type_section, name, "purl type")?;
            put_bitmap(&mut type_section, bitmap)?;
        }
        let mut entry_section = Vec::new();
        serialize(&used, &mut entry_section);

        let mut out = Vec::with_capacity(
            HEADER_LEN
                + purl_section.len()
                + layer_section.len()
                + type_section.len()
                + entry_section.len(),
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        let flags: u16 = if self.usage_traced {
            FLAG_USAGE_TRACED
        } else {
            0
        };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&purl_count.to_le_bytes());
        out.extend_from_slice(&count32(layers.len(), "layers")?.to_le_bytes());
        out.extend_from_slice(&count32(types.len(), "purl types")?.to_le_bytes());
        let components = u32::try_from(self.component_count)
            .map_err(|_| BuildError::TooLarge("more than 2^32 components".into()))?;
        out.extend_from_slice(&components.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.sbom_sha256);
        let mut offset = HEADER_LEN;
        for section in [&purl_section, &layer_section, &type_section, &entry_section] {
            out.extend_from_slice(&count32(offset, "index size")?.to_le_bytes());
            out.extend_from_slice(&count32(section.len(), "section size")?.to_le_bytes());
            offset = offset.saturating_add(section.len());
        }
        count32(offset, "index size")?;
        debug_assert_eq!(out.len(), HEADER_LEN);
        for section in [purl_section, layer_section, type_section, entry_section] {
            out.extend_from_slice(&section);
        }
        Ok(out)
    }
}

fn count32(n: usize, what: &str) -> Result<u32, BuildError> {
    u32::try_from(n).map_err(|_| BuildError::TooLarge(format!("{n} {what} exceed 2^32")))
}

fn put_str16(out: &mut Vec<u8>, s: &str, what: &str) -> Result<(), BuildError> {
    let len = u16::try_from(s.len())
        .map_err(|_| BuildError::TooLarge(format!("{what} of {} bytes", s.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_bitmap(out: &mut Vec<u8>, bitmap: &RoaringBitmap) -> Result<(), BuildError> {
    let mut bytes = Vec::with_capacity(bitmap.serialized_size());
    serialize(bitmap, &mut bytes);
    out.extend_from_slice(&count32(bytes.len(), "bitmap bytes")?.to_le_bytes());
    out.extend_from_slice(&bytes);
    Ok(())
}

/// Roaring's portable format. Writing to a `Vec` cannot fail.
fn serialize(bitmap: &RoaringBitmap, out: &mut Vec<u8>) {
    let _infallible = bitmap.serialize_into(out);
}

/// An index of a CycloneDX JSON SBOM, as `stella scan` writes it (or any other producer):
/// every component (nested ones too) with a purl; its layer from `stella:layer:index` /
/// `stella:layer:diffID`, the image's layers from the subject's `stella:layer:N` properties, and
/// `stella:usedByEntrypoint`. The header records the SHA-256 of exactly `sbom`.
pub fn from_cyclonedx_json(sbom: &[u8]) -> Result<Vec<u8>, BuildError> {
    builder_from_cyclonedx_json(sbom)?.build()
}

/// The builder [`from_cyclonedx_json`] fills, to add to it before building.
pub fn builder_from_cyclonedx_json(sbom: &[u8]) -> Result<IndexBuilder, BuildError> {
    let doc: Value =
        serde_json::from_slice(sbom).map_err(|e| BuildError::NotCycloneDx(e.to_string()))?;
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(BuildError::NotCycloneDx(
            "no \"bomFormat\": \"CycloneDX\"".into(),
        ));
    }
    let mut b = IndexBuilder::new(Sha256::digest(sbom).into());
    if let Some(props) = doc
        .pointer("/metadata/component/properties")
        .and_then(Value::as_array)
    {
        for (name, value) in props.iter().filter_map(property) {
            if let Some(i) = name
                .strip_prefix("stella:layer:")
                .and_then(|i| i.parse::<u32>().ok())
            {
                b.layer(i, value);
            }
        }
    }
    let mut traced = false;
    // Depth-first over nested components, in document order, without recursion.
    let mut stack: Vec<&Value> = Vec::new();
    if let Some(list) = doc.get("components").and_then(Value::as_array) {
        stack.extend(list.iter().rev());
    }
    while let Some(c) = stack.pop() {
        if let Some(children) = c.get("components").and_then(Value::as_array) {
            stack.extend(children.iter().rev());
        }
        let Some(purl) = c.get("purl").and_then(Value::as_str) else {
            continue;
        };
        let mut layer = None;
        let mut diff_id = None;
        let mut used = false;
        for (name, value) in c
            .get("properties")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(property)
        {
            match name {
                "stella:layer:index" => layer = value.parse::<u32>().ok(),
                "stella:layer:diffID" => diff_id = Some(value),
                "stella:usedByEntrypoint" => {
                    traced = true;
                    used = value == "true";
                }
                _ => {}
            }
        }
        if let (Some(i), Some(d)) = (layer, diff_id) {
            b.layer(i, d);
        }
        b.component(Component {
            purl: purl.to_owned(),
            layer,
            used_by_entrypoint: used,
        });
    }
    b.usage_traced(traced);
    Ok(b)
}

fn property(p: &Value) -> Option<(&str, &str)> {
    Some((
        p.get("name")?.as_str()?,
        p.get("value")?.as_str().unwrap_or_default(),
    ))
}

#[cfg(feature = "report")]
/// An index of a scan report: of the CycloneDX document `stella scan` writes for it, so the
/// header's SHA-256 is that document's.
pub fn from_report(report: &scanner_core::model::ScanReport) -> Result<Vec<u8>, BuildError> {
    from_cyclonedx_json(&scanner_core::sbom::to_cyclonedx_json(report))
}
