#!/usr/bin/env bash
# Benchmarks: Warden's run_query over MCP (stdio, HTTP) against pgx direct
# and the reference PostgreSQL MCP server, in one run, on a local PostgreSQL;
# the same on MariaDB against go-sql-driver direct and @bytebase/dbhub;
# the PostgreSQL wire proxy against direct, PgBouncer and a Go relay; and
# exec_ssh and the SSH proxy against direct SSH, on a local sshd; the
# MySQL proxy against direct MariaDB and a Go relay (sysbench); and
# kubectl_get against client-go direct on the test Kubernetes API server.
# Prints tables with medians, p99s, calls/s, MB/s, CPU per operation and
# ratios to direct.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

ENVFILE="$(scripts/pg.sh start)"
# shellcheck disable=SC1090
source "$ENVFILE"

# The peer: @modelcontextprotocol/server-postgres from npm, cached outside
# the repository.
PEER_DIR="${WARDEN_CACHE:-$HOME/.cache/warden}/peers/server-postgres-0.6.2"
PEER="$PEER_DIR/node_modules/@modelcontextprotocol/server-postgres/dist/index.js"
if [[ ! -f "$PEER" ]] && command -v npm >/dev/null; then
  echo "bench: installing @modelcontextprotocol/server-postgres@0.6.2 into $PEER_DIR" >&2
  mkdir -p "$PEER_DIR"
  npm install --silent --no-audit --no-fund --prefix "$PEER_DIR" @modelcontextprotocol/server-postgres@0.6.2 >&2 || true
fi
[[ -f "$PEER" ]] || { echo "bench: peer not available (npm missing?); measuring without it" >&2; PEER=""; }

[[ -x bin/warden ]] || go build -o bin/warden ./cmd/warden
mkdir -p bench-results
echo "== make bench: ${BENCH_DURATION:-5s} per scenario, clients ${BENCH_CLIENTS:-1,32}"
go run ./bench -warden bin/warden -peer "$PEER" -duration "${BENCH_DURATION:-5s}" \
  -clients "${BENCH_CLIENTS:-1,32}" -json bench-results/run_query.json "$@"

