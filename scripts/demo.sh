#!/usr/bin/env bash
# The main job on the embedded default: build a real layered image (Debian, PyPI and npm packages; no
# container engine, no registry) and scan it into CycloneDX 1.6 and SPDX 2.3 SBOMs with stella.
#
#   scripts/demo.sh            → target/demo/app.cdx.json, target/demo/app.spdx.json, and a table
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS_DIR=${CORPUS_DIR:-$PWD/target/corpus}
bash tests/corpus/build-corpus.sh "$CORPUS_DIR"
cargo build --release --locked -q -p stella
mkdir -p target/demo
stella=target/release/stella
$stella scan "oci:$CORPUS_DIR/oci:app" --format cyclonedx-json --output target/demo/app.cdx.json
$stella scan "oci:$CORPUS_DIR/oci:app" --format spdx-json --output target/demo/app.spdx.json
$stella scan "oci:$CORPUS_DIR/oci:app" --format table
echo "wrote target/demo/app.cdx.json and target/demo/app.spdx.json" >&2
