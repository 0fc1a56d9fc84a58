#!/usr/bin/env bash
# Run every native fuzz target of the repository (each `func FuzzX` in a
# _test.go file) for FUZZTIME each (default 60s), one after the other, and
# print the executions per target.
#
#   scripts/fuzz.sh                      # all targets, 60s each
#   FUZZTIME=20s scripts/fuzz.sh         # shorter
#   scripts/fuzz.sh proxy/postgres       # the targets of packages matching a pattern
#   FUZZFLAGS=-parallel=1 scripts/fuzz.sh
#
# An input that makes a target fail is written by go test under the
# package's testdata/fuzz/FuzzX/, where it stays as a regression input:
# fix what it found and commit it. The inputs that only widened coverage
# stay in go's cache ($(go env GOCACHE)/fuzz), from which the next run
# starts. The script exits non-zero when a target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
FUZZTIME="${FUZZTIME:-60s}"
FUZZFLAGS="${FUZZFLAGS:-}"
filter="${1:-}"
logdir="$(mktemp -d "${TMPDIR:-/tmp}/warden-fuzz.XXXXXX")"

targets=()
while IFS= read -r file; do
  dir="./$(dirname "$file")"
  [[ -n "$filter" && "$dir" != *"$filter"* ]] && continue
  while IFS= read -r name; do
    targets+=("$dir $name")
  done < <(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //')
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | sort)

if [[ ${#targets[@]} -eq 0 ]]; then
  echo "no fuzz target matches ${filter:-anything}" >&2
  exit 1
fi
echo "== ${#targets[@]} fuzz targets, $FUZZTIME each (logs in $logdir)"
failed=0
rows=()
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  log="$logdir/$(echo "$dir" | tr '/.' '__')_$name.log"
  echo "-- $dir $name"
  # shellcheck disable=SC2086
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" $FUZZFLAGS "$dir" >"$log" 2>&1
  status=$?
  last="$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1)"
  execs="$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")"
  found="$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")"
  result=ok
  if [[ $status -ne 0 ]]; then
    result=FAIL
    failed=$((failed + 1))
    grep -E 'Failing input written to|--- FAIL|panic:|\.go:[0-9]+:' "$log" | head -20 | sed 's/^/   /'
  fi
  rows+=("$(printf '%-40s %-22s %12s %8s  %s' "$dir" "$name" "${execs:-0}" "${found:-0}" "$result")")
done

echo "== summary ($FUZZTIME per target)"
printf '%-40s %-22s %12s %8s  %s\n' package target execs new result
printf '%s\n' "${rows[@]}"
if [[ $failed -gt 0 ]]; then
  echo "$failed target(s) failed: their inputs are under testdata/fuzz/ in the package (git status shows them)"
  exit 1
fi
