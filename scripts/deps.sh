#!/usr/bin/env bash
# Make sure what building Warden needs is on the machine: Go (checked, not
# installed) and a C compiler for cgo (the PostgreSQL parser, pg_query, is C).
# On Debian as root, a missing compiler is installed with apt-get.
set -euo pipefail

if ! command -v go >/dev/null; then
  echo "deps: Go is not installed; install Go 1.26 from https://go.dev/dl/" >&2
  exit 1
fi
if ! command -v gcc >/dev/null || ! [[ -e /usr/include/stdio.h ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "deps: installing a C compiler for cgo (apt-get install gcc libc6-dev)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev >&2
  else
    echo "deps: a C compiler is needed (cgo builds PostgreSQL's parser): apt-get install gcc libc6-dev" >&2
    exit 1
  fi
fi
