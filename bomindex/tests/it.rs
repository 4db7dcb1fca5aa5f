//! BOM-Index: round trips against a naive scan of the SBOM, lookups, joins against a naive
//! intersection, determinism (golden bytes) and one test per class of corrupt input.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bomindex::{
    from_cyclonedx_json, BomIndex, Component, IndexBuilder, IndexError, PurlSet, RoaringBitmap,
    Section, HEADER_LEN,
};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// A small CycloneDX SBOM shaped like `stella scan` output: layers on the subject, per-component
/// layer and usage properties, a duplicate purl in two layers, a nested component, one without purl.
fn synthetic_sbom() -> Vec<u8> {
    fn comp(purl: &str, layer: Option<(u32, &str)>, used: bool) -> Value {
        let mut props = vec![json!({"name": "stella:package:type", "value": "x"})];
        if let Some((i, d)) = layer {
            props.push(json!({"name": "stella:layer:diffID", "value": d}));
            props.push(json!({"name": "stella:layer:index", "value": i.to_string()}));
        }
        props.push(json!({"name": "stella:usedByEntrypoint", "value": used.to_string()}));
        json!({"type": "library", "name": purl, "purl": purl, "properties": props})
    }
    let l0 = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let l1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let l2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let mut nested = comp("pkg:maven/org.example/app@1.0", Some((2, l2)), true);
    nested["components"] = json!([comp(
        "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        Some((2, l2)),
        true
    )]);
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "metadata": {"component": {"type": "container", "name": "app", "properties": [
            {"name": "stella:image:os", "value": "linux"},
            {"name": "stella:layer:0", "value": l0},
            {"name": "stella:layer:1", "value": l1},
            {"name": "stella:layer:2", "value": l2},
        ]}},
        "components": [
            {"type": "operating-system", "name": "debian", "version": "12"},
            comp("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", Some((0, l0)), true),
            comp("pkg:deb/debian/openssl-provider-legacy@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", Some((0, l0)), false),
            comp("pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12", Some((0, l0)), true),
            comp("pkg:npm/lodash@4.17.21", Some((1, l1)), true),
            comp("pkg:npm/lodash@4.17.20", Some((1, l1)), false),
            comp("pkg:npm/lodash-es@4.17.21", Some((1, l1)), false),
            comp("pkg:npm/%40types/node@20.1.0", Some((1, l1)), false),
            comp("pkg:npm/lodash@4.17.21", Some((2, l2)), false),
            comp("pkg:pypi/requests@2.31.0", None, false),
            nested,
            {"type": "file", "name": "mystery"},
        ],
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

/// What the index must say, computed the slow way from the SBOM JSON.
struct Naive {
    purls: BTreeSet<String>,
    layers: BTreeMap<u32, BTreeSet<String>>,
    used: BTreeSet<String>,
}

fn naive(sbom: &[u8]) -> Naive {
    let doc: Value = serde_json::from_slice(sbom).unwrap();
    let mut n = Naive {
        purls: BTreeSet::new(),
        layers: BTreeMap::new(),
        used: BTreeSet::new(),
    };
    fn walk(c: &Value, n: &mut Naive) {
        if let Some(p) = c["purl"].as_str() {
            n.purls.insert(p.to_owned());
            for prop in c["properties"].as_array().into_iter().flatten() {
                match prop["name"].as_str().unwrap() {
                    "stella:layer:index" => {
                        n.layers
                            .entry(prop["value"].as_str().unwrap().parse().unwrap())
                            .or_default()
                            .insert(p.to_owned());
                    }
                    "stella:usedByEntrypoint" if prop["value"] == "true" => {
                        n.used.insert(p.to_owned());
                    }
                    _ => {}
                }
            }
        }
        for child in c["components"].as_array().into_iter().flatten() {
            walk(child, n);
        }
    }
    for c in doc["components"].as_array().unwrap() {
        walk(c, &mut n);
    }
    n
}

fn purls_of(index: &BomIndex<'_>, ids: &RoaringBitmap) -> BTreeSet<String> {
    ids.iter()
        .map(|id| index.purl(id).unwrap().to_owned())
        .collect()
}

#[test]
fn round_trip_matches_a_naive_scan_of_the_sbom() {
    let sbom = synthetic_sbom();
    let bytes = from_cyclonedx_json(&sbom).unwrap();
    let index = BomIndex::open(&bytes).unwrap();
    let n = naive(&sbom);

    assert_eq!(
        index.sbom_sha256(),
        &<[u8; 32]>::from(Sha256::digest(&sbom))
    );
    assert!(index.usage_traced());
    assert_eq!(index.component_count(), 11);
    let all: BTreeSet<String> = index.purls().iter().map(|p| (*p).to_owned()).collect();
    assert_eq!(all, n.purls);
    assert_eq!(index.len(), n.purls.len());
    for p in &n.purls {
        let id = index.exact(p).unwrap();
        assert_eq!(index.purl(id), Some(p.as_str()));
    }
    assert_eq!(index.exact("pkg:npm/lodash"), None);
    let layers: BTreeMap<u32, BTreeSet<String>> = index
        .layers()
        .iter()
        .map(|l| (l.index, purls_of(&index, &l.components)))
        .collect();
    assert_eq!(layers, n.layers);
    assert_eq!(
        index.layers()[1].diff_id,
        "sha256:1111111111111111111111111111111111111111111111111111111111111111"
    );
    // The purl found in layers 1 and 2 is in both.
    let lodash = index.exact("pkg:npm/lodash@4.17.21").unwrap();
    assert_eq!(
        index.layers_of(lodash).map(|l| l.index).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(purls_of(&index, index.used_by_entrypoint()), n.used);
    let types: Vec<(&str, u64)> = index.types().iter().map(|(t, b)| (*t, b.len())).collect();
    assert_eq!(types, [("deb", 3), ("maven", 2), ("npm", 4), ("pypi", 1)]);
    assert_eq!(index.of_type("npm").unwrap().len(), 4);
    assert!(index.of_type("cargo").is_none());
}

#[test]
fn prefix_and_version_less_lookups() {
    let sbom = synthetic_sbom();
    let bytes = from_cyclonedx_json(&sbom).unwrap();
    let index = BomIndex::open(&bytes).unwrap();
    let names = |b: RoaringBitmap| purls_of(&index, &b).into_iter().collect::<Vec<_>>();

    assert_eq!(index.prefix("pkg:npm/").len(), 4);
    assert_eq!(
        names(index.prefix("pkg:deb/debian/openssl")),
        [
            "pkg:deb/debian/openssl-provider-legacy@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
        ]
    );
    assert!(index.prefix("pkg:cargo/").is_empty());
    assert_eq!(index.prefix("").len(), index.len() as u64);

    // Version-less: every version, never a longer name.
    assert_eq!(
        names(index.matching("pkg:npm/lodash")),
        ["pkg:npm/lodash@4.17.20", "pkg:npm/lodash@4.17.21"]
    );
    assert_eq!(
        names(index.matching("pkg:deb/debian/openssl")),
        ["pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"]
    );
    // A version without qualifiers matches any qualifiers; a longer version does not match.
    assert_eq!(
        index
            .matching("pkg:deb/debian/openssl@3.0.11-1~deb12u2")
            .len(),
        1
    );
    assert!(index.matching("pkg:npm/lodash@4.17.2").is_empty());
    assert_eq!(index.matching("pkg:npm/%40types/node").len(), 1);
    // Exact.
    assert_eq!(
        names(index.matching("pkg:npm/lodash@4.17.21")),
        ["pkg:npm/lodash@4.17.21"]
    );
}

/// xorshift64*: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_purl(rng: &mut Rng) -> String {
    let ty = ["npm", "deb/debian", "pypi", "golang/example.com"][rng.below(4) as usize];
    let name = ["a", "ab", "abc", "b", "lib", "lib-x", "z"][rng.below(7) as usize];
    match rng.below(4) {
        0 => format!("pkg:{ty}/{name}"),
        1 => format!("pkg:{ty}/{name}@{}", rng.below(12)),
        2 => format!("pkg:{ty}/{name}@{}?arch=amd64", rng.below(12)),
        _ => format!("pkg:{ty}/{name}@{}.{}", rng.below(3), rng.below(3)),
    }
}

/// The matching rule, written out directly from its definition.
fn naive_matches(query: &str, purl: &str) -> bool {
    if purl == query {
        return true;
    }
    let Some(rest) = purl.strip_prefix(query) else {
        return false;
    };
    let first = rest.chars().next().unwrap();
    let last_segment = query.rsplit('/').next().unwrap();
    if query.contains('#') {
        false
    } else if query.contains('?') {
        first == '#'
    } else if last_segment.contains('@') {
        first == '?' || first == '#'
    } else {
        matches!(first, '@' | '?' | '#')
    }
}

#[test]
fn join_equals_a_naive_intersection_on_random_data() {
    let mut rng = Rng(0x5eed_b0b1_dead_beef);
    for round in 0..200 {
        let mut b = IndexBuilder::new([0; 32]);
        for _ in 0..rng.below(60) {
            b.component(Component {
                purl: random_purl(&mut rng),
                layer: Some(rng.below(3) as u32),
                used_by_entrypoint: rng.below(2) == 0,
            });
        }
        let bytes = b.build().unwrap();
        let index = BomIndex::open(&bytes).unwrap();
        let queries: Vec<String> = (0..rng.below(80)).map(|_| random_purl(&mut rng)).collect();
        let got = index.join(&PurlSet::new(&queries));
        let want: RoaringBitmap = (0u32..)
            .zip(index.purls())
            .filter(|(_, p)| queries.iter().any(|q| naive_matches(q, p)))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(got, want, "round {round}: queries {queries:?}");
        // The join is the union of single lookups.
        let union: RoaringBitmap =
            queries
                .iter()
                .map(|q| index.matching(q))
                .fold(RoaringBitmap::new(), |mut a, b| {
                    a |= b;
                    a
                });
        assert_eq!(got, union, "round {round}");
    }
}

#[test]
fn same_components_in_any_order_give_identical_bytes() {
    let comps: Vec<Component> = [
        ("pkg:npm/b@1", Some(1), false),
        ("pkg:npm/a@1", Some(0), true),
        ("pkg:deb/debian/c@2", None, false),
        ("pkg:npm/a@1", Some(1), false),
    ]
    .into_iter()
    .map(|(p, l, u)| Component {
        purl: p.into(),
        layer: l,
        used_by_entrypoint: u,
    })
    .collect();
    let build = |order: &[usize]| {
        let mut b = IndexBuilder::new([7; 32]);
        b.layer(0, "sha256:aa").layer(1, "sha256:bb");
        for &i in order {
            b.component(comps[i].clone());
        }
        b.build().unwrap()
    };
    let first = build(&[0, 1, 2, 3]);
    assert_eq!(first, build(&[3, 2, 1, 0]));
    assert_eq!(first, build(&[2, 0, 3, 1]));
    let sbom = synthetic_sbom();
    assert_eq!(
        from_cyclonedx_json(&sbom).unwrap(),
        from_cyclonedx_json(&sbom).unwrap()
    );
}

#[cfg(feature = "report")]
#[test]
fn an_index_of_a_report_is_the_index_of_its_cyclonedx() {
    use scanner_core::model::*;
    let report = ScanReport {
        subject: Subject {
            kind: SourceKind::Directory,
            name: "rootfs".into(),
            version: None,
            manifest_digest: None,
            config_digest: None,
            repository: None,
            os: None,
            architecture: None,
            variant: None,
            layers: vec![],
        },
        inventory: Inventory {
            packages: vec![Package {
                kind: Some(PackageKind::Npm),
                name: "lodash".into(),
                version: "4.17.21".into(),
                found_in: "/app/node_modules/lodash/package.json".into(),
                ..Package::default()
            }],
            ..Inventory::default()
        },
        created: 0,
        tool: Tool {
            name: "stella".into(),
            version: "0.1.0".into(),
        },
    };
    let cdx = scanner_core::sbom::to_cyclonedx_json(&report);
    let bytes = bomindex::from_report(&report).unwrap();
    assert_eq!(bytes, from_cyclonedx_json(&cdx).unwrap());
    let index = BomIndex::open(&bytes).unwrap();
    assert_eq!(index.purls(), ["pkg:npm/lodash@4.17.21"]);
    assert!(!index.usage_traced());
}

#[test]
fn not_cyclonedx_is_refused() {
    assert!(from_cyclonedx_json(b"not json").is_err());
    assert!(from_cyclonedx_json(br#"{"spdxVersion":"SPDX-2.3"}"#).is_err());
}

// ---------------------------------------------------------------------------------------------
// Golden bytes: `UPDATE_GOLDEN=1 cargo test -p bomindex --test it` rewrites them (as a hex dump,
// so a change is reviewable); review the diff.

fn hex_dump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for chunk in bytes.chunks(32) {
        for b in chunk {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
    }
    s
}

#[test]
fn golden_index_of_the_synthetic_sbom() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/synthetic.bomidx.hex");
    let got = hex_dump(&from_cyclonedx_json(&synthetic_sbom()).unwrap());
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        want == got,
        "{} differs from the output (UPDATE_GOLDEN=1 rewrites it; review the diff):\n{got}",
        path.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Corrupt input: each class its own error.

fn good() -> Vec<u8> {
    from_cyclonedx_json(&synthetic_sbom()).unwrap()
}

fn put32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn get32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// (offset, length) of section `k` (0 purls, 1 layers, 2 types, 3 entrypoint).
fn section(bytes: &[u8], k: usize) -> (usize, usize) {
    (
        get32(bytes, 64 + 8 * k) as usize,
        get32(bytes, 68 + 8 * k) as usize,
    )
}

#[test]
fn bad_magic_is_refused() {
    let mut b = good();
    b[1] = b'X';
    assert_eq!(BomIndex::open(&b).unwrap_err(), IndexError::BadMagic);
    assert_eq!(BomIndex::open(b"").unwrap_err(), IndexError::BadMagic);
}

#[test]
fn unknown_version_is_refused() {
    let mut b = good();
    b[8] = 2;
    assert_eq!(
        BomIndex::open(&b).unwrap_err(),
        IndexError::UnsupportedVersion { version: 2 }
    );
}

#[test]
fn truncated_input_is_refused() {
    let b = good();
    assert!(matches!(
        BomIndex::open(&b[..40]).unwrap_err(),
        IndexError::Truncated {
            section: Section::Header,
            ..
        }
    ));
    // A purl count the table cannot hold.
    let mut c = good();
    put32(&mut c, 12, 1_000_000);
    assert!(matches!(
        BomIndex::open(&c).unwrap_err(),
        IndexError::Truncated {
            section: Section::Purls,
            ..
        }
    ));
    // One layer more than the section holds.
    let mut d = good();
    let layers = get32(&d, 16);
    put32(&mut d, 16, layers + 1);
    assert!(matches!(
        BomIndex::open(&d).unwrap_err(),
        IndexError::Truncated {
            section: Section::Layers,
            ..
        }
    ));
}

#[test]
fn offsets_out_of_bounds_are_refused() {
    let b = good();
    // The file cut short: the last section runs past its end.
    assert!(matches!(
        BomIndex::open(&b[..b.len() - 1]).unwrap_err(),
        IndexError::OffsetOutOfBounds {
            section: Section::Entrypoint,
            ..
        }
    ));
    // A section offset far past the end.
    let mut c = good();
    put32(&mut c, 64 + 8, u32::MAX - 3);
    assert!(matches!(
        BomIndex::open(&c).unwrap_err(),
        IndexError::OffsetOutOfBounds {
            section: Section::Layers,
            ..
        }
    ));
    // A length overflowing the file.
    let mut d = good();
    put32(&mut d, 68, u32::MAX);
    assert!(matches!(
        BomIndex::open(&d).unwrap_err(),
        IndexError::OffsetOutOfBounds {
            section: Section::Purls,
            ..
        }
    ));
    // A purl offset past the string bytes.
    let mut e = good();
    let (purls, _) = section(&e, 0);
    put32(&mut e, purls + 8, 60_000);
    assert!(matches!(
        BomIndex::open(&e).unwrap_err(),
        IndexError::OffsetOutOfBounds {
            section: Section::Purls,
            ..
        }
    ));
}

#[test]
fn unsorted_or_duplicate_purls_are_refused() {
    let mut b = IndexBuilder::new([0; 32]);
    for p in ["pkg:npm/a@1", "pkg:npm/b@1", "pkg:npm/c@1"] {
        b.component(Component {
            purl: p.into(),
            layer: None,
            used_by_entrypoint: false,
        });
    }
    let good = b.build().unwrap();
    assert!(BomIndex::open(&good).is_ok());
    let blob = HEADER_LEN + 4 * 4;
    let at = |i: usize| blob + i * 11 + 8; // the letter in entry i
    let mut swapped = good.clone();
    swapped[at(0)] = b'c';
    assert_eq!(
        BomIndex::open(&swapped).unwrap_err(),
        IndexError::UnsortedPurls { index: 1 }
    );
    let mut dup = good.clone();
    dup[at(2)] = b'b';
    assert_eq!(
        BomIndex::open(&dup).unwrap_err(),
        IndexError::UnsortedPurls { index: 2 }
    );
}

#[test]
fn bad_bitmaps_are_refused() {
    // Entrypoint bitmap: a member past the table (the last array value of the only container).
    let mut b = good();
    let (off, len) = section(&b, 3);
    b[off + len - 2] = 0xff;
    b[off + len - 1] = 0x7f;
    assert!(matches!(
        BomIndex::open(&b).unwrap_err(),
        IndexError::BadBitmap {
            section: Section::Entrypoint,
            ..
        }
    ));
    // A cookie roaring does not know.
    let mut c = good();
    let (off, _) = section(&c, 3);
    c[off] ^= 0x55;
    assert!(matches!(
        BomIndex::open(&c).unwrap_err(),
        IndexError::BadBitmap {
            section: Section::Entrypoint,
            ..
        }
    ));
    // A type bitmap naming a component of another type: swap the first two type names' bitmaps by
    // renaming "deb" to "dec" (then the bitmap's members are not of type "dec").
    let mut d = good();
    let (off, _) = section(&d, 2);
    assert_eq!(&d[off + 2..off + 5], b"deb");
    d[off + 4] = b'c';
    assert!(matches!(
        BomIndex::open(&d).unwrap_err(),
        IndexError::BadBitmap {
            section: Section::Types,
            ..
        }
    ));
}

#[test]
fn other_structural_faults_are_malformed() {
    let mut flags = good();
    flags[10] = 0x80;
    assert!(matches!(
        BomIndex::open(&flags).unwrap_err(),
        IndexError::Malformed {
            section: Section::Header,
            ..
        }
    ));
    let mut trailing = good();
    trailing.push(0);
    assert!(matches!(
        BomIndex::open(&trailing).unwrap_err(),
        IndexError::Malformed { .. }
    ));
}

#[test]
fn every_single_byte_corruption_is_an_error_or_a_valid_index_never_a_panic() {
    let b = good();
    for i in 0..b.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut c = b.clone();
            c[i] ^= x;
            if let Ok(index) = BomIndex::open(&c) {
                // Whatever it accepted is usable.
                let _ = index.join(&PurlSet::new(["pkg:npm/lodash"]));
            }
        }
        let _ = BomIndex::open(&b[..i]);
    }
}

/// Fuzzing found it: `PurlSet` trimmed its entries, so a table purl with surrounding whitespace
/// (valid in the format) was not found by a join of the table's own purls.
#[test]
fn join_of_the_tables_own_purls_finds_every_component_even_with_whitespace() {
    let mut b = IndexBuilder::new([0; 32]);
    for p in [" pkg:npm/a@1", "pkg:npm/b@1 ", "pkg:npm/c@1"] {
        b.component(Component {
            purl: p.into(),
            layer: None,
            used_by_entrypoint: false,
        });
    }
    let bytes = b.build().unwrap();
    let index = BomIndex::open(&bytes).unwrap();
    assert_eq!(index.join(&PurlSet::new(index.purls())).len(), 3);
}
