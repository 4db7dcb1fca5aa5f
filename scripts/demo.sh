#!/usr/bin/env bash
# The main job on the embedded default: build a real layered image (Debian, PyPI and npm packages; no
# container engine, no registry) and scan it into CycloneDX 1.6 and SPDX 2.3 SBOMs with stella.
#
#   scripts/demo.sh            → target/demo/app.cdx.json, app.spdx.json, app.usage.cdx.json (the usage
#                                view), and tables of the inventory and of what the entrypoint uses
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS_DIR=${CORPUS_DIR:-$PWD/target/corpus}
bash tests/corpus/build-corpus.sh "$CORPUS_DIR"
cargo build --release --locked -q -p stella
mkdir -p target/demo
stella=target/release/stella
$stella scan "oci:$CORPUS_DIR/oci:app" --format cyclonedx-json --output target/demo/app.cdx.json
$stella scan "oci:$CORPUS_DIR/oci:app" --format spdx-json --output target/demo/app.spdx.json
$stella scan "oci:$CORPUS_DIR/oci:app" --view usage --format cyclonedx-json --output target/demo/app.usage.cdx.json
$stella scan "oci:$CORPUS_DIR/oci:app" --format table
echo "--- usage view: what the entrypoint (node /srv/app/index.js) runs and loads ---" >&2
$stella scan "oci:$CORPUS_DIR/oci:app" --view usage --format table
echo "wrote target/demo/app.cdx.json, app.spdx.json and app.usage.cdx.json" >&2
