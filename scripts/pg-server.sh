#!/usr/bin/env bash
# Starts (or stops) throw-away PostgreSQL servers on loopback for the tests: their own data
# directories and ports, durability off (test data only). Installs the Debian package if no
# PostgreSQL is on the machine. Prints the environment to use them.
#
# - The main server ($PORT, default 55432) speaks TLS (ssl=on) with a server certificate
#   signed by a test CA made here with openssl. The certificate names `localhost` only, so a
#   connection to 127.0.0.1 passes sslmode=verify-ca but not verify-full. Roles: `postgres`
#   (trust, with or without TLS), `tlsonly` (refused without TLS), `certuser` (TLS with a
#   client certificate only).
# - A second server ($PORT + 1) has no TLS at all, for the "server without TLS" cases.
#
#   scripts/pg-server.sh start   # prints: export OCPAGG_TEST_DATABASE_URL=... and the TLS files
#   scripts/pg-server.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${OCPAGG_TEST_PG_PORT:-55432}
PLAIN_PORT=$((PORT + 1))
DATA=${OCPAGG_TEST_PG_DATA:-/tmp/ocpagg-test-pg-$PORT}
PLAIN_DATA=$DATA-plain
TLS=$DATA.tls

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

# A CA, a server certificate for `localhost` signed by it, a client certificate for
# `certuser`, and a second CA that signed nothing (the "wrong CA").
make_certs() {
  [ -f "$TLS/server.crt" ] && return
  rm -rf "$TLS" && mkdir -p "$TLS"
  (
    cd "$TLS"
    q() { "$@" >/dev/null 2>&1 || { echo "openssl failed: $*" >&2; exit 1; }; }
    for ca in ca wrong-ca; do
      q openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ocpagg test $ca" \
        -keyout "$ca.key" -out "$ca.crt"
    done
    q openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
    q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt
    q openssl req -newkey rsa:2048 -nodes -subj "/CN=certuser" -keyout client.key -out client.csr
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
    q openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out client.crt
    chmod 600 ./*.key
  )
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$TLS"/server.* "$TLS"/ca.crt
  return 0
}

# start_cluster DIR PORT EXTRA-OPTIONS
start_cluster() {
  local dir=$1 port=$2 extra=$3
  if [ ! -f "$dir/PG_VERSION" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    as_owner "$BIN/initdb" -D "$dir" -U postgres -A trust --no-sync -E UTF8 >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_owner "$BIN/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 $extra" \
      start >&2 || { cat "$dir/server.log" >&2; exit 1; }
  fi
}

case "${1:-start}" in
start)
  BIN=$(pg_bin)
  make_certs
  start_cluster "$DATA" "$PORT" \
    "-c ssl=on -c ssl_cert_file=$TLS/server.crt -c ssl_key_file=$TLS/server.key -c ssl_ca_file=$TLS/ca.crt"
  # Who may connect how (first match wins); reloaded each start, so an older data directory
  # gets it too.
  cat > "$DATA/pg_hba.conf" <<HBA
local     all  all                    trust
hostnossl all  tlsonly   127.0.0.1/32 reject
hostssl   all  certuser  127.0.0.1/32 cert
host      all  certuser  127.0.0.1/32 reject
host      all  all       127.0.0.1/32 trust
HBA
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA/pg_hba.conf"
  as_owner "$BIN/pg_ctl" -D "$DATA" reload >/dev/null
  as_owner "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -d postgres -qAt -c \
    "DO \$\$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tlsonly') THEN CREATE ROLE tlsonly LOGIN SUPERUSER; END IF;
       IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'certuser') THEN CREATE ROLE certuser LOGIN SUPERUSER; END IF;
     END \$\$" >/dev/null
  start_cluster "$PLAIN_DATA" "$PLAIN_PORT" "-c ssl=off"
  echo "export OCPAGG_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
  echo "export OCPAGG_TEST_PG_PLAIN_URL=postgresql://postgres@127.0.0.1:$PLAIN_PORT/postgres"
  echo "export OCPAGG_TEST_PG_TLS_DIR=$TLS"
  ;;
stop)
  BIN=$(pg_bin)
  for dir in "$DATA" "$PLAIN_DATA"; do
    if [ -f "$dir/PG_VERSION" ]; then
      as_owner "$BIN/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    fi
  done
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
