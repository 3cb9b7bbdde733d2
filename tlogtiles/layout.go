// Package tlogtiles publishes a trial's log as static files in the C2SP
// tlog-tiles layout (https://c2sp.org/tlog-tiles), serves them read-only
// and reads them back for third parties who hold only the log's URL and
// its verifier key.
//
// The layout under a published directory (or URL prefix) is
//
//	checkpoint                    the latest signed checkpoint (C2SP tlog-checkpoint)
//	tile/<L>/<N>[.p/<W>]          Merkle tree tiles of height 8: 32-byte hashes
//	tile/entries/<N>[.p/<W>]      entry bundles: each leaf as uint16be(len) || leaf
//
// with <N> in the spec's x001/x234/067 form. Tile paths, entry bundle
// framing and tile hash reading come from golang.org/x/mod/sumdb/tlog and
// filippo.io/torchwood (TilePath, ParseTilePath, AppendTileEntry,
// ReadTileEntry, TileFetcher, TileHashReaderWithContext), so the writer and
// every reader agree with other tlog-tiles implementations by construction.
// docs/publishing.md is the normative description.
package tlogtiles

import (
	"errors"
	"fmt"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of every tile (tlog-tiles fixes it at 8).
const TileHeight = torchwood.TileHeight

// TileWidth is the number of hashes in a full tile and of entries in a
// full entry bundle.
const TileWidth = torchwood.TileWidth

// CheckpointPath is the path of the signed checkpoint under a log prefix.
const CheckpointPath = "checkpoint"

// maxLevel bounds tile levels: 2^64 leaves need 8 levels of height 8.
const maxLevel = 8

// ErrNotPublished is wrapped when a log location holds no checkpoint.
var ErrNotPublished = errors.New("no published checkpoint")

// ErrFetch is wrapped around failures to obtain a file from a log location
// (network, missing file): operational errors, not evidence against the log.
var ErrFetch = errors.New("fetch failed")

// tilePath returns the tlog-tiles path of t.
func tilePath(t tlog.Tile) string { return torchwood.TilePath(t) }

// ParsePath reports whether p is a well-formed path of the layout
// (checkpoint, a tile or an entry bundle) in its one canonical spelling.
// Everything a server may ever serve passes it; nothing else does.
func ParsePath(p string) (tlog.Tile, bool, error) {
	if p == CheckpointPath {
		return tlog.Tile{}, false, nil
	}
	t, err := torchwood.ParseTilePath(p)
	if err != nil {
		return tlog.Tile{}, false, err
	}
	if t.H != TileHeight || t.L < -1 || t.L > maxLevel || t.W < 1 || t.W > TileWidth || t.N < 0 {
		return tlog.Tile{}, false, fmt.Errorf("tile path %q out of range", p)
	}
	if tilePath(t) != p {
		return tlog.Tile{}, false, fmt.Errorf("tile path %q is not canonical", p)
	}
	return t, true, nil
}

// appendEntry frames one leaf into an entry bundle.
func appendEntry(bundle, leaf []byte) ([]byte, error) {
	return torchwood.AppendTileEntry(bundle, leaf)
}

// SplitBundle splits an entry bundle into its leaves; it fails unless the
// bundle holds exactly want entries and nothing after them.
func SplitBundle(bundle []byte, want int) ([][]byte, error) {
	out := make([][]byte, 0, want)
	for len(bundle) > 0 {
		e, rest, err := torchwood.ReadTileEntry(bundle)
		if err != nil {
			return nil, fmt.Errorf("entry bundle: entry %d: %w", len(out), err)
		}
		out = append(out, e)
		bundle = rest
	}
	if len(out) != want {
		return nil, fmt.Errorf("entry bundle holds %d entries, want %d", len(out), want)
	}
	return out, nil
}

// TilePathOf returns the tlog-tiles path of a tile or entry bundle.
func TilePathOf(t tlog.Tile) string { return tilePath(t) }
