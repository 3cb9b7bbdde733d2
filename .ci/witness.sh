#!/usr/bin/env bash
# Prepares this machine for the witness tests (witness/..., the fork and
# witness-restart tests): installs openssh-client (ssh-keygen, ssh-agent,
# ssh-add: litewitness signs through an ssh-agent) if missing, and builds
# litewitness and witnessctl from the filippo.io/torchwood version pinned
# in go.mod into the cache the test harness uses
# (~/.cache/trialog/torchwood-VERSION-GOVERSION-OS-ARCH), and omniwitness
# (github.com/transparency-dev/witness, the pseudo-version pinned in
# witness/witnesstest/omni.go, built in a scratch module) beside it.
# Idempotent.
# Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh
skip_when_off witness.sh TRIALOG_WITNESS_TESTS

start=$(date +%s)
if ! command -v ssh-agent >/dev/null || ! command -v ssh-keygen >/dev/null || ! command -v ssh-add >/dev/null; then
	apt_install witness.sh openssh-client
fi

dirs=$(go run ./witness/witnesstest/prebuild | tr '\n' ' ')
echo "witness.sh: litewitness/witnessctl and omniwitness in $dirs($(($(date +%s) - start))s)"
