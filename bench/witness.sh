#!/usr/bin/env bash
# Witnessing cost at ingest (issue: a 1M-row ingest with three local
# witnesses within 1.05x of the same ingest without them).
#
#   bench/witness.sh [ROWS] [RUNS]     default: 1000000 3
#   CHECKPOINTS=N (default 20): after each ingest, the mean time of N
#   `trialog checkpoint` calls, i.e. the per-checkpoint cost alone.
#
# Generates the LB-like table (bench/genlb) if missing, then alternates
# `trialog ingest` into a fresh trial without witnesses and with three
# local litewitness processes (bench/witness), RUNS times each. Results:
# bench/out/witness-ROWS.tsv. Compare medians from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
rows=${1:-1000000}
runs=${2:-3}
go build -o "$out/trialog" ./cmd/trialog
go build -o "$out/genlb" ./bench/genlb
data="$out/lb-$rows.arrow"
[ -f "$data" ] || "$out/genlb" -rows "$rows" -out "$data"
go run ./bench/witness -trialog "$out/trialog" -data "$data" -runs "$runs" -checkpoints "${CHECKPOINTS:-20}" | tee "$out/witness-$rows.tsv"
