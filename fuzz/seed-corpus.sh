#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the committed test fixtures (the corpus folder is not committed).
set -euo pipefail
cd "$(dirname "$0")"
data=../scanner-core/tests/data
mkdir -p corpus/scan_pipeline
for distro in debian alpine; do
  tar -C "$data/$distro" -cf "corpus/scan_pipeline/$distro.tar" .
  gzip -kf "corpus/scan_pipeline/$distro.tar"
done
tmp=$(mktemp -d)
mkdir -p "$tmp/var/lib/rpm" "$tmp/etc"
cp "$data/rpm/sqlite/rpmdb.sqlite" "$tmp/var/lib/rpm/" 2>/dev/null || true
printf 'ID=fedora\nVERSION_ID=40\n' >"$tmp/etc/os-release"
tar -C "$tmp" -cf corpus/scan_pipeline/rpm.tar . && rm -rf "$tmp"
zstd -qf corpus/scan_pipeline/debian.tar -o corpus/scan_pipeline/debian.tar.zst 2>/dev/null || true

# registry_parsers: a WWW-Authenticate challenge, a Link header and a tiny docker-archive.
mkdir -p corpus/registry_parsers
printf 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"' \
  >corpus/registry_parsers/challenge
printf '</v2/r/referrers/sha256:0?n=10&last=abc>; rel="next"' >corpus/registry_parsers/link
tmp=$(mktemp -d)
mkdir -p "$tmp/l/etc" && printf 'ID=debian\n' >"$tmp/l/etc/os-release"
tar -C "$tmp/l" -cf "$tmp/layer.tar" etc
lh=$(sha256sum "$tmp/layer.tar" | cut -c1-64)
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$lh" >"$tmp/config"
ch=$(sha256sum "$tmp/config" | cut -c1-64)
mv "$tmp/layer.tar" "$tmp/$lh.tar" && mv "$tmp/config" "$tmp/$ch.json"
printf '[{"Config":"%s.json","RepoTags":["a/b:1"],"Layers":["%s.tar"]}]' "$ch" "$lh" >"$tmp/manifest.json"
tar -C "$tmp" -cf corpus/registry_parsers/docker-archive.tar "$ch.json" "$lh.tar" manifest.json
rm -rf "$tmp"

# native_binary: small real ELF and PE files from the native fixture (when built), and a hand-made
# Mach-O header with one LC_UUID, thin and inside a fat wrapper.
fx="${STELLA_FIXTURES:-../target/fixtures}/native"
mkdir -p corpus/native_binary
for f in rootfs/usr/local/lib/stella/libqux.so.1 rootfs/opt/bar/lib/libbaz.so.1 rootfs/opt/bar/bin/app-rpath \
  pe/hello.dll; do
  if [ -f "$fx/$f" ]; then cp "$fx/$f" "corpus/native_binary/$(basename "$f")"; fi
done
macho='\xcf\xfa\xed\xfe\x0c\x00\x00\x01\x00\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00\x00\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
macho="$macho"'\x1b\x00\x00\x00\x18\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f'
printf "$macho" >corpus/native_binary/macho-uuid
{ printf '\xca\xfe\xba\xbe\x00\x00\x00\x01\x01\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x38\x00\x00\x00\x03'
  printf '\x00\x00\x00\x00'; printf "$macho"; } >corpus/native_binary/fat-uuid
# lang_binaries: the gobin fixture's deps.json files and MinGW DLLs (when built), a hand-made Go
# buildinfo blob and a tiny ELF with a cargo-auditable section.
mkdir -p corpus/lang_binaries
gobin=${STELLA_FIXTURES:-../target/fixtures}/gobin/rootfs
if [ -d "$gobin" ]; then
  cp "$gobin"/dotnet/app/*.deps.json "$gobin"/dotnet/docs/*.deps.json "$gobin"/dotnet/app/*.dll corpus/lang_binaries/
fi
python3 - corpus/lang_binaries <<'PY'
import struct, sys, zlib
d = sys.argv[1]
start = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
end = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
mod = start + b"path\tp\nmod\tp\t(devel)\t\ndep\td\tv1.0.0\th1:x=\n=>\te\tv1.1.0\th1:y=\nbuild\t-ldflags=\"-s -w\"\n" + end
ver = b"go1.21.0"
blob = b"\xff Go buildinf:\x08\x02" + b"\0" * 16 + bytes([len(ver)]) + ver + bytes([len(mod)]) + mod + b"\0"
open(f"{d}/go-inline", "wb").write(blob)
js = b'{"packages":[{"name":"a","version":"1.0.0","source":"crates.io"},{"name":"r","version":"0.1.0","source":"local","dependencies":[0],"root":true}]}'
open(f"{d}/dep-v0.zlib", "wb").write(zlib.compress(js))
PY
# shell_parser: the EntryTrace fixture scripts.
mkdir -p corpus/shell_parser
for f in ../scanner-core/tests/fixtures/entrytrace/scripts/*/*.sh; do
  cp "$f" "corpus/shell_parser/$(basename "$(dirname "$f")")-$(basename "$f")"
