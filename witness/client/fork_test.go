package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
	"github.com/trialog/trialog/trillian/embedded/embeddedtest"
	"github.com/trialog/trialog/witness"
	"github.com/trialog/trialog/witness/client"
	"github.com/trialog/trialog/witness/witnesstest"
)

// testLog is one copy of a log: a tree and the key that signs it.
type testLog struct {
	log  trillian.Log
	skey string
}

func (l *testLog) append(t *testing.T, tag string, n int) ([]byte, uint64) {
	t.Helper()
	return embeddedtest.AppendTagged(t, l.log, l.skey, tag, n)
}

func (l *testLog) submitter(p *witness.Policy, vkey string) *client.Submitter {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	return &client.Submitter{
		Policy:      p,
		LogVerifier: v,
		Prove: func(ctx context.Context, a, b uint64) ([][]byte, error) {
			return l.log.ConsistencyProof(ctx, a, b)
		},
		HTTP:    &http.Client{},
		Timeout: 5 * time.Second,
	}
}

// copyDir copies a closed embedded tree directory: the fork starts as the
// same history.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestForkRefusedByRealWitnesses: three witness processes (sponsor and
// IRB: litewitness; notary: omniwitness, an independent implementation),
// quorum 2. A log is copied into two forks signed by the
// same key; fork A's checkpoints are cosigned by all three; every witness
// refuses fork B's (422: its proof does not extend what they saw), so
// fork B's checkpoint never reaches the quorum and witness.Check names the
// missing witnesses.
func TestForkRefusedByRealWitnesses(t *testing.T) {
	ctx := context.Background()
	// Two implementations in one quorum: litewitness (torchwood) for the
	// sponsor and the IRB, omniwitness (transparency-dev/witness) for the
	// notary.
	ws := append(witnesstest.StartT(t, "sponsor.example/witness", "irb.example/witness"),
		witnesstest.StartOmniT(t, "notary.example/witness"))
	origin := checkpoint.Origin("FORKTRIAL")
	skey, vkey, err := checkpoint.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	var pws []*witness.Witness
	for i, w := range ws {
		if err := w.AddLog(ctx, origin, vkey); err != nil {
			t.Fatal(err)
		}
		pw, err := witness.NewWitness([]string{"sponsor", "irb", "notary"}[i], w.Key, w.URL)
		if err != nil {
			t.Fatal(err)
		}
		pws = append(pws, pw)
	}
	policy, err := witness.NewPolicy(pws, 0)
	if err != nil {
		t.Fatal(err)
	}
	if policy.Quorum != 2 {
		t.Fatalf("default quorum of 3 witnesses = %d, want 2", policy.Quorum)
	}

	dir := t.TempDir()
	open := func(name string) *testLog {
		return &testLog{log: embeddedtest.Open(t, filepath.Join(dir, name)), skey: skey}
	}
	// Shared history, witnessed.
	base := open("base")
	cp0, n0 := base.append(t, "shared", 10)
	sizes := map[string]uint64{}
	out, err := base.submitter(policy, vkey).Submit(ctx, cp0, n0, sizes)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Report.OK() || len(out.Report.Valid) != 3 {
		t.Fatalf("shared checkpoint: %v, results %+v", out.Report, out.Results)
	}
	for _, r := range out.Results {
		sizes[r.Witness] = r.Size
	}
	base.log.Close()
	copyDir(t, filepath.Join(dir, "base"), filepath.Join(dir, "a"))
	copyDir(t, filepath.Join(dir, "base"), filepath.Join(dir, "b"))
	forkA, forkB := open("a"), open("b")

	cpA, nA := forkA.append(t, "fork-a", 5)
	cpB, nB := forkB.append(t, "fork-b", 5)
	if nA != nB || string(cpA) == string(cpB) {
		t.Fatal("forks should have the same size and different roots")
	}
	outA, err := forkA.submitter(policy, vkey).Submit(ctx, cpA, nA, sizes)
	if err != nil {
		t.Fatal(err)
	}
	if !outA.Report.OK() || len(outA.Report.Valid) != 3 {
		t.Fatalf("fork A: %v", outA.Report)
	}
	for _, c := range outA.Report.Valid {
		if time.Since(c.Time) > time.Hour || c.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("cosignature time %v of %s is not now", c.Time, c.Witness)
		}
	}
	// Fork B is offered to the same witnesses, from the size they saw
	// (proof from n0) and, in a second round, from a wrong belief (0),
	// which makes them answer 409 and the submitter retry from nA.
	for _, start := range []map[string]uint64{sizes, {}} {
		outB, err := forkB.submitter(policy, vkey).Submit(ctx, cpB, nB, start)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range outB.Results {
			if r.Cosigned || !errors.Is(r.Err, client.ErrInconsistent) {
				t.Errorf("fork B at witness %s: cosigned=%v err=%v, want a 422 refusal", r.Witness, r.Cosigned, r.Err)
			}
		}
		if outB.Report.OK() || len(outB.Report.Missing) != 3 {
			t.Errorf("fork B report %v, want no cosignature", outB.Report)
		}
		if s := outB.Report.String(); !strings.Contains(s, "missing: sponsor, irb, notary") {
			t.Errorf("report %q does not name the missing witnesses", s)
		}
	}
	// A rollback: fork A's older checkpoint (n0) is refused too (409: the
	// witness is ahead), never cosigned again with a newer time.
	outR, err := base.submitter(policy, vkey).Submit(ctx, stripCosigs(t, cp0), n0, map[string]uint64{})
	if err == nil {
		for _, r := range outR.Results {
			if r.Cosigned || !errors.Is(r.Err, client.ErrAhead) {
				t.Errorf("rollback at witness %s: cosigned=%v err=%v, want ErrAhead", r.Witness, r.Cosigned, r.Err)
			}
		}
	}
	// The same checkpoint offered again (a re-signed checkpoint of an
	// unchanged tree: old size = new size, empty proof) is cosigned again.
	outSame, err := forkA.submitter(policy, vkey).Submit(ctx, cpA, nA, map[string]uint64{"sponsor": nA, "irb": nA, "notary": nA})
	if err != nil || !outSame.Report.OK() || len(outSame.Report.Valid) != 3 {
		t.Fatalf("same checkpoint again: %v %+v", err, outSame)
	}
	// Fork A grows: the witnesses cosign with a proof from nA.
	forkA2, nA2 := forkA.append(t, "fork-a", 3)
	outA2, err := forkA.submitter(policy, vkey).Submit(ctx, forkA2, nA2, map[string]uint64{})
	if err != nil {
		t.Fatal(err)
	}
	if !outA2.Report.OK() {
		t.Fatalf("fork A grown: %v %+v", outA2.Report, outA2.Results)
	}
	// The cosigned checkpoint still opens with the plain checkpoint code.
	if _, err := checkpoint.Open(vkey, outA2.Checkpoint); err != nil {
		t.Fatalf("cosigned checkpoint does not open as a checkpoint: %v", err)
	}
}