# The PostgreSQL wire proxy: pgbench -S (simple and prepared) direct, through
# PgBouncer (session mode; Debian's package, installed here when missing),
# through a Go byte relay (the floor for a proxy in Go) and through Warden.
# PROXY_BENCH_DURATION (default 30s) per run.
if ! command -v pgbouncer >/dev/null && [[ ! -x /usr/sbin/pgbouncer ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "bench: installing pgbouncer (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends pgbouncer >&2 || true
  fi
fi
echo "== PostgreSQL proxy: ${PROXY_BENCH_DURATION:-30s} per run, ${PROXY_BENCH_CLIENTS:-8} clients"
go run ./bench -pgbench -warden bin/warden -duration "${PROXY_BENCH_DURATION:-30s}" \
  -pgbench-clients "${PROXY_BENCH_CLIENTS:-8}" -json bench-results/proxy.json

# SSH: exec_ssh `true` (1 and 16 clients) against x/crypto/ssh direct, and a
# 100 MB cat through exec_ssh and the SSH proxy (every detector on) against
# OpenSSH's ssh direct and a Go relay, on the test sshd (scripts/sshd.sh,
# which needs root). SSH_BENCH_DURATION (default 5s) per latency scenario.
if [[ "$(id -u)" == 0 ]]; then
  SSHENV="$(scripts/sshd.sh start)"
  # shellcheck disable=SC1090
  source "$SSHENV"
fi
if [[ -n "${WARDEN_TEST_SSH_ADDR:-}" ]]; then
  command -v ssh >/dev/null || { [[ "$(id -u)" == 0 ]] &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-client >&2 || true; }
  echo "== SSH: ${SSH_BENCH_DURATION:-5s} per latency scenario, clients ${SSH_BENCH_CLIENTS:-1,16}, a ${SSH_BENCH_MB:-100} MB stream"
  go run ./bench -ssh -warden bin/warden -duration "${SSH_BENCH_DURATION:-5s}" \
    -ssh-clients "${SSH_BENCH_CLIENTS:-1,16}" -ssh-stream-mb "${SSH_BENCH_MB:-100}" -json bench-results/ssh.json
else
  echo "bench: not root and no test sshd: SSH benchmarks skipped (scripts/sshd.sh start needs root)" >&2
fi

# MySQL/MariaDB: run_query over MCP (stdio, HTTP) against go-sql-driver
# direct and the MCP peer @bytebase/dbhub (pinned; cached outside the
# repository), on the test MariaDB (scripts/mariadb.sh), 1 and 32 clients.
MYSQLENV="$(scripts/mariadb.sh start)"
# shellcheck disable=SC1090
source "$MYSQLENV"
DBHUB_VERSION=1.4.0
DBHUB_DIR="${WARDEN_CACHE:-$HOME/.cache/warden}/peers/dbhub-$DBHUB_VERSION"
DBHUB="$DBHUB_DIR/node_modules/@bytebase/dbhub/dist/index.js"
if [[ ! -f "$DBHUB" ]] && command -v npm >/dev/null; then
  echo "bench: installing @bytebase/dbhub@$DBHUB_VERSION into $DBHUB_DIR" >&2
  mkdir -p "$DBHUB_DIR"
  npm install --silent --no-audit --no-fund --prefix "$DBHUB_DIR" "@bytebase/dbhub@$DBHUB_VERSION" >&2 || true
fi
[[ -f "$DBHUB" ]] || { echo "bench: dbhub not available (npm missing?); measuring MySQL without it" >&2; DBHUB=""; }
echo "== MySQL run_query: ${BENCH_DURATION:-5s} per scenario, clients ${BENCH_CLIENTS:-1,32}"
go run ./bench -mysql -warden bin/warden -mysql-peer "$DBHUB" -duration "${BENCH_DURATION:-5s}" \
  -clients "${BENCH_CLIENTS:-1,32}" -json bench-results/mysql_run_query.json

# Connection budgets: 200 MCP sessions (a just-in-time role each) on a
# PostgreSQL of its own that allows 20 connections, Warden's budget off
# (what it did before) and on, in one run: calls/s, p50, p99, failed calls
# (the server's "too many clients") and the peak of Warden's backends.
echo "== connection budget: ${BUDGET_BENCH_DURATION:-10s}"
go run ./bench -budget -warden bin/warden -duration "${BUDGET_BENCH_DURATION:-10s}" -warmup 5s

# The MySQL proxy: sysbench oltp_point_select (Debian's sysbench, installed
# here when missing) with server-side prepared statements and in text, on
# the test MariaDB (scripts/mariadb.sh), direct, through a Go byte relay
# and through Warden's MySQL proxy: tps and the proxy's CPU per
# transaction. SYSBENCH_DURATION (default 30s) per run.
if ! command -v sysbench >/dev/null && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "bench: installing sysbench (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sysbench >&2 || true
fi
if command -v sysbench >/dev/null; then
  MYENV="$(scripts/mariadb.sh start)"
  # shellcheck disable=SC1090
  source "$MYENV"
  echo "== MySQL proxy: ${SYSBENCH_DURATION:-30s} per run, ${SYSBENCH_THREADS:-8} threads"
  go run ./bench -sysbench -warden bin/warden -duration "${SYSBENCH_DURATION:-30s}" \
    -sysbench-threads "${SYSBENCH_THREADS:-8}" -json bench-results/mysql-proxy.json
else
  echo "bench: sysbench not installed: MySQL proxy benchmark skipped" >&2
fi

# Kubernetes: kubectl_get of 100 pods over MCP stdio (table and YAML)
# against client-go direct (typed list and the server's Table), on the test
# API server (scripts/kube.sh; its first start builds it, ~17 min).
KUBEENV="$(scripts/kube.sh start)"
# shellcheck disable=SC1090
source "$KUBEENV"
echo "== Kubernetes: ${KUBE_BENCH_DURATION:-5s} per scenario, clients ${KUBE_BENCH_CLIENTS:-1,8}"
go run ./bench -kube -warden bin/warden -duration "${KUBE_BENCH_DURATION:-5s}" -clients "${KUBE_BENCH_CLIENTS:-1,8}"

# The Kubernetes API proxy against direct to the API server: a list of
# pods (p50/p99 per request, one kept-alive client-go connection each) and
# the time to stream a watch of 10,000 events (ratio, events/s, and this
# process's CPU per event on each side: the proxy runs in it, so its own
# CPU per event is the difference).
echo "== Kubernetes API proxy vs direct"
for b in "ListPods ${KUBE_PROXY_LIST_TIMES:-300x}" "WatchEvents ${KUBE_PROXY_WATCH_TIMES:-5x}"; do
  set -- $b
  WARDEN_TEST_REQUIRE=1 go test ./proxy/kubernetes -run '^$' -bench "^Benchmark$1\$" -benchtime "$2" 2>&1 |
    grep -E '^(Benchmark|FAIL|---)'
done
