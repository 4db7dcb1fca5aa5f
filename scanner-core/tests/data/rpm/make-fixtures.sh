#!/bin/sh
# Regenerates the rpm database fixtures from specs/*.spec with the system's rpm tools.
#
#   sqlite/rpmdb.sqlite  written by rpm itself (_db_backend sqlite)
#   bdb/Packages         Berkeley DB hash built with db_load from the same header blobs, keyed by the
#                        header number as a native (little-endian) uint32 — the layout rpm's bdb backend
#                        writes; Debian's rpm 4.18 can only *read* bdb (bdb_ro), which we use to check it.
#   ndb/Packages.db      rpm's NDB package blob store; Debian's rpm 4.18 has no ndb backend, so this file
#                        is written by ndb-write.py following rpm's lib/backend/ndb/rpmpkg.c layout.
#   */expected.txt       `rpm -qa --qf ...` output, sorted, recorded at creation time.
#
# Needs: rpm, rpmbuild, sqlite3, db_load (db5.3-util), python3. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000
qf='%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\n'

for spec in "$here"/specs/*.spec; do
    rpmbuild --quiet --define "_topdir $work/top" --define "_buildhost fixtures.example" \
        --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
        -bb "$spec" >/dev/null
done

# sqlite: written by rpm.
root="$work/root"
mkdir -p "$root"
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' --initdb
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' --nodeps --justdb --noscripts \
    -i "$work"/top/RPMS/noarch/*.rpm
mkdir -p "$here/sqlite"
# Fold any WAL back into the main file so the fixture is self-contained.
sqlite3 "$root/var/lib/rpm/rpmdb.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;' >/dev/null
cp "$root/var/lib/rpm/rpmdb.sqlite" "$here/sqlite/rpmdb.sqlite"
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' -qa --qf "$qf" | LC_ALL=C sort \
    > "$here/sqlite/expected.txt"
# Richer facts for the analyzer test: files with digests, requires, provides, licence, source rpm.
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' -qa \
    --qf '[%{=NAME} file %{FILENAMES} %{FILEDIGESTS}\n][%{=NAME} requires %{REQUIRENAME}\n][%{=NAME} provides %{PROVIDENAME}\n]%{NAME} license %{LICENSE}\n%{NAME} sourcerpm %{SOURCERPM}\n' \
    | LC_ALL=C sort > "$here/sqlite/expected-details.txt"

# Header blobs, one file per header number, for the other two backends.
mkdir -p "$work/blobs"
sqlite3 "$here/sqlite/rpmdb.sqlite" 'SELECT hnum FROM Packages ORDER BY hnum' | while read -r n; do
    sqlite3 "$here/sqlite/rpmdb.sqlite" "SELECT hex(blob) FROM Packages WHERE hnum = $n" \
        | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' \
        > "$work/blobs/$n"
done

# bdb: db_load a hash database (page size 4096, so the multi-KB headers become overflow items).
python3 - "$work/blobs" > "$work/bdb.txt" <<'PY'
import os, struct, sys
d = sys.argv[1]
print("VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END")
for n in sorted(os.listdir(d), key=int):
    blob = open(os.path.join(d, n), "rb").read()
    print(" " + struct.pack("<I", int(n)).hex())
    print(" " + blob.hex())
print("DATA=END")
PY
mkdir -p "$here/bdb" "$work/bdbroot/var/lib/rpm"
rm -f "$here/bdb/Packages"
db_load -f "$work/bdb.txt" "$here/bdb/Packages"
cp "$here/bdb/Packages" "$work/bdbroot/var/lib/rpm/Packages"
rpm --root "$work/bdbroot" --dbpath /var/lib/rpm --define '_db_backend bdb_ro' -qa --qf "$qf" 2>/dev/null \
    | LC_ALL=C sort > "$here/bdb/expected.txt"

# ndb: written by our own script (no rpm on Debian writes it).
mkdir -p "$here/ndb"
python3 "$here/ndb-write.py" "$work/blobs" "$here/ndb/Packages.db"
cp "$here/sqlite/expected.txt" "$here/ndb/expected.txt"
