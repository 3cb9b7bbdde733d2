package tlogtiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// Reader reads a published log: tiles, entry bundles and the checkpoint.
// It is torchwood's TileReader, so torchwood's client and x/mod's proof
// functions run on it unchanged.
type Reader = torchwood.TileReader

// OpenReader returns a Reader for a log location: an http:// or https://
// URL prefix (fetched with torchwood's TileFetcher, which retries 429 and
// 5xx), or a published directory (a path or a file:// URL), read through
// os.Root so that nothing outside it is ever opened.
func OpenReader(location string) (Reader, error) {
	if strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://") {
		if _, err := url.Parse(location); err != nil {
			return nil, fmt.Errorf("log URL %q: %v", location, err)
		}
		f, err := torchwood.NewTileFetcher(location, torchwood.WithUserAgent("trialog"), torchwood.WithConcurrencyLimit(8))
		if err != nil {
			return nil, err
		}
		return fetchErrors{f}, nil
	}
	dir := strings.TrimPrefix(location, "file://")
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("log directory: %w: %w", err, ErrFetch)
	}
	return &dirReader{root: root}, nil
}

// fetchErrors marks the fetcher's errors as ErrFetch, so that callers
// tell an unreachable log from a log that fails verification.
type fetchErrors struct{ f *torchwood.TileFetcher }

func (r fetchErrors) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	data, err := r.f.ReadTiles(ctx, tiles)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	return data, nil
}

func (r fetchErrors) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func (r fetchErrors) ReadEndpoint(ctx context.Context, path string) ([]byte, error) {
	data, err := r.f.ReadEndpoint(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	return data, nil
}

// dirReader reads a published directory.
type dirReader struct{ root *os.Root }

func (r *dirReader) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if t.H != TileHeight {
			return nil, fmt.Errorf("tile height %d", t.H)
		}
		data, err := r.ReadEndpoint(ctx, tilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r *dirReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func (r *dirReader) ReadEndpoint(ctx context.Context, p string) ([]byte, error) {
	if _, _, err := ParsePath(p); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", p, err, ErrFetch)
	}
	data, err := r.root.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	return data, nil
}

// Checkpoint fetches the published checkpoint and verifies it with the
// log's verifier key. It returns the opened checkpoint and its signed
// bytes (evidence, if it later proves inconsistent).
func Checkpoint(ctx context.Context, r Reader, verifierKey string) (checkpoint.Checkpoint, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	data, err := r.ReadEndpoint(ctx, CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return checkpoint.Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrNotPublished, err)
	}
	if err != nil {
		return checkpoint.Checkpoint{}, nil, err
	}
	cp, err := checkpoint.Open(verifierKey, data)
	if err != nil {
		return checkpoint.Checkpoint{}, data, fmt.Errorf("published checkpoint: %w", err)
	}
	return cp, data, nil
}

// hashReader returns x/mod's tile hash reader for the tree of root, which
// checks every tile it reads against root (via torchwood, which passes
// the context on): a server that lies about a tile is caught.
func hashReader(ctx context.Context, r Reader, root trillian.Root) (tlog.HashReader, tlog.Tree, error) {
	if len(root.Hash) != tlog.HashSize {
		return nil, tlog.Tree{}, fmt.Errorf("root hash of %d bytes", len(root.Hash))
	}
	tree := tlog.Tree{N: int64(root.Size), Hash: tlog.Hash(root.Hash)}
	return torchwood.TileHashReaderWithContext(ctx, tree, r), tree, nil
}

// ConsistencyProof proves from the published tiles that the tree cur
// extends the tree old (both taken from checkpoints the caller verified),
// with x/mod's ProveTree and CheckTree, and returns the proof. Its errors
// wrap trillian.ErrRollback or ErrFork when the trees are inconsistent,
// and ErrFetch when the tiles could not be read.
func ConsistencyProof(ctx context.Context, r Reader, old, cur trillian.Root) ([][]byte, error) {
	if old.Size > cur.Size || old.Size == 0 || old.Size == cur.Size {
		return nil, trillian.CheckExtends(old, cur, nil)
	}
	hr, tree, err := hashReader(ctx, r, cur)
	if err != nil {
		return nil, err
	}
	p, err := tlog.ProveTree(tree.N, int64(old.Size), hr)
	if err != nil {
		if errors.Is(err, ErrFetch) {
			return nil, err
		}
		return nil, fmt.Errorf("tiles of tree %d: %v: %w", cur.Size, err, trillian.ErrFork)
	}
	if err := tlog.CheckTree(p, tree.N, tree.Hash, int64(old.Size), tlog.Hash(old.Hash)); err != nil {
		return nil, fmt.Errorf("tree %d (root %x) does not extend tree %d (root %x): %v: %w", cur.Size, cur.Hash, old.Size, old.Hash, err, trillian.ErrFork)
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i][:])
	}
	return out, nil
}

// InclusionProof proves from the published tiles that leaf is the leaf at
// index in the tree root (x/mod's ProveRecord and CheckRecord).
func InclusionProof(ctx context.Context, r Reader, root trillian.Root, index uint64, leaf []byte) ([][]byte, error) {
	if index >= root.Size {
		return nil, fmt.Errorf("leaf %d is beyond tree %d: %w", index, root.Size, trillian.ErrNotFound)
	}
	hr, tree, err := hashReader(ctx, r, root)
	if err != nil {
		return nil, err
	}
	p, err := tlog.ProveRecord(tree.N, int64(index), hr)
	if err != nil {
		if errors.Is(err, ErrFetch) {
			return nil, err
		}
		return nil, fmt.Errorf("tiles of tree %d: %v: %w", root.Size, err, trillian.ErrFork)
	}
	if err := tlog.CheckRecord(p, tree.N, tree.Hash, int64(index), tlog.RecordHash(leaf)); err != nil {
		return nil, fmt.Errorf("leaf %d is not in tree %d: %v: %w", index, root.Size, err, trillian.ErrFork)
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i][:])
	}
	return out, nil
}
