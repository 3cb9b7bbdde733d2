// Command trillian measures appends to a real Trillian deployment (started
// by trillian/trilliantest on this machine): raw AddSequencedLeaves of
// precomputed leaves, against the same leaves through trillian.Log
// (remote.Log.AppendLeaves, which also waits for integration and verifies
// the resulting tree). Both run against the same deployment in one run.
//
//	go run ./bench/trillian -leaves 200000
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	tpb "github.com/google/trillian"
	"github.com/google/trillian/types"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/remote"
	"github.com/trialog/trialog/trillian/trilliantest"
)

func main() {
	var (
		n          = flag.Int("leaves", 200_000, "leaves per run")
		size       = flag.Int("leaf-bytes", 100, "bytes per leaf (a row leaf v2 is 100)")
		appendN    = flag.Int("append", 32768, "leaves per AppendLeaves call (the pipeline's default)")
		batch      = flag.Int("batch", remote.DefaultBatchLeaves, "leaves per AddSequencedLeaves request")
		inFlight   = flag.Int("in-flight", 4, "concurrent AddSequencedLeaves requests")
		durable    = flag.Bool("durable", true, "keep PostgreSQL fsync on")
		batchSize  = flag.Int("signer-batch", trilliantest.DefaultSignerTuning().BatchSize, "signer --batch_size")
		ifaceFirst = flag.Bool("interface-first", false, "run the trillian.Log path before the raw one (the second run finds a fuller database)")
		interval   = flag.Duration("signer-interval", trilliantest.DefaultSignerTuning().SequencerInterval, "signer --sequencer_interval")
		dataset    = flag.String("dataset", "", "also run `trialog ingest` of this data file (whole pipeline) against the deployment, last; -leaves is then its row count + 1")
	)
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	tuning := trilliantest.DefaultSignerTuning()
	tuning.BatchSize, tuning.SequencerInterval = *batchSize, *interval
	d, err := trilliantest.Start(ctx, trilliantest.Options{Signer: tuning, Durable: *durable, Logf: log.Printf})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	c, err := remote.Dial(ctx, d.Target(), remote.WithBatchLeaves(*batch), remote.WithInFlight(*inFlight))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	leaves := make([][]byte, *n)
	for i := range leaves {
		leaves[i] = make([]byte, *size)
		rand.Read(leaves[i])
	}

	suffix := time.Now().Format("150405")
	var ingestAll time.Duration
	var data *source.File
	if *dataset != "" {
		// The raw and trillian.Log runs then send as many leaves as the
		// dataset has rows (+1 manifest); the ingest runs last, so it does
		// not get the fresh database the first run gets.
		if data, err = readers.Open(ctx, *dataset, source.Options{}); err != nil {
			log.Fatal(err)
		}
		b, err := data.Batches(ctx)
		if err != nil {
			log.Fatal(err)
		}
		rows := 0
		for b.Next() {
			rows += int(b.Record().NumRows())
		}
		b.Close()
		*n = rows + 1
		leaves = leaves[:0]
		for i := 0; i < *n; i++ {
			l := make([]byte, *size)
			rand.Read(l)
			leaves = append(leaves, l)
		}
	}
	var (
		rawSeq, rawAll, ifaceAll time.Duration
		order                    = []string{"raw", "trillian.Log"}
	)
	raw := func() {
		if rawSeq, rawAll, err = runRaw(ctx, c, "bench-raw-"+suffix, leaves, *batch, *inFlight); err != nil {
			log.Fatal(err)
		}
	}
	iface := func() {
		if ifaceAll, err = runInterface(ctx, c, "bench-log-"+suffix, leaves, *appendN); err != nil {
			log.Fatal(err)
		}
	}
	if *ifaceFirst {
		iface()
		raw()
		order[0], order[1] = order[1], order[0]
	} else {
		raw()
		iface()
	}

	if data != nil {
		var leafCount int
		if ingestAll, leafCount, err = runPipeline(ctx, d.URL(), "bench-ingest-"+suffix, data); err != nil {
			log.Fatal(err)
		}
		if leafCount != *n {
			log.Fatalf("ingest logged %d leaves, want %d", leafCount, *n)
		}
		order = append(order, "trialog ingest")
	}
	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(*n)/d.Seconds()) }
	fmt.Printf("\n%d leaves of %d bytes; %d cores; PostgreSQL fsync=%v\n", *n, *size, runtime.NumCPU(), *durable)
	fmt.Printf("order: %s, in one deployment\n", strings.Join(order, ", then "))
	fmt.Printf("signer: --batch_size=%d --sequencer_interval=%s --num_sequencers=%d; client: %d leaves/request, %d in flight\n\n",
		tuning.BatchSize, tuning.SequencerInterval, tuning.NumSequencers, *batch, *inFlight)
	fmt.Println("| path | time | leaves/s |")
	fmt.Println("| --- | --- | --- |")
	fmt.Printf("| raw AddSequencedLeaves, acknowledged | %s | %s |\n", rawSeq.Round(time.Millisecond), rate(rawSeq))
	fmt.Printf("| raw AddSequencedLeaves, integrated by the signer | %s | %s |\n", rawAll.Round(time.Millisecond), rate(rawAll))
	fmt.Printf("| trillian.Log AppendLeaves (%d per call, integrated and verified) | %s | %s |\n", *appendN, ifaceAll.Round(time.Millisecond), rate(ifaceAll))
	if ingestAll > 0 {
		fmt.Printf("| trialog ingest of %s (whole pipeline) | %s | %s |\n", *dataset, ingestAll.Round(time.Millisecond), rate(ingestAll))
		fmt.Printf("\ningest / raw integrated = %.2f\n", rawAll.Seconds()/ingestAll.Seconds())
	}
}

