#!/usr/bin/env bash
# Start, stop or describe the PostgreSQL server that Warden's tests and
# benchmarks use: PostgreSQL 15 from the machine, on 127.0.0.1 only, in a
# throw-away directory, run as the postgres user (initdb refuses root).
#
#   scripts/pg.sh start   # idempotent; prints the env file to source
#   scripts/pg.sh stop
#   scripts/pg.sh env     # print the variables tests read
#
# WARDEN_TEST_DIR, WARDEN_TEST_PG_PORT and WARDEN_TEST_PG_MAX_CONNECTIONS
# make another instance (tests of connection budgets start a small one).
set -euo pipefail

PORT="${WARDEN_TEST_PG_PORT:-55432}"
MAXCONN="${WARDEN_TEST_PG_MAX_CONNECTIONS:-200}"
ROOT="${WARDEN_TEST_DIR:-/tmp/warden-test}"
D="$ROOT/pg"
ENVFILE="$ROOT/pg.env"

find_pgbin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && { echo "$d"; return; }
  done
}

PGBIN="$(find_pgbin || true)"
if [[ -z "$PGBIN" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "pg.sh: installing PostgreSQL (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
    PGBIN="$(find_pgbin)"
  else
    echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 1
  fi
fi

as_pg() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { [[ -f "$D/data/postmaster.pid" ]] && as_pg "$PGBIN/pg_ctl" -D "$D/data" status >/dev/null 2>&1; }

case "${1:-}" in
start)
  mkdir -p "$ROOT"
  if ! running; then
    if [[ ! -f "$D/data/PG_VERSION" ]]; then
      rm -rf "$D"; mkdir -p "$D"
      head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$D/pw"
      [[ "$(id -u)" == 0 ]] && chown -R postgres: "$D"
      chmod 700 "$D"
      as_pg "$PGBIN/initdb" -D "$D/data" -U wardenadmin --pwfile="$D/pw" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 -N >"$ROOT/initdb.log" 2>&1 || { cat "$ROOT/initdb.log" >&2; exit 1; }
    fi
    as_pg "$PGBIN/pg_ctl" -D "$D/data" -l "$D/pg.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$D -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=$MAXCONN" \
      start >/dev/null || { tail -20 "$D/pg.log" >&2; exit 1; }
  fi
  umask 077
  cat > "$ENVFILE" <<EOV
export WARDEN_TEST_PG_ADDR=127.0.0.1:$PORT
export WARDEN_TEST_PG_USER=wardenadmin
export WARDEN_TEST_PG_PASSWORD_FILE=$D/pw
export WARDEN_TEST_PG_BIN=$PGBIN
EOV
  echo "$ENVFILE"
  ;;
stop)
  if running; then as_pg "$PGBIN/pg_ctl" -D "$D/data" -m fast -w stop >/dev/null; fi
  ;;
env)
  [[ -f "$ENVFILE" ]] && cat "$ENVFILE"
  ;;
*)
  echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
