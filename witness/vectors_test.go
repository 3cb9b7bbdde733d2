package witness_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness"
)

// vectors is testdata/vectors/witness-v1.json: a checkpoint cosigned by
// two of three policy witnesses, plus one stranger (ignored) and one
// cosignature over another checkpoint pasted in (invalid), the policy, the
// signed policy note, and the expected quorum report. An independent
// verifier can check its own code against it (docs/witnessing.md).
type vectors struct {
	Spec            string   `json:"spec"`
	LogKey          string   `json:"log_verifier_key"`
	Policy          string   `json:"policy"`
	SignedPolicy    string   `json:"signed_policy"`
	Checkpoint      string   `json:"cosigned_checkpoint"`
	WantValid       []string `json:"want_valid"`
	WantValidTimes  []int64  `json:"want_valid_unix_times"`
	WantMissing     []string `json:"want_missing"`
	WantInvalid     []string `json:"want_invalid"`
	WantQuorum      int      `json:"want_quorum"`
	WantQuorumMet   bool     `json:"want_quorum_met"`
	UnknownKeyLines int      `json:"unknown_key_lines"`
}

const vectorsPath = "../testdata/vectors/witness-v1.json"

// TestVectors checks the stored vectors; TRIALOG_UPDATE_VECTORS=1
// regenerates them (new keys, new times).
func TestVectors(t *testing.T) {
	if os.Getenv("TRIALOG_UPDATE_VECTORS") == "1" {
		writeVectors(t)
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	lv, err := note.NewVerifier(v.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	p, err := witness.ParsePolicy([]byte(v.Policy))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := witness.OpenSignedPolicy(lv, []byte(v.SignedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if string(sp.Marshal(v.LogKey)) != v.Policy {
		t.Error("signed policy differs from the policy")
	}
	rep, err := witness.Check(lv, []byte(v.Checkpoint), p)
	if err != nil {
		t.Fatal(err)
	}
	var valid []string
	var times []int64
	for _, c := range rep.Valid {
		valid = append(valid, c.Witness)
		times = append(times, c.Time.Unix())
	}
	if !slices.Equal(valid, v.WantValid) || !slices.Equal(times, v.WantValidTimes) ||
		!slices.Equal(rep.Missing, v.WantMissing) || !slices.Equal(rep.Invalid, v.WantInvalid) ||
		rep.Quorum != v.WantQuorum || rep.OK() != v.WantQuorumMet {
		t.Errorf("report %+v does not match the vectors", rep)
	}
	if _, err := checkpoint.Open(v.LogKey, []byte(v.Checkpoint)); err != nil {
		t.Errorf("the cosigned checkpoint does not open as a plain checkpoint: %v", err)
	}
}

func writeVectors(t *testing.T) {
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin("VECTORS"))
	if err != nil {
		t.Fatal(err)
	}
	root := trillian.Root{Size: 307, Hash: make([]byte, 32)}
	for i := range root.Hash {
		root.Hash[i] = byte(i)
	}
	signed, err := checkpoint.Sign(skey, root)
	if err != nil {
		t.Fatal(err)
	}
	other, err := checkpoint.Sign(skey, trillian.Root{Size: 308, Hash: root.Hash})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := newCosigner(t, "sponsor.example/witness"), newCosigner(t, "irb.example/witness"), newCosigner(t, "notary.example/witness")
	stranger := newCosigner(t, "stranger.example/witness")
	p := sponsorIRBNotary(t, 2, [3]*cosigner{a, b, c}, [3]string{"https://witness.sponsor.example", "https://witness.irb.example", "https://witness.notary.example"})
	out := signed
	for _, step := range []struct {
		cs *cosigner
		v  note.Verifier
	}{{a, p.Witnesses[0].Verifier()}, {stranger, stranger.s.Verifier()}, {b, p.Witnesses[1].Verifier()}} {
		if out, err = witness.AddCosignature(out, step.cs.cosign(t, signed), step.v); err != nil {
			t.Fatal(err)
		}
	}
	out = append(out, c.cosign(t, other)...) // notary's cosignature of another checkpoint
	lv, _ := note.NewVerifier(vkey)
	rep, err := witness.Check(lv, out, p)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := note.Sign(&note.Note{Text: witness.PolicyNoteText(p, vkey)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	v := vectors{
		Spec:   "trialog witnessing v1: c2sp.org/tlog-checkpoint + c2sp.org/tlog-cosignature v1 (Ed25519, type 0x04); Sigsum policy format; signed policy note 'trialog witness policy v1'",
		LogKey: vkey, Policy: string(p.Marshal(vkey)), SignedPolicy: string(sp), Checkpoint: string(out),
		WantMissing: rep.Missing, WantInvalid: rep.Invalid, WantQuorum: rep.Quorum, WantQuorumMet: rep.OK(), UnknownKeyLines: 1,
	}
	for _, c := range rep.Valid {
		v.WantValid = append(v.WantValid, c.Witness)
		v.WantValidTimes = append(v.WantValidTimes, c.Time.Unix())
	}
	if len(v.WantValid) != 2 || len(v.WantInvalid) != 1 || time.Since(rep.Valid[0].Time) > time.Minute {
		t.Fatalf("unexpected report while writing vectors: %+v", rep)
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsPath, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
