// Package pipeline turns dataset files into log leaves and back into proof:
// ingest (rows → canonical cells → salted commitments → leaves → log →
// manifest → signed checkpoint), prove (disclosure packages) and verify.
// Package commit turns the Arrow record batches of a dataset version into
// its row leaves (docs/commitments.md): canonical cells, salts, cell
// commitments, row hash, cells digest, leaf, leaf hash and the folded
// range. The CRO runs it at ingest and prove with salts derived from the
// trial secret; a verifier of a derived-salt package (docs/package-format.md)
// runs the same code with the version's salt key, so both sides compute
// leaves one way.
package commit

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/transparency-dev/merkle/compact"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/internal/parallel"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian"
)

// Committer computes the leaves of one dataset version.
type Committer struct {
	Columns Columns
	Rules   canonical.Rules // the manifest's (Manifest.Rules)
	salter  *leaf.Salter
	encoder *leaf.RowEncoder
	name    string
}

// NewCommitter prepares the leaves of a dataset version read from the file
// called name with the given columns, cells encoded under rules.
func NewCommitter(secret []byte, trial, dataset string, version uint64, name string, cols Columns, rules canonical.Rules) (*Committer, error) {
	salter, err := leaf.NewSalter(secret, trial, dataset, version, len(cols.Sorted))
	if err != nil {
		return nil, err
	}
	return newCommitter(salter, trial, dataset, version, name, cols, rules)
}

func newCommitter(salter *leaf.Salter, trial, dataset string, version uint64, name string, cols Columns, rules canonical.Rules) (*Committer, error) {
	enc, err := leaf.NewRowEncoder(trial, dataset, version, cols.Sorted)
	if err != nil {
		return nil, err
	}
	return &Committer{Columns: cols, Rules: rules, salter: salter, encoder: enc, name: name}, nil
}

// NewChecker returns a Committer that can only Check batches (it needs no
// secret): ingest validates a whole file before it derives anything.
func NewChecker(name string, cols Columns) *Committer {
	return &Committer{Columns: cols, name: name}
}

// NewCommitterFromKey is NewCommitter for a holder of the dataset
// version's salt key (leaf.SaltKey) rather than the trial secret: the
// verifier of a derived-salt package.
func NewCommitterFromKey(key []byte, trial, dataset string, version uint64, name string, cols Columns, rules canonical.Rules) (*Committer, error) {
	salter, err := leaf.NewSalterFromKey(key, len(cols.Sorted))
	if err != nil {
		return nil, err
	}
	return newCommitter(salter, trial, dataset, version, name, cols, rules)
}

// RowEncoder is the leaf encoder of this dataset version.
func (c *Committer) RowEncoder() *leaf.RowEncoder { return c.encoder }

// cellError names the file, row and column of a bad cell, never its value.
func (c *Committer) cellError(row uint64, col string, err error) error {
	return fmt.Errorf("%s: row %d: column %s: %v: %w", c.name, row, col, err, source.ErrInput)
}

// Encoders binds cell encoders to a batch's columns, in name order.
func (c *Committer) Encoders(rec arrow.Record) ([]canonical.CellEncoder, error) {
	encs := make([]canonical.CellEncoder, len(c.Columns.Sorted))
	for j, idx := range c.Columns.SourceIndex {
		enc, err := c.Rules.Encoder(rec.Column(idx))
		if err != nil {
			return nil, fmt.Errorf("%s: column %s: %v: %w", c.name, c.Columns.Sorted[j], err, source.ErrInput)
		}
		encs[j] = enc
	}
	return encs, nil
}

// Check validates a batch without committing: every column must have a
// canonical form, and text must be UTF-8 (the one way a cell of a
// supported type can fail to encode).
func (c *Committer) Check(rec arrow.Record, first uint64) error {
	for j, idx := range c.Columns.SourceIndex {
		if row, err := canonical.Validate(rec.Column(idx)); err != nil {
			return c.cellError(first+uint64(row), c.Columns.Sorted[j], err)
		}
	}
	return nil
}

// CommitRow adds batch row i (dataset row index row) to d, which it
// starts: each cell's canonical bytes and commitment, in name order; salts
// are the row's salts (SaltsOf). d then gives the row's commitments, row
// hash and cells digest.
func (c *Committer) CommitRow(d *leaf.RowDigest, encs []canonical.CellEncoder, i int, row uint64, salts, scratch []byte) ([]byte, error) {
	d.Start(salts)
	for j, enc := range encs {
		var err error
		if scratch, err = enc(scratch[:0], i); err != nil {
			return scratch, c.cellError(row, c.Columns.Sorted[j], err)
		}
		d.Cell(salts[j*leaf.SaltSize:(j+1)*leaf.SaltSize], scratch)
	}
	return scratch, nil
}

