package workspace

import (
	"context"
	"errors"
	"os"
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
