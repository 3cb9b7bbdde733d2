// Package freshness answers a verifier's question "is this dataset version
// still the latest?" from a trial's published log (C2SP tlog-tiles,
// docs/publishing.md), trusting the server that serves it for nothing.
//
// It implements verify.Versions: it reads the log's latest checkpoint and
// verifies it with the trial's key, proves from the tiles that its tree
// extends the package's checkpointed tree, then reads every entry from the
// package's version on (tlogtiles.Entries), recomputing every tile and the
// root from them, and lists the public manifest leaves of the dataset
// among them. A server that drops, alters or invents an entry, or serves
// another history, is caught (verify.ErrLogInconsistent), so a middleman
// can neither hide a newer version nor make one up.
//
// The verifier itself (package verify) does not link this: it is the CLI
// that wires a log client in, so the browser verifier stays free of HTTP
// and tile code (verify/deps_test.go).
package freshness

import (
	"context"
	"errors"
	"fmt"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/verify"
)

// Log is a published log, read as a source of dataset versions.
type Log struct {
	r           tlogtiles.Reader
	location    string
	verifierKey string
}

// New returns the published log r (at location, for messages), whose
// checkpoints are verified with the trial's verifierKey.
func New(r tlogtiles.Reader, location, verifierKey string) *Log {
	return &Log{r: r, location: location, verifierKey: verifierKey}
}

// Logged implements verify.Versions.
func (l *Log) Logged(ctx context.Context, q verify.VersionQuery) (*verify.LoggedVersions, error) {
	cp, signed, err := tlogtiles.Checkpoint(ctx, l.r, l.verifierKey)
	if errors.Is(err, checkpoint.ErrBadCheckpoint) {
		return nil, fmt.Errorf("%s: %w: %w", l.location, verify.ErrLogInconsistent, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.location, err)
	}
	if want := checkpoint.Origin(q.Trial); cp.Origin != want {
		return nil, fmt.Errorf("%s is the log of %q, not of trial %s", l.location, cp.Origin, q.Trial)
	}
	if q.CheckCheckpoint != nil {
		if err := q.CheckCheckpoint(signed); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", l.location, verify.ErrLogInconsistent, err)
		}
	}
	pkg := trillian.Root{Size: q.Size, Hash: q.Root}
	if _, err := tlogtiles.ConsistencyProof(ctx, l.r, pkg, cp.Root); err != nil {
		switch {
		case errors.Is(err, trillian.ErrRollback):
			return nil, fmt.Errorf("%s: %w: its tree %d does not cover the package's tree %d (not yet published, or rolled back)", l.location, verify.ErrLogInconsistent, cp.Size, q.Size)
		case errors.Is(err, trillian.ErrFork):
			return nil, fmt.Errorf("%s: %w: the package's tree %d is not a prefix of its tree %d (a fork): %v", l.location, verify.ErrLogInconsistent, q.Size, cp.Size, err)
		}
		return nil, fmt.Errorf("%s: %w", l.location, err)
	}
	if cp.Size < q.MinSize {
		return nil, fmt.Errorf("%s: %w: it serves a tree of %d leaves, older than the tree of %d this verifier has seen signed (a stale mirror, or a rollback: a newer version could be hidden)", l.location, verify.ErrLogInconsistent, cp.Size, q.MinSize)
	}
	ans := &verify.LoggedVersions{TreeSize: cp.Size}
	if q.From >= cp.Size {
		return ans, nil
	}
	err = tlogtiles.Entries(ctx, l.r, q.From, cp.Root, func(index uint64, b []byte) {
		if kind, _, err := leaf.Header(b); err != nil || kind != leaf.KindManifest {
			return
		}
		m, err := leaf.ParseManifest(b)
		if err != nil {
			ans.Unreadable = append(ans.Unreadable, index)
			return
		}
		if m.Trial == q.Trial && m.Dataset == q.Dataset {
			ans.Versions = append(ans.Versions, verify.DatasetVersion{Version: m.Version, IngestedAt: m.CreatedAt, Rows: m.Rows, Leaf: index})
		}
	})
	if errors.Is(err, tlogtiles.ErrMismatch) || errors.Is(err, trillian.ErrRollback) {
		return nil, fmt.Errorf("%s: %w: %w", l.location, verify.ErrLogInconsistent, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: entries from leaf %d: %w", l.location, q.From, err)
	}
	return ans, nil
}
