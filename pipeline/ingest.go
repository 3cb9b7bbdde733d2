package pipeline

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/workspace"
)

// IngestOptions tune Ingest.
type IngestOptions struct {
	Dataset string
	// NewVersion allows ingesting a file whose content is already a
	// version of this dataset.
	NewVersion bool
	// Operator is recorded in the manifest (default: the OS user).
	Operator string
	// Keys are the dataset's natural key columns, if known.
	Keys []string
	// Rules are the canonical cell rules recorded in the manifest (zero:
	// canonical.DefaultRules, 12 significant digits).
	Rules canonical.Rules
	// Progress, if set, is called with the number of rows committed so far.
	Progress func(rows uint64)
	// Total, if set, is called once the row count is known.
	Total func(rows uint64)
	// AppendLeaves is the number of leaves per log append (default 32768).
	AppendLeaves int
	// Workers computing commitments (default GOMAXPROCS).
	Workers int
	// Now is the system clock (default time.Now): created_at always comes
	// from it. Tests may fix it; the CLI never lets a user set it.
	Now func() time.Time
	// SubjectColumn holds the participant ID that picks each row's salt
	// key (salts v2); "" means the natural key that is a subject ID, else
	// USUBJID if the file has it, else none (every row the trial secret).
	SubjectColumn string
	// ClaimedAt, if set, is a time the operator asserts for the ingest
	// (replaying one made elsewhere); it is logged beside the real one,
	// as claimed_created_at.
	ClaimedAt *time.Time
}

// IngestResult is what an ingest did.
type IngestResult struct {
	Record      *workspace.Record
	Root        trillian.Root
	ResumedFrom uint64 // rows already in the log from an interrupted run
}

// ErrDuplicate is wrapped when the same file content is ingested twice.
var ErrDuplicate = errors.New("already ingested")

