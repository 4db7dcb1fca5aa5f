#!/bin/sh
# Regenerates sqlite-base/rpmdb.sqlite: the database of an *earlier* image layer, for the end-to-end
# layer-attribution tests (cli/tests/e2e/trivy_rpm_apk.rs) that stack it under sqlite/rpmdb.sqlite.
# Written by rpm itself, like sqlite/: it holds stella-alpha exactly as the final database has it and
# stella-beta one release older (2.3.4-4.el9, from specs/stella-beta.spec with the release rewritten),
# so that in the final image stella-alpha comes from the lower layer and the others from the upper one;
# and stella-legacy (License `ASL 2.0`, Fedora's old non-SPDX spelling), which the final database no
# longer has, so the upper layer removes it. It also holds a `gpg-pubkey` pseudo-package, as every
# Fedora/RHEL image does: a throwaway signing key generated here and imported with `rpm --import`.
# Kept apart from make-fixtures.sh so regenerating one set never rewrites the other.
#
# Needs: rpm, rpmbuild, sqlite3, gpg. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

sed 's/^Release:.*/Release:        4.el9/' "$here/specs/stella-beta.spec" > "$work/stella-beta.spec"
cat > "$work/stella-legacy.spec" <<'SPEC'
Name:           stella-legacy
Version:        0.9
Release:        3.fc40
Summary:        Fixture package with an old-style licence name
License:        ASL 2.0
BuildArch:      noarch

%description
Removed again by the next image layer.

%files
SPEC
for spec in "$here/specs/stella-alpha.spec" "$work/stella-beta.spec" "$work/stella-legacy.spec"; do
    rpmbuild --quiet --define "_topdir $work/top" --define "_buildhost fixtures.example" \
        --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
        -bb "$spec" >/dev/null
done

root="$work/root"
mkdir -p "$root"
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' --initdb
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' --nodeps --justdb --noscripts \
    -i "$work"/top/RPMS/noarch/*.rpm
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Stella Fixtures <fixtures@example.org>' rsa2048 sign 2030-01-01
gpg --batch --quiet --armor --export fixtures@example.org > "$work/key.asc"
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' --import "$work/key.asc"
sqlite3 "$root/var/lib/rpm/rpmdb.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;' >/dev/null
mkdir -p "$here/sqlite-base"
cp "$root/var/lib/rpm/rpmdb.sqlite" "$here/sqlite-base/rpmdb.sqlite"
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' -qa \
    --qf '%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\n' | LC_ALL=C sort \
    > "$here/sqlite-base/expected.txt"
