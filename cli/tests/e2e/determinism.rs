//! The same input gives byte-identical documents; time comes from SOURCE_DATE_EPOCH or the image.

use crate::common::*;

#[test]
fn same_input_same_bytes_and_time_from_the_image_or_source_date_epoch() {
    let Some(corpus) = corpus() else { return };
    let oci = format!("oci:{}:app", corpus.join("oci").display());
    for format in ["cyclonedx-json", "spdx-json"] {
        let a = stella(&["scan", &oci, "--format", format]);
        let b = stella(&["scan", &oci, "--format", format]);
        assert!(a.status.success() && b.status.success());
        assert_eq!(a.stdout, b.stdout, "{format} output differs between runs");
        let text = String::from_utf8(a.stdout).unwrap();
        // The corpus image's config has a `created` of the day it was built: never 1970, never now.
        assert!(
            !text.contains("1970-01-01T00:00:00Z"),
            "{format}: time must come from the image"
        );
        let pinned = stella_env(
            &["scan", &oci, "--format", format],
            &[("SOURCE_DATE_EPOCH", "1700000000")],
        );
        assert!(pinned.status.success());
        let pinned = String::from_utf8(pinned.stdout).unwrap();
        assert!(
            pinned.contains("2023-11-14T22:13:20Z"),
            "{format}: SOURCE_DATE_EPOCH ignored"
        );
        assert_ne!(pinned, text);
    }
}

#[test]
fn bad_source_date_epoch_is_a_usage_error() {
    let dir = tempdir();
    let out = stella_env(
        &["scan", dir.path().to_str().unwrap()],
        &[("SOURCE_DATE_EPOCH", "yesterday")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SOURCE_DATE_EPOCH"));
}