// AppendLeaf appends the leaf of the row d holds (CommitRow).
func (c *Committer) AppendLeaf(dst []byte, row uint64, d *leaf.RowDigest) []byte {
	rowHash, cells := d.RowHash(), d.CellsHash()
	return c.encoder.Append(dst, row, &rowHash, &cells)
}

// SaltsOf returns the salts of rows [first, first+rows), row after row.
func (c *Committer) SaltsOf(dst []byte, first uint64, rows int) []byte {
	n := rows * len(c.Columns.Sorted) * leaf.SaltSize
	dst = slices.Grow(dst[:0], n)[:n]
	c.salter.Salts(dst, first, rows)
	return dst
}

// leafSize bounds a row leaf v2 with its RFC 6962 prefix byte: prefix,
// kind, format, context, uvarint row index, row hash, cells digest.
const leafSize = 1 + 2 + 32 + binary.MaxVarintLen64 + 32 + 32

// LeafBatch holds the leaves and leaf hashes of consecutive rows in
// buffers that are reused from batch to batch, so a long ingest does not
// keep asking the OS for fresh pages.
type LeafBatch struct {
	First  uint64   // dataset row index of Leaves[0]
	Leaves [][]byte // leaf values
	Hashes [][]byte // their RFC 6962 leaf hashes
	// Range is the compact range of Hashes at dataset row indices
	// [First, First+len(Hashes)): the workers fold it, so the dataset's
	// range root costs the ingest's one thread only a merge per batch. It
	// may hold slices of Hashes.
	Range *compact.Range
	// Unfolded leaves Range nil: a verifier folds the hashes its own way.
	Unfolded bool
	slab     []byte            // per row, leafSize bytes: 0x00 || leaf
	salts    [][]byte          // per worker
	digests  []*leaf.RowDigest // per worker
	hashes   []byte
}

// Fill computes the leaves and leaf hashes of every row of a batch whose
// first row has dataset row index first, spreading rows over workers, and
// folds the leaf hashes into lb.Range.
func (c *Committer) Fill(lb *LeafBatch, rec arrow.Record, first uint64, workers int) error {
	encs, err := c.Encoders(rec)
	if err != nil {
		return err
	}
	n := int(rec.NumRows())
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	lb.First = first
	lb.Leaves = slices.Grow(lb.Leaves[:0], n)[:n]
	lb.Hashes = slices.Grow(lb.Hashes[:0], n)[:n]
	lb.hashes = slices.Grow(lb.hashes[:0], n*leaf.CommitmentSize)[:n*leaf.CommitmentSize]
	// Row i's leaf, after its RFC 6962 0x00 prefix (so it is hashed in
	// place), lives at slab[i*leafSize:]: rows fill in any order.
	lb.slab = slices.Grow(lb.slab[:0], n*leafSize)[:n*leafSize]
	for len(lb.salts) < workers {
		lb.salts = append(lb.salts, nil)
		lb.digests = append(lb.digests, &leaf.RowDigest{})
	}
	ranges := make([]*compact.Range, parallel.Parts(n))
	failures := make([]error, len(ranges))
	rowSalts := len(encs) * leaf.SaltSize
	parallel.Run(n, workers, func(w, part, lo, hi int) {
		digest, scratch := lb.digests[w], []byte(nil)
		salts := c.SaltsOf(lb.salts[w], first+uint64(lo), hi-lo)
		lb.salts[w] = salts
		var r *compact.Range
		if !lb.Unfolded {
			r = trillian.NewCompactRange(first + uint64(lo))
		}
		for i := lo; i < hi; i++ {
			row := first + uint64(i)
			var err error
			if scratch, err = c.CommitRow(digest, encs, i, row, salts[(i-lo)*rowSalts:(i-lo+1)*rowSalts], scratch); err != nil {
				failures[part] = err
				return
			}
			slot := lb.slab[i*leafSize : i*leafSize : (i+1)*leafSize]
			slot = c.AppendLeaf(append(slot, 0x00), row, digest)
			lb.Leaves[i] = slot[1:len(slot):len(slot)]
			hs := lb.hashes[i*leaf.CommitmentSize : (i+1)*leaf.CommitmentSize : (i+1)*leaf.CommitmentSize]
			lb.Hashes[i] = digest.Sum(hs[:0], slot)
			if r == nil {
				continue
			}
			if err := r.Append(hs, nil); err != nil {
				failures[part] = err
				return
			}
		}
		ranges[part] = r
	})
	for _, err := range failures { // in part order: the first bad row's error
		if err != nil {
			return err
		}
	}
	if lb.Unfolded {
		lb.Range = nil
		return nil
	}
	lb.Range = ranges[0]
	for _, r := range ranges[1:] {
		if err := lb.Range.AppendRange(r, nil); err != nil {
			return err
		}
	}
	return nil
}
