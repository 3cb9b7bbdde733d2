// Package monitor follows a published trial log (C2SP tlog-tiles) as a
// third party: with the log's URL (or a published directory) and its
// verifier key only — no trial secret, no signing key, no CRO directory.
//
// Each Check fetches the latest checkpoint, verifies its signature,
// proves from the tiles that it extends the last checkpoint this monitor
// accepted (kept in a state directory, with x/mod's ProveTree/CheckTree
// over torchwood's tile reader), then reads every new entry bundle,
// recomputes from the entries every tile that is new or grew and the
// tree's root (tlogtiles.Recompute), and compares them with the published
// tiles and the signed root: a server that lies about an entry or a tile
// is caught. It classifies each new leaf by kind and
// reports new dataset versions (dataset, version, row count, from the
// public manifest leaves) and consent records by type and count — never a
// value, which the log does not hold. A checkpoint that does not extend
// the stored one (a fork, a rollback) is reported with both checkpoints as
// evidence, and the state is left as it was.
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// StateFormat names the state file's schema.
const StateFormat = "trialog-monitor-state-v1"

// ErrInconsistent is wrapped when the log shows a fork, a rollback, or
// files that disagree with its signed checkpoint: evidence, not an
// operational failure.
var ErrInconsistent = errors.New("log is inconsistent")

// State is what a monitor remembers between runs (DIR/state.json).
type State struct {
	Format     string `json:"format"`
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	RootHash   []byte `json:"root_hash"`
	Checkpoint string `json:"checkpoint"` // signed, the last one accepted
	Totals     Counts `json:"totals"`
	// Edge is the right edge of the accepted tree, from which the next
	// check recomputes the tiles without reading older entries.
	Edge tlogtiles.Edge `json:"edge"`
}

// Counts tallies leaves by kind.
type Counts struct {
	Rows      uint64            `json:"rows"`
	Manifests uint64            `json:"manifests"`
	Consent   map[string]uint64 `json:"consent,omitempty"` // record type → count
	Policies  uint64            `json:"witness_policies"`  // witness policy changes (docs/witnessing.md)
	// Disclosures are packages the CRO logged as issued; Erasures are
	// participants' keys destroyed (docs/commitments.md).
	Disclosures uint64 `json:"disclosures"`
	Erasures    uint64 `json:"erasures"`
	Unknown     uint64 `json:"unknown"` // kinds or versions this monitor does not know
}

// DatasetVersion is one dataset version announced by a manifest leaf.
type DatasetVersion struct {
	Dataset string `json:"dataset"`
	Version uint64 `json:"version"`
	Rows    uint64 `json:"rows"`
	Leaf    uint64 `json:"manifest_index"`
}