func stripCosigs(t *testing.T, signed []byte) []byte {
	t.Helper()
	i := strings.Index(string(signed), "\n\n")
	lines := strings.SplitAfter(string(signed[i+2:]), "\n")
	return append(signed[:i+2:i+2], lines[0]...)
}

// BenchmarkSubmitThreeWitnesses is the cost of witnessing one checkpoint:
// one add-checkpoint round trip to each of three local litewitness
// processes, in parallel (consistency proof from the embedded log, each
// witness's SQLite write and ssh-agent signature, merging and checking
// the cosignatures). It is paid once per checkpoint, never per row.
func BenchmarkSubmitThreeWitnesses(b *testing.B) {
	ctx := context.Background()
	ws := witnesstest.StartT(b, "a.example/w", "b.example/w", "c.example/w")
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("BENCH"))
	var pws []*witness.Witness
	for i, w := range ws {
		if err := w.AddLog(ctx, checkpoint.Origin("BENCH"), vkey); err != nil {
			b.Fatal(err)
		}
		pw, _ := witness.NewWitness(fmt.Sprintf("w%d", i), w.Key, w.URL)
		pws = append(pws, pw)
	}
	policy, _ := witness.NewPolicy(pws, 0)
	l, err := embedded.Open(ctx, b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	tl := &testLog{log: l, skey: skey}
	s := tl.submitter(policy, vkey)
	sizes := map[string]uint64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root, _ := l.LatestRoot(ctx)
		root, err := l.AppendLeaves(ctx, root.Size, [][]byte{fmt.Appendf(nil, "leaf %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		cp, _ := checkpoint.Sign(skey, root)
		b.StartTimer()
		out, err := s.Submit(ctx, cp, root.Size, sizes)
		if err != nil || !out.Report.OK() {
			b.Fatalf("%v %v", err, out.Report)
		}
		for _, r := range out.Results {
			sizes[r.Witness] = r.Size
		}
	}
}
