package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness"
	"golang.org/x/mod/sumdb/note"
)

// Versions tells a verifier which versions of a dataset a trial's log
// holds after a package's own. It is the seam for a log client (the
// published log, --log-url, package freshness), which lives outside this
// package so that the verifier links no HTTP or tile client: the browser
// verifier has no log to ask.
//
// An implementation must read the log's latest checkpoint, verified with
// the trial's key, prove that its tree extends the package's (q.Size,
// q.Root), and check every leaf it reads against that tree, so that a
// server can neither hide a newer version nor invent one. It wraps
// ErrLogInconsistent when the log contradicts a signed checkpoint;
// any other error is operational (the log could not be read).
type Versions interface {
	Logged(ctx context.Context, q VersionQuery) (*LoggedVersions, error)
}

// VersionQuery asks for the versions of Dataset whose manifest leaves
// lie at leaf From or later.
type VersionQuery struct {
	Trial   string
	Dataset string
	// From is the first leaf to read: the leaf after the package's
	// manifest, or (a minimal package, which does not disclose where
	// its manifest is) the package version's first row.
	From uint64
	// Size and Root are the package's checkpointed tree.
	Size uint64
	Root []byte
	// MinSize is the largest tree of this log the verifier already knows
	// of (its trust store's latest): a log that answers from an older
	// checkpoint is serving a stale or rolled-back view, which could hide
	// a version. (The package's disclosure record is no floor: it is the
	// leaf right after the package's tree, where no version can hide, and
	// a log published before it is merely not yet republished.)
	MinSize uint64
	// CheckCheckpoint, if set, must accept the log's signed checkpoint
	// (the verifier's witness quorum): a server can only answer from a
	// checkpoint the trial key signed, but without witnesses it chooses
	// which one, and so how fresh "latest" is.
	CheckCheckpoint func(signed []byte) error
}

// LoggedVersions is a log's answer.
type LoggedVersions struct {
	// TreeSize is the size of the log's checkpoint the answer is from
	// (at least the package's, proven to extend it).
	TreeSize uint64
	// Versions are the manifests of the dataset at leaves [From,
	// TreeSize), in log order.
	Versions []DatasetVersion
	// Unreadable are manifest leaves in that range that this verifier
	// cannot parse (a newer manifest format): any of them may be a newer
	// version.
	Unreadable []uint64
}

// DatasetVersion is one version of a dataset as a log lists it: from its
// public manifest leaf (docs/publishing.md).
type DatasetVersion struct {
	Version    uint64 `json:"version"`
	IngestedAt string `json:"ingested_at"`
	Rows       uint64 `json:"rows"`
	// Leaf is the index of the version's manifest leaf.
	Leaf uint64 `json:"leaf"`
}

// ErrLogInconsistent is wrapped by a Versions implementation when the
// log contradicts a signed checkpoint: its tree does not extend the
// package's (a fork, or a rollback), or its entries or tiles are not
// those of its signed root. It is evidence, and fails verification.
var ErrLogInconsistent = errors.New("the log contradicts its signed checkpoints")

// Freshness values of a report.
const (
	FreshnessNotChecked = "not checked"
	FreshnessLatest     = "latest"
	FreshnessSuperseded = "superseded"
)

// checkFreshness asks opts.Versions, if any, whether the log holds a
// newer version of the dataset (docs/package-format.md, "Freshness"). A
// superseded version is authentic and still verifies: the report warns,
// naming each newer version, its ingest time and its manifest leaf (a
// note instead when the recipient pinned this version); with
// RequireLatest it fails. A log that contradicts its checkpoints fails
// verification; a log that cannot be read is an error.
func (v *verifier) checkFreshness(ctx context.Context) error {
	rep, m := v.rep, v.meta.Manifest
	if v.opts.Versions == nil {
		return nil // Freshness stays FreshnessNotChecked
	}
	q := VersionQuery{Trial: m.Trial, Dataset: m.Dataset, From: v.meta.ManifestIndex + 1, Size: v.cp.Size, Root: v.cp.Hash}
	if v.meta.Disclosure == disclosure.DisclosureMinimal {
		q.From = m.FirstIndex
	}
	if v.opts.Trust != nil {
		if latest, err := v.opts.Trust.Latest(v.opts.VerifierKey); err == nil && latest != nil {
			if cp, err := checkpoint.Open(v.opts.VerifierKey, latest); err == nil {
				q.MinSize = max(q.MinSize, cp.Size)
			}
		}
	}
	if p := v.opts.Witnesses; p != nil {
		q.CheckCheckpoint = func(signed []byte) error {
			lv, err := note.NewVerifier(v.opts.VerifierKey)
			if err != nil {
				return err
			}
			wr, err := witness.Check(lv, signed, p)
			if err != nil {
				return err
			}
			if !wr.OK() {
				return fmt.Errorf("the log's latest checkpoint has %s", wr)
			}
			return nil
		}
	}
	ans, err := v.opts.Versions.Logged(ctx, q)
	if errors.Is(err, ErrLogInconsistent) {
		rep.fail("newer versions of %s could not be checked: %v", m.Dataset, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("newer versions of %s: %w", m.Dataset, err)
	}
	rep.FreshnessTreeSize = ans.TreeSize
	rep.Freshness = FreshnessLatest
	rep.NewerVersions = []DatasetVersion{}
	var lines []string
	for _, dv := range ans.Versions {
		if dv.Version <= m.Version {
			continue
		}
		rep.NewerVersions = append(rep.NewerVersions, dv)
		if rep.Latest == nil || dv.Version > rep.Latest.Version {
			latest := dv
			rep.Latest = &latest
		}
		lines = append(lines, fmt.Sprintf("a newer version %d of dataset %s was logged at %s (leaf %d); this package proves version %d (ingested %s)", dv.Version, m.Dataset, dv.IngestedAt, dv.Leaf, m.Version, m.CreatedAt))
	}
	for _, l := range ans.Unreadable {
		lines = append(lines, fmt.Sprintf("leaf %d is a manifest this verifier cannot read (a newer format?): it may be a newer version of %s", l, m.Dataset))
	}
	if len(lines) == 0 {
		return nil
	}
	if len(rep.NewerVersions) > 0 {
		rep.Freshness = FreshnessSuperseded
	}
	switch {
	case v.opts.RequireLatest:
		for _, l := range lines {
			rep.fail("%s (--require-latest)", l)
		}
	case v.opts.Version == m.Version:
		for _, l := range lines {
			rep.Notes = append(rep.Notes, l+fmt.Sprintf("; version %d was asked for", m.Version))
		}
	default:
		rep.Warnings = append(rep.Warnings, lines...)
	}
	return nil
}

// askOnce asks a Versions once per verification (Package may make two
// passes over a package) and replays the answer.
type askOnce struct {
	v    Versions
	once sync.Once
	q    VersionQuery
	ans  *LoggedVersions
	err  error
}

func (a *askOnce) Logged(ctx context.Context, q VersionQuery) (*LoggedVersions, error) {
	a.once.Do(func() { a.q = q; a.ans, a.err = a.v.Logged(ctx, q) })
	if q.From != a.q.From || q.Size != a.q.Size || q.Dataset != a.q.Dataset || q.Trial != a.q.Trial || !bytes.Equal(q.Root, a.q.Root) {
		return a.v.Logged(ctx, q)
	}
	return a.ans, a.err
}
