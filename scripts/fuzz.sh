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
#
# Go before 1.27 may end a target's run with "context deadline exceeded"
# although it found nothing (go.dev/issue/75804); such a run, which wrote
# no input, counts as passed.
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
  corpus="$dir/testdata/fuzz/$name"
  before="$(ls "$corpus" 2>/dev/null | sort)"
  # shellcheck disable=SC2086
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" $FUZZFLAGS "$dir" >"$log" 2>&1
  status=$?
  # Go before 1.27 can end a run that found nothing with "context deadline
  # exceeded" when -fuzztime expires under load (go.dev/issue/75804): a
  # failure only when an input was written.
  if [[ $status -ne 0 && "$(ls "$corpus" 2>/dev/null | sort)" == "$before" ]] &&
    grep -q '^    context deadline exceeded$' "$log" && ! grep -qE 'Failing input|panic:' "$log"; then
    status=0
  fi
  last="$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1)"
  execs="$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")"
  found="$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")"
  result=ok
  if [[ -z "$execs" ]]; then
    # Still replaying the corpus when the time was up.
    execs="0 (baseline $(grep -oE 'baseline coverage: [0-9]+/[0-9]+' "$log" | tail -1 | sed 's/.*: //'))"
  fi
  if [[ $status -ne 0 ]]; then
    result=FAIL
    failed=$((failed + 1))
    grep -E 'Failing input written to|--- FAIL|panic:|\.go:[0-9]+:' "$log" | head -20 | sed 's/^/   /'
  fi
  rows+=("$(printf '%-28s %-22s %20s %6s  %s' "$dir" "$name" "$execs" "${found:-0}" "$result")")
done

echo "== summary ($FUZZTIME per target)"
printf '%-28s %-22s %20s %6s  %s\n' package target execs new result
printf '%s\n' "${rows[@]}"
if [[ $failed -gt 0 ]]; then
  echo "$failed target(s) failed: their inputs are under testdata/fuzz/ in the package (git status shows them)"
  exit 1
fi
