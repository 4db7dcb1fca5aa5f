#!/usr/bin/env bash
# Cuts a release of the stella binary for the CI actions: builds the archive of this machine's
# OS/arch (run it on each release platform, or cross-build with --target), and pins its SHA-256 in
# actions/checksums.txt, which actions/install.sh trusts and nothing else. Commit actions/VERSION and
# actions/checksums.txt, tag vVERSION, and upload the archives to the release.
#
#   scripts/release.sh VERSION [--target TRIPLE]   → target/release-archives/stella-VERSION-OS-ARCH.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/release.sh VERSION [--target TRIPLE]}
version=${version#v}
shift
target=
if [[ ${1:-} == --target ]]; then target=${2:?--target needs a triple}; fi
crate_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[[ $version == "$crate_version" ]] || { echo "release.sh: VERSION $version is not the workspace version $crate_version" >&2; exit 2; }

triple=${target:-$(rustc -vV | sed -n 's/^host: //p')}
case $triple in
  x86_64-*-linux-*) os=linux arch=amd64 ;;
  aarch64-*-linux-*) os=linux arch=arm64 ;;
  x86_64-apple-darwin) os=darwin arch=amd64 ;;
  aarch64-apple-darwin) os=darwin arch=arm64 ;;
  *) echo "release.sh: no release name for $triple" >&2; exit 2 ;;
esac
cargo build --release --locked -p stella ${target:+--target "$target"}
bin=target/${target:+$target/}release/stella
out=target/release-archives
mkdir -p "$out"
asset="stella-$version-$os-$arch.tar.gz"
# A reproducible archive: fixed owner, mode and time.
tar --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0755 -C "$(dirname "$bin")" -cf - stella \
  | gzip -n -9 > "$out/$asset"
sum=$(sha256sum "$out/$asset" | awk '{print $1}')
echo "$version" > actions/VERSION
tmp=$(mktemp)
grep -v "  $asset\$" actions/checksums.txt > "$tmp" || true
echo "$sum  $asset" >> "$tmp"
mv "$tmp" actions/checksums.txt
echo "$out/$asset sha256:$sum (pinned in actions/checksums.txt)"
