#!/usr/bin/env bash
# Prepares this machine for the live-Trillian tests (trillian/remote,
# trillian/trilliantest): installs PostgreSQL 15 if missing and builds the
# Trillian servers pinned in go.mod into the cache the test harness uses
# (~/.cache/trialog/trillian-VERSION-GOVERSION-OS-ARCH). Idempotent: a few
# seconds when both are already there. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh
skip_when_off trillian.sh TRIALOG_TRILLIAN_TESTS

start=$(date +%s)
if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
	apt_install trillian.sh postgresql-15
fi
/usr/lib/postgresql/15/bin/postgres --version

dir=$(go run ./trillian/trilliantest/prebuild)
echo "trillian.sh: Trillian servers in $dir ($(($(date +%s) - start))s)"