// Report is the outcome of one Check.
type Report struct {
	Origin     string           `json:"origin"`
	OldSize    uint64           `json:"old_size"`
	NewSize    uint64           `json:"new_size"`
	Checkpoint string           `json:"checkpoint"`
	New        Counts           `json:"new"`
	Datasets   []DatasetVersion `json:"dataset_versions"`
	Totals     Counts           `json:"totals"`
	// Evidence is set when the log is inconsistent; the error returned
	// then wraps ErrInconsistent.
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Evidence is what a monitor shows when a log misbehaves: the checkpoint
// it had accepted, the one the log now serves (both signed by the log's
// key), and why they cannot both be honest.
type Evidence struct {
	Reason string `json:"reason"`
	Old    string `json:"old_checkpoint"`
	New    string `json:"new_checkpoint"`
}

// Options configure a Check.
type Options struct {
	VerifierKey string
	StateDir    string
	// Progress, if set, is called as entries are read (done of total).
	Progress func(done, total uint64)
}

const stateFile = "state.json"

// LoadState reads the state directory; a missing state is the empty tree.
func LoadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{Format: StateFormat, RootHash: trillian.Hasher.EmptyRoot()}, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil || st.Format != StateFormat {
		return nil, fmt.Errorf("%s: not a monitor state (%v)", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

func saveState(dir string, st *State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, stateFile), append(data, '\n'), 0o600)
}

// Check runs one round: fetch, verify, prove, read and classify the new
// entries, and store the new checkpoint as the state.
func Check(ctx context.Context, r tlogtiles.Reader, opts Options) (*Report, error) {
	st, err := LoadState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	cp, signed, err := tlogtiles.Checkpoint(ctx, r, opts.VerifierKey)
	if err != nil {
		if errors.Is(err, checkpoint.ErrBadCheckpoint) {
			return nil, fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
		return nil, err
	}
	rep := &Report{Origin: cp.Origin, OldSize: st.Size, NewSize: cp.Size, Checkpoint: string(signed), Totals: st.Totals}
	if st.Origin != "" && st.Origin != cp.Origin {
		return nil, fmt.Errorf("the state in %s follows %s, this log is %s", opts.StateDir, st.Origin, cp.Origin)
	}
	old := trillian.Root{Size: st.Size, Hash: st.RootHash}
	if _, err := tlogtiles.ConsistencyProof(ctx, r, old, cp.Root); err != nil {
		if errors.Is(err, trillian.ErrFork) || errors.Is(err, trillian.ErrRollback) {
			rep.Evidence = &Evidence{Reason: err.Error(), Old: st.Checkpoint, New: string(signed)}
			return rep, fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
		return nil, err
	}
	if st.Edge.Size != st.Size {
		return nil, fmt.Errorf("%s: the state's tree edge is of size %d, its checkpoint %d", opts.StateDir, st.Edge.Size, st.Size)
	}
	total := cp.Size - st.Size
	edge, err := tlogtiles.Recompute(ctx, r, st.Edge, cp.Root, func(index uint64, l []byte) {
		classify(index, l, rep)
		if opts.Progress != nil && (index+1)%65536 == 0 {
			opts.Progress(index+1-st.Size, total)
		}
	})
	if err == nil && opts.Progress != nil {
		opts.Progress(total, total)
	}
	if err != nil {
		if errors.Is(err, tlogtiles.ErrMismatch) {
			rep.Evidence = &Evidence{Reason: "published entries or tiles disagree with the signed checkpoint: " + err.Error(), Old: st.Checkpoint, New: string(signed)}
			return rep, fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
		return nil, err
	}
	rep.Totals = add(st.Totals, rep.New)
	next := &State{Format: StateFormat, Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash, Checkpoint: string(signed), Totals: rep.Totals, Edge: edge}
	if err := saveState(opts.StateDir, next); err != nil {
		return nil, err
	}
	return rep, nil
}

// classify counts one leaf by kind. Only the clear parts of a leaf are
// read: a manifest's dataset, version and row count; a consent record's
// type; that a witness policy changed; that a package was issued or a
// participant's key erased. Everything else in a leaf is a salted commitment.
func classify(index uint64, l []byte, rep *Report) {
	kind, _, err := leaf.Header(l)
	switch {
	case err != nil:
		rep.New.Unknown++
	case kind == leaf.KindRow:
		rep.New.Rows++
	case kind == leaf.KindManifest:
		m, err := leaf.ParseManifest(l)
		if err != nil {
			rep.New.Unknown++
			return
		}
		rep.New.Manifests++
		rep.Datasets = append(rep.Datasets, DatasetVersion{Dataset: m.Dataset, Version: m.Version, Rows: m.Rows, Leaf: index})
	case kind == leaf.KindConsent:
		c, err := leaf.ParseConsentLeaf(l)
		if err != nil {
			rep.New.Unknown++
			return
		}
		if rep.New.Consent == nil {
			rep.New.Consent = map[string]uint64{}
		}
		rep.New.Consent[consentType(c.Type)]++
	case kind == leaf.KindPolicy:
		if _, err := leaf.ParsePolicyLeaf(l); err != nil {
			rep.New.Unknown++
			return
		}
		rep.New.Policies++
	case kind == leaf.KindDisclosure:
		if _, err := leaf.ParseDisclosure(l); err != nil {
			rep.New.Unknown++
			return
		}
		rep.New.Disclosures++
	case kind == leaf.KindErasure:
		if _, err := leaf.ParseErasure(l); err != nil {
			rep.New.Unknown++
			return
		}
		rep.New.Erasures++
	default:
		rep.New.Unknown++
	}
}

func consentType(t byte) string {
	switch t {
	case leaf.ConsentForm:
		return "form"
	case leaf.ConsentEvent:
		return "event"
	}
	return fmt.Sprintf("type-%#x", t)
}

func add(a, b Counts) Counts {
	out := Counts{Rows: a.Rows + b.Rows, Manifests: a.Manifests + b.Manifests, Policies: a.Policies + b.Policies,
		Disclosures: a.Disclosures + b.Disclosures, Erasures: a.Erasures + b.Erasures, Unknown: a.Unknown + b.Unknown}
	for _, m := range []map[string]uint64{a.Consent, b.Consent} {
		for k, v := range m {
			if out.Consent == nil {
				out.Consent = map[string]uint64{}
			}
			out.Consent[k] += v
		}
	}
	return out
}
