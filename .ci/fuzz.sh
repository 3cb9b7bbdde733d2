#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a few seconds each, on top of
# its seed corpus (which `go test` already runs as unit tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# A count, not a duration: a duration deadline that expires mid-input is
# reported by the Go fuzzer as a spurious "context deadline exceeded".
fuzztime="${FUZZTIME:-2000x}"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz $pkg $target ($fuzztime)"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1000x "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; exit 1; }
	done
done
rm -f /tmp/fuzz.$$.log
