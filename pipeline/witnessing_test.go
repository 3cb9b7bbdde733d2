package pipeline_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"

	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/witness"
)

// TestPackageWitnessPolicyIsTheLoggedOne: a package states the trial's
// witness policy and proves it is the one the log holds (its policy leaf
// is in the checkpointed tree). A package whose policy proof is dropped
// or altered, or whose policy is swapped for another one the CRO signed
// but never logged, fails. (The policy here demands no cosignature,
// "quorum none", so only the binding is tested; quorum: witness/ and
// cmd/trialog.)
func TestPackageWitnessPolicyIsTheLoggedOne(t *testing.T) {
	ctx := context.Background()
	tr, _ := newTrial(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, err := torchwood.NewCosignatureSigner("irb.example/witness", priv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := witness.ParsePolicy([]byte("witness irb " + cs.Verifier().String() + " http://127.0.0.1:1\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr.WitnessOptions.Timeout = 100 * time.Millisecond
	if _, err := tr.SetWitnessPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	dm := pilotFile(t, "dm.csv")
	ingest(t, tr, dm, "DM")
	pkg := prove(t, tr, dm, pipeline.ProveOptions{Dataset: "DM", Rows: [][2]uint64{{0, 3}}})
	if rep := verifyPackage(t, tr, pkg, nil); !rep.OK || rep.PackagePolicy == nil {
		t.Fatalf("package with a logged policy: %v", rep.Problems)
	}
	other, err := witness.NewPolicy(p.Witnesses, 1)
	if err != nil {
		t.Fatal(err)
	}
	unlogged, err := tr.SignStatement(witness.PolicyNoteText(other, tr.VerifierKey))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		key  string
		edit func(string) string
		want string
	}{
		"proof dropped":     {"trialog.witness_policy_proof", func(string) string { return "" }, "no proof that the policy is in the log"},
		"proof index moved": {"trialog.witness_policy_proof", func(s string) string { return strings.Replace(s, `"index":0`, `"index":1`, 1) }, "not in the checkpointed tree"},
		"policy not logged": {"trialog.witness_policy", func(string) string { return string(unlogged) }, "is not this policy's"},
		"policy edited":     {"trialog.witness_policy", func(s string) string { return strings.Replace(s, "group witnesses 0 irb", "group witnesses 1 irb", 1) }, "does not verify"},
	} {
		tb := readTable(t, pkg)
		tb.setMeta(t, tc.key, tc.edit)
		rep := verifyPackage(t, tr, tb.write(t), nil)
		if rep.OK || !strings.Contains(strings.Join(rep.Problems, "; "), tc.want) {
			t.Errorf("%s: ok=%v problems %v, want %q", name, rep.OK, rep.Problems, tc.want)
		}
	}
}