// Ingest appends every row of a file, then its manifest, to the trial's
// log and publishes a signed checkpoint. An interrupted ingest of the same
// file resumes where the log stops, without losing or repeating a row.
func Ingest(ctx context.Context, t *workspace.Trial, f *source.File, opts IngestOptions) (*IngestResult, error) {
	if err := workspace.ValidName("dataset", opts.Dataset); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.AppendLeaves <= 0 {
		opts.AppendLeaves = 32768
	}
	if opts.Rules == (canonical.Rules{}) {
		opts.Rules = canonical.DefaultRules()
	}
	if err := opts.Rules.Check(); err != nil {
		return nil, fmt.Errorf("%v: %w", err, workspace.ErrUsage)
	}
	cols, err := commit.ColumnsOf(f.Name, f.Schema())
	if err != nil {
		return nil, err
	}
	for _, k := range opts.Keys {
		if !slices.Contains(cols.Sorted, k) {
			return nil, fmt.Errorf("%s: key column %s is not in the file: %w", f.Name, k, source.ErrInput)
		}
	}
	if err := t.RecoverWrites(ctx); err != nil {
		return nil, err
	}
	salting := workspace.Salting{Salts: 2, SubjectColumn: opts.SubjectColumn}
	if salting.SubjectColumn == "" {
		if c := SubjectColumnOf(opts.Keys); slices.Contains(cols.Sorted, c) {
			salting.SubjectColumn = c
		}
	} else if !slices.Contains(cols.Sorted, salting.SubjectColumn) {
		return nil, fmt.Errorf("%s: subject column %s is not in the file: %w", f.Name, salting.SubjectColumn, source.ErrInput)
	}
	keys, err := t.Keys()
	if err != nil {
		return nil, err
	}
	// The validation pass also refuses rows of erased participants,
	// before anything is journaled.
	checker, err := commit.NewCommitter(t.Secret(), keys, salting, t.ID, opts.Dataset, 1, f.Name, cols, opts.Rules)
	if err != nil {
		return nil, err
	}
	pending, err := t.Pending()
	if err != nil {
		return nil, err
	}
	// The file's SHA-256 and (for a new ingest) the validation pass each
	// read the whole file on one core: run them side by side.
	var checking sync.WaitGroup
	defer checking.Wait() // not reading f past return, even on an early error
	checkCtx, cancelCheck := context.WithCancel(ctx)
	defer cancelCheck()
	type checked struct {
		rows uint64
		err  error
	}
	validation := make(chan checked, 1)
	if pending == nil {
		checking.Add(1)
		go func() {
			defer checking.Done()
			rows, err := source.ForEachBatch(checkCtx, f, func(b source.Batch) error {
				if err := checker.Check(b.Rec, b.First); err != nil {
					return err
				}
				return checker.CheckErased(b.Rec, b.First)
			})
			validation <- checked{rows, err}
		}()
	}
	digest, err := durable.FileSHA256(ctx, f.Path)
	if err != nil {
		return nil, err
	}
	var m leaf.Manifest
	if pending != nil {
		m = pending.Manifest
		salting = pending.Salting
		if m.Dataset != opts.Dataset || m.Source.SHA256 != digest {
			return nil, fmt.Errorf("trial %s: an ingest of dataset %s from %s (sha256 %s) was interrupted; rerun it with that file to finish it first: %w",
				t.ID, m.Dataset, m.Source.Name, m.Source.SHA256[:12], workspace.ErrUsage)
		}
		// Same bytes must also be read the same way, or the rest of the
		// rows would not be what the manifest describes.
		if got := schemaOf(f); !slices.Equal(got, m.Schema) || string(f.Format) != m.Source.Format || !slices.Equal(f.NullValues(), pending.NullValues) || f.TextEncoding() != pending.Encoding {
			return nil, fmt.Errorf("%s: the interrupted ingest read this file as %s with columns %v, missing tokens %q and text encoding %q; rerun with the same --format, --schema, --null, --encoding and --define: %w",
				f.Name, m.Source.Format, m.Schema, pending.NullValues, pending.Encoding, workspace.ErrUsage)
		}
	} else {
		versions, err := t.Versions(opts.Dataset)
		if err != nil {
			return nil, err
		}
		version := uint64(1)
		for _, r := range versions {
			if r.Manifest.Source.SHA256 == digest && !opts.NewVersion {
				return nil, fmt.Errorf("%s: this content is already version %d of dataset %s (use --new-version to log it again): %w",
					f.Name, r.Manifest.Version, opts.Dataset, ErrDuplicate)
			}
			version = r.Manifest.Version + 1
		}
		root, err := t.Log.LatestRoot(ctx)
		if err != nil {
			return nil, err
		}
		m = leaf.Manifest{
			Format:           leaf.ManifestFormat,
			Trial:            t.ID,
			Dataset:          opts.Dataset,
			Version:          version,
			Source:           leaf.Source{Name: f.Name, Format: string(f.Format), Bytes: f.Size, SHA256: digest},
			Encoding:         leaf.NewEncoding(opts.Rules),
			Keys:             opts.Keys,
			FirstIndex:       root.Size,
			CreatedAt:        opts.Now().UTC().Format(time.RFC3339),
			Operator:         operator(opts.Operator),
			ClaimedCreatedAt: claimed(opts.ClaimedAt),
		}
		m.Schema = schemaOf(f)
		// Everything is validated before the first leaf is written.
		v := <-validation
		if v.err != nil {
			return nil, v.err
		}
		if opts.Total != nil {
			opts.Total(v.rows)
		}
		m.Rows = v.rows // known from the validation pass: shown for an interrupted ingest (trialog datasets)
		what := fmt.Sprintf("ingest of dataset %s from %s", m.Dataset, f.Name)
		j, err := t.Begin(ctx, workspace.KindDataset, what, &workspace.Pending{Manifest: m, NullValues: f.NullValues(), Encoding: f.TextEncoding(), Salting: salting})
		if err != nil {
			return nil, err
		}
		if j.Start != m.FirstIndex {
			return nil, fmt.Errorf("trial %s: the log grew from %d to %d leaves during the ingest's validation", t.ID, m.FirstIndex, j.Start)
		}
	}
	return appendDataset(ctx, t, f, cols, m, salting, opts)
}

