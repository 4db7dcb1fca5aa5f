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
