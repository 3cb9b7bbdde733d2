package trust_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
	"github.com/trialog/trialog/trillian/embedded/embeddedtest"
	"github.com/trialog/trialog/trust"
)

type forkable struct {
	log  *embedded.Log
	skey string
}

func (f *forkable) grow(t *testing.T, tag string, n int) []byte {
	t.Helper()
	cp, _ := embeddedtest.AppendTagged(t, f.log, f.skey, tag, n)
	return cp
}

func (f *forkable) proofs() trust.ProofSource {
	return func(ctx context.Context, a, b uint64) ([][]byte, error) { return f.log.ConsistencyProof(ctx, a, b) }
}

func TestForkRollbackAndExtension(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("TRUST"))
	open := func(name string) *forkable {
		return &forkable{log: embeddedtest.Open(t, filepath.Join(dir, name)), skey: skey}
	}
	base := open("base")
	cp10 := base.grow(t, "shared", 10)
	base.log.Close()
	for _, fork := range []string{"a", "b"} {
		if err := os.CopyFS(filepath.Join(dir, fork), os.DirFS(filepath.Join(dir, "base"))); err != nil {
			t.Fatal(err)
		}
	}
	a, b := open("a"), open("b")
	cpA15 := a.grow(t, "a", 5)
	cpB15 := b.grow(t, "b", 5)
	cpA20 := a.grow(t, "a", 5)

	st, err := trust.Open(filepath.Join(dir, "trust"))
	if err != nil {
		t.Fatal(err)
	}
	accept := func(cp []byte, src trust.ProofSource) (*trust.Decision, error) {
		return st.Accept(ctx, vkey, cp, src, nil)
	}
	want := func(cp []byte, src trust.ProofSource, outcome string) {
		t.Helper()
		d, err := accept(cp, src)
		if err != nil || d.Outcome != outcome {
			t.Fatalf("Accept = %+v, %v; want %s", d, err, outcome)
		}
	}
	wantFork := func(cp []byte, src trust.ProofSource, reason string) {
		t.Helper()
		_, err := accept(cp, src)
		var fe *trust.ForkError
		if !errors.As(err, &fe) || fe.Reason != reason {
			t.Fatalf("Accept = %v; want a %s", err, reason)
		}
		if ev := fe.Evidence(); !strings.Contains(ev, strings.SplitN(string(cp), "\n", 2)[0]) || !strings.Contains(ev, "stored checkpoint") {
			t.Errorf("evidence lacks the checkpoints:\n%s", ev)
		}
	}
	want(cp10, nil, "first")
	want(cp10, nil, "same")
	// Larger: only with a proof.
	wantFork(cpA15, nil, "fork")
	want(cpA15, a.proofs(), "extended")
	// Fork B at the same size: no proof can help.
	wantFork(cpB15, b.proofs(), "fork")
	// Fork B growing past A: B's own proof from 15 does not verify against A's root.
	cpB20 := b.grow(t, "b", 6)
	wantFork(cpB20, b.proofs(), "fork")
	// An older checkpoint seen before is fine without a proof; the
	// verifier's stored one stays the larger.
	want(cp10, nil, "seen")
	want(cpA20, a.proofs(), "extended")
	// A rollback to a size never seen: refused without a proof, accepted
	// as older with one (a log URL can supply it).
	cpA12 := func() []byte {
		root := trillian.Root{Size: 12}
		h, err := a.log.ConsistencyProof(ctx, 12, 20)
		if err != nil || len(h) == 0 {
			t.Fatal(err)
		}
		// The root at 12 from the log itself.
		r, err := rootAt(ctx, a.log, 12)
		if err != nil {
			t.Fatal(err)
		}
		root.Hash = r
		cp, _ := checkpoint.Sign(skey, root)
		return cp
	}()
	wantFork(cpA12, nil, "rollback")
	want(cpA12, a.proofs(), "older")
	want(cpA12, nil, "seen")
	// A fabricated smaller root is a rollback even with a proof source.
	bogus, _ := checkpoint.Sign(skey, trillian.Root{Size: 11, Hash: make([]byte, 32)})
	wantFork(bogus, a.proofs(), "rollback")
	latest, err := st.Latest(vkey)
	if err != nil || string(latest) != string(cpA20) {
		t.Fatalf("latest = %q, %v", latest, err)
	}
	// A checkpoint under another key is not this log's: an error, not a fork.
	_, otherV, _ := checkpoint.GenerateKey(checkpoint.Origin("TRUST"))
	if _, err := st.Accept(ctx, otherV, cpA20, nil, nil); err == nil {
		t.Error("checkpoint accepted under another key")
	}
}

// rootAt computes the root of the first n leaves from the log's leaves.
func rootAt(ctx context.Context, l trillian.Log, n uint64) ([]byte, error) {
	leaves, err := l.Leaves(ctx, 0, n)
	if err != nil {
		return nil, err
	}
	var hashes [][]byte
	for _, lf := range leaves {
		hashes = append(hashes, trillian.LeafHash(lf))
	}
	return mth(hashes), nil
}

