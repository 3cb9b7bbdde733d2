#!/usr/bin/env bash
# Runs the Trillian append benchmark on this machine (PostgreSQL 15 and the
# Trillian servers as prepared by .ci/trillian.sh). Extra flags pass through:
#   bench/trillian/run.sh -leaves 1000000
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/trillian.sh >/dev/null
exec go run ./bench/trillian "$@"
