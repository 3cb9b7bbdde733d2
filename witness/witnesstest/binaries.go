// Package witnesstest runs real witnesses for tests: litewitness from
// filippo.io/torchwood (pinned in go.mod as a tool), one process per
// witness, each with its own ssh-agent holding its own Ed25519 key and its
// own SQLite database, configured with witnessctl and bound to 127.0.0.1.
// No fake: the checkpoints trialog signs are checked and cosigned by the
// same code a real institution would run.
package witnesstest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/internal/toolbuild"
)

// Module is the witness implementation's module, pinned in go.mod by the
// tool directives for its two commands.
const (
	Module            = "filippo.io/torchwood"
	LiteWitnessPkg    = Module + "/cmd/litewitness"
	WitnessCtlPkg     = Module + "/cmd/witnessctl"
	LiteWitnessBinary = "litewitness"
	WitnessCtlBinary  = "witnessctl"
)

// BinariesEnv names a directory holding prebuilt litewitness and
// witnessctl; when set, nothing is built.
const BinariesEnv = "TRIALOG_WITNESS_BIN"

// TestsEnv set to "off" skips the tests that start witnesses (for a
// machine without ssh-agent); CI never sets it.
const TestsEnv = "TRIALOG_WITNESS_TESTS"

// EnsureBinaries returns a directory holding litewitness and witnessctl
// built from the version go.mod pins, building them on first use into
// $XDG_CACHE_HOME/trialog/torchwood-VERSION-GOVERSION-GOOS-GOARCH (a bump
// of either rebuilds; internal/toolbuild). Concurrent callers wait on a
// lock file. logf, if not nil, is told when a build starts.
func EnsureBinaries(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	tool := toolbuild.Tool{Env: BinariesEnv, Binaries: []string{LiteWitnessBinary, WitnessCtlBinary}}
	if os.Getenv(BinariesEnv) == "" {
		root, err := toolbuild.ModuleRoot(ctx)
		if err != nil {
			return "", fmt.Errorf("witnesstest: %w", err)
		}
		version, err := toolbuild.GoOutput(ctx, root, "list", "-m", "-f", "{{.Version}}", Module)
		if err != nil {
			return "", fmt.Errorf("witnesstest: %w", err)
		}
		goVersion, err := toolbuild.GoOutput(ctx, root, "env", "GOVERSION")
		if err != nil {
			return "", fmt.Errorf("witnesstest: %w", err)
		}
		tool.What = fmt.Sprintf("%s %s witnesses", Module, version)
		tool.Key = fmt.Sprintf("torchwood-%s-%s", version, goVersion)
		tool.Build = func(ctx context.Context, out, _ string) error {
			return toolbuild.Go(ctx, root, nil, "build", "-o", out+string(filepath.Separator), LiteWitnessPkg, WitnessCtlPkg)
		}
	}
	dir, err := toolbuild.Ensure(ctx, tool, logf)
	if err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	return dir, nil
}
