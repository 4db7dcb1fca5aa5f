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
ls -la corpus/scan_pipeline
