// Package witnesstest runs real witnesses for tests: litewitness from
// filippo.io/torchwood (pinned in go.mod as a tool), one process per
// witness, each with its own ssh-agent holding its own Ed25519 key and its
// own SQLite database, configured with witnessctl and bound to 127.0.0.1.
// No fake: the checkpoints trialog signs are checked and cosigned by the
// same code a real institution would run.
package witnesstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/trialog/trialog/internal/flock"
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
// of either rebuilds). Concurrent callers wait on a lock file. logf, if
// not nil, is told when a build starts.
func EnsureBinaries(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	if dir := os.Getenv(BinariesEnv); dir != "" {
		if err := haveBinaries(dir); err != nil {
			return "", fmt.Errorf("witnesstest: %s=%s: %w", BinariesEnv, dir, err)
		}
		return dir, nil
	}
	gomod, err := goOutput(ctx, "", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("witnesstest: not inside the trialog module (go env GOMOD is empty)")
	}
	root := filepath.Dir(gomod)
	version, err := goOutput(ctx, root, "list", "-m", "-f", "{{.Version}}", Module)
	if err != nil {
		return "", err
	}
	goVersion, err := goOutput(ctx, root, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "trialog", fmt.Sprintf("torchwood-%s-%s-%s-%s", version, goVersion, runtime.GOOS, runtime.GOARCH))
	if haveBinaries(dir) == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if haveBinaries(dir) == nil {
		return dir, nil
	}
	if logf != nil {
		logf("witnesstest: building %s %s witnesses into %s", Module, version, dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	defer os.RemoveAll(tmp)
	args := []string{"build", "-o", tmp + string(filepath.Separator), LiteWitnessPkg, WitnessCtlPkg}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("witnesstest: go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := haveBinaries(tmp); err != nil {
		return "", fmt.Errorf("witnesstest: build finished but %w", err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	return dir, nil
}

func haveBinaries(dir string) error {
	for _, name := range []string{LiteWitnessBinary, WitnessCtlBinary} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("missing %s: %w", name, err)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", filepath.Join(dir, name))
		}
	}
	return nil
}

func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("witnesstest: go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// lockFile takes an exclusive flock on path (internal/flock).
func lockFile(ctx context.Context, path string) (func(), error) {
	unlock, err := flock.Wait(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("witnesstest: %w", err)
	}
	return unlock, nil
}
