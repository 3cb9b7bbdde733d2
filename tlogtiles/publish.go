package tlogtiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// readChunk is how many leaves Publish asks the log for at a time (a
// multiple of TileWidth, so every chunk but the last ends on a full entry
// bundle): big ranges keep the store streaming, and the memory bounded.
const readChunk = 256 * TileWidth

// Result says what one Publish did.
type Result struct {
	OldSize uint64 // tree size of the checkpoint published before (0 if none)
	NewSize uint64 // tree size of the checkpoint published now
	Tiles   int    // hash tiles written
	Bundles int    // entry bundles written
}

// Publish writes the tree of the signed checkpoint cp (verified with the
// log's verifierKey) from log into dir as C2SP tlog-tiles, then cp itself.
//
// It is incremental: it reads the checkpoint already published in dir,
// checks with a consistency proof from log that cp extends it (a fork or
// rollback is refused, wrapping trillian.ErrFork or ErrRollback), and writes
// only the tiles and entry bundles that are new or grew. It restores the
// right edge of the tree from the published partial tiles and re-reads only
// the leaves of the last partial entry bundle.
//
// Order and crash safety: every file is written to a temporary name and
// renamed, so a reader never sees a half-written file; tiles and bundles
// first, then the file system is flushed (syncfs), then the checkpoint is
// written durably (temp, fsync, rename, directory fsync). A reader thus
// never sees a checkpoint its tiles do not cover, and an interrupted
// Publish leaves the old checkpoint, whose files are all durable; the next
// Publish rewrites everything beyond it. Nothing under the old checkpoint's
// coverage is ever rewritten (the grown version of a partial tile has a
// new path).
//
// Before writing cp, Publish checks that the root it computed from the
// leaves equals cp's root, so it never publishes tiles that disagree with
// the signed checkpoint.
func Publish(ctx context.Context, log trillian.Log, verifierKey string, cp []byte, dir string) (Result, error) {
	return publish(ctx, log, verifierKey, cp, dir, nil)
}

// publish is Publish; trace, if set, sees the steps that crash safety
// depends on (writer.trace).
func publish(ctx context.Context, log trillian.Log, verifierKey string, cp []byte, dir string, trace func(step, path string)) (Result, error) {
	cur, err := checkpoint.Open(verifierKey, cp)
	if err != nil {
		return Result{}, fmt.Errorf("checkpoint to publish: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	old := trillian.Root{Size: 0, Hash: emptyRoot()}
	published := false
	switch data, err := os.ReadFile(filepath.Join(dir, CheckpointPath)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return Result{}, err
	default:
		pub, err := checkpoint.Open(verifierKey, data)
		if err != nil {
			return Result{}, fmt.Errorf("%s: the published checkpoint: %w", filepath.Join(dir, CheckpointPath), err)
		}
		old, published = pub.Root, true
	}
	res := Result{OldSize: old.Size, NewSize: cur.Size}
	if published && old.Size == cur.Size && bytes.Equal(old.Hash, cur.Hash) {
		return res, nil // already published
	}
	var proof [][]byte
	if old.Size > 0 && old.Size < cur.Size {
		if proof, err = log.ConsistencyProof(ctx, old.Size, cur.Size); err != nil {
			return res, fmt.Errorf("consistency proof %d→%d: %w", old.Size, cur.Size, err)
		}
	}
	if err := trillian.CheckExtends(old, cur.Root, proof); err != nil {
		return res, fmt.Errorf("%s holds a published checkpoint the log's checkpoint does not extend: %w", dir, err)
	}

	w := newWriter(dir)
	w.trace = trace
	b := &builder{dir: dir, tile: w.writeTile, bundle: w.writeTile}
	if err := b.restore(old.Size); err != nil {
		return res, err
	}
	// One goroutine reads the next chunk of leaves from the log while the
	// builder hashes and writes this one.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan fetched, 1)
	go readLeaves(ctx, log, old.Size/TileWidth*TileWidth, cur.Size, chunks)
	for c := range chunks {
		if c.err != nil {
			return res, c.err
		}
		if err := b.addLeaves(c.pos, c.leaves); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil { // the reader stopped early
		return res, err
	}
	if err := b.finish(old.Size); err != nil {
		return res, err
	}
	if root := b.root(); !bytes.Equal(root[:], cur.Hash) {
		return res, fmt.Errorf("the tiles computed from the log's leaves have root %x, the checkpoint says %x (published tiles in %s damaged? publish into an empty directory): %w",
			root, cur.Hash, dir, trillian.ErrFork)
	}
	if err := w.sync(); err != nil {
		return res, err
	}
	if trace != nil {
		trace("sync", "")
	}
	if err := durable.WriteFile(filepath.Join(dir, CheckpointPath), cp, 0o644); err != nil {
		return res, err
	}
	if trace != nil {
		trace("checkpoint", CheckpointPath)
	}
	res.Tiles, res.Bundles = b.tiles, b.bundles
	return res, nil
}

// readLeaves reads leaves [pos, size) from the log in chunks of readChunk
// and sends them in order; it stops at the first error (sent last).
func readLeaves(ctx context.Context, log trillian.Log, pos, size uint64, out chan<- fetched) {
	defer close(out)
	for pos < size {
		if ctx.Err() != nil {
			return // the consumer is gone, or sees the context's error
		}
		n := min(readChunk, size-pos)
		leaves, err := log.Leaves(ctx, pos, n)
		if err == nil && uint64(len(leaves)) != n {
			err = fmt.Errorf("got %d", len(leaves))
		}
		if err != nil {
			send(ctx, out, fetched{err: fmt.Errorf("read leaves [%d, %d): %w", pos, pos+n, err)})
			return
		}
		select {
		case out <- fetched{pos: pos, leaves: leaves}:
		case <-ctx.Done():
			return
		}
		pos += n
	}
}
