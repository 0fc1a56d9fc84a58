#!/usr/bin/env bash
# Start, stop or describe the MariaDB server that Warden's MySQL tests use:
# Debian's MariaDB (10.11 on Debian 12) on 127.0.0.1 only, in a throw-away
# directory, with an admin user whose random password is in a file.
#
#   scripts/mariadb.sh start   # idempotent; prints the env file to source
#   scripts/mariadb.sh stop
#   scripts/mariadb.sh env     # print the variables tests read
#
# WARDEN_TEST_DIR, WARDEN_TEST_MYSQL_PORT and
# WARDEN_TEST_MYSQL_MAX_CONNECTIONS make another instance (tests of
# connection budgets start a small one). As root, the server runs as the
# mysql user and mariadb-server is installed when missing; otherwise it
# runs as the caller.
set -euo pipefail

PORT="${WARDEN_TEST_MYSQL_PORT:-53306}"
MAXCONN="${WARDEN_TEST_MYSQL_MAX_CONNECTIONS:-200}"
ROOT="${WARDEN_TEST_DIR:-/tmp/warden-test}"
D="$ROOT/mariadb"
ENVFILE="$ROOT/mariadb.env"
SOCK="$D/mysqld.sock"

if ! command -v mariadbd >/dev/null && [[ ! -x /usr/sbin/mariadbd ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "mariadb.sh: installing mariadb-server (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >&2; }
  else
    echo "mariadb.sh: mariadbd not found (apt-get install mariadb-server)" >&2
    exit 1
  fi
fi
MARIADBD="$(command -v mariadbd || echo /usr/sbin/mariadbd)"

if [[ "$(id -u)" == 0 ]]; then
  RUNAS=(--user=mysql)
  BOOTSTRAP=root # mariadb-install-db gives root@localhost unix_socket login
else
  RUNAS=()
  BOOTSTRAP="$(id -un)"
fi

running() { [[ -f "$D/mysqld.pid" ]] && kill -0 "$(cat "$D/mysqld.pid")" 2>/dev/null; }
client() { mariadb --no-defaults --protocol=socket --socket="$SOCK" -u"$BOOTSTRAP" "$@"; }

case "${1:-}" in
start)
  mkdir -p "$ROOT"
  if ! running; then
    if [[ ! -d "$D/data/mysql" ]]; then
      rm -rf "$D"; mkdir -p "$D"
      head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$D/pw"
      chmod 600 "$D/pw"
      [[ "$(id -u)" == 0 ]] && chown mysql: "$D"
      mariadb-install-db --no-defaults --datadir="$D/data" "${RUNAS[@]}" \
        --auth-root-authentication-method=socket --skip-test-db >"$ROOT/mariadb-install.log" 2>&1 ||
        { cat "$ROOT/mariadb-install.log" >&2; exit 1; }
    fi
    # setsid: the server outlives this script and the shell that ran it.
    setsid "$MARIADBD" --no-defaults --datadir="$D/data" "${RUNAS[@]}" \
      --bind-address=127.0.0.1 --port="$PORT" --socket="$SOCK" --pid-file="$D/mysqld.pid" \
      --log-error="$D/err.log" --skip-name-resolve --skip-log-bin --max-connections="$MAXCONN" \
      --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=128M --sync-binlog=0 \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
      </dev/null >/dev/null 2>&1 &
    for _ in $(seq 300); do
      mariadb-admin --no-defaults --socket="$SOCK" -u"$BOOTSTRAP" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    running || { tail -20 "$D/err.log" >&2; exit 1; }
    pw="$(cat "$D/pw")"
    client -e "CREATE USER IF NOT EXISTS 'wardenadmin'@'%' IDENTIFIED BY '$pw';
      GRANT ALL ON *.* TO 'wardenadmin'@'%' WITH GRANT OPTION;" ||
      { tail -20 "$D/err.log" >&2; exit 1; }
  fi
  umask 077
  cat > "$ENVFILE" <<EOV
export WARDEN_TEST_MYSQL_ADDR=127.0.0.1:$PORT
export WARDEN_TEST_MYSQL_USER=wardenadmin
export WARDEN_TEST_MYSQL_PASSWORD_FILE=$D/pw
export WARDEN_TEST_MYSQL_SOCKET=$SOCK
EOV
  echo "$ENVFILE"
  ;;
stop)
  if running; then
    pid="$(cat "$D/mysqld.pid")"
    kill "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  ;;
env)
  [[ -f "$ENVFILE" ]] && cat "$ENVFILE"
  ;;
*)
  echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
