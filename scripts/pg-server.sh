#!/usr/bin/env bash
# Starts (or stops) a throw-away PostgreSQL server on loopback for the tests: its own data
# directory and port, trust authentication, durability off (test data only). Installs the
# Debian package if no PostgreSQL is on the machine. Prints the environment to use it.
#
#   scripts/pg-server.sh start   # prints: export OCPAGG_TEST_DATABASE_URL=...
#   scripts/pg-server.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${OCPAGG_TEST_PG_PORT:-55432}
DATA=${OCPAGG_TEST_PG_DATA:-/tmp/ocpagg-test-pg-$PORT}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing PostgreSQL (Debian package) ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  [ -n "$dir" ] || { echo "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)" >&2; exit 1; }
  echo "$dir"
}

# initdb and postgres refuse to run as root: run them as the postgres user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
start)
  BIN=$(pg_bin)
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust --no-sync -E UTF8 >"$DATA.initdb.log" 2>&1 \
      || { cat "$DATA.initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -w -t 60 -l "$DATA/server.log" \
      -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >&2 || { cat "$DATA/server.log" >&2; exit 1; }
  fi
  echo "export OCPAGG_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
  ;;
stop)
  BIN=$(pg_bin)
  if [ -f "$DATA/PG_VERSION" ]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
  fi
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
