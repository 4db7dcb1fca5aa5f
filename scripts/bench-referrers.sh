#!/usr/bin/env bash
# Referrers on a real registry (Debian's docker-registry = CNCF distribution 2.8, no referrers API, so
# the sha256-<hex> fallback index is exercised), side by side with oras-py in the same run:
#   - HTTP requests of one `stella sbom push` (from the registry's own access log), split into subject
#     resolution, blob/manifest uploads and fallback-index round trips;
#   - listing the 50 referrers of one image: `stella referrers` vs an oras-py client doing the same
#     discovery (GET the fallback index, verify its digest, parse); median of RUNS runs, ratio.
#
#   scripts/bench-referrers.sh [RUNS]     (needs the corpus: tests/run.sh or tests/corpus/build-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${1:-9}
CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
VENV=${STELLA_VENV:-$root/target/venv}
[[ -x $VENV/bin/python ]] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r tests/requirements.txt; }
cargo build --release --locked -q -p stella
stella=$root/target/release/stella
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/config.yml" <<YML
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
reg=$!
trap 'kill $reg 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
image=127.0.0.1:$port/bench/minbase:1
skopeo copy -q --dest-tls-verify=false "oci:$CORPUS_DIR/oci:minbase" "docker://$image"
"$stella" scan "oci:$CORPUS_DIR/oci:minbase" -o "$work/sbom.json"

echo "== one sbom push: HTTP requests seen by the registry"
python3 - "$work/sbom.json" "$work/one.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.setdefault("metadata", {})["properties"] = [{"name": "bench", "value": "one"}]
json.dump(d, open(sys.argv[2], "w"))
PY
before=$(grep -c 'response completed' "$work/registry.log" || true)
"$stella" sbom push --insecure "$image" --sbom "$work/one.json" >/dev/null 2>&1
after=$(grep -c 'response completed' "$work/registry.log" || true)
grep 'response completed' "$work/registry.log" | tail -n $((after - before)) | python3 -c '
import re, sys
n = 0
for line in sys.stdin:
    get = lambda k: (re.search(k + "=[\x22]?([^\x22 ]+)", line) or [None, "?"])[1]
    uri = re.sub(r"sha256[:-][0-9a-f]{64}", "sha256:…", get("http.request.uri"))
    uri = re.sub(r"uploads/[0-9a-f-]{36}.*", "uploads/…", uri)
    n += 1
    method, status = get("http.request.method"), get("http.response.status")
    print(f"  {n:2}. {method:5} {uri} → {status}")
print(f"  total: {n} requests")
'

echo "== 50 referrers, then list them (median of $RUNS)"
for i in $(seq 2 50); do
  python3 - "$work/sbom.json" "$work/s.json" "$i" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.setdefault("metadata", {})["properties"] = [{"name": "bench", "value": sys.argv[3]}]
json.dump(d, open(sys.argv[2], "w"))
PY
  "$stella" sbom push --insecure "$image" --sbom "$work/s.json" >/dev/null 2>&1
done
subject=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$image")
cat >"$work/oras_list.py" <<'PY'
import hashlib, json, sys
import oras.client
registry, repo, subject = sys.argv[1:4]
c = oras.client.OrasClient(hostname=registry, insecure=True)
r = c.do_request(f"http://{registry}/v2/{repo}/manifests/{subject.replace(':', '-')}", "GET",
                 headers={"Accept": "application/vnd.oci.image.index.v1+json"})
body = r.content
assert "sha256:" + hashlib.sha256(body).hexdigest() == r.headers["Docker-Content-Digest"]
print(len(json.loads(body)["manifests"]))
PY
n=$("$stella" referrers --insecure "$image" --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["referrers"]))')
m=$("$VENV/bin/python" "$work/oras_list.py" "127.0.0.1:$port" bench/minbase "$subject")
k=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/bench/minbase:${subject/:/-}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["manifests"]))')
echo "  stella lists $n, oras-py lists $m, skopeo reads $k in the fallback index"
# Whole processes, wall clock from a monotonic clock (ms resolution).
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); }
: >"$work/ts"; : >"$work/to"; : >"$work/tk"
for _ in $(seq "$RUNS"); do
  ms "$stella" referrers --insecure "$image" --format json >>"$work/ts"
  ms "$VENV/bin/python" "$work/oras_list.py" "127.0.0.1:$port" bench/minbase "$subject" >>"$work/to"
  ms skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/bench/minbase:${subject/:/-}" >>"$work/tk"
done
python3 - "$work/ts" "$work/to" "$work/tk" <<'PY'
import statistics, sys
med = [statistics.median(int(x) for x in open(p) if x.strip()) / 1000 for p in sys.argv[1:]]
s, o, k = med
print(f"  stella referrers (resolve image + fallback index, verified): {s:.1f} ms")
print(f"  oras-py (python start + fallback index, verified):          {o:.1f} ms  ratio {o/s:.1f}x")
print(f"  skopeo inspect --raw of the fallback index (no parsing):     {k:.1f} ms  ratio {k/s:.1f}x")
PY