func appendDataset(ctx context.Context, t *workspace.Trial, f *source.File, cols commit.Columns, m leaf.Manifest, salting workspace.Salting, opts IngestOptions) (*IngestResult, error) {
	keys, err := t.Keys()
	if err != nil {
		return nil, err
	}
	committer, err := commit.NewCommitter(t.Secret(), keys, salting, t.ID, m.Dataset, m.Version, f.Name, cols, m.Rules())
	if err != nil {
		return nil, err
	}
	root, err := t.Log.LatestRoot(ctx)
	if err != nil {
		return nil, err
	}
	if root.Size < m.FirstIndex {
		return nil, fmt.Errorf("trial %s: log has %d leaves, but the pending ingest starts at %d: the log was replaced", t.ID, root.Size, m.FirstIndex)
	}
	already := root.Size - m.FirstIndex // rows (and maybe the manifest) logged by an earlier attempt
	res := &IngestResult{ResumedFrom: already}

	appender := newAppender(ctx, t.Log, m.FirstIndex+already, opts.AppendLeaves)
	dataset := trillian.NewCompactRange(0)
	var rows uint64
	commitChunkOf := func(b source.Batch) error {
		lb := appender.batch()
		if err := committer.Fill(lb, b.Rec, b.First, opts.Workers); err != nil {
			appender.recycle(lb)
			return err
		}
		if err := dataset.AppendRange(lb.Range, nil); err != nil {
			return err
		}
		// A compact range keeps the hashes it is given (until merged), and
		// lb's buffers are reused: keep copies of its O(log n) hashes.
		for i, h := range dataset.Hashes() {
			dataset.Hashes()[i] = bytes.Clone(h)
		}
		lb.Range = nil
		if err := checkLogged(ctx, t.Log, m.FirstIndex, b.First, lb.Leaves, already); err != nil {
			return err
		}
		rows = b.First + uint64(len(lb.Leaves))
		if skip := min(uint64(len(lb.Leaves)), already-min(already, b.First)); skip > 0 {
			lb.Leaves, lb.Hashes = lb.Leaves[skip:], lb.Hashes[skip:]
		}
		if err := appender.add(lb); err != nil {
			return err
		}
		if opts.Progress != nil {
			opts.Progress(rows)
		}
		return nil
	}
	_, err = source.ForEachBatchAhead(ctx, f, source.Chunked(commitChunk, commitChunkOf))
	if cerr := appender.close(); cerr != nil {
		err = cerr // the append's own error explains a failed add
	}
	if err != nil {
		return nil, err
	}
	if already > rows+1 {
		return nil, fmt.Errorf("trial %s: log holds %d leaves past the pending ingest's start, but %s has only %d rows", t.ID, already, f.Name, rows)
	}
	m.Rows = rows
	rangeRoot := trillian.Hasher.EmptyRoot()
	if rows > 0 {
		if rangeRoot, err = dataset.GetRootHash(nil); err != nil {
			return nil, err
		}
	}
	m.RangeRoot = hex.EncodeToString(rangeRoot)
	// The leaf commits to the file name and operator without showing them:
	// the log is publishable (docs/publishing.md).
	if err := m.SetPrivate(t.Secret()); err != nil {
		return nil, err
	}
	manifestLeaf, err := leaf.ManifestLeaf(&m)
	if err != nil {
		return nil, err
	}
	manifestIndex := m.FirstIndex + rows
	if already == rows+1 {
		var logged [][]byte
		if logged, err = t.Log.Leaves(ctx, manifestIndex, 1); err != nil {
			return nil, err
		}
		if !bytes.Equal(logged[0], manifestLeaf) {
			return nil, fmt.Errorf("trial %s: leaf %d is not this ingest's manifest: the log changed under a pending ingest", t.ID, manifestIndex)
		}
		res.Root, err = t.Log.LatestRoot(ctx)
	} else {
		res.Root, err = t.Log.AppendLeaves(ctx, manifestIndex, [][]byte{manifestLeaf})
	}
	if err != nil {
		return nil, err
	}
	if _, err := t.Finish(ctx, res.Root, func(signed []byte) error {
		res.Record = &workspace.Record{Manifest: m, ManifestIndex: manifestIndex, Checkpoint: string(signed), Salting: salting}
		return t.SaveRecord(res.Record)
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// checkLogged compares recomputed leaves with what an interrupted run
// already logged, so a resume never builds on leaves from another file,
// key or version.
func checkLogged(ctx context.Context, log trillian.Log, firstIndex, first uint64, leaves [][]byte, already uint64) error {
	if first >= already {
		return nil
	}
	n := min(uint64(len(leaves)), already-first)
	logged, err := log.Leaves(ctx, firstIndex+first, n)
	if err != nil {
		return err
	}
	for i := range logged {
		if !bytes.Equal(logged[i], leaves[i]) {
			return fmt.Errorf("leaf %d in the log differs from row %d recomputed for the resumed ingest", firstIndex+first+uint64(i), first+uint64(i))
		}
	}
	return nil
}

// commitChunk is the number of rows committed (and buffered) at a time,
// and the most rows in one record batch of a package.
const commitChunk = 16384

// appender appends leaves in the background so that committing the next
// batch overlaps with the log's write and fsync. It groups batches into
// appends of at least minLeaves and hands their buffers back for reuse.
type appender struct {
	ctx       context.Context
	log       trillian.Log
	minLeaves int
	group     []*commit.LeafBatch
	groupLen  int
	work      chan []*commit.LeafBatch
	free      chan *commit.LeafBatch
	done      chan error
	failed    chan struct{}
}

func newAppender(ctx context.Context, log trillian.Log, start uint64, minLeaves int) *appender {
	a := &appender{ctx: ctx, log: log, minLeaves: minLeaves,
		work: make(chan []*commit.LeafBatch, 1), free: make(chan *commit.LeafBatch, 4), done: make(chan error, 1), failed: make(chan struct{})}
	go a.run(start)
	return a
}

func (a *appender) run(start uint64) {
	var err error
	var leaves, hashes [][]byte
	// A log with a separate signer gets each group as soon as it is ready
	// and is settled (integration waited for, tree verified) every few
	// groups and at the end, so sending overlaps with integrating.
	pipelined, _ := a.log.(trillian.PipelinedAppender)
	const settleEvery = 4
	unsettled := 0
	for group := range a.work {
		if err == nil {
			leaves, hashes = leaves[:0], hashes[:0]
			for _, lb := range group {
				leaves = append(leaves, lb.Leaves...)
				hashes = append(hashes, lb.Hashes...)
			}
			if pipelined != nil {
				if err = pipelined.Send(a.ctx, start, leaves); err == nil {
					if unsettled++; unsettled == settleEvery {
						_, err = pipelined.Settle(a.ctx)
						unsettled = 0
					}
				}
			} else {
				_, err = trillian.Append(a.ctx, a.log, start, leaves, hashes)
			}
			if err == nil {
				start += uint64(len(leaves))
			} else {
				close(a.failed)
			}
		}
		for _, lb := range group {
			a.recycle(lb)
		}
	}
	if err == nil && pipelined != nil && unsettled > 0 {
		_, err = pipelined.Settle(a.ctx)
	}
	a.done <- err
}

// batch returns a reusable LeafBatch.
func (a *appender) batch() *commit.LeafBatch {
	select {
	case lb := <-a.free:
		return lb
	default:
		return &commit.LeafBatch{}
	}
}

func (a *appender) recycle(lb *commit.LeafBatch) {
	select {
	case a.free <- lb:
	default:
	}
}

// add queues a batch; it fails fast once an append has failed.
func (a *appender) add(lb *commit.LeafBatch) error {
	if len(lb.Leaves) == 0 {
		a.recycle(lb)
		return nil
	}
	a.group = append(a.group, lb)
	a.groupLen += len(lb.Leaves)
	if a.groupLen >= a.minLeaves {
		return a.flush()
	}
	return nil
}

func (a *appender) flush() error {
	if len(a.group) == 0 {
		return nil
	}
	select {
	case a.work <- a.group:
	case <-a.failed:
		return errors.New("log append failed")
	}
	a.group, a.groupLen = nil, 0
	return nil
}

// close appends what is left and returns the first append error.
func (a *appender) close() error {
	ferr := a.flush()
	close(a.work)
	if err := <-a.done; err != nil {
		return err
	}
	return ferr
}

// schemaOf is the manifest schema of a file: names and Arrow types.
func schemaOf(f *source.File) []leaf.Column {
	var cols []leaf.Column
	for _, fl := range f.Schema().Fields() {
		cols = append(cols, leaf.Column{Name: fl.Name, Type: fl.Type.String()})
	}
	return cols
}

// OperatorName is name, or the OS user when it is empty.
func OperatorName(name string) string { return operator(name) }

func operator(name string) string {
	if name != "" {
		return name
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func claimed(at *time.Time) string {
	if at == nil {
		return ""
	}
	return at.UTC().Format(time.RFC3339)
}