// runPipeline ingests a data file into a new trial on the deployment with
// the real pipeline (validation, commitments, leaves, appends, manifest,
// checkpoint), and returns its time and leaf count (rows + manifest).
func runPipeline(ctx context.Context, url, trial string, f *source.File) (time.Duration, int, error) {
	dir, err := os.MkdirTemp("", "bench-trillian-state-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	t, err := backend.Init(ctx, backend.Location{Dir: dir, Backend: url}, trial)
	if err != nil {
		return 0, 0, err
	}
	defer t.Close()
	start := time.Now()
	res, err := pipeline.Ingest(ctx, t, f, pipeline.IngestOptions{Dataset: "LB", Operator: "bench"})
	if err != nil {
		return 0, 0, err
	}
	return time.Since(start), int(res.Root.Size), nil
}

// runRaw sends precomputed AddSequencedLeaves requests, inFlight at a time,
// and then polls until the signer has integrated them all: the floor that
// any client of this deployment pays.
func runRaw(ctx context.Context, c *remote.Client, trial string, leaves [][]byte, batch, inFlight int) (acked, integrated time.Duration, err error) {
	l, err := c.CreateTree(ctx, trial)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	var reqs []*tpb.AddSequencedLeavesRequest
	for lo := 0; lo < len(leaves); lo += batch {
		hi := min(lo+batch, len(leaves))
		req := &tpb.AddSequencedLeavesRequest{LogId: l.TreeID()}
		for i := lo; i < hi; i++ {
			req.Leaves = append(req.Leaves, &tpb.LogLeaf{
				LeafValue:        leaves[i],
				LeafIndex:        int64(i),
				LeafIdentityHash: remote.LeafIdentityHash(uint64(i), trillian.LeafHash(leaves[i])),
			})
		}
		reqs = append(reqs, req)
	}
	lc := c.LogClient()
	start := time.Now()
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, inFlight)
		mu    sync.Mutex
		first error
	)
	for _, req := range reqs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := lc.AddSequencedLeaves(ctx, req)
			if err == nil {
				for _, r := range resp.GetResults() {
					if r.GetStatus().GetCode() != 0 {
						err = fmt.Errorf("leaf status %v", r.GetStatus())
						break
					}
				}
			}
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, 0, first
	}
	acked = time.Since(start)
	for {
		resp, err := lc.GetLatestSignedLogRoot(ctx, &tpb.GetLatestSignedLogRootRequest{LogId: l.TreeID()})
		if err != nil {
			return 0, 0, err
		}
		var root types.LogRootV1
		if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
			return 0, 0, err
		}
		if root.TreeSize >= uint64(len(leaves)) {
			return acked, time.Since(start), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runInterface appends the same leaves through trillian.Log in calls of
// appendSize, as the ingest pipeline does.
func runInterface(ctx context.Context, c *remote.Client, trial string, leaves [][]byte, appendSize int) (time.Duration, error) {
	l, err := c.CreateTree(ctx, trial)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	var tl trillian.Log = l
	start := time.Now()
	for lo := 0; lo < len(leaves); lo += appendSize {
		hi := min(lo+appendSize, len(leaves))
		if _, err := tl.AppendLeaves(ctx, uint64(lo), leaves[lo:hi]); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
