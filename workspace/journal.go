package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

// Every write to a trial's log goes through one journal, so that exactly
// one writer owns the leaves past the tree size at a time and an
// interrupted write is finished or dropped, never interleaved with
// another. The protocol, for every kind of leaf (dataset rows and
// manifest, consent records, and whatever comes next):
//
//  1. Begin: the write's own state (Body) is made durable in journal.json,
//     naming the tree size it starts at, before the first leaf is sent.
//  2. The leaves are appended at exactly that size (the log refuses
//     anything else, trillian.ErrWrongIndex), in one call or many.
//  3. Finish: a checkpoint over the new root is signed and published, the
//     writer's own commit (catalog record, consent registry) runs, and the
//     journal is removed.
//
// A crash between 1 and 3 leaves the journal: the next writer of that
// kind reads it back and resumes or finishes (ingest re-derives the same
// leaves; consent checks whether its leaves were logged), and writers of
// any other kind are refused with ErrBusy until then.

// Journal kinds.
const (
	KindDataset = "dataset"
	KindConsent = "consent"
	KindPolicy  = "policy" // a witness policy (witness.go)
)

// ErrBusy is wrapped when another write to the trial's log is unfinished.
var ErrBusy = errors.New("another write to the trial's log is unfinished")

// ErrNotIngested is wrapped when a file's content matches no dataset
// version of the trial.
var ErrNotIngested = errors.New("not ingested")

// Journal is the durable record of a log write in progress.
type Journal struct {
	Kind string `json:"kind"`
	// Start is the tree size when the write began: its first leaf index.
	Start uint64 `json:"start"`
	// What describes the write for people ("ingest of dataset DM from
	// dm.csv"); it names no cell value.
	What string `json:"what"`
	// Body is the writer's own state, enough to resume or finish.
	Body json.RawMessage `json:"body"`
}

func (t *Trial) journalPath() string { return filepath.Join(t.Dir, "journal.json") }

// Journal returns the unfinished write, or nil.
func (t *Trial) Journal() (*Journal, error) { return readOptionalJSON[Journal](t.journalPath()) }

// RecoverWrites finishes or drops an interrupted single-leaf write of any
// kind (an erasure, a disclosure record): every writer runs it first, so
// one interrupted write never blocks the others until someone happens to
// make another write of its kind.
func (t *Trial) RecoverWrites(ctx context.Context) error {
	if err := t.RecoverErasure(ctx); err != nil {
		return err
	}
	return t.RecoverDisclosure(ctx)
}

