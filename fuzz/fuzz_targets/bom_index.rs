#![no_main]
//! A BOM-Index from anywhere (a registry referrer, a cache): open validates it; nothing may panic,
//! and whatever opens answers lookups and joins consistently: the join of every purl in the table
//! finds every component, and a rebuilt index of the same facts opens too.

use bomindex::{BomIndex, Component, IndexBuilder, PurlSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = BomIndex::open(data) else {
        return;
    };
    let n = index.len() as u64;
    assert_eq!(index.prefix("").len(), n);
    let all = PurlSet::new(index.purls());
    assert_eq!(index.join(&all).len(), n);
    for (id, p) in (0u32..).zip(index.purls()) {
        assert_eq!(index.exact(p), Some(id));
        assert!(index.matching(p).contains(id));
        let _ = index.layers_of(id).count();
    }
    let _ = index.join(&PurlSet::new([
        "pkg:npm/lodash",
        "pkg:deb/debian/openssl@3",
    ]));
    // The same facts, rebuilt, give an index that opens with the same purls.
    let mut b = IndexBuilder::new(*index.sbom_sha256());
    b.usage_traced(index.usage_traced());
    for l in index.layers() {
        b.layer(l.index, l.diff_id);
    }
    for (id, p) in (0u32..).zip(index.purls()) {
        let layers: Vec<u32> = index.layers_of(id).map(|l| l.index).collect();
        let used = index.used_by_entrypoint().contains(id);
        if layers.is_empty() {
            b.component(Component {
                purl: (*p).to_owned(),
                layer: None,
                used_by_entrypoint: used,
            });
        }
        for l in layers {
            b.component(Component {
                purl: (*p).to_owned(),
                layer: Some(l),
                used_by_entrypoint: used,
            });
        }
    }
    let rebuilt = b.build().expect("rebuild");
    let again = BomIndex::open(&rebuilt).expect("a rebuilt index opens");
    assert_eq!(again.purls(), index.purls());
});
