#!/usr/bin/env bash
# The README's first command: build a real layered image (Debian, PyPI, npm and Java packages; no
# container engine, no registry), then run the whole product loop on it with `stella demo`, in one
# process and with no external service: copy the image, scan it (CycloneDX, per-layer table), start
# the embedded Authority + Signer + Attestor, attach the SBOM as an OCI referrer, attest (sign, log,
# attach the Sigstore bundle), verify online and offline (trust bundle), and watch a tampered copy fail.
#
#   scripts/demo.sh            → target/demo/ (image/, sbom.cdx.json, attestation.sigstore.json,
#                                trusted_root.json, trust-bundle.tar.zst, tampered/, data/)
#   scripts/demo.sh --out DIR  → extra arguments go to `stella demo`
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS_DIR=${CORPUS_DIR:-$PWD/target/corpus}
bash tests/corpus/build-corpus.sh "$CORPUS_DIR"
cargo build --release --locked -q -p stella
exec target/release/stella demo --image "oci:$CORPUS_DIR/oci:app" "$@"
