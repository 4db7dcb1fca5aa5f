#!/usr/bin/env bash
# Runs the log_append benchmark with a throwaway PostgreSQL (Debian's server binaries) on
# loopback, so it also measures several nodes on one log through the shared sequencer:
#   attestor/benches/with-postgres.sh            (env as in log_append.rs; STELLA_BENCH_NODES=2)
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir 2>/dev/null || true)
[[ -x $bindir/initdb ]] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $bindir/initdb ]] || { echo "no PostgreSQL server binaries: apt-get install postgresql" >&2; exit 1; }
dir=$(mktemp -d)
as_pg=()
if [[ $(id -u) == 0 ]]; then
  chown 65534:65534 "$dir"
  as_pg=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$bindir/initdb" -U stella -A trust -E UTF8 -D "$dir/data" >/dev/null
"${as_pg[@]}" "$bindir/postgres" -D "$dir/data" -k "$dir" -h 127.0.0.1 -p "$port" >"$dir/log" 2>&1 &
pg=$!
trap 'kill $pg 2>/dev/null; wait $pg 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 300); do "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
STELLA_BENCH_POSTGRES="host=127.0.0.1 port=$port user=stella dbname=postgres" \
  cargo bench -p attestor --bench log_append "$@"
