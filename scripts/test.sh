#!/usr/bin/env bash
# Run every test against real servers. Starts PostgreSQL (scripts/pg.sh),
# MariaDB (scripts/mariadb.sh) and OpenSSH's sshd (scripts/sshd.sh),
# requires it (WARDEN_TEST_REQUIRE=1: a missing server fails, never skips),
# and prints go test's own summary lines.
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
export WARDEN_TEST_REQUIRE=1

echo "== go vet"
go vet ./...

echo "== go test"
status=0
go test -count=1 -race -timeout 20m ./... 2>&1 | tee /tmp/warden-test/go-test.log || status=$?
echo "== summary"
grep -E '^(ok|FAIL|---|panic:|\?)' /tmp/warden-test/go-test.log | grep -v '^---.*PASS' || true
exit $status
