package workspace

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/witness"
)

// TestWitnessPolicyAndWaitingCheckpoint: the policy is a note signed by
// the trial key (a tampered file is refused); a trial without one does
// no witnessing; a witness that cannot be reached leaves the checkpoint
// as it was, waiting, with the failure in the status and nothing else
// changed. (Real witnesses: cmd/trialog/witness_test.go.)
func TestWitnessPolicyAndWaitingCheckpoint(t *testing.T) {
	ctx := context.Background()
	_, tr := newTrial(t)
	if p, err := tr.WitnessPolicy(); err != nil || p != nil {
		t.Fatalf("new trial has policy %v, %v", p, err)
	}
	if st, err := tr.WitnessLatest(ctx, WitnessOptions{}); err != nil || st != nil {
		t.Fatalf("WitnessLatest without a policy: %v, %v", st, err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, err := torchwood.NewCosignatureSigner("irb.example/witness", priv)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.NewWitness("irb", cs.Verifier().String(), "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := witness.NewPolicy([]*witness.Witness{w}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr.WitnessOptions.Timeout = 200 * time.Millisecond
	if _, err := tr.SetWitnessPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The policy is logged: a policy leaf with the digest of the signed
	// text, at the index the record names.
	rec, err := tr.WitnessPolicyRecord()
	if err != nil || rec == nil || rec.Seq != 1 {
		t.Fatalf("policy record %+v, %v", rec, err)
	}
	leaves, err := tr.Log.Leaves(ctx, rec.LeafIndex, 1)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := leaf.ParsePolicyLeaf(leaves[0])
	if err != nil || pl.Seq != 1 || pl.Trial != "T1" {
		t.Fatalf("policy leaf %+v, %v", pl, err)
	}
	if st, err, done := tr.LastWitnessing(); !done || err != nil || st == nil || st.Witnessed() {
		t.Fatalf("the policy write's checkpoint: %+v %v %v", st, err, done)
	}
	got, err := tr.WitnessPolicy()
	if err != nil || len(got.Witnesses) != 1 || got.Witnesses[0].Name != "irb" || got.Quorum != 1 {
		t.Fatalf("policy read back: %+v, %v", got, err)
	}
	before, _ := tr.LatestCheckpoint()
	st, err := tr.WitnessLatest(ctx, WitnessOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st.Witnessed() || st.Results[0].Err == nil || len(st.Report.Missing) != 1 {
		t.Fatalf("unreachable witness: %+v %v", st.Results, st.Report)
	}
	if after, _ := tr.LatestCheckpoint(); string(after) != string(before) {
		t.Error("the checkpoint changed without a cosignature")
	}
	if _, err := os.Stat(filepath.Join(tr.Dir, "witness-state.json")); !os.IsNotExist(err) {
		t.Errorf("witness state written for a witness that never answered: %v", err)
	}
	// A trial opened read-only (no writer lock) cannot witness: it would
	// write the checkpoint.
	ro := &Trial{ID: tr.ID, Dir: tr.Dir, VerifierKey: tr.VerifierKey, Log: tr.Log}
	if _, err := ro.WitnessLatest(ctx, WitnessOptions{}); err == nil {
		t.Error("read-only trial witnessed")
	}
	// The policy file is signed: an edit is refused.
	path := filepath.Join(tr.Dir, "witness.policy")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "group witnesses 1", "group witnesses 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WitnessPolicy(); err == nil {
		t.Error("a policy edited after signing was accepted")
	}
}

// TestInterruptedPolicyWrite: a witness add that crashed after its policy
// leaf was appended (journal left, policy not stored) is finished by the
// next one, which then logs its own policy as the next in sequence; one
// that crashed before the append is dropped.
func TestInterruptedPolicyWrite(t *testing.T) {
	ctx := context.Background()
	_, tr := newTrial(t)
	tr.WitnessOptions.Timeout = 50 * time.Millisecond
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, _ := torchwood.NewCosignatureSigner("irb.example/witness", priv)
	w, _ := witness.NewWitness("irb", cs.Verifier().String(), "http://127.0.0.1:1")
	p, _ := witness.NewPolicy([]*witness.Witness{w}, 0)
	text := witness.PolicyNoteText(p, tr.VerifierKey)
	signed, err := tr.SignStatement(text)
	if err != nil {
		t.Fatal(err)
	}
	// Crash after the append: journal + leaf, nothing stored.
	j, err := tr.Begin(ctx, KindPolicy, "witness policy 1", policyBody{Seq: 1, Note: string(signed)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Log.AppendLeaves(ctx, j.Start, [][]byte{leaf.NewPolicyLeaf(tr.ID, 1, text).Marshal()}); err != nil {
		t.Fatal(err)
	}
	if pol, _ := tr.WitnessPolicy(); pol != nil {
		t.Fatal("policy stored before the write finished")
	}
	p2, _ := witness.NewPolicy([]*witness.Witness{w}, 1)
	if _, err := tr.SetWitnessPolicy(ctx, p2); err != nil {
		t.Fatal(err)
	}
	rec, err := tr.WitnessPolicyRecord()
	if err != nil || rec.Seq != 2 || rec.LeafIndex != j.Start+1 {
		t.Fatalf("after finishing the interrupted write: %+v %v", rec, err)
	}
	if open, _ := tr.Journal(); open != nil {
		t.Fatalf("journal left: %+v", open)
	}
	// Crash before the append: the journal is dropped, nothing logged.
	root, _ := tr.Log.LatestRoot(ctx)
	if _, err := tr.Begin(ctx, KindPolicy, "witness policy 3", policyBody{Seq: 3, Note: string(signed)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.SetWitnessPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	rec, _ = tr.WitnessPolicyRecord()
	if rec.Seq != 3 || rec.LeafIndex != root.Size {
		t.Fatalf("after dropping the unlogged write: %+v (tree was %d)", rec, root.Size)
	}
}
