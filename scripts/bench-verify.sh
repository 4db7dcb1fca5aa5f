#!/usr/bin/env bash
# Verification speed, side by side with sigstore-python (the reference Sigstore verifier) in the
# same run, medians of RUNS:
#   - one attestation offline: `stella verify --offline --trust-bundle` of an OCI layout with one
#     attestation (a whole process: unpack the bundle, verify, re-prove from tiles) vs
#     `sigstore verify identity --offline` of the same bundle; plus the in-process figure from
#     `cargo bench -p attestor --bench verify`;
#   - `stella verify` of an image with 10 attestations in a loopback registry (Debian's
#     docker-registry: no referrers API, so the tag fallback) — target ≤ 200 ms.
#
#   scripts/bench-verify.sh [RUNS]     (needs the corpus: tests/run.sh or tests/corpus/build-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${1:-9}
CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
VENV=${STELLA_VENV:-$root/target/venv}
[[ -x $VENV/bin/python ]] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r tests/requirements.txt; }
bash tests/corpus/build-corpus.sh "$CORPUS_DIR" >/dev/null
cargo build --release --locked -q -p stella
stella=$root/target/release/stella
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

# The stack, on the embedded default.
"$stella" serve --listen 127.0.0.1:0 --data-dir "$work/data" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'http://' "$work/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1)

# A loopback registry with the corpus' minimal image.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/config.yml" <<YML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
image=127.0.0.1:$port/bench/minbase:1
skopeo copy -q --dest-tls-verify=false "oci:$CORPUS_DIR/oci:minbase" "docker://$image"
"$stella" scan "oci:$CORPUS_DIR/oci:minbase" -o "$work/sbom.json"
for i in $(seq 1 10); do
  "$stella" attest --insecure "$image" --sbom "$work/sbom.json" --server "$url" \
    --key "$work/client.key" >/dev/null 2>&1
done
# One attestation in a layout, for the offline figure.
mkdir -p "$work/layout"
skopeo copy -q "oci:$CORPUS_DIR/oci:minbase" "oci:$work/layout:app"
"$stella" attest "oci:$work/layout:app" --sbom "$work/sbom.json" --server "$url" \
  --key "$work/client.key" --bundle-out "$work/one.sigstore.json" >/dev/null 2>&1
"$stella" trust export --data-dir "$work/data" --url "$url" --trusted-root "$work/trusted_root.json" \
  --client-trust-config "$work/ctc.json" 2>/dev/null
"$stella" trust bundle create --data-dir "$work/data" --url "$url" --image "oci:$work/layout:app" \
  --out "$work/tb.tar.zst" 2>/dev/null
digest=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1])); print([m["digest"] for m in i["manifests"] if m.get("annotations",{}).get("org.opencontainers.image.ref.name")=="app"][0])' "$work/layout/index.json")
user=$(printf %s "${USER:-${LOGNAME:-developer}}" | tr -cd "A-Za-z0-9._-")

"$VENV/bin/python" - "$RUNS" "$stella" "$image" "$work" "$url" "$digest" "$user" "$VENV/bin/sigstore" <<'PY'
import json, statistics, subprocess, sys, time
runs, stella, image, work, url, digest, user, sigstore = sys.argv[1:]
runs = int(runs)

def median_ms(cmd, ok=0):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True)
        times.append((time.perf_counter() - t) * 1000)
        assert p.returncode == ok, (cmd, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return statistics.median(times), p

ten, p = median_ms([stella, "verify", "--insecure", "--format", "json", image,
                    "--trusted-root", f"{work}/trusted_root.json"])
n = sum(a["verified"] for s in json.loads(p.stdout)["subjects"] for a in s["attestations"])
print(f"stella verify, image with {n} attestations, loopback registry (tag fallback): "
      f"median {ten:.1f} ms (target <= 200 ms: {'met' if ten <= 200 else 'MISSED'})")

ours, _ = median_ms([stella, "verify", f"oci:{work}/layout:app", "--offline",
                     "--trust-bundle", f"{work}/tb.tar.zst"])
theirs, _ = median_ms([sigstore, "--trust-config", f"{work}/ctc.json", "verify", "identity",
                       "--offline", "--bundle", f"{work}/one.sigstore.json",
                       "--cert-identity", f"{url}/dev/users/{user}",
                       "--cert-oidc-issuer", f"{url}/dev", digest])
print(f"one attestation offline, whole process: stella verify --offline {ours:.1f} ms, "
      f"sigstore-python verify --offline {theirs:.1f} ms: {theirs / ours:.1f}x faster")
PY
echo "in process (no process start, no bundle unpack):"
cargo bench -q -p attestor --bench verify 2>/dev/null | tail -1
