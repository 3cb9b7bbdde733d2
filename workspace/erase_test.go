package workspace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/leaf"
)

// TestEraseAndRecover: Erase logs first and destroys the key after; a
// crash in between (the leaf logged, the key still there) is finished by
// RecoverErasure; a journal whose leaf never reached the log is dropped
// and the key kept.
func TestEraseAndRecover(t *testing.T) {
	ctx := context.Background()
	_, tr := newTrial(t)
	keys, err := tr.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Ensure([]string{"S-1", "S-2", "S-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Erase(ctx, "S-1", "reason mentions S-1", "dpo", time.Now()); !errors.Is(err, ErrUsage) {
		t.Errorf("reason naming the participant: %v", err)
	}
	idx, err := tr.Erase(ctx, "S-1", "collected in error", "dpo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = tr.Keys()
	if _, err := keys.Key("S-1"); !errors.Is(err, ErrErased) || keys.Has("S-1") {
		t.Fatalf("S-1 after erase: %v", err)
	}
	if err := keys.Ensure([]string{"S-1"}); !errors.Is(err, ErrErased) {
		t.Errorf("a new key for an erased participant: %v", err)
	}
	raw, _ := os.ReadFile(tr.keysPath())
	if strings.Contains(string(raw), "S-1") {
		t.Error("the key store still names the erased participant")
	}
	l, _ := tr.Log.Leaves(ctx, idx, 1)
	e, err := leaf.ParseErasure(l[0])
	if err != nil || e.Reason != "collected in error" || strings.Contains(string(l[0]), "S-1") || strings.Contains(string(l[0]), "dpo") {
		t.Fatalf("erasure leaf: %v %+v", err, e)
	}
	if recs, err := tr.Erasures(); err != nil || len(recs) != 1 || recs[0].Operator != "dpo" || recs[0].LeafIndex != idx {
		t.Fatalf("kept erasure records: %v %+v", err, recs)
	}

	// Crash after the append: journal and leaf there, key not destroyed.
	salts, _ := leaf.ErasureSalts(tr.secret, tr.ID, idx+1)
	commitment, _ := leaf.CommitText(salts[leaf.ErasureSaltSubject], "S-2")
	body := &erasureBody{Subject: "S-2", Operator: "x", LeafIndex: idx + 1, Leaf: &leaf.Erasure{Format: leaf.ErasureFormat, Trial: tr.ID, Subject: commitment, Operator: "x", Time: "2026-12-03T00:00:00Z", Reason: "r"}}
	j, err := tr.Begin(ctx, KindErasure, "erasure", body)
	if err != nil {
		t.Fatal(err)
	}
	el, _ := leaf.ErasureLeaf(body.Leaf)
	if _, err := tr.Log.AppendLeaves(ctx, j.Start, [][]byte{el}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Begin(ctx, KindDisclosure, "x", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("another writer during an unfinished erasure: %v", err)
	}
	if err := tr.RecoverErasure(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _ = tr.Keys()
	if keys.Has("S-2") {
		t.Error("recovery did not destroy the key of a logged erasure")
	}
	// Journaled, never appended: dropped, key kept.
	body.Subject, body.LeafIndex = "S-3", idx+2
	if _, err := tr.Begin(ctx, KindErasure, "erasure", body); err != nil {
		t.Fatal(err)
	}
	if err := tr.RecoverErasure(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _ = tr.Keys()
	if !keys.Has("S-3") {
		t.Error("an erasure that was never logged destroyed the key")
	}
	if j, _ := tr.Journal(); j != nil {
		t.Errorf("journal left: %+v", j)
	}
}

// TestEraseAfterInterruptedDisclosure (adversarial review): a disclosure
// whose package was never delivered does not block an erasure until the
// next prove: every writer finishes any interrupted single-leaf write
// first. And no copy of an erased key survives in a leftover temporary
// file of the key store.
func TestEraseAfterInterruptedDisclosure(t *testing.T) {
	ctx := context.Background()
	_, tr := newTrial(t)
	keys, err := tr.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Ensure([]string{"S-1", "S-2"}); err != nil {
		t.Fatal(err)
	}
	// A killed key store write leaves its temporary file: with the key.
	raw, err := os.ReadFile(tr.keysPath())
	if err != nil {
		t.Fatal(err)
	}
	leftover := tr.keysPath() + ".tmp" // the shape durable.WriteFile uses, after a dot
	leftover = filepath.Join(filepath.Dir(leftover), "."+filepath.Base(leftover)+"123")
	if err := os.WriteFile(leftover, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	if _, err := tr.LogDisclosure(ctx, testDisclosure(), []string{"S-1"}, "", func(*DisclosureRecord, []byte) error { return crash }); !errors.Is(err, crash) {
		t.Fatalf("LogDisclosure: %v", err)
	}
	if _, err := tr.Erase(ctx, "S-1", "collected in error", "dpo", time.Now()); err != nil {
		t.Fatalf("erase after an interrupted disclosure: %v", err)
	}
	if recs, err := tr.Disclosures(); err != nil || len(recs) != 1 {
		t.Errorf("the interrupted disclosure's record: %v %d", err, len(recs))
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a leftover key store file survived the erasure: %v", err)
	}
	entries, _ := os.ReadDir(tr.Dir)
	for _, e := range entries {
		if b, _ := os.ReadFile(filepath.Join(tr.Dir, e.Name())); strings.Contains(string(b), "S-1\"") && e.Name() != "disclosures" {
			t.Errorf("%s still names the erased participant's key entry", e.Name())
		}
	}
}
