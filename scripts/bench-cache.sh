#!/usr/bin/env bash
# The per-layer cache's speed goal, side by side with Trivy (offline) in one run: a warm rescan after
# changing only the top layer of the corpus app image should take ≤ 10% of a cold scan and ≤ 1 s.
#
# The changed image is the corpus app image (OCI layout) with its top layer replaced by a small new
# tar (a copy of the layout whose other blobs are hard links, with a new config, manifest and tag).
# Each tool scans it RUNS times (default 5) from two states, timings alternating between the tools:
#   cold  an empty cache (stella: a fresh --cache-dir, so storing is included; Trivy: a fresh fs
#         cache), plus stella --no-cache for reference;
#   warm  the cache as left by one scan of the original image (restored before every run, so the new
#         top layer is never already cached).
# Medians of wall time and peak RSS are printed, with warm/cold ratios.
#
#   scripts/bench-cache.sh [RUNS]   (needs the corpus: tests/run.sh or tests/corpus/build-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${1:-5}
CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
TRIVY_VENV=${TRIVY_VENV:-${STELLA_VENV:-$root/target/venv}}
TRIVY_HOME=${TRIVY_HOME:-$root/target/trivy-home}
[[ -x /usr/bin/time ]] || { apt-get install -y -qq time >/dev/null; }
[[ -x $TRIVY_VENV/bin/trivy ]] || { echo "no Trivy at $TRIVY_VENV (see scripts/bench.sh)" >&2; exit 1; }
[[ -f $CORPUS_DIR/oci/.done ]] || { echo "no corpus at $CORPUS_DIR" >&2; exit 1; }
# tests/corpus/trivy-offline.sh makes the empty Java DB Trivy needs offline.
bash tests/corpus/trivy-offline.sh --version >/dev/null 2>&1 || true
cargo build --release --locked -q -p stella
stella=$root/target/release/stella
mkdir -p "$root/target/tmp"
out=$(mktemp -d -p "$root/target/tmp" bench-cache.XXXXXX)  # beside the corpus, for hard links
trap 'rm -rf "$out"' EXIT

# The changed image: the app image with a new top layer.
layout=$out/oci
python3 - "$CORPUS_DIR/oci" "$layout" <<'PY'
import gzip, hashlib, io, json, os, shutil, sys, tarfile, time
src, dst = sys.argv[1:]
os.makedirs(f"{dst}/blobs/sha256")
# Hard links (Trivy refuses symlinked blobs), copies across file systems.
for b in os.listdir(f"{src}/blobs/sha256"):
    try:
        os.link(os.path.realpath(f"{src}/blobs/sha256/{b}"), f"{dst}/blobs/sha256/{b}")
    except OSError:
        shutil.copyfile(f"{src}/blobs/sha256/{b}", f"{dst}/blobs/sha256/{b}")
with open(f"{src}/oci-layout", "rb") as f:
    open(f"{dst}/oci-layout", "wb").write(f.read())
index = json.load(open(f"{src}/index.json"))
def blob(d):
    return open(f"{src}/blobs/sha256/{d.split(':', 1)[1]}", "rb").read()
def put(data):
    d = hashlib.sha256(data).hexdigest()
    p = f"{dst}/blobs/sha256/{d}"
    if os.path.lexists(p):
        os.remove(p)
    open(p, "wb").write(data)
    return "sha256:" + d
desc = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "app")
manifest = json.loads(blob(desc["digest"]))
config = json.loads(blob(manifest["config"]["digest"]))
# The new top layer: a small tar (a release note and an npm package), as a rebuilt last step makes.
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, data in [("app/RELEASE", f"build {time.time_ns()}\n".encode()),
                       ("app/node_modules/left-pad/package.json",
                        b'{"name":"left-pad","version":"1.3.0"}')]:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        t.addfile(info, io.BytesIO(data))
tar = raw.getvalue()
gz = gzip.compress(tar, mtime=0)
manifest["layers"][-1] = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          "digest": put(gz), "size": len(gz)}
config["rootfs"]["diff_ids"][-1] = "sha256:" + hashlib.sha256(tar).hexdigest()
cfg = json.dumps(config).encode()
manifest["config"] = {**manifest["config"], "digest": put(cfg), "size": len(cfg)}
man = json.dumps(manifest).encode()
index["manifests"].append({"mediaType": manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                           "digest": put(man), "size": len(man),
                           "annotations": {"org.opencontainers.image.ref.name": "app-changed"}})
