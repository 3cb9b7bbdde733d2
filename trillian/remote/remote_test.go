package remote

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	tpb "github.com/google/trillian"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/embedded"
)

func TestParseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"trillian://localhost:8090":  "localhost:8090",
		"trillian://127.0.0.1:8090/": "127.0.0.1:8090",
		"trillian://[::1]:8090":      "[::1]:8090",
	} {
		got, err := ParseURL(raw)
		if err != nil || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"", "localhost:8090", "http://localhost:8090", "trillian://localhost",
		"trillian://:8090", "trillian://h:1/path", "trillian://h:1?x=1", "trillian://u@h:1",
	} {
		if got, err := ParseURL(raw); err == nil {
			t.Errorf("ParseURL(%q) = %q, want an error", raw, got)
		}
	}
}

func TestTreeNaming(t *testing.T) {
	long := string([]rune(strings.Repeat("TRIAL-ÄÖ-", 30))[:MaxTrialIDLength])
	for _, id := range []string{"NCT01234567", long} {
		name := TreeDisplayName(id)
		if len(name) > 20 {
			t.Errorf("display name %q longer than Trillian's VARCHAR(20)", name)
		}
		desc := TreeDescription(id)
		if n := utf8.RuneCountInString(desc); n > 200 {
			t.Errorf("description of %d characters, over VARCHAR(200)", n)
		}
		tree := &tpb.Tree{TreeType: tpb.TreeType_PREORDERED_LOG, DisplayName: name, Description: desc}
		if got, ok := TrialOfTree(tree); !ok || got != id {
			t.Errorf("TrialOfTree = %q, %v; want %q", got, ok, id)
		}
	}
	if err := checkTrialID(long + "X"); err == nil {
		t.Error("a trial ID over the description limit was accepted")
	}
	for _, bad := range []string{"", "a\nb", string([]byte{0xff})} {
		if err := checkTrialID(bad); err == nil {
			t.Errorf("trial ID %q accepted", bad)
		}
	}
}

