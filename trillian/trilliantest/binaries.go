package trilliantest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/trialog/trialog/internal/flock"
)

// BinariesEnv names a directory holding prebuilt trillian_log_server and
// trillian_log_signer; when set, nothing is built.
const BinariesEnv = "TRIALOG_TRILLIAN_BIN"

// Module describes the Trillian module as this repository's go.mod
// resolves it.
type Module struct {
	Version   string // e.g. v1.8.0
	Dir       string // its source in the module cache
	GoVersion string // the toolchain that builds it, e.g. go1.26.8
	RepoRoot  string // the directory holding this repository's go.mod
}

// Schema is the path of Trillian's PostgreSQL schema in the module cache.
func (m Module) Schema() string { return filepath.Join(m.Dir, filepath.FromSlash(SchemaPath)) }

// ResolveModule asks the go command, run inside this repository, where the
// pinned Trillian module is. It downloads the module if the cache lacks it.
func ResolveModule(ctx context.Context) (Module, error) {
	root, err := goOutput(ctx, "", "env", "GOMOD")
	if err != nil {
		return Module{}, err
	}
	if root == "" || root == os.DevNull {
		return Module{}, fmt.Errorf("trilliantest: not inside the trialog module (go env GOMOD is empty)")
	}
	m := Module{RepoRoot: filepath.Dir(root)}
	if _, err := goOutput(ctx, m.RepoRoot, "mod", "download", TrillianModule); err != nil {
		return Module{}, err
	}
	out, err := goOutput(ctx, m.RepoRoot, "list", "-m", "-f", "{{.Version}} {{.Dir}}", TrillianModule)
	if err != nil {
		return Module{}, err
	}
	version, dir, ok := strings.Cut(out, " ")
	if !ok || dir == "" {
		return Module{}, fmt.Errorf("trilliantest: go list -m %s gave %q, want version and directory", TrillianModule, out)
	}
	m.Version, m.Dir = version, dir
	if m.GoVersion, err = goOutput(ctx, m.RepoRoot, "env", "GOVERSION"); err != nil {
		return Module{}, err
	}
	return m, nil
}

func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("trilliantest: go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// CacheDir is where built binaries are kept between runs, keyed by the
// Trillian version and the Go toolchain so a bump of either rebuilds:
// $XDG_CACHE_HOME/trialog/trillian-VERSION-GOVERSION-GOOS-GOARCH (or
// ~/.cache/... when XDG_CACHE_HOME is unset, $TMPDIR/... without a home).
func (m Module) CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil { // No $HOME (some CI environments): still cache per machine.
		base = os.TempDir()
	}
	key := fmt.Sprintf("trillian-%s-%s-%s-%s", m.Version, m.GoVersion, runtime.GOOS, runtime.GOARCH)
	return filepath.Join(base, "trialog", key), nil
}

// EnsureBinaries returns a directory holding trillian_log_server and
// trillian_log_signer built from the pinned module, building them into the
// cache on first use. A cold build takes minutes (the servers pull in
// gRPC, pgx, etcd and k8s clients); concurrent callers wait on a file lock
// instead of building twice. logf, if not nil, is told when a build starts.
func EnsureBinaries(ctx context.Context, m Module, logf func(format string, args ...any)) (string, error) {
	if dir := os.Getenv(BinariesEnv); dir != "" {
		if err := haveBinaries(dir); err != nil {
			return "", fmt.Errorf("trilliantest: %s=%s: %w", BinariesEnv, dir, err)
		}
		return dir, nil
	}
	dir, err := m.CacheDir()
	if err != nil {
		return "", err
	}
	if haveBinaries(dir) == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("trilliantest: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if haveBinaries(dir) == nil { // Built by whoever held the lock.
		return dir, nil
	}
	if logf != nil {
		logf("trilliantest: building Trillian %s servers into %s (cold builds take minutes)", m.Version, dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("trilliantest: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	args := []string{"build", "-tags=" + BuildTags, "-o", tmp + string(filepath.Separator), LogServerPackage, LogSignerPackage}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = m.RepoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("trilliantest: go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := haveBinaries(tmp); err != nil {
		return "", fmt.Errorf("trilliantest: build finished but %w", err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("trilliantest: %w", err)
	}
	if logf != nil {
		logf("trilliantest: built Trillian %s servers in %s", m.Version, time.Since(start).Round(time.Second))
	}
	return dir, nil
}

func haveBinaries(dir string) error {
	for _, name := range []string{LogServerBinary, LogSignerBinary} {
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

// lockFile takes an exclusive flock on path (internal/flock).
func lockFile(ctx context.Context, path string) (func(), error) {
	unlock, err := flock.Wait(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("trilliantest: %w", err)
	}
	return unlock, nil
}