json.dump(index, open(f"{dst}/index.json", "w"))
PY

# Trivy as tests/corpus/trivy-offline.sh runs it, but with its fs cache in a directory of ours.
trivy=("$TRIVY_VENV/bin/trivy" image --quiet --cache-backend fs --offline-scan --skip-db-update
  --skip-java-db-update --format cyclonedx)
fresh_trivy_cache() { # DIR: an empty fs cache with the (empty, offline) Java DB
  rm -rf "$1"; mkdir -p "$1"; ln -s "$TRIVY_HOME/java-db" "$1/java-db"
}
measure() { # LOG CMD... → appends "seconds maxrss_kb"
  local log=$1; shift
  /usr/bin/time -f '%e %M' -a -o "$log" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }
}

# Warmed states: one scan of the original image each.
"$stella" scan "oci:$layout:app" -q --cache-dir "$out/s-warm0" -o "$out/s0.json"
fresh_trivy_cache "$out/t-warm0"
"${trivy[@]}" --cache-dir "$out/t-warm0" --input "$layout:app" -o "$out/t0.json"
# Output check: cold, warm and --no-cache SBOMs of the changed image are byte-identical.
"$stella" scan "oci:$layout:app-changed" -q --no-cache -o "$out/none.json"
rm -rf "$out/s"; cp -a "$out/s-warm0" "$out/s"
"$stella" scan "oci:$layout:app-changed" -q --cache-dir "$out/s" -o "$out/warm.json"
cmp -s "$out/none.json" "$out/warm.json" || { echo "warm SBOM differs from --no-cache" >&2; exit 1; }

for f in s-cold s-warm s-none t-cold t-warm; do : >"$out/$f.log"; done
for _ in $(seq "$RUNS"); do
  rm -rf "$out/s"
  measure "$out/s-cold.log" "$stella" scan "oci:$layout:app-changed" -q --cache-dir "$out/s" -o "$out/s.json"
  rm -rf "$out/s"; cp -a "$out/s-warm0" "$out/s"
  measure "$out/s-warm.log" "$stella" scan "oci:$layout:app-changed" -q --cache-dir "$out/s" -o "$out/s.json"
  measure "$out/s-none.log" "$stella" scan "oci:$layout:app-changed" -q --no-cache -o "$out/s.json"
  fresh_trivy_cache "$out/t"
  measure "$out/t-cold.log" "${trivy[@]}" --cache-dir "$out/t" --input "$layout:app-changed" -o "$out/t.json"
  rm -rf "$out/t"; cp -a "$out/t-warm0" "$out/t"
  measure "$out/t-warm.log" "${trivy[@]}" --cache-dir "$out/t" --input "$layout:app-changed" -o "$out/t.json"
done

python3 - "$out" "$RUNS" <<'PY'
import statistics, sys
out, runs = sys.argv[1], sys.argv[2]
def med(name, col):
    vals = [float(l.split()[col]) for l in open(f"{out}/{name}.log") if l.strip() and l[0].isdigit()]
    return statistics.median(vals)
t = {k: med(k, 0) for k in ["s-cold", "s-warm", "s-none", "t-cold", "t-warm"]}
m = {k: med(k, 1) / 1024 for k in t}
print(f"corpus app image, top layer replaced; medians of {runs} runs")
print(f"{'':<22} {'cold_s':>8} {'warm_s':>8} {'warm/cold':>10} {'cold_MB':>8} {'warm_MB':>8}")
print(f"{'stella':<22} {t['s-cold']:>8.3f} {t['s-warm']:>8.3f} {t['s-warm']/t['s-cold']:>9.1%} {m['s-cold']:>8.1f} {m['s-warm']:>8.1f}")
print(f"{'trivy (fs cache)':<22} {t['t-cold']:>8.3f} {t['t-warm']:>8.3f} {t['t-warm']/t['t-cold']:>9.1%} {m['t-cold']:>8.1f} {m['t-warm']:>8.1f}")
print(f"stella --no-cache: {t['s-none']:.3f} s")
print(f"trivy/stella: cold {t['t-cold']/t['s-cold']:.2f}x, warm {t['t-warm']/t['s-warm']:.2f}x")
ok = t["s-warm"] <= 0.10 * t["s-cold"] and t["s-warm"] <= 1.0
print(f"goal (stella warm <= 10% of cold and <= 1 s): {'met' if ok else 'NOT met'}")
PY