// TestMatchesEmbedded appends the same leaves, in mixed batch sizes (with
// requests split into several AddSequencedLeaves batches), to the embedded
// log and to Trillian, and compares roots after every append, then
// inclusion proofs, consistency proofs, range proofs and leaf values.
func TestMatchesEmbedded(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	c := dial(t, d, WithBatchLeaves(300), WithReadPage(257))
	r := createTree(t, c)
	e := openEmbedded(t)

	rng := rand.New(rand.NewPCG(7, 11))
	sizes := []int{1, 1, 2, 5, 300, 301, 1000, 1, 2500, 37}
	for range 6 {
		sizes = append(sizes, 1+rng.IntN(900))
	}
	var (
		size  uint64
		roots []uint64
	)
	for _, n := range sizes {
		appendBoth(t, ctx, r, e, size, leaves(int(size), n, 80+rng.IntN(200)))
		size += uint64(n)
		roots = append(roots, size)
	}
	final := sameLatest(t, ctx, r, e)

	// Proof sizes: every root an append returned, plus sizes the remote log
	// never saw (which it must derive and verify itself).
	proofSizes := append([]uint64{}, roots...)
	for range 8 {
		proofSizes = append(proofSizes, 1+rng.Uint64N(final.Size))
	}
	proofSizes = append(proofSizes, 1, 2, 3, 4, 255, 256, 257, final.Size)

	// A fresh Log has no cached roots: proofs at past sizes are derived.
	fresh, err := c.OpenTreeByID(ctx, r.TreeID())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for _, log := range []*Log{r, fresh} {
		for _, size := range proofSizes {
			for _, index := range []uint64{0, size / 2, size - 1, rng.Uint64N(size)} {
				got, err := log.InclusionProof(ctx, index, size)
				if err != nil {
					t.Fatalf("inclusion %d in %d: %v", index, size, err)
				}
				want, err := e.InclusionProof(ctx, index, size)
				if err != nil {
					t.Fatal(err)
				}
				if !equalHashes(got, want) {
					t.Fatalf("inclusion %d in %d differs", index, size)
				}
			}
			for _, size1 := range []uint64{0, 1, size / 3, size - 1, size, rng.Uint64N(size + 1)} {
				got, err := log.ConsistencyProof(ctx, size1, size)
				if err != nil {
					t.Fatalf("consistency %d to %d: %v", size1, size, err)
				}
				want, err := e.ConsistencyProof(ctx, size1, size)
				if err != nil {
					t.Fatal(err)
				}
				if !equalHashes(got, want) {
					t.Fatalf("consistency %d to %d differs", size1, size)
				}
			}
		}
	}

	// Range proofs, as trialog builds them for a dataset in a checkpoint.
	for _, rg := range [][3]uint64{{0, 1, final.Size}, {0, final.Size, final.Size}, {5, 305, final.Size}, {300, 1301, 2000}, {final.Size - 37, final.Size, final.Size}} {
		got, err := trillian.ProveRange(ctx, fresh, rg[0], rg[1], rg[2])
		if err != nil {
			t.Fatalf("range %v: %v", rg, err)
		}
		want, err := trillian.ProveRange(ctx, e, rg[0], rg[1], rg[2])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("range proof %v differs", rg)
		}
	}

	// Leaves, across read pages and up to the end of the tree.
	for _, rg := range [][2]uint64{{0, 1}, {0, final.Size}, {256, 1000}, {final.Size - 1, 1}, {3, 0}} {
		got, err := fresh.Leaves(ctx, rg[0], rg[1])
		if err != nil {
			t.Fatalf("leaves %v: %v", rg, err)
		}
		want, err := e.Leaves(ctx, rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("leaves %v: got %d, want %d", rg, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("leaf %d differs", rg[0]+uint64(i))
			}
		}
	}

	// Beyond the tree: the same refusals as the embedded log.
	if _, err := fresh.Leaves(ctx, final.Size-1, 2); !errors.Is(err, trillian.ErrNotFound) {
		t.Errorf("leaves beyond the tree: %v, want ErrNotFound", err)
	}
	if _, err := fresh.InclusionProof(ctx, 0, final.Size+1); !errors.Is(err, trillian.ErrNotFound) {
		t.Errorf("inclusion beyond the tree: %v, want ErrNotFound", err)
	}
	if _, err := fresh.ConsistencyProof(ctx, 1, final.Size+1); !errors.Is(err, trillian.ErrNotFound) {
		t.Errorf("consistency beyond the tree: %v, want ErrNotFound", err)
	}
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// normalise makes empty and nil hash lists compare equal.
func normalise(p trillian.RangeProof) trillian.RangeProof {
	if len(p.Left) == 0 {
		p.Left = nil
	}
	if len(p.Right) == 0 {
		p.Right = nil
	}
	return p
}

// TestIdenticalLeaves appends rows that are all equal: Trillian's default
// leaf identity (the leaf hash) would make all but one of them duplicates.
func TestIdenticalLeaves(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	r := createTree(t, dial(t, d, WithBatchLeaves(100)))
	e := openEmbedded(t)
	same := make([][]byte, 450)
	for i := range same {
		same[i] = []byte("identical row")
	}
	appendBoth(t, ctx, r, e, 0, same)
	appendBoth(t, ctx, r, e, 450, same[:1])
	appendBoth(t, ctx, r, e, 451, same[:200])
	got, err := r.Leaves(ctx, 0, 651)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if string(v) != "identical row" {
			t.Fatalf("leaf %d = %q", i, v)
		}
	}
}

// TestWrongIndex: a batch that would leave a gap or overlap the tree is
// refused before anything is sent, and the tree goes on normally.
func TestWrongIndex(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	r := createTree(t, dial(t, d))
	e := openEmbedded(t)
	appendBoth(t, ctx, r, e, 0, leaves(0, 10, 50))
	for _, start := range []uint64{11, 100, 9, 0} {
		if _, err := r.AppendLeaves(ctx, start, leaves(int(start), 5, 50)); !errors.Is(err, trillian.ErrWrongIndex) {
			t.Errorf("append at %d with tree size 10: %v, want ErrWrongIndex", start, err)
		}
	}
	// Nothing was sequenced beyond the tree: the next append integrates.
	appendBoth(t, ctx, r, e, 10, leaves(10, 5, 50))
	sameLatest(t, ctx, r, e)
	// An empty append at the right index is a no-op.
	if root, err := r.AppendLeaves(ctx, 15, nil); err != nil || root.Size != 15 {
		t.Errorf("empty append: %v, %v", root, err)
	}
}

