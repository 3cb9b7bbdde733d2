package remote

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/embedded"
	"github.com/trialog/trialog/trillian/trilliantest"
)

// One deployment serves every test of the package (tests do not run in
// parallel: the fault tests restart its servers). It starts on first use,
// so `go test -run TestParseURL` needs no servers.
var shared struct {
	once sync.Once
	d    *trilliantest.Deployment
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.d != nil {
		shared.d.Close()
	}
	os.Exit(code)
}

// deployment returns the shared deployment, skipping the test when
// TRIALOG_TRILLIAN_TESTS=off and failing it when the servers cannot start.
func deployment(t *testing.T) *trilliantest.Deployment {
	t.Helper()
	trilliantest.SkipIfDisabled(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), trilliantest.StartTimeout)
		defer cancel()
		shared.d, shared.err = trilliantest.Start(ctx, trilliantest.Options{Logf: t.Logf})
	})
	if shared.err != nil {
		t.Fatalf("cannot start a Trillian deployment (set %s=off to skip these tests): %v", trilliantest.TestsEnv, shared.err)
	}
	return shared.d
}

// dial connects a client to the shared deployment, closed on cleanup.
func dial(t *testing.T, d *trilliantest.Deployment, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, d.Target(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trialID is unique per test and run.
func trialID(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
}

func createTree(t *testing.T, c *Client) *Log {
	t.Helper()
	l, err := c.CreateTree(context.Background(), trialID(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func openEmbedded(t *testing.T) *embedded.Log {
	t.Helper()
	l, err := embedded.Open(context.Background(), filepath.Join(t.TempDir(), "tree.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// leaves makes n leaf values starting at row first, roughly rowBytes long,
// with every 7th row equal to every other 7th (identical rows are legal in
// a dataset and must not collide in Trillian).
func leaves(first, n, rowBytes int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		row := first + i
		if row%7 == 3 {
			out[i] = bytes.Repeat([]byte("same row "), max(1, rowBytes/9))
			continue
		}
		v := fmt.Appendf(nil, "row %d|", row)
		for len(v) < rowBytes {
			v = fmt.Appendf(v, "%08x", uint32(row)*2654435761+uint32(len(v)))
		}
		out[i] = v
	}
	return out
}

// appendBoth appends the same leaves to both logs and checks the roots.
func appendBoth(t *testing.T, ctx context.Context, r *Log, e *embedded.Log, start uint64, ls [][]byte) trillian.Root {
	t.Helper()
	want, err := e.AppendLeaves(ctx, start, ls)
	if err != nil {
		t.Fatalf("embedded append at %d: %v", start, err)
	}
	got, err := r.AppendLeaves(ctx, start, ls)
	if err != nil {
		t.Fatalf("remote append at %d: %v", start, err)
	}
	checkRoot(t, got, want)
	return got
}

func checkRoot(t *testing.T, got, want trillian.Root) {
	t.Helper()
	if got.Size != want.Size || !bytes.Equal(got.Hash, want.Hash) {
		t.Fatalf("root: remote %d/%x, embedded %d/%x", got.Size, got.Hash, want.Size, want.Hash)
	}
}

// sameLatest checks that both logs end with the same root.
func sameLatest(t *testing.T, ctx context.Context, r trillian.Log, e trillian.Log) trillian.Root {
	t.Helper()
	got, err := r.LatestRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.LatestRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkRoot(t, got, want)
	return got
}

// afterBatches returns a dial option whose interceptor calls hook once,
// right after the n-th successful AddSequencedLeaves: a fault injected in
// the middle of a multi-batch append, at a deterministic point.
func afterBatches(n int64, hook func()) Option {
	var count atomic.Int64
	var once sync.Once
	return WithDialOptions(grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil && method == "/trillian.TrillianLog/AddSequencedLeaves" && count.Add(1) == n {
				once.Do(hook)
			}
			return err
		}))
}