// readDirIfAny lists a directory that exists only once something was
// kept in it: nil, without an error, when it does not exist yet.
func readDirIfAny(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// readOptionalJSON decodes the JSON file at path, or returns nil if there
// is none (a state file that only exists while it means something).
func readOptionalJSON[T any](path string) (*T, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &v, nil
}

// Begin journals a new write of the given kind starting at the current
// tree size. It fails with ErrBusy if any write is unfinished.
func (t *Trial) Begin(ctx context.Context, kind, what string, body any) (*Journal, error) {
	if t.lock == nil {
		return nil, fmt.Errorf("trial %s is open read-only: %w", t.ID, ErrUsage)
	}
	if open, err := t.Journal(); err != nil {
		return nil, err
	} else if open != nil {
		return nil, fmt.Errorf("trial %s: the %s is unfinished; rerun it first: %w", t.ID, open.What, ErrBusy)
	}
	root, err := t.Log.LatestRoot(ctx)
	if err != nil {
		return nil, err
	}
	j := &Journal{Kind: kind, Start: root.Size, What: what}
	if err := t.saveJournal(j, body); err != nil {
		return nil, err
	}
	return j, nil
}

// Update replaces the body of the open journal (a write whose state grows
// before its first leaf, never after).
func (t *Trial) Update(j *Journal, body any) error { return t.saveJournal(j, body) }

func (t *Trial) saveJournal(j *Journal, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	j.Body = raw
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(t.journalPath(), append(data, '\n'), 0o600)
}

// Finish ends a write whose leaves are all in the log: a checkpoint over
// root is signed and published, store (the writer's own commit, given the
// signed checkpoint; it must be idempotent, as a crash may repeat it)
// runs, and the journal is removed. It returns the signed checkpoint.
func (t *Trial) Finish(ctx context.Context, root trillian.Root, store func(signed []byte) error) ([]byte, error) {
	signed, err := t.PublishCheckpoint(root)
	if err != nil {
		return nil, err
	}
	if store != nil {
		if err := store(signed); err != nil {
			return nil, err
		}
	}
	if err := durable.Remove(t.journalPath()); err != nil {
		return nil, err
	}
	// Only now, with the leaves, the writer's commit and the checkpoint
	// durable and the journal gone, is the checkpoint sent to the
	// witnesses: a witness that is down loses nothing (docs/witnessing.md).
	return t.witnessFinished(ctx, signed), nil
}

// Abandon drops the journal of a write none of whose leaves were logged.
func (t *Trial) Abandon() error { return durable.Remove(t.journalPath()) }

// Write is the whole protocol in one call, for writes whose leaves are
// known up front: build gets the first leaf index and returns the
// journal body and the leaves; they are journaled, appended at exactly
// that index, stored (store may be nil) and checkpointed.
func (t *Trial) Write(ctx context.Context, kind, what string, build func(start uint64) (body any, leaves [][]byte, err error), store func(signed []byte) error) (trillian.Root, []byte, error) {
	j, err := t.Begin(ctx, kind, what, nil)
	if err != nil {
		return trillian.Root{}, nil, err
	}
	body, leaves, err := build(j.Start)
	if err != nil {
		return trillian.Root{}, nil, errors.Join(err, t.Abandon())
	}
	if err := t.Update(j, body); err != nil {
		return trillian.Root{}, nil, err
	}
	root, err := t.Log.AppendLeaves(ctx, j.Start, leaves)
	if err != nil {
		return trillian.Root{}, nil, err
	}
	signed, err := t.Finish(ctx, root, store)
	return root, signed, err
}

// Pending is the journal body of a dataset ingest: everything the
// manifest needs except the row count and range root is fixed before the
// first row is appended, so a resumed ingest produces exactly the leaves
// the first attempt would have.
type Pending struct {
	Manifest leaf.Manifest `json:"manifest"`
	// NullValues are the CSV missing tokens the first run read with: a
	// resumed run must read the file exactly the same way.
	NullValues []string `json:"null_values,omitempty"`
	// Encoding is the XPT text encoding the first run read with (same
	// reason).
	Encoding string `json:"encoding,omitempty"`
	Salting
}

// Pending returns the unfinished dataset ingest, or nil (also when the
// unfinished write is of another kind).
func (t *Trial) Pending() (*Pending, error) {
	j, err := t.Journal()
	if err != nil || j == nil || j.Kind != KindDataset {
		return nil, err
	}
	var p Pending
	if err := json.Unmarshal(j.Body, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", t.journalPath(), err)
	}
	return &p, nil
}

// recoverSingle finishes or drops an unfinished write of kind whose one
// leaf is at the journal's start: leafOf recomputes that leaf from the
// journal body; if the log holds exactly it, the write is finished
// (checkpoint, then store with the body); if the log stops before it or
// holds something else there, the write never happened and the journal
// is dropped. A body still empty (journaled before its leaf was built)
// is dropped too. Other kinds of unfinished writes are left alone.
func (t *Trial) recoverSingle(ctx context.Context, kind string, leafOf func(body json.RawMessage) ([]byte, error), store func(body json.RawMessage, signed []byte) error) error {
	j, err := t.Journal()
	if err != nil || j == nil || j.Kind != kind {
		return err
	}
	if len(j.Body) == 0 || string(j.Body) == "null" {
		return t.Abandon()
	}
	want, err := leafOf(j.Body)
	if err != nil {
		return fmt.Errorf("trial %s: %s journal: %w", t.ID, kind, err)
	}
	root, err := t.Log.LatestRoot(ctx)
	if err != nil {
		return err
	}
	if root.Size <= j.Start {
		return t.Abandon()
	}
	got, err := t.Log.Leaves(ctx, j.Start, 1)
	if err != nil {
		return err
	}
	if !bytes.Equal(got[0], want) {
		return t.Abandon()
	}
	_, err = t.Finish(ctx, root, func(signed []byte) error { return store(j.Body, signed) })
	return err
}