// TestConcurrentTrials appends to two trials' trees at once over one
// connection; each tree must end exactly like its own embedded twin.
func TestConcurrentTrials(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	c := dial(t, d, WithBatchLeaves(400))
	type pair struct {
		r *Log
		e *embedded.Log
	}
	pairs := []pair{{createTree(t, c), openEmbedded(t)}, {createTree(t, c), openEmbedded(t)}}
	if pairs[0].r.TreeID() == pairs[1].r.TreeID() {
		t.Fatal("two trials share a tree")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pairs))
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var size uint64
			for b := range 8 {
				ls := leaves(i*1_000_000+int(size), 500+b*250, 120)
				if _, err := p.e.AppendLeaves(ctx, size, ls); err != nil {
					errs[i] = err
					return
				}
				if _, err := p.r.AppendLeaves(ctx, size, ls); err != nil {
					errs[i] = err
					return
				}
				size += uint64(len(ls))
			}
		}()
	}
	wg.Wait()
	for i, p := range pairs {
		if errs[i] != nil {
			t.Fatalf("trial %d: %v", i, errs[i])
		}
		sameLatest(t, ctx, p.r, p.e)
	}
}

// TestTreeMapping: the trial→tree mapping is found again by a new client,
// refuses a second tree, and lists long trial IDs intact.
func TestTreeMapping(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	id := trialID(t) + strings.Repeat("-long", 25) // Far over VARCHAR(20).
	c := dial(t, d)
	l, err := c.CreateTree(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := c.CreateTree(ctx, id); !errors.Is(err, ErrTreeExists) {
		t.Errorf("second CreateTree: %v, want ErrTreeExists", err)
	}
	other := dial(t, d)
	l2, err := other.OpenTree(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.TreeID() != l.TreeID() || l2.TrialID() != id {
		t.Errorf("OpenTree found tree %d of %q, want %d of %q", l2.TreeID(), l2.TrialID(), l.TreeID(), id)
	}
	trees, err := other.Trees(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tr := range trees {
		found = found || (tr.TrialID == id && tr.TreeID == l.TreeID())
	}
	if !found {
		t.Errorf("Trees does not list %q", id)
	}
	if _, err := other.OpenTree(ctx, id+"-missing"); !errors.Is(err, trillian.ErrNotFound) {
		t.Errorf("OpenTree of an unknown trial: %v, want ErrNotFound", err)
	}
	l3, err := OpenURL(ctx, d.URL(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	if l3.TreeID() != l.TreeID() {
		t.Errorf("OpenURL opened tree %d, want %d", l3.TreeID(), l.TreeID())
	}
	l3.Close()
	// A second Log of the same client cannot write while the first does.
	if _, err := l.AppendLeaves(ctx, 0, leaves(0, 1, 10)); err != nil {
		t.Fatal(err)
	}
	l4, err := c.OpenTree(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer l4.Close()
	if _, err := l4.AppendLeaves(ctx, 1, leaves(1, 1, 10)); !errors.Is(err, ErrWriterBusy) {
		t.Errorf("second writer: %v, want ErrWriterBusy", err)
	}
}

// TestSendSettle: batches sent back to back without waiting, then settled
// once, give the embedded log's tree; a Send that does not continue the
// unsettled ones is refused.
func TestSendSettle(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	r := createTree(t, dial(t, d, WithBatchLeaves(64)))
	e := openEmbedded(t)
	appendBoth(t, ctx, r, e, 0, leaves(0, 10, 50))
	var all [][]byte
	start := uint64(10)
	for _, n := range []int{300, 1, 257} {
		batch := leaves(int(start), n, 80)
		if err := r.Send(ctx, start, batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
		start += uint64(n)
	}
	if err := r.Send(ctx, 10, leaves(10, 5, 80)); !errors.Is(err, trillian.ErrWrongIndex) {
		t.Errorf("send behind the unsettled end: %v, want ErrWrongIndex", err)
	}
	root, err := r.Settle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.AppendLeaves(ctx, 10, all)
	if err != nil {
		t.Fatal(err)
	}
	if root.Size != want.Size || !bytes.Equal(root.Hash, want.Hash) {
		t.Fatalf("settled root %d %x, embedded %d %x", root.Size, root.Hash, want.Size, want.Hash)
	}
	sameLatest(t, ctx, r, e)
	// Settling with nothing sent returns the current root.
	if again, err := r.Settle(ctx); err != nil || again.Size != root.Size {
		t.Errorf("empty settle: %v %v", again, err)
	}
}
