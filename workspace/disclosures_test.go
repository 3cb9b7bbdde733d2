package workspace

import (
	"context"
	"errors"
	"testing"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian/checkpoint"
)

func testDisclosure() leaf.Disclosure {
	return leaf.Disclosure{Format: leaf.DisclosureFormat, Trial: "T1", Dataset: "DM", Version: 1, Mode: "attached", Selection: "rows", Rows: 1,
		Recipient: "Sponsor", Purpose: "main", Operator: "cro", Time: "2026-12-03T10:00:00Z", Consent: "checked", PackageSHA256: "00"}
}

// TestDisclosureInterrupted: a disclosure whose leaf was logged but whose
// package was never delivered (a crash in between) is kept by the next
// writer, never lost; one journaled but not appended is dropped; another
// kind of writer is refused until then.
func TestDisclosureInterrupted(t *testing.T) {
	ctx := context.Background()
	_, tr := newTrial(t)
	crash := errors.New("crash")
	if _, err := tr.LogDisclosure(ctx, testDisclosure(), []string{"S-1"}, "", func(*DisclosureRecord, []byte) error { return crash }); !errors.Is(err, crash) {
		t.Fatalf("LogDisclosure: %v", err)
	}
	if recs, _ := tr.Disclosures(); len(recs) != 0 {
		t.Fatalf("a record was kept before its package was delivered")
	}
	if _, err := tr.Begin(ctx, KindDataset, "ingest", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("an ingest during an unfinished disclosure: %v", err)
	}
	if err := tr.RecoverDisclosure(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := tr.Disclosures()
	if err != nil || len(recs) != 1 || recs[0].LeafIndex != 0 || recs[0].Package != "" || recs[0].Open() != nil {
		t.Fatalf("recovered: %v %+v", err, recs)
	}
	// Journaled, never appended: dropped, nothing kept.
	if _, err := tr.Begin(ctx, KindDisclosure, "x", nil); err != nil {
		t.Fatal(err)
	}
	if err := tr.RecoverDisclosure(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := tr.Journal(); j != nil {
		t.Fatalf("journal left: %+v", j)
	}
	rec, err := tr.LogDisclosure(ctx, testDisclosure(), nil, "safety report", nil)
	if err != nil || rec.LeafIndex != 1 || rec.Leaf.OverrideReason == "" || rec.Open() != nil {
		t.Fatalf("second disclosure: %v %+v", err, rec)
	}
	signed, _ := tr.LatestCheckpoint()
	cp, err := checkpoint.Open(tr.VerifierKey, signed)
	if err != nil {
		t.Fatal(err)
	}
	list, problems, err := tr.ProveDisclosures(ctx, cp)
	if err != nil || len(problems) != 0 || len(list) != 2 {
		t.Fatalf("ProveDisclosures: %v %v %d", err, problems, len(list))
	}
	// An edited record (another participant) no longer opens its leaf.
	recs, _ = tr.Disclosures()
	recs[0].Subjects = []string{"S-2"}
	if err := tr.saveDisclosure(recs[0]); err != nil {
		t.Fatal(err)
	}
	if _, problems, _ := tr.ProveDisclosures(ctx, cp); len(problems) != 1 {
		t.Errorf("edited record: %v", problems)
	}
}