done
# node_metadata / python_metadata: package.json, lockfiles and dist-info files of the nodepy fixture
# (scanner-core/tests/fixtures/nodepy/build.sh), when it is built.
nodepy=${STELLA_FIXTURES:-../target/fixtures}/nodepy
if [[ -d $nodepy ]]; then
  mkdir -p corpus/node_metadata corpus/python_metadata
  i=0
  for f in "$nodepy"/npm/srv/app/package{,-lock}.json "$nodepy"/package-lock.v1.json \
    "$nodepy"/pnpm/srv/app/pnpm-lock.yaml "$nodepy"/yarn/srv/app/yarn.lock \
    "$nodepy"/npm/srv/app/node_modules/{express,utils-merge,@types/node}/package.json; do
    [[ -f $f ]] && cp "$f" "corpus/node_metadata/seed$((i++))"
  done
  for f in "$nodepy"/python/usr/local/lib/python3.11/site-packages/*.dist-info/{METADATA,RECORD,entry_points.txt} \
    "$nodepy"/python/usr/local/lib/python3.11/site-packages/*.egg-info; do
    [[ -f $f ]] && cp "$f" "corpus/python_metadata/seed$((i++))"
  done
fi

# fragment_decode: a small hand-written fragment with every entry kind (content and facts base64).
mkdir -p corpus/fragment_decode
cat >corpus/fragment_decode/seed0 <<'JSON'
{"format":"stella-fragment","version":1,"entries":[{"t":"dir","p":"var","m":493},{"t":"file","p":"var/lib/dpkg/status","m":420,"s":52,"c":"UGFja2FnZTogYQpTdGF0dXM6IGluc3RhbGwgb2sgaW5zdGFsbGVkClZlcnNpb246IDEKCg=="},{"t":"symlink","p":"bin","l":"usr/bin"},{"t":"whiteout","p":"etc/x"},{"t":"opaque","p":"srv"},{"t":"file","p":"usr/bin/run.sh","m":493,"s":10,"x":{"script":"IyEvYmluL3NoCmV4ZWMgeAo="}}]}
JSON

# dockerfile_parser: the examples' Dockerfiles and a hand-written multi-stage one.
mkdir -p corpus/dockerfile_parser
i=0
for f in ../examples/*/Dockerfile* ../generator/Dockerfile ../frontend/Dockerfile; do
  [[ -f $f ]] && cp "$f" "corpus/dockerfile_parser/seed$((i++))"
done
printf '# escape=`\nARG B=debian V\nFROM ${B}:${V:-bookworm} AS a\nRUN <<EOF\nFROM x\nEOF\nFROM a AS final\n' >corpus/dockerfile_parser/seed$((i++))

# sigstore_formats: the first byte picks the parser (0 create request, 1 entry body, 2 bundle,
# 3 trusted root, 4 signing / client trust config).
mkdir -p corpus/sigstore_formats
golden=../attestor/tests/golden
{ printf '\000'; cat "$golden/conda-create-request.json"; } >corpus/sigstore_formats/request
{ printf '\002'; cat "$golden/conda-bundle.compact.json"; } >corpus/sigstore_formats/bundle
sigstore=../../shared/testdata/sigstore
if [ -d "$sigstore" ]; then
  { printf '\002'; cat "$sigstore/cosign-v3-blob.sigstore.json"; } >corpus/sigstore_formats/bundle-v1
  { printf '\003'; cat "$sigstore/trusted_root.json"; } >corpus/sigstore_formats/trusted-root
  { printf '\004'; cat "$sigstore/client_trust_config_staging.json"; } >corpus/sigstore_formats/ctc
  python3 - "$sigstore/conda-attestation-rekor2.sigstore.json" >corpus/sigstore_formats/body <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
sys.stdout.buffer.write(b"\x01" + base64.b64decode(b))
PY
fi

# bom_index: the golden index of the synthetic SBOM (kept as a hex dump).
mkdir -p corpus/bom_index
xxd -r -p ../bomindex/tests/golden/synthetic.bomidx.hex >corpus/bom_index/synthetic.bomidx
