//! Golden files for every output format, and byte-identical output whatever the input order.

use scanner_core::sbom::{to_cyclonedx_json, to_json, to_spdx_json, to_table};

use super::fixture;

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("writers produce UTF-8")
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn image_cyclonedx() {
    let out = text(to_cyclonedx_json(&fixture::report()));
    settings().bind(|| insta::assert_snapshot!("image.cdx.json", out));
}

#[test]
fn image_spdx() {
    let out = text(to_spdx_json(&fixture::report()));
    settings().bind(|| insta::assert_snapshot!("image.spdx.json", out));
}

#[test]
fn image_table() {
    let out = to_table(&fixture::report());
    settings().bind(|| insta::assert_snapshot!("image.table", out));
}

#[test]
fn image_json() {
    let out = text(to_json(&fixture::report()));
    settings().bind(|| insta::assert_snapshot!("image.report.json", out));
}

#[test]
fn empty_directory_documents() {
    let report = fixture::empty_directory();
    let cdx = text(to_cyclonedx_json(&report));
    let spdx = text(to_spdx_json(&report));
    let table = to_table(&report);
    settings().bind(|| {
        insta::assert_snapshot!("directory.cdx.json", cdx);
        insta::assert_snapshot!("directory.spdx.json", spdx);
        insta::assert_snapshot!("directory.table", table);
    });
}

#[test]
fn output_does_not_depend_on_package_order() {
    let report = fixture::report();
    let mut reversed = report.clone();
    reversed.inventory.packages.reverse();
    let mut rotated = report.clone();
    rotated.inventory.packages.rotate_left(3);
    for other in [&reversed, &rotated] {
        assert_ne!(other.inventory.packages, report.inventory.packages);
        assert_eq!(to_cyclonedx_json(other), to_cyclonedx_json(&report));
        assert_eq!(to_spdx_json(other), to_spdx_json(&report));
        assert_eq!(to_table(other), to_table(&report));
    }
}

#[test]
fn hostile_output_does_not_depend_on_package_order() {
    let report = fixture::hostile();
    let mut reversed = report.clone();
    reversed.inventory.packages.reverse();
    assert_eq!(to_cyclonedx_json(&reversed), to_cyclonedx_json(&report));
    assert_eq!(to_spdx_json(&reversed), to_spdx_json(&report));
    assert_eq!(to_table(&reversed), to_table(&report));
}

#[test]
fn output_is_repeatable_and_ends_with_newline() {
    let report = fixture::report();
    for out in [
        to_cyclonedx_json(&report),
        to_spdx_json(&report),
        to_json(&report),
    ] {
        assert_eq!(out.last(), Some(&b'\n'));
    }
    assert_eq!(to_cyclonedx_json(&report), to_cyclonedx_json(&report));
    assert_eq!(to_spdx_json(&report), to_spdx_json(&report));
}

#[test]
fn content_derived_ids_change_with_content() {
    let report = fixture::report();
    let mut changed = report.clone();
    if let Some(p) = changed.inventory.packages.first_mut() {
        p.version.push_str("+local1");
    }
    let serial = |r| {
        let doc: serde_json::Value = serde_json::from_slice(&to_cyclonedx_json(r)).unwrap();
        doc["serialNumber"].as_str().unwrap().to_owned()
    };
    let namespace = |r| {
        let doc: serde_json::Value = serde_json::from_slice(&to_spdx_json(r)).unwrap();
        doc["documentNamespace"].as_str().unwrap().to_owned()
    };
    assert_ne!(serial(&report), serial(&changed));
    assert_ne!(namespace(&report), namespace(&changed));
    // A later document time is different content too.
    let mut later = report.clone();
    later.created += 1;
    assert_ne!(serial(&report), serial(&later));
}

#[test]
fn language_documents() {
    let report = fixture::language_report();
    let cdx = text(to_cyclonedx_json(&report));
    let spdx = text(to_spdx_json(&report));
    let json = text(to_json(&report));
    settings().bind(|| {
        insta::assert_snapshot!("language.cdx.json", cdx);
        insta::assert_snapshot!("language.spdx.json", spdx);
        insta::assert_snapshot!("language.report.json", json);
    });
}
