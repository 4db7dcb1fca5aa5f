#!/usr/bin/env bash
# Speed and memory, side by side with Trivy (offline) on the same inputs in the same run.
# For each input, stella and Trivy run alternately RUNS times (default 7); the medians of wall time
# and peak RSS are reported with the ratio trivy/stella (> 1 means stella is faster). Cold scans: stella
# runs with --no-cache (scripts/bench-cache.sh measures the layer cache).
#
#   scripts/bench.sh [RUNS]        (needs the corpus: tests/run.sh or tests/corpus/build-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${1:-7}
CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
export TRIVY_VENV=${TRIVY_VENV:-${STELLA_VENV:-$root/target/venv}}
export TRIVY_HOME=${TRIVY_HOME:-$root/target/trivy-home}
[[ -x /usr/bin/time ]] || { apt-get install -y -qq time >/dev/null; }
[[ -x $TRIVY_VENV/bin/trivy ]] || { python3 -m venv "$TRIVY_VENV"; "$TRIVY_VENV/bin/pip" install -q -r tests/requirements.txt; }
cargo build --release --locked -q -p stella
stella=$root/target/release/stella
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

inputs=(
  "app docker-archive|docker-archive:$CORPUS_DIR/app.tar|image --input $CORPUS_DIR/app.tar"
  "app OCI layout|oci:$CORPUS_DIR/oci:app|image --input $CORPUS_DIR/oci:app"
  "debian-minbase rootfs|dir:$CORPUS_DIR/rootfs/debian-minbase|rootfs $CORPUS_DIR/rootfs/debian-minbase"
)
measure() { # LOG CMD... → appends "seconds maxrss_kb"
  local log=$1; shift
  /usr/bin/time -f '%e %M' -a -o "$log" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }
}
printf '%-24s %10s %10s %7s %11s %11s\n' input stella_s trivy_s ratio stella_MB trivy_MB
for spec in "${inputs[@]}"; do
  IFS='|' read -r name src targs <<<"$spec"
  : >"$out/s"; : >"$out/t"
  # One warm-up each (page cache), then alternate.
  "$stella" scan "$src" -o "$out/s.json" -q --no-cache
  bash tests/corpus/trivy-offline.sh $targs --format cyclonedx -o "$out/t.json"
  for _ in $(seq "$RUNS"); do
    measure "$out/s" "$stella" scan "$src" -o "$out/s.json" -q --no-cache
    # shellcheck disable=SC2086
    measure "$out/t" bash tests/corpus/trivy-offline.sh $targs --format cyclonedx -o "$out/t.json"
  done
  python3 - "$name" "$out/s" "$out/t" <<'PY'
import statistics, sys
name, s, t = sys.argv[1:]
def med(path, col):
    vals = [float(l.split()[col]) for l in open(path) if l.strip() and l.split()[0][0].isdigit()]
    return statistics.median(vals)
st, tt = med(s, 0), med(t, 0)
sm, tm = med(s, 1) / 1024, med(t, 1) / 1024
print(f"{name:<24} {st:>10.3f} {tt:>10.3f} {tt/st:>6.2f}x {sm:>11.1f} {tm:>11.1f}")
PY
done
