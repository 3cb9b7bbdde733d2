package remote

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tpb "github.com/google/trillian"

	"github.com/trialog/trialog/trillian"
)

// faultLeaves is the append every fault test interrupts: 20 batches of
// 500 leaves, two in flight.
const (
	faultTotal = 10000
	faultBatch = 500
)

func faultOptions(hook func()) []Option {
	return []Option{WithBatchLeaves(faultBatch), WithInFlight(2), afterBatches(3, hook)}
}

// resume appends ls (the leaves of [base, base+len(ls))) from wherever the
// tree now is, as a restarted pipeline does: read the size, append the
// rest, and read again if the signer moved on in between.
func resume(t *testing.T, ctx context.Context, l *Log, base uint64, ls [][]byte) {
	t.Helper()
	end := base + uint64(len(ls))
	for attempt := 0; ; attempt++ {
		root, err := l.LatestRoot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if root.Size == end {
			return
		}
		if root.Size < base || root.Size > end {
			t.Fatalf("tree size %d outside [%d, %d]", root.Size, base, end)
		}
		_, err = l.AppendLeaves(ctx, root.Size, ls[root.Size-base:])
		if err != nil && !(errors.Is(err, trillian.ErrWrongIndex) && attempt < 100) {
			t.Fatalf("resume at %d: %v", root.Size, err)
		}
	}
}

// ensureRunning restarts whatever a failed fault test left down, so the
// tests after it still have a deployment.
func ensureRunning(t *testing.T) {
	d := deployment(t)
	t.Cleanup(func() {
		ctx := context.Background()
		if err := d.StartLogServer(ctx); err != nil && !strings.Contains(err.Error(), "already running") {
			t.Errorf("restart log server: %v", err)
		}
		if err := d.StartSigner(ctx); err != nil && !strings.Contains(err.Error(), "already running") {
			t.Errorf("restart signer: %v", err)
		}
	})
}

// TestLogServerRestartMidAppend kills the log server right after the third
// batch of an append was acknowledged (a fourth is in flight) and starts
// it again a second later. The append retries through the outage and must
// end with exactly the embedded log's tree.
func TestLogServerRestartMidAppend(t *testing.T) {
	d := deployment(t)
	restartMidAppend(t, "log server", d.StopLogServer, d.StartLogServer, time.Second)
}

// TestSignerRestartMidAppend kills the signer after the third batch and
// starts it again two seconds later: sequencing goes on, integration waits
// for the new signer, and the tree must end like the embedded one.
func TestSignerRestartMidAppend(t *testing.T) {
	d := deployment(t)
	restartMidAppend(t, "signer", d.StopSigner, d.StartSigner, 2*time.Second)
}

// restartMidAppend stops one server right after the third batch of an
// append was acknowledged, starts it again after a delay, and checks that
// the append goes through and ends with exactly the embedded log's tree.
func restartMidAppend(t *testing.T, what string, stop func(), start func(context.Context) error, delay time.Duration) {
	t.Helper()
	d := deployment(t)
	ensureRunning(t)
	ctx := context.Background()
	var (
		restarted  sync.WaitGroup
		restartErr error
		fired      atomic.Bool
	)
	c := dial(t, d, faultOptions(func() {
		fired.Store(true)
		stop()
		restarted.Add(1)
		go func() {
			defer restarted.Done()
			time.Sleep(delay)
			restartErr = start(ctx)
		}()
	})...)
	r := createTree(t, c)
	e := openEmbedded(t)
	appendBoth(t, ctx, r, e, 0, leaves(0, 100, 200))
	appendBoth(t, ctx, r, e, 100, leaves(100, faultTotal, 200))
	restarted.Wait()
	if !fired.Load() || restartErr != nil {
		t.Fatalf("%s restart: fired %v, %v", what, fired.Load(), restartErr)
	}
	sameLatest(t, ctx, r, e)
}

// TestCancelMidAppend cancels the append's context after the third batch,
// as a crash of the trialog process would, then resumes from the tree's
// current size through a new connection and a freshly opened tree.
func TestCancelMidAppend(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := dial(t, d, faultOptions(cancel)...)
	r := createTree(t, c)
	e := openEmbedded(t)
	ls := leaves(0, faultTotal, 200)
	if _, err := e.AppendLeaves(ctx, 0, ls); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AppendLeaves(actx, 0, ls); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: %v, want context.Canceled", err)
	}
	r.Close()

	r2, err := dial(t, d).OpenTree(ctx, r.TrialID())
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	before, err := r2.LatestRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cancelled at tree size %d of %d", before.Size, faultTotal)
	resume(t, ctx, r2, 0, ls)
	sameLatest(t, ctx, r2, e)
	got, err := r2.Leaves(ctx, 0, faultTotal)
	if err != nil {
		t.Fatal(err)
	}
	if !equalHashes(got, ls) {
		t.Fatal("leaf values differ after resume")
	}
}

