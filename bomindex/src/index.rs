//! Opening (validating) an index and querying it.

use roaring::RoaringBitmap;

use crate::error::{IndexError, Section};
use crate::purl::{purl_type, PurlSet, Specificity};
use crate::{FLAG_USAGE_TRACED, HEADER_LEN, MAGIC, VERSION};

/// One layer's entry: the components it introduced.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer<'a> {
    /// 0-based position in the image's layer list.
    pub index: u32,
    /// The layer's diffID (empty when the SBOM did not say).
    pub diff_id: &'a str,
    /// Ids of the components it introduced.
    pub components: RoaringBitmap,
}

/// A validated BOM-Index borrowing its bytes. Component ids are positions in the sorted purl table.
#[derive(Debug, Clone)]
pub struct BomIndex<'a> {
    sbom_sha256: [u8; 32],
    usage_traced: bool,
    component_count: u32,
    purls: Vec<&'a str>,
    layers: Vec<Layer<'a>>,
    types: Vec<(&'a str, RoaringBitmap)>,
    used: RoaringBitmap,
}

/// A bounds-checked cursor over one section.
struct Reader<'a> {
    section: Section,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(section: Section, bytes: &'a [u8]) -> Self {
        Reader {
            section,
            bytes,
            pos: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let out = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or(IndexError::Truncated {
                section: self.section,
                at: self.pos as u64,
                needed: n as u64,
                available: self.bytes.len().saturating_sub(self.pos) as u64,
            })?;
        self.pos = self.pos.saturating_add(n);
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16, IndexError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn str16(&mut self, what: &str) -> Result<&'a str, IndexError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map_err(|_| IndexError::malformed(self.section, format!("{what} is not UTF-8")))
    }

    fn bitmap(&mut self, what: &dyn Fn() -> String, ids: u32) -> Result<RoaringBitmap, IndexError> {
        let len = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        let bytes = self.take(len)?;
        decode_bitmap(self.section, bytes, what, ids)
    }

    fn is_done(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

/// A bitmap in canonical roaring form whose members are all component ids (`< ids`).
fn decode_bitmap(
    section: Section,
    bytes: &[u8],
    what: &dyn Fn() -> String,
    ids: u32,
) -> Result<RoaringBitmap, IndexError> {
    let bad = |reason: String| IndexError::BadBitmap {
        section,
        what: what(),
        reason,
    };
    let bitmap = RoaringBitmap::deserialize_from(bytes).map_err(|e| bad(e.to_string()))?;
    let mut again = Vec::with_capacity(bytes.len());
    bitmap
        .serialize_into(&mut again)
        .map_err(|e| bad(e.to_string()))?;
    if again != bytes {
        return Err(bad(
            "not in canonical form (trailing bytes or a different encoding)".into(),
        ));
    }
    if let Some(max) = bitmap.max() {
        if max >= ids {
            return Err(bad(format!("names component {max}, the table has {ids}")));
        }
    }
    Ok(bitmap)
}

impl<'a> BomIndex<'a> {
    /// Validates `bytes` completely (magic, version, every offset and length, UTF-8 and strict order
    /// of the purl table, every bitmap's encoding and range, type bitmaps against the purls) and
    /// returns the index. Never panics; cost is linear in the input.
    pub fn open(bytes: &'a [u8]) -> Result<Self, IndexError> {
        let mut h = Reader::new(Section::Header, bytes);
        if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(IndexError::BadMagic);
        }
        h.take(MAGIC.len())?;
        let version = h.u16()?;
        if version != VERSION {
            return Err(IndexError::UnsupportedVersion { version });
        }
        let flags = h.u16()?;
        if flags & !FLAG_USAGE_TRACED != 0 {
            return Err(IndexError::malformed(
                Section::Header,
                format!("unknown flags {flags:#06x}"),
            ));
        }
        let purl_count = h.u32()?;
        let layer_count = h.u32()?;
        let type_count = h.u32()?;
        let component_count = h.u32()?;
        if h.u32()? != 0 {
            return Err(IndexError::malformed(Section::Header, "reserved field set"));
        }
        let sbom_sha256: [u8; 32] = h.array()?;
        let mut sections: Vec<&'a [u8]> = Vec::with_capacity(4);
        let mut expected = HEADER_LEN as u64;
        for section in [
            Section::Purls,
            Section::Layers,
            Section::Types,
            Section::Entrypoint,
        ] {
            let offset = u64::from(h.u32()?);
            let length = u64::from(h.u32()?);
            let file_len = bytes.len() as u64;
            let end = offset.saturating_add(length);
            let slice = (offset == expected && end <= file_len)
                .then(|| bytes.get(offset as usize..end as usize))
                .flatten()
                .ok_or(IndexError::OffsetOutOfBounds {
                    section,
                    offset,
                    length,
                    file_len,
                    expected,
                })?;
            sections.push(slice);
            expected = end;
        }
        if expected != bytes.len() as u64 {
            return Err(IndexError::malformed(
                Section::Header,
                format!(
                    "{} bytes after the last section",
                    (bytes.len() as u64).saturating_sub(expected)
                ),
            ));
        }
        let [purl_bytes, layer_bytes, type_bytes, entry_bytes] = sections.as_slice() else {
            return Err(IndexError::malformed(Section::Header, "section table"));
        };

        let purls = purl_table(purl_bytes, purl_count)?;

        let mut layers = Vec::new();
        let mut r = Reader::new(Section::Layers, layer_bytes);
        let mut last: Option<u32> = None;
        for _ in 0..layer_count {
            let index = r.u32()?;
            if last.is_some_and(|l| index <= l) {
                return Err(IndexError::malformed(
                    Section::Layers,
                    format!("layer {index} out of order"),
                ));
            }
            last = Some(index);
            let diff_id = r.str16("a layer diffID")?;
            let components = r.bitmap(&|| format!("layer {index}"), purl_count)?;
            layers.push(Layer {
                index,
                diff_id,
                components,
            });
        }
        if !r.is_done() {
            return Err(IndexError::malformed(
                Section::Layers,
                "bytes after the last layer",
            ));
        }

        let mut types: Vec<(&'a str, RoaringBitmap)> = Vec::new();
        let mut r = Reader::new(Section::Types, type_bytes);
        for _ in 0..type_count {
            let name = r.str16("a purl type")?;
            if types.last().is_some_and(|(l, _)| name <= *l) {
                return Err(IndexError::malformed(
                    Section::Types,
                    format!("type {name:?} out of order"),
                ));
            }
            let bitmap = r.bitmap(&|| format!("type {name}"), purl_count)?;
            for id in &bitmap {
                let actual = purls.get(id as usize).and_then(|p| purl_type(p));
                if actual.as_deref() != Some(name) {
                    return Err(IndexError::BadBitmap {
                        section: Section::Types,
                        what: format!("type {name}"),
                        reason: format!("component {id} is not of this type"),
                    });
                }
            }
            types.push((name, bitmap));
        }
        if !r.is_done() {
            return Err(IndexError::malformed(
                Section::Types,
                "bytes after the last type",
            ));
        }

        let used = decode_bitmap(
            Section::Entrypoint,
            entry_bytes,
            &|| "usedByEntrypoint".to_owned(),
            purl_count,
        )?;

        Ok(BomIndex {
            sbom_sha256,
            usage_traced: flags & FLAG_USAGE_TRACED != 0,
            component_count,
            purls,
            layers,
            types,
            used,
        })
    }

    /// SHA-256 of the SBOM this index was built from.
    pub fn sbom_sha256(&self) -> &[u8; 32] {
        &self.sbom_sha256
    }

    /// True when the SBOM traced entrypoint usage, so [`BomIndex::used_by_entrypoint`] is meaningful.
    pub fn usage_traced(&self) -> bool {
        self.usage_traced
    }

    /// Components with a purl in the SBOM, before deduplication.
    pub fn component_count(&self) -> u32 {
        self.component_count
    }

    /// Number of distinct purls (component ids are `0..len()`).
    pub fn len(&self) -> usize {
        self.purls.len()
    }

    /// True when the index holds no purl.
    pub fn is_empty(&self) -> bool {
        self.purls.is_empty()
    }

    /// The purl of component `id`.
    pub fn purl(&self, id: u32) -> Option<&'a str> {
        self.purls.get(id as usize).copied()
    }

    /// All purls, in id (ascending) order.
    pub fn purls(&self) -> &[&'a str] {
        &self.purls
    }

    /// The layers, ascending by index.
    pub fn layers(&self) -> &[Layer<'a>] {
        &self.layers
    }

    /// The layers that introduced component `id` (one, unless the same purl came from several).
    pub fn layers_of(&self, id: u32) -> impl Iterator<Item = &Layer<'a>> + '_ {
        self.layers
            .iter()
            .filter(move |l| l.components.contains(id))
    }

    /// The purl types present and their components, ascending by type.
    pub fn types(&self) -> &[(&'a str, RoaringBitmap)] {
        &self.types
    }

    /// Components of purl type `ty` (e.g. `npm`, `deb`).
    pub fn of_type(&self, ty: &str) -> Option<&RoaringBitmap> {
        self.types
            .binary_search_by(|(t, _)| (*t).cmp(ty))
            .ok()
            .and_then(|i| self.types.get(i))
            .map(|(_, b)| b)
    }

    /// Components the entrypoint uses.
    pub fn used_by_entrypoint(&self) -> &RoaringBitmap {
        &self.used
    }

    /// The id of exactly `purl`.
    pub fn exact(&self, purl: &str) -> Option<u32> {
        self.purls
            .binary_search(&purl)
            .ok()
            .and_then(|i| u32::try_from(i).ok())
    }

    /// Every component whose purl starts with `prefix` (plain string prefix: `pkg:npm/`,
    /// `pkg:deb/debian/openssl`).
    pub fn prefix(&self, prefix: &str) -> RoaringBitmap {
        let start = self.purls.partition_point(|p| *p < prefix);
        let len = self
            .purls
            .get(start..)
            .unwrap_or_default()
            .partition_point(|p| p.starts_with(prefix));
        ids(start, len)
    }

    /// Every component `query` matches under the [matching rule](crate::purl): exact for a full
    /// purl, every version for a version-less one (`pkg:npm/lodash`), any qualifiers for a purl
    /// without them.
    pub fn matching(&self, query: &str) -> RoaringBitmap {
        let spec = Specificity::of(query);
        let start = self.purls.partition_point(|p| *p < query);
        let mut out = RoaringBitmap::new();
        for (id, p) in (start..)
            .zip(self.purls.get(start..).unwrap_or_default())
            .take_while(|(_, p)| p.starts_with(query))
        {
            if spec.accepts(p.as_bytes().get(query.len()..).unwrap_or_default()) {
                out.extend(u32::try_from(id).ok());
            }
        }
        out
    }

    /// The components any purl of `set` matches (the same rule as [`BomIndex::matching`]): a
    /// linear merge of the two sorted lists, O(|index| + |set|) comparisons.
    pub fn join(&self, set: &PurlSet) -> RoaringBitmap {
        let table = self.purls.as_slice();
        let mut out = RoaringBitmap::new();
        let mut i = 0usize;
        for (q, spec) in set.entries() {
            // Advance to the lower bound of `q`; both lists ascend, so `i` never moves back.
            while table.get(i).is_some_and(|p| *p < q) {
                i = i.saturating_add(1);
            }
            let mut j = i;
            while let Some(p) = table.get(j) {
                let Some(rest) = p.as_bytes().strip_prefix(q.as_bytes()) else {
                    break;
                };
                if spec.accepts(rest) {
                    out.extend(u32::try_from(j).ok());
                }
                j = j.saturating_add(1);
            }
        }
        out
    }
}

/// The purl table: `count + 1` little-endian u32 offsets into the string bytes that follow.
fn purl_table(bytes: &[u8], count: u32) -> Result<Vec<&str>, IndexError> {
    let s = Section::Purls;
    let n = count as usize;
    let table_len = n
        .checked_add(1)
        .and_then(|k| k.checked_mul(4))
        .filter(|len| *len <= bytes.len())
        .ok_or(IndexError::Truncated {
            section: s,
            at: 0,
            needed: (u64::from(count) + 1) * 4,
            available: bytes.len() as u64,
        })?;
    let (table, blob) = bytes
        .split_at_checked(table_len)
        .ok_or(IndexError::Truncated {
            section: s,
            at: 0,
            needed: table_len as u64,
            available: bytes.len() as u64,
        })?;
    let mut offsets = table.chunks_exact(4).map(|c| {
        c.try_into()
            .map(u32::from_le_bytes)
            .map_or(usize::MAX, |v| v as usize)
    });
    let mut start = offsets.next().unwrap_or(usize::MAX);
    if start != 0 {
        return Err(IndexError::malformed(s, "the first offset is not 0"));
    }
    let mut purls: Vec<&str> = Vec::with_capacity(n);
    for (index, end) in (0u32..).zip(offsets) {
        let raw = blob.get(start..end).ok_or(IndexError::OffsetOutOfBounds {
            section: s,
            offset: start as u64,
            length: end.saturating_sub(start) as u64,
            file_len: blob.len() as u64,
            expected: start as u64,
        })?;
        let purl = std::str::from_utf8(raw)
            .map_err(|_| IndexError::malformed(s, format!("entry {index} is not UTF-8")))?;
        if purl.is_empty() {
            return Err(IndexError::malformed(s, format!("entry {index} is empty")));
        }
        if purls.last().is_some_and(|prev| *prev >= purl) {
            return Err(IndexError::UnsortedPurls { index });
        }
        purls.push(purl);
        start = end;
    }
    if start != blob.len() {
        return Err(IndexError::malformed(
            s,
            format!(
                "{} bytes after the last purl",
                blob.len().saturating_sub(start)
            ),
        ));
    }
    Ok(purls)
}

/// The bitmap of ids `start..start + len`.
fn ids(start: usize, len: usize) -> RoaringBitmap {
    let lo = u32::try_from(start).unwrap_or(u32::MAX);
    let hi = u32::try_from(start.saturating_add(len)).unwrap_or(u32::MAX);
    let mut b = RoaringBitmap::new();
    b.insert_range(lo..hi);
    b
}
