#!/usr/bin/env bash
# The frontend's speed on the corpus app image, BuildKit's mounts emulated in-process: medians over
# RUNS (default 7) of a warmed-base fast-path run, a full-path run and Trivy (offline) on the same
# rootfs, with ratios. Target: fast path <= 300 ms.
#
#   scripts/bench-frontend.sh [RUNS]   (needs the corpus: tests/run.sh or tests/corpus/build-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
export TRIVY_VENV=${TRIVY_VENV:-${STELLA_VENV:-$root/target/venv}}
export TRIVY_HOME=${TRIVY_HOME:-$root/target/trivy-home}
exec cargo bench --locked -q -p stella-frontend --bench frontend -- "${1:-7}"
