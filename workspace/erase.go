package workspace

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
)

// KindErasure is the journal kind of a participant key erasure.
const KindErasure = "erasure"

// erasureBody is the journal of an erasure: enough to recompute its leaf
// and to finish destroying the key. It names the participant, and exists
// only while the erasure is unfinished.
type erasureBody struct {
	Subject   string        `json:"subject"`
	Operator  string        `json:"operator"`
	LeafIndex uint64        `json:"leaf_index"`
	Leaf      *leaf.Erasure `json:"leaf"`
}

// ErasureRecord is what the CRO keeps of an erasure, in
// DIR/trials/ID/erasures/INDEX.json: who erased (the leaf holds only a
// commitment to it), when and why. It does not name the participant.
type ErasureRecord struct {
	LeafIndex uint64 `json:"leaf_index"`
	Operator  string `json:"operator"`
	Time      string `json:"time"`
	Reason    string `json:"reason"`
}

// keep writes the erasure's record (before the key is destroyed, so a
// finished erasure always has one).
func (t *Trial) keepErasure(body *erasureBody) error {
	rec := ErasureRecord{LeafIndex: body.LeafIndex, Operator: body.Operator, Time: body.Leaf.Time, Reason: body.Leaf.Reason}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(t.Dir, "erasures")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.json", body.LeafIndex)), data, 0o600)
}

// Erasures lists the kept erasure records, oldest first.
func (t *Trial) Erasures() ([]ErasureRecord, error) {
	entries, err := readDirIfAny(filepath.Join(t.Dir, "erasures"))
	if err != nil || entries == nil {
		return nil, err
	}
	var out []ErasureRecord
	for _, e := range entries {
		r, err := readOptionalJSON[ErasureRecord](filepath.Join(t.Dir, "erasures", e.Name()))
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b ErasureRecord) int { return cmp.Compare(a.LeafIndex, b.LeafIndex) })
	return out, nil
}

// Erase destroys a participant's salt key (crypto-shredding): their
// commitments and row hashes can never be recomputed or linked to their
// data again, while every leaf, checkpoint and other participant's
// package stays valid. The erasure is logged first (an erasure leaf: who,
// when, why, the participant salted), then the key is removed from the
// key store in one atomic write. A crash between the two leaves the
// journal: RecoverErasure (run by the next Erase, ingest or prove)
// finishes it; a crash before the append drops it.
func (t *Trial) Erase(ctx context.Context, subject, reason, operator string, now time.Time) (uint64, error) {
	if err := t.RecoverWrites(ctx); err != nil {
		return 0, err
	}
	if err := removeLeftovers(t.journalPath()); err != nil { // a killed journal write may name the participant
		return 0, err
	}
	if strings.TrimSpace(reason) == "" {
		return 0, fmt.Errorf("an erasure needs a reason: %w", ErrUsage)
	}
	if subject == "" || strings.Contains(strings.ToLower(reason), strings.ToLower(subject)) {
		return 0, fmt.Errorf("the erasure reason is logged in clear and must not contain the participant's ID: %w", ErrUsage)
	}
	keys, err := t.Keys()
	if err != nil {
		return 0, err
	}
	if keys.Mentions(reason) {
		return 0, fmt.Errorf("the erasure reason is logged in clear and must not name any participant: %w", ErrUsage)
	}
	if _, err := keys.Key(subject); err != nil {
		return 0, fmt.Errorf("cannot erase this participant: %w", err)
	}
	body := &erasureBody{Subject: subject, Operator: operator}
	build := func(start uint64) (any, [][]byte, error) {
		salts, err := leaf.ErasureSalts(t.secret, t.ID, start)
		if err != nil {
			return nil, nil, err
		}
		commitment, err := leaf.CommitText(salts[leaf.ErasureSaltSubject], subject)
		if err != nil {
			return nil, nil, fmt.Errorf("participant ID: %v: %w", err, ErrUsage)
		}
		opCommitment, err := leaf.CommitText(salts[leaf.ErasureSaltOperator], operator)
		if err != nil {
			return nil, nil, fmt.Errorf("operator: %v: %w", err, ErrUsage)
		}
		body.LeafIndex = start
		body.Leaf = &leaf.Erasure{Format: leaf.ErasureFormat, Trial: t.ID, Subject: commitment, Operator: opCommitment,
			Time: now.UTC().Format(time.RFC3339), Reason: reason}
		l, err := leaf.ErasureLeaf(body.Leaf)
		if err != nil {
			return nil, nil, err
		}
		return body, [][]byte{l}, nil
	}
	store := func([]byte) error {
		if err := t.keepErasure(body); err != nil {
			return err
		}
		return keys.destroy(subject, body.LeafIndex)
	}
	if _, _, err := t.Write(ctx, KindErasure, "erasure of a participant's key (rerun trialog consent erase to finish it)", build, store); err != nil {
		return 0, err
	}
	return body.LeafIndex, nil
}

// RecoverErasure finishes an interrupted erasure: if its leaf is in the
// log the key is destroyed and a checkpoint signed; if not, the journal
// is dropped. Other kinds of unfinished writes are left alone.
func (t *Trial) RecoverErasure(ctx context.Context) error {
	var body erasureBody
	leafOf := func(raw json.RawMessage) ([]byte, error) {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, err
		}
		if body.Leaf == nil {
			return nil, fmt.Errorf("no leaf")
		}
		return leaf.ErasureLeaf(body.Leaf)
	}
	return t.recoverSingle(ctx, KindErasure, leafOf, func(json.RawMessage, []byte) error {
		if err := t.keepErasure(&body); err != nil {
			return err
		}
		keys, err := t.Keys()
		if err != nil {
			return err
		}
		return keys.destroy(body.Subject, body.LeafIndex)
	})
}
