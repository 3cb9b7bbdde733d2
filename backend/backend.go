// Package backend is the one place that turns what a user calls a log
// (a --log value) into an opened trial: a directory holding an embedded
// log (trillian/embedded), or trillian://HOST:PORT for a Trillian
// deployment (trillian/remote), whose trial state (keys, secret, catalog)
// then lives in a separate state directory. The CLI and the benchmarks
// open trials here and nowhere else; the workspace itself stays free of
// gRPC, and the verifier never links any of it.
package backend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/remote"
	"github.com/trialog/trialog/workspace"
)

// Scheme prefixes a Trillian deployment's --log value.
const Scheme = "trillian://"

// Location is a resolved --log value.
type Location struct {
	// Dir holds the trial's state: the --log directory itself, or the
	// state directory of a Trillian-backed log.
	Dir string
	// Backend is "" (whatever the trial was created with; embedded for a
	// new trial) or a trillian://HOST:PORT URL.
	Backend string
}

// Resolve resolves a --log value. For trillian://HOST:PORT, stateDir
// holds the trial state (default ~/.local/share/trialog).
func Resolve(log, stateDir string) (Location, error) {
	if !strings.HasPrefix(log, Scheme) {
		return Location{Dir: log}, nil
	}
	if _, err := remote.ParseURL(log); err != nil {
		return Location{}, fmt.Errorf("log %s: %v: %w", log, err, workspace.ErrUsage)
	}
	if stateDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Location{}, err
		}
		stateDir = filepath.Join(home, ".local", "share", "trialog")
	}
	return Location{Dir: stateDir, Backend: log}, nil
}

// options lets the workspace create and open trees on Trillian.
func options(backend string) workspace.Options {
	return workspace.Options{
		Backend: backend,
		CreateRemote: func(ctx context.Context, cfg workspace.Config) (int64, error) {
			l, err := remote.OpenURL(ctx, cfg.Backend, cfg.Trial, true)
			if err != nil {
				return 0, err
			}
			defer l.Close()
			return l.TreeID(), nil
		},
		Remote: func(ctx context.Context, cfg workspace.Config, writable bool) (trillian.Log, error) {
			return remote.OpenURL(ctx, cfg.Backend, cfg.Trial, false)
		},
	}
}

// Init creates a trial at the location.
func Init(ctx context.Context, loc Location, trial string) (*workspace.Trial, error) {
	return workspace.Init(ctx, loc.Dir, trial, options(loc.Backend))
}

// Open opens a trial at the location; writable takes its writer lock. A
// trial created on another backend than the one named is refused.
func Open(ctx context.Context, loc Location, trial string, writable bool) (*workspace.Trial, error) {
	t, err := workspace.Open(ctx, loc.Dir, trial, writable, options(loc.Backend))
	if err != nil {
		return nil, err
	}
	if loc.Backend != "" && t.Config.Backend != loc.Backend {
		t.Close()
		return nil, fmt.Errorf("trial %s in %s uses %s, not %s: %w", t.ID, loc.Dir, t.Config.Backend, loc.Backend, workspace.ErrUsage)
	}
	return t, nil
}