// mth is RFC 6962's MTH over leaf hashes.
func mth(h [][]byte) []byte {
	if len(h) == 1 {
		return h[0]
	}
	k := 1
	for k*2 < len(h) {
		k *= 2
	}
	return trillian.HashChildren(mth(h[:k]), mth(h[k:]))
}

// TestCarriedProofsAcceptOlderCheckpoints: a verifier that met a newer
// checkpoint first (with the proofs its package carried, from earlier
// sizes) accepts an older checkpoint of the same history offline, and
// still refuses another history's at that size.
func TestCarriedProofsAcceptOlderCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("CARRY"))
	l, err := embedded.Open(ctx, filepath.Join(dir, "a"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := &forkable{log: l, skey: skey}
	cp10 := a.grow(t, "a", 10)
	cp15 := a.grow(t, "a", 5)
	cp20 := a.grow(t, "a", 5)
	carried := map[uint64][][]byte{}
	for _, from := range []uint64{10, 15} {
		p, err := l.ConsistencyProof(ctx, from, 20)
		if err != nil {
			t.Fatal(err)
		}
		carried[from] = p
	}
	st, _ := trust.Open(filepath.Join(dir, "trust"))
	if d, err := st.Accept(ctx, vkey, cp20, nil, carried); err != nil || d.Outcome != "first" {
		t.Fatalf("first: %+v %v", d, err)
	}
	for _, cp := range [][]byte{cp10, cp15} {
		if d, err := st.Accept(ctx, vkey, cp, nil, nil); err != nil || d.Outcome != "older" {
			t.Fatalf("older checkpoint with a kept proof: %+v %v", d, err)
		}
	}
	forged, _ := checkpoint.Sign(skey, trillian.Root{Size: 15, Hash: make([]byte, 32)})
	var fe *trust.ForkError
	if _, err := st.Accept(ctx, vkey, forged, nil, nil); !errors.As(err, &fe) || fe.Reason != "fork" {
		t.Errorf("another root at a seen size: %v", err)
	}
	forged12, _ := checkpoint.Sign(skey, trillian.Root{Size: 12, Hash: make([]byte, 32)})
	if _, err := st.Accept(ctx, vkey, forged12, nil, nil); !errors.As(err, &fe) || fe.Reason != "rollback" {
		t.Errorf("a size with no kept proof: %v", err)
	}
}

// TestEmptyTreeHasOneRoot: a size-0 tree has exactly one root, SHA-256 of
// the empty string (RFC 6962). A size-0 checkpoint with another root is
// refused by Check and Accept, whether or not anything is stored, and
// nothing is recorded; the true empty root is accepted.
func TestEmptyTreeHasOneRoot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("EMPTY"))
	st, err := trust.Open(filepath.Join(dir, "trust"))
	if err != nil {
		t.Fatal(err)
	}
	empty := trillian.Hasher.EmptyRoot()
	bogus, _ := checkpoint.Sign(skey, trillian.Root{Size: 0, Hash: trillian.LeafHash([]byte("x"))})
	zero, _ := checkpoint.Sign(skey, trillian.Root{Size: 0, Hash: make([]byte, 32)})
	for _, cp := range [][]byte{bogus, zero} {
		if _, err := st.Check(ctx, vkey, cp, nil); !errors.Is(err, checkpoint.ErrBadCheckpoint) {
			t.Errorf("Check of a size-0 checkpoint with a wrong root: %v", err)
		}
		if _, err := st.Accept(ctx, vkey, cp, nil, nil); !errors.Is(err, checkpoint.ErrBadCheckpoint) || !strings.Contains(fmt.Sprint(err), "empty tree") {
			t.Errorf("Accept of a size-0 checkpoint with a wrong root: %v", err)
		}
	}
	if latest, err := st.Latest(vkey); err != nil || latest != nil {
		t.Fatalf("a refused checkpoint was recorded: %q %v", latest, err)
	}
	good, _ := checkpoint.Sign(skey, trillian.Root{Size: 0, Hash: empty})
	if d, err := st.Accept(ctx, vkey, good, nil, nil); err != nil || d.Outcome != "first" {
		t.Fatalf("the empty tree's own root: %+v %v", d, err)
	}
	// Something stored: the wrong root is still refused, not taken for
	// an "older" tree (a consistency proof from size 0 checks nothing).
	l, err := embedded.Open(ctx, filepath.Join(dir, "log"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &forkable{log: l, skey: skey}
	if d, err := st.Accept(ctx, vkey, f.grow(t, "a", 3), f.proofs(), nil); err != nil || d.Outcome != "extended" {
		t.Fatalf("extension of the empty tree: %+v %v", d, err)
	}
	if _, err := st.Accept(ctx, vkey, bogus, f.proofs(), nil); !errors.Is(err, checkpoint.ErrBadCheckpoint) {
		t.Errorf("a wrong empty root after a stored tree: %v", err)
	}
	if d, err := st.Accept(ctx, vkey, good, f.proofs(), nil); err != nil || d.Outcome != "seen" {
		t.Errorf("the empty root after a stored tree: %+v %v", d, err)
	}
}
