#!/usr/bin/env bash
# Makes `stella` available to the following steps of a GitHub Actions job (the cosign-installer model):
#   - a `stella` already on PATH is used when it is the version asked for (or none was asked for);
#   - else the release archive for this runner's OS and architecture is downloaded and checked
#     against the SHA-256 pinned in checksums.txt next to this script, and put on $GITHUB_PATH.
# Nothing is run from an archive whose checksum is not pinned here.
#
#   install.sh [VERSION]     (default: the version this action set was released with, ./VERSION)
# Environment: STELLA_RELEASES_URL (a mirror of the GitHub releases, for air-gapped runners).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "::error title=stella setup::$*" >&2; exit 1; }

pinned=$(tr -d ' \n' < "$here/VERSION")
asked=${1:-}
version=${asked:-$pinned}
version=${version#v}

if command -v stella >/dev/null 2>&1; then
  have=$(stella --version 2>/dev/null | awk '{print $2}')
  if [[ -z $asked || $have == "$version" ]]; then
    echo "stella $have from PATH ($(command -v stella))"
    exit 0
  fi
  echo "stella $have is on PATH but version $version was asked for: installing $version"
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) fail "no stella release for $(uname -s) runners: install stella before this step (it is then used from PATH)" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no stella release for $(uname -m) runners: install stella before this step (it is then used from PATH)" ;;
esac

asset="stella-$version-$os-$arch.tar.gz"
want=$(awk -v a="$asset" '$2 == a { print $1 }' "$here/checksums.txt")
if [[ -z $want ]]; then
  known=$(awk '{print $2}' "$here/checksums.txt" | sed -n 's/^stella-\([^-]*\)-.*/\1/p' | sort -u | tr '\n' ' ')
  fail "this action pins no checksum for $asset: use a version it pins (${known:-none}), use the action at the tag of version $version, or install stella before this step (it is then used from PATH)"
fi

base=${STELLA_RELEASES_URL:-https://github.com/stella-ops/stella/releases/download}
dest=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/stella/$version/$os-$arch
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="$base/v$version/$asset"
curl -fsSL --retry 3 --max-time 300 -o "$tmp/$asset" "$url" || fail "cannot download $url"
if command -v sha256sum >/dev/null 2>&1; then
  got=$(sha256sum "$tmp/$asset" | awk '{print $1}')
else
  got=$(shasum -a 256 "$tmp/$asset" | awk '{print $1}')
fi
[[ $got == "$want" ]] || fail "checksum mismatch for $url: got sha256:$got, pinned sha256:$want. Refusing to install it."
mkdir -p "$dest"
tar -xzf "$tmp/$asset" -C "$dest" stella || fail "$asset holds no stella binary"
chmod 0755 "$dest/stella"
"$dest/stella" --version >/dev/null || fail "the stella from $asset does not run on this runner"
if [[ -n ${GITHUB_PATH:-} ]]; then echo "$dest" >> "$GITHUB_PATH"; fi
echo "installed stella $version ($os/$arch, sha256:$got) in $dest"
