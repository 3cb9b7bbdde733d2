package workspace

// Witnessing a trial's checkpoints (docs/witnessing.md).
//
// Files, beside the others of the trial:
//
//	DIR/trials/ID/witness.policy      the policy, as a note signed by the trial key
//	DIR/trials/ID/witness-policy.json where it is logged (its policy leaf)
//	DIR/trials/ID/witness-state.json  per witness, the tree size it last cosigned
//
// The checkpoint files (checkpoint, checkpoints/SIZE) are replaced by their
// cosigned versions as cosignatures arrive: a cosigned checkpoint is the same
// signed note with more signature lines, so every reader keeps working.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness"
	"github.com/trialog/trialog/witness/client"
)

func (t *Trial) policyPath() string       { return filepath.Join(t.Dir, "witness.policy") }
func (t *Trial) witnessStatePath() string { return filepath.Join(t.Dir, "witness-state.json") }

// SignedWitnessPolicy returns the trial's witness policy note (signed by
// the trial's checkpoint key), or nil when the trial has no witnesses.
func (t *Trial) SignedWitnessPolicy() ([]byte, error) {
	b, err := os.ReadFile(t.policyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// WitnessPolicy returns the trial's witness policy, or nil.
func (t *Trial) WitnessPolicy() (*witness.Policy, error) {
	signed, err := t.SignedWitnessPolicy()
	if err != nil || signed == nil {
		return nil, err
	}
	lv, err := note.NewVerifier(t.VerifierKey)
	if err != nil {
		return nil, err
	}
	p, err := witness.OpenSignedPolicy(lv, signed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.policyPath(), err)
	}
	return p, nil
}

// PolicyRecord is witness-policy.json: where the trial's current policy
// is in the log.
type PolicyRecord struct {
	Seq       uint64 `json:"seq"`        // 1 for the trial's first policy
	LeafIndex uint64 `json:"leaf_index"` // its policy leaf (leaf.PolicyLeaf)
}

// policyBody is the journal body of a policy write.
type policyBody struct {
	Seq  uint64 `json:"seq"`
	Note string `json:"note"` // the signed policy note
}

func (t *Trial) policyRecordPath() string { return filepath.Join(t.Dir, "witness-policy.json") }

// WitnessPolicyRecord returns where the current policy was logged, or nil.
func (t *Trial) WitnessPolicyRecord() (*PolicyRecord, error) {
	return readOptionalJSON[PolicyRecord](t.policyRecordPath())
}

// SetWitnessPolicy signs p with the trial key, logs it (a policy leaf:
// the digest of the signed text, through the write journal like every
// other leaf, so the change is part of the history the witnesses cosign)
// and makes it the trial's policy. Witnesses added later start with no
// known size (their 409 answer tells it). The checkpoint over the new
// leaf is offered to the witnesses of the new policy, as after any write.
func (t *Trial) SetWitnessPolicy(ctx context.Context, p *witness.Policy) ([]byte, error) {
	if err := t.finishPolicyWrite(ctx); err != nil {
		return nil, err
	}
	text := witness.PolicyNoteText(p, t.VerifierKey)
	signed, err := t.SignStatement(text)
	if err != nil {
		return nil, err
	}
	seq := uint64(1)
	if r, err := t.WitnessPolicyRecord(); err != nil {
		return nil, err
	} else if r != nil {
		seq = r.Seq + 1
	}
	var index uint64
	_, _, err = t.Write(ctx, KindPolicy, fmt.Sprintf("witness policy %d", seq),
		func(start uint64) (any, [][]byte, error) {
			index = start
			return policyBody{Seq: seq, Note: string(signed)}, [][]byte{leaf.NewPolicyLeaf(t.ID, seq, text).Marshal()}, nil
		},
		func([]byte) error { return t.storePolicy(signed, PolicyRecord{Seq: seq, LeafIndex: index}) })
	if err != nil {
		return nil, err
	}
	return signed, nil
}

// storePolicy makes a logged policy the trial's (idempotent: a resumed
// write may repeat it).
func (t *Trial) storePolicy(signed []byte, r PolicyRecord) error {
	if err := durable.WriteFile(t.policyPath(), signed, 0o644); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	return durable.WriteFile(t.policyRecordPath(), append(data, '\n'), 0o644)
}

// finishPolicyWrite completes or drops a policy write a crash left in the
// journal: finished if its leaf is in the log, dropped if not.
func (t *Trial) finishPolicyWrite(ctx context.Context) error {
	j, err := t.Journal()
	if err != nil || j == nil || j.Kind != KindPolicy {
		return err
	}
	var body policyBody
	if err := json.Unmarshal(j.Body, &body); err != nil {
		return fmt.Errorf("%s: %w", t.journalPath(), err)
	}
	root, err := t.Log.LatestRoot(ctx)
	if err != nil {
		return err
	}
	if root.Size <= j.Start {
		return t.Abandon()
	}
	text, err := checkpoint.OpenNote(t.VerifierKey, []byte(body.Note))
	if err != nil {
		return fmt.Errorf("%s: %w", t.journalPath(), err)
	}
	logged, err := t.Log.Leaves(ctx, j.Start, 1)
	if err != nil {
		return err
	}
	if string(logged[0]) != string(leaf.NewPolicyLeaf(t.ID, body.Seq, text).Marshal()) {
		return fmt.Errorf("trial %s: leaf %d is not the journaled witness policy: the log changed under a pending write", t.ID, j.Start)
	}
	_, err = t.Finish(ctx, root, func([]byte) error {
		return t.storePolicy([]byte(body.Note), PolicyRecord{Seq: body.Seq, LeafIndex: j.Start})
	})
	return err
}

func (t *Trial) witnessSizes() (map[string]uint64, error) {
	sizes := map[string]uint64{}
	b, err := os.ReadFile(t.witnessStatePath())
	if errors.Is(err, os.ErrNotExist) {
		return sizes, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &sizes); err != nil {
		return nil, fmt.Errorf("%s: %w", t.witnessStatePath(), err)
	}
	return sizes, nil
}

// WitnessStatus is the outcome of submitting the latest checkpoint.
type WitnessStatus struct {
	TreeSize   uint64
	Checkpoint []byte // with every cosignature obtained so far
	Report     *witness.Report
	Results    []client.Result
}

// Witnessed reports whether the quorum is met.
func (s *WitnessStatus) Witnessed() bool { return s.Report.OK() }

// JSON is the status for --json output.
func (s *WitnessStatus) JSON() map[string]any {
	errs := map[string]string{}
	for _, r := range s.Results {
		if r.Err != nil {
			errs[r.Witness] = r.Err.Error()
		}
	}
	orEmpty := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	valid := s.Report.Valid
	if valid == nil {
		valid = []witness.Cosignature{}
	}
	return map[string]any{
		"tree_size": s.TreeSize, "witnessed": s.Report.OK(), "cosignatures": len(s.Report.Valid),
		"quorum": s.Report.Quorum, "cosigned_by": valid, "missing": orEmpty(s.Report.Missing),
		"invalid": orEmpty(s.Report.Invalid), "errors": errs,
	}
}

// WitnessOptions tune WitnessLatest.
type WitnessOptions struct {
	// Timeout bounds each witness (retries included); default 5s.
	Timeout time.Duration
	HTTP    *http.Client
}

// WitnessLatest submits the trial's latest checkpoint to the witnesses of
// its policy that have not cosigned it yet (c2sp.org/tlog-witness, in
// parallel) and stores what they return. It needs the writer lock (Open
// with writable). The checkpoint and the data it covers are durable before
// this is called, so a witness that is down loses nothing: the
// checkpoint waits, and a later call (trialog witness sync) completes it.
// It returns nil when the trial has no witness policy. Only a local
// failure (reading or writing the trial's files) is an error; witnesses'
// failures are in the status.
func (t *Trial) WitnessLatest(ctx context.Context, opts WitnessOptions) (*WitnessStatus, error) {
	if t.lock == nil {
		return nil, fmt.Errorf("trial %s: witnessing needs the writer lock", t.ID)
	}
	p, err := t.WitnessPolicy()
	if err != nil || p == nil {
		return nil, err
	}
	signed, cp, err := t.LatestOpened()
	if err != nil {
		return nil, err
	}
	lv, err := note.NewVerifier(t.VerifierKey)
	if err != nil {
		return nil, err
	}
	sizes, err := t.witnessSizes()
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	sub := &client.Submitter{
		Policy: p, LogVerifier: lv, HTTP: opts.HTTP, Timeout: timeout,
		Prove: func(ctx context.Context, a, b uint64) ([][]byte, error) { return t.Log.ConsistencyProof(ctx, a, b) },
	}
	out, err := sub.Submit(ctx, signed, cp.Size, sizes)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, r := range out.Results {
		if r.Size != sizes[r.Witness] {
			sizes[r.Witness] = r.Size
			changed = true
		}
	}
	if string(out.Checkpoint) != string(signed) {
		// The checkpoint history first, then the latest: a reader of the
		// latest finds the same note in the history.
		hist := filepath.Join(t.Dir, "checkpoints", strconv.FormatUint(cp.Size, 10))
		if err := durable.WriteFile(hist, out.Checkpoint, 0o644); err != nil {
			return nil, err
		}
		if err := durable.WriteFile(filepath.Join(t.Dir, "checkpoint"), out.Checkpoint, 0o644); err != nil {
			return nil, err
		}
	}
	if changed {
		data, _ := json.MarshalIndent(sizes, "", "  ")
		if err := durable.WriteFile(t.witnessStatePath(), append(data, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	return &WitnessStatus{TreeSize: cp.Size, Checkpoint: out.Checkpoint, Report: out.Report, Results: out.Results}, nil
}

// CheckpointAt returns the stored checkpoint of a tree size (cosigned as
// far as witnessing got), or nil.
func (t *Trial) CheckpointAt(size uint64) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(t.Dir, "checkpoints", strconv.FormatUint(size, 10)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// CheckpointSizes lists the sizes of every checkpoint the trial published,
// ascending.
func (t *Trial) CheckpointSizes() ([]uint64, error) {
	entries, err := os.ReadDir(filepath.Join(t.Dir, "checkpoints"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		if n, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// witnessOutcome is what the witnesses answered after the last Finish.
type witnessOutcome struct {
	status *WitnessStatus
	err    error
}

// witnessFinished submits the checkpoint a write just published and
// returns it as cosigned so far (unchanged without a policy, or when
// witnessing failed locally: the write itself stands either way, and
// LastWitnessing tells what happened).
func (t *Trial) witnessFinished(ctx context.Context, signed []byte) []byte {
	st, err := t.WitnessLatest(ctx, t.WitnessOptions)
	t.witnessing = &witnessOutcome{status: st, err: err}
	if err != nil || st == nil {
		return signed
	}
	return st.Checkpoint
}

// LastWitnessing returns what the witnesses answered after the last
// write this Trial finished (Finish): the status (nil without a policy)
// and a local error. done is false when no write finished.
func (t *Trial) LastWitnessing() (st *WitnessStatus, err error, done bool) {
	if t.witnessing == nil {
		return nil, nil, false
	}
	return t.witnessing.status, t.witnessing.err, true
}

// ConsistencyProofsTo returns RFC 6962 consistency proofs from the sizes
// of the trial's earlier published checkpoints (newest first, at most max)
// to size: what a package or report carries so that a verifier that
// remembers one of those checkpoints (trialog verify --trust) can check
// the new one extends it, offline.
func (t *Trial) ConsistencyProofsTo(ctx context.Context, size uint64, max int) (map[uint64][][]byte, error) {
	sizes, err := t.CheckpointSizes()
	if err != nil {
		return nil, err
	}
	out := map[uint64][][]byte{}
	for i := len(sizes) - 1; i >= 0 && len(out) < max; i-- {
		from := sizes[i]
		if from == 0 || from >= size {
			continue
		}
		p, err := t.Log.ConsistencyProof(ctx, from, size)
		if err != nil {
			return nil, err
		}
		out[from] = p
	}
	return out, nil
}
