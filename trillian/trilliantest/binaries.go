package trilliantest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/trialog/trialog/internal/toolbuild"
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
	m, err := resolveModule(ctx)
	if err != nil {
		return Module{}, fmt.Errorf("trilliantest: %w", err)
	}
	return m, nil
}

func resolveModule(ctx context.Context) (Module, error) {
	root, err := toolbuild.ModuleRoot(ctx)
	if err != nil {
		return Module{}, err
	}
	m := Module{RepoRoot: root}
	if _, err := toolbuild.GoOutput(ctx, m.RepoRoot, "mod", "download", TrillianModule); err != nil {
		return Module{}, err
	}
	out, err := toolbuild.GoOutput(ctx, m.RepoRoot, "list", "-m", "-f", "{{.Version}} {{.Dir}}", TrillianModule)
	if err != nil {
		return Module{}, err
	}
	version, dir, ok := strings.Cut(out, " ")
	if !ok || dir == "" {
		return Module{}, fmt.Errorf("go list -m %s gave %q, want version and directory", TrillianModule, out)
	}
	m.Version, m.Dir = version, dir
	if m.GoVersion, err = toolbuild.GoOutput(ctx, m.RepoRoot, "env", "GOVERSION"); err != nil {
		return Module{}, err
	}
	return m, nil
}

// CacheDir is where built binaries are kept between runs, keyed by the
// Trillian version and the Go toolchain so a bump of either rebuilds:
// $XDG_CACHE_HOME/trialog/trillian-VERSION-GOVERSION-GOOS-GOARCH (or
// ~/.cache/... when XDG_CACHE_HOME is unset, $TMPDIR/... without a home).
func (m Module) CacheDir() (string, error) { return toolbuild.CacheDir(m.tool().Key), nil }

func (m Module) tool() toolbuild.Tool {
	return toolbuild.Tool{
		What:     fmt.Sprintf("Trillian %s servers", m.Version),
		Key:      fmt.Sprintf("trillian-%s-%s", m.Version, m.GoVersion),
		Binaries: []string{LogServerBinary, LogSignerBinary},
		Env:      BinariesEnv,
		Build: func(ctx context.Context, out, _ string) error {
			return toolbuild.Go(ctx, m.RepoRoot, nil, "build", "-tags="+BuildTags, "-o", out+string(filepath.Separator), LogServerPackage, LogSignerPackage)
		},
	}
}

// EnsureBinaries returns a directory holding trillian_log_server and
// trillian_log_signer built from the pinned module, building them into the
// cache on first use. A cold build takes minutes (the servers pull in
// gRPC, pgx, etcd and k8s clients); concurrent callers wait on a file lock
// instead of building twice. logf, if not nil, is told when a build starts.
func EnsureBinaries(ctx context.Context, m Module, logf func(format string, args ...any)) (string, error) {
	dir, err := toolbuild.Ensure(ctx, m.tool(), logf)
	if err != nil {
		return "", fmt.Errorf("trilliantest: %w", err)
	}
	return dir, nil
}
