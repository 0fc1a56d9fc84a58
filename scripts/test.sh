#!/usr/bin/env bash
# Run every test against real servers. Starts PostgreSQL (scripts/pg.sh),
# MariaDB (scripts/mariadb.sh), OpenSSH's sshd (scripts/sshd.sh) and a
# Kubernetes API server (scripts/kube.sh: etcd, kube-apiserver and
# kube-controller-manager, built once into ~/.cache/warden) for this
# run — in a directory of its own, on free ports, stopped when the
# run ends — requires them (WARDEN_TEST_REQUIRE=1: a missing server
# fails, never skips), and prints go test's own summary lines.
#
# WARDEN_TEST_REUSE=1 uses the servers in /tmp/warden-test instead (the
# ones the scripts' `start` leaves running), starting them if needed and
# leaving them running: for fast local runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

scripts/deps.sh
# The approval page is tested in a real headless browser (Debian's
# chromium); the SSH proxy's interactive shell in a real terminal (tmux).
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v tmux >/dev/null || need+=(tmux)
if [[ ${#need[@]} -gt 0 && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "== installing ${need[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi
# free_port prints a TCP port nothing listens on, from the range 20000-29999.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "test.sh: no free port" >&2; exit 1
}

if [[ "${WARDEN_TEST_REUSE:-}" == 1 ]]; then
  export WARDEN_TEST_DIR=/tmp/warden-test
  echo "== reusing the test servers in $WARDEN_TEST_DIR"
else
  WARDEN_TEST_DIR="$(mktemp -d /tmp/warden-test.XXXXXX)"
  chmod 755 "$WARDEN_TEST_DIR" # PostgreSQL runs as postgres
  export WARDEN_TEST_DIR
  WARDEN_TEST_PG_PORT="$(free_port)"
  WARDEN_TEST_SSH_PORT="$(free_port)"
  WARDEN_TEST_MYSQL_PORT="$(free_port)"
  WARDEN_TEST_KUBE_PORT="$(free_port)"
  WARDEN_TEST_KWOK_PORT="$(free_port)"
  # etcd listens on its client port and the next one (peers).
  for _ in $(seq 1 50); do
    WARDEN_TEST_ETCD_PORT="$(free_port)"
    (exec 3<>"/dev/tcp/127.0.0.1/$((WARDEN_TEST_ETCD_PORT + 1))") 2>/dev/null || break
  done
  export WARDEN_TEST_PG_PORT WARDEN_TEST_SSH_PORT WARDEN_TEST_MYSQL_PORT WARDEN_TEST_KUBE_PORT WARDEN_TEST_KWOK_PORT WARDEN_TEST_ETCD_PORT
  cleanup() {
    scripts/kube.sh stop || true
    scripts/pg.sh stop || true
    scripts/mariadb.sh stop || true
    [[ "$(id -u)" == 0 ]] && { scripts/sshd.sh stop || true; }
    cp "$WARDEN_TEST_DIR/go-test.log" /tmp/warden-go-test.log 2>/dev/null || true
    rm -rf "$WARDEN_TEST_DIR"
  }
  trap cleanup EXIT
  echo "== this run's servers: $WARDEN_TEST_DIR, PostgreSQL on 127.0.0.1:$WARDEN_TEST_PG_PORT, MariaDB on 127.0.0.1:$WARDEN_TEST_MYSQL_PORT, sshd on 127.0.0.1:$WARDEN_TEST_SSH_PORT, kube-apiserver on 127.0.0.1:$WARDEN_TEST_KUBE_PORT"
fi

echo "== starting test servers"
ENVFILE="$(scripts/pg.sh start)"
# shellcheck disable=SC1090
source "$ENVFILE"
MYSQLENV="$(scripts/mariadb.sh start)"
# shellcheck disable=SC1090
source "$MYSQLENV"
if [[ "$(id -u)" == 0 ]]; then
  SSHENV="$(scripts/sshd.sh start)"
  # shellcheck disable=SC1090
  source "$SSHENV"
else
  echo "== not root: sshd not started (the SSH tests fail under WARDEN_TEST_REQUIRE=1)"
fi
# The first run on a machine builds the Kubernetes binaries (~17 min on 2
# cores), cached by version outside the repository.
KUBEENV="$(scripts/kube.sh start)"
# shellcheck disable=SC1090
source "$KUBEENV"
export WARDEN_TEST_REQUIRE=1

echo "== go vet"
go vet ./...

echo "== go test"
status=0
go test -count=1 -race -timeout 20m ./... 2>&1 | tee "$WARDEN_TEST_DIR/go-test.log" || status=$?
echo "== summary"
grep -E '^(ok|FAIL|---|panic:|\?)' "$WARDEN_TEST_DIR/go-test.log" | grep -v '^---.*PASS' || true
exit $status
