#!/usr/bin/env bash
# The BuildKit SBOM generator's scan, side by side with Trivy (offline) on the same rootfs, same run.
# BuildKit's mounts are emulated as the protocol test does: a private mount namespace with the
# corpus app rootfs read-only at /run/src/core/sbom, /run/out/ writable, tmpfs /run and /tmp, no
# network, and exactly BuildKit's environment (needs root for unshare; without it the generator
# reads the directory in place). Each tool runs RUNS times (default 7), alternately, after one
# warm-up; medians of wall time and peak RSS, and the ratio trivy/stella (> 1: stella is faster).
#
#   scripts/bench-generator.sh [RUNS] [MODE]     MODE: compact (default) or full
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${1:-7}
MODE=${2:-compact}
CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
export TRIVY_VENV=${TRIVY_VENV:-${STELLA_VENV:-$root/target/venv}}
export TRIVY_HOME=${TRIVY_HOME:-$root/target/trivy-home}
rootfs=$CORPUS_DIR/rootfs/app
[[ -f $rootfs/.done ]] || { echo "corpus missing at $CORPUS_DIR: run tests/run.sh" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { apt-get install -y -qq time >/dev/null; }
[[ -x $TRIVY_VENV/bin/trivy ]] || { python3 -m venv "$TRIVY_VENV"; "$TRIVY_VENV/bin/pip" install -q -r tests/requirements.txt; }
cargo build --release --locked -q -p stella-generator
gen=$root/target/release/stella-generator
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/run-out"

if unshare --mount --net true 2>/dev/null; then
  how="BuildKit mounts emulated (unshare, read-only bind, no network)"
  generator() {
    unshare --mount --net --propagation private bash -ec "
      mount -t tmpfs stella-run /run
      mkdir -p /run/src/core/sbom /run/out
      mount --bind '$rootfs' /run/src/core/sbom
      mount -o remount,bind,ro /run/src/core/sbom
      mount --bind '$out/run-out' /run/out
      mount -t tmpfs stella-tmp /tmp
      exec env -i BUILDKIT_SCAN_DESTINATION=/run/out/ BUILDKIT_SCAN_SOURCE=/run/src/core/sbom \
        BUILDKIT_SCAN_mode=$MODE '$gen'"
  }
else
  how="no unshare here: the rootfs read in place"
  generator() {
    env -i BUILDKIT_SCAN_DESTINATION="$out/run-out/" BUILDKIT_SCAN_SOURCE="$rootfs" \
      BUILDKIT_SCAN_mode="$MODE" "$gen"
  }
fi
trivy() { bash tests/corpus/trivy-offline.sh rootfs "$rootfs" --format spdx-json -o "$out/t.json"; }
measure() { # LOG CMD... → appends "seconds maxrss_kb"
  local log=$1; shift
  /usr/bin/time -f '%e %M' -a -o "$log" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }
}
export rootfs out gen MODE
export -f generator trivy
: >"$out/s"; : >"$out/t"
generator 2>/dev/null; trivy 2>/dev/null
for _ in $(seq "$RUNS"); do
  measure "$out/s" bash -c generator
  measure "$out/t" bash -c trivy
done
size=$(stat -c %s "$out/run-out/sbom.spdx.json")
echo "generator: app rootfs ($how), mode=$MODE, $RUNS runs; statement $size bytes"
python3 - "$out/s" "$out/t" <<'PY'
import statistics, sys
s, t = sys.argv[1:]
def med(path, col):
    vals = [float(l.split()[col]) for l in open(path) if l.strip() and l.split()[0][0].isdigit()]
    return statistics.median(vals)
st, tt = med(s, 0), med(t, 0)
sm, tm = med(s, 1) / 1024, med(t, 1) / 1024
print(f"{'':<10} {'median_s':>9} {'peak_MB':>8}")
print(f"{'stella':<10} {st:>9.3f} {sm:>8.1f}")
print(f"{'trivy':<10} {tt:>9.3f} {tm:>8.1f}")
print(f"ratio trivy/stella: {tt/st:.2f}x time, {tm/sm:.2f}x memory")
PY