// sequenceRaw stores leaves at first, first+1, ... straight through the
// Trillian API, the way a crashed append may have left some of its batches.
func sequenceRaw(t *testing.T, ctx context.Context, c *Client, tree int64, first uint64, ls [][]byte) {
	t.Helper()
	req := &tpb.AddSequencedLeavesRequest{LogId: tree}
	for i, v := range ls {
		idx := first + uint64(i)
		req.Leaves = append(req.Leaves, &tpb.LogLeaf{LeafValue: v, LeafIndex: int64(idx), LeafIdentityHash: LeafIdentityHash(idx, trillian.LeafHash(v))})
	}
	resp, err := c.LogClient().AddSequencedLeaves(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.GetResults() {
		if r.GetStatus().GetCode() != 0 {
			t.Fatalf("raw sequencing: %v", r.GetStatus())
		}
	}
}

// TestResumeFillsGap: a crashed append left a later batch sequenced but
// not an earlier one, so the tree cannot grow past the gap. Appending the
// same leaves again fills it; the batch already there counts as done.
func TestResumeFillsGap(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	c := dial(t, d, WithBatchLeaves(250))
	r := createTree(t, c)
	e := openEmbedded(t)
	appendBoth(t, ctx, r, e, 0, leaves(0, 10, 100))
	ls := leaves(10, 1500, 100)
	sequenceRaw(t, ctx, c, r.TreeID(), 510, ls[500:1000])
	time.Sleep(300 * time.Millisecond) // Several signer passes.
	if root, err := r.LatestRoot(ctx); err != nil || root.Size != 10 {
		t.Fatalf("tree grew past a gap: %v, %v", root, err)
	}
	appendBoth(t, ctx, r, e, 10, ls)
	sameLatest(t, ctx, r, e)
}

// TestResumeConflict: a leaf already sequenced at an index with another
// value is not silently accepted.
func TestResumeConflict(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	c := dial(t, d)
	r := createTree(t, c)
	ls := leaves(0, 10, 100)
	sequenceRaw(t, ctx, c, r.TreeID(), 5, [][]byte{[]byte("someone else's leaf")})
	if _, err := r.AppendLeaves(ctx, 0, ls); !errors.Is(err, ErrConflict) {
		t.Fatalf("append over a foreign leaf: %v, want ErrConflict", err)
	}
}

// TestStallDetected: with the signer down nothing integrates; the append
// gives up after the stall timeout with an error naming the tree and
// sizes, and completes once the signer is back.
func TestStallDetected(t *testing.T) {
	d := deployment(t)
	ensureRunning(t)
	ctx := context.Background()
	c := dial(t, d, WithStallTimeout(3*time.Second))
	r := createTree(t, c)
	e := openEmbedded(t)
	appendBoth(t, ctx, r, e, 0, leaves(0, 10, 100))
	d.StopSigner()
	ls := leaves(10, 1000, 100)
	if _, err := e.AppendLeaves(ctx, 10, ls); err != nil {
		t.Fatal(err)
	}
	_, err := r.AppendLeaves(ctx, 10, ls)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("append with the signer down: %v, want ErrStalled", err)
	}
	for _, want := range []string{"tree " + strconv.FormatInt(r.TreeID(), 10), "stuck at 10", "[10, 1010)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("stall error %q does not mention %q", err, want)
		}
	}
	if err := d.StartSigner(ctx); err != nil {
		t.Fatal(err)
	}
	resume(t, ctx, r, 10, ls)
	sameLatest(t, ctx, r, e)
}

// TestResumeShorterBatch: a crashed append had sequenced leaves beyond the
// end of the batch that resumes it. Filling the gap lets the signer
// integrate past the batch; the append still returns the root at its own
// end (checked against the server's larger tree), and the next append must
// start at the tree's real size.
func TestResumeShorterBatch(t *testing.T) {
	d := deployment(t)
	ctx := context.Background()
	c := dial(t, d, WithBatchLeaves(200))
	r := createTree(t, c)
	e := openEmbedded(t)
	ls := leaves(0, 1000, 100)
	sequenceRaw(t, ctx, c, r.TreeID(), 500, ls[500:])
	appendBoth(t, ctx, r, e, 0, ls[:500]) // Root at 500 on both.
	if root, err := r.LatestRoot(ctx); err != nil || root.Size != 1000 {
		t.Fatalf("after filling the gap the tree is %v, %v; want size 1000", root, err)
	}
	if _, err := r.AppendLeaves(ctx, 500, ls[500:]); !errors.Is(err, trillian.ErrWrongIndex) {
		t.Fatalf("append at 500 over integrated leaves: %v, want ErrWrongIndex", err)
	}
	if _, err := e.AppendLeaves(ctx, 500, ls[500:]); err != nil {
		t.Fatal(err)
	}
	sameLatest(t, ctx, r, e)
}
