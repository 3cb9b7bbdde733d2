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
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"

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
	salter  *leaf.Salter    // v1: every row; v2: rows with no participant
	encoder *leaf.RowEncoder
	name    string
	// Salts v2: each participant's rows are salted from their own key.
	keys           ParticipantKeys // nil: salts v1
	subjectIdx     int             // source column of the participant ID, -1: none
	trial, dataset string
	version        uint64
	bySubject      map[string]*leaf.Salter
	runs           []saltRun // a derived-salt verifier's keys, by row
	secret         []byte    // the CRO's trial secret (nil in a verifier)
	salting        Salting
}

// saltRun is one key run of a derived-salt verifier. Its salter (an AES
// key schedule, ~0.5 KB) is made when the rows reach the run and dropped
// when they pass it, so memory does not grow with the number of runs a
// package declares.
type saltRun struct {
	first  uint64
	key    []byte
	salter *leaf.Salter
}

// Salting is how a dataset version's salts derive (docs/commitments.md);
// only the CRO derives salts, so it is kept in the catalog and the ingest
// journal, not logged.
type Salting struct {
	// Salts is 2 for salts v2 (each participant's rows salted from their
	// own key, ParticipantKeys), 0 for v1 (every row from the trial secret).
	Salts int `json:"salts,omitempty"`
	// SubjectColumn is the column whose value picks the key ("" with
	// salts v2: no participant column, every row uses the trial secret).
	SubjectColumn string `json:"subject_column,omitempty"`
}

// ParticipantKeys holds the random per-participant keys of salts v2: the
// trial's key store (workspace.KeyStore). Key wraps ErrErased once a
// participant's key was destroyed.
type ParticipantKeys interface {
	Key(subject string) ([]byte, error)
	Has(subject string) bool
	AnyErased() bool
	// Ensure gives every listed participant without a key a new one,
	// durably, before returning (ErrErased for an erased participant).
	Ensure(subjects []string) error
}

// ErrErased is wrapped when a participant's key was destroyed (trialog
// consent erase, crypto-shredding): their rows can never be salted again.
var ErrErased = errors.New("the participant's key was erased")

// NewCommitter prepares the leaves of a dataset version read from the file
// called name with the given columns, cells encoded under rules, salted
// as salting says from the trial secret (salts v2 takes each participant's
// key from keys, which may be nil for salts v1).
func NewCommitter(secret []byte, keys ParticipantKeys, salting Salting, trial, dataset string, version uint64, name string, cols Columns, rules canonical.Rules) (*Committer, error) {
	newSalter := leaf.NewSalter
	if salting.Salts == 2 {
		newSalter = leaf.NewSalterV2
	}
	salter, err := newSalter(secret, trial, dataset, version, len(cols.Sorted))
	if err != nil {
		return nil, err
	}
	enc, err := leaf.NewRowEncoder(trial, dataset, version, cols.Sorted)
	if err != nil {
		return nil, err
	}
	c := &Committer{Columns: cols, Rules: rules, salter: salter, encoder: enc, name: name, subjectIdx: -1, trial: trial, dataset: dataset, version: version,
		secret: secret, salting: salting}
	if salting.Salts == 2 {
		if keys == nil {
			return nil, fmt.Errorf("%s: salts v2 need the trial's key store", name)
		}
		c.keys, c.bySubject = keys, map[string]*leaf.Salter{}
		if salting.SubjectColumn != "" {
			j := slices.Index(cols.Sorted, salting.SubjectColumn)
			if j < 0 {
				return nil, fmt.Errorf("%s has no subject column %s: %w", name, salting.SubjectColumn, source.ErrInput)
			}
			c.subjectIdx = cols.SourceIndex[j]
		}
	}
	return c, nil
}

// NewChecker returns a Committer that can only Check batches (it needs no
// secret): ingest validates a whole file before it derives anything.
func NewChecker(name string, cols Columns) *Committer {
	return &Committer{Columns: cols, name: name, subjectIdx: -1}
}

// KeyRun is a run of a dataset version's rows salted from one salt key:
// rows [First, next run's First) (the last run: to the version's end).
// The key is the version's salt key (leaf.SaltKey, salts v1) or one
// participant's (leaf.SaltKeyV2, salts v2).
type KeyRun struct {
	First uint64
	Key   []byte
}

// NewCommitterFromKeys is NewCommitter for a holder of the salt keys of a
// dataset version's rows (KeyRun, sorted by First, the first at row 0)
// rather than the trial secret: the verifier of a derived-salt package.
func NewCommitterFromKeys(runs []KeyRun, trial, dataset string, version uint64, name string, cols Columns, rules canonical.Rules) (*Committer, error) {
	if len(runs) == 0 || runs[0].First != 0 {
		return nil, fmt.Errorf("%s: the salt keys do not start at row 0", name)
	}
	c := &Committer{Columns: cols, Rules: rules, name: name, subjectIdx: -1, trial: trial, dataset: dataset, version: version}
	for i, r := range runs {
		if i > 0 && r.First <= runs[i-1].First {
			return nil, fmt.Errorf("%s: salt key runs are not in row order", name)
		}
		if len(r.Key) != leaf.SaltKeySize {
			return nil, fmt.Errorf("%s: salt key run %d: key of %d bytes", name, i, len(r.Key))
		}
		c.runs = append(c.runs, saltRun{first: r.First, key: r.Key})
	}
	enc, err := leaf.NewRowEncoder(trial, dataset, version, cols.Sorted)
	if err != nil {
		return nil, err
	}
	c.encoder = enc
	return c, nil
}

// AppendKeyRuns appends to runs the salt keys of a batch's rows (first:
// the dataset row index of its first row), one run per participant
// (salts v2) or one for the whole version (salts v1): what a derived-salt
// package carries (docs/package-format.md). A row of an erased
// participant is an error: their salts are gone.
func (c *Committer) AppendKeyRuns(runs []KeyRun, rec arrow.Record, first uint64) ([]KeyRun, error) {
	if c.secret == nil {
		return nil, fmt.Errorf("%s: salt keys derive from the trial secret", c.name)
	}
	subjects, err := c.Subjects(rec, first)
	if err != nil {
		return nil, err
	}
	keyOf := func(subject string) ([]byte, error) {
		switch {
		case c.salting.Salts != 2:
			return leaf.SaltKey(c.secret, c.trial, c.dataset, c.version, len(c.Columns.Sorted))
		case subject == "":
			return leaf.SaltKeyV2(c.secret, c.trial, c.dataset, c.version, len(c.Columns.Sorted))
		}
		key, err := c.keys.Key(subject)
		if err != nil {
			return nil, err
		}
		return leaf.SaltKeyV2(key, c.trial, c.dataset, c.version, len(c.Columns.Sorted))
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		subject := ""
		if subjects != nil {
			subject = subjects[i]
		}
		if len(runs) > 0 && (subjects == nil || (i > 0 && subject == subjects[i-1])) {
			continue // the same key as the row before
		}
		key, err := keyOf(subject)
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", c.name, first+uint64(i), err)
		}
		if len(runs) > 0 && string(runs[len(runs)-1].Key) == string(key) {
			continue // the same participant across a batch boundary
		}
		runs = append(runs, KeyRun{First: first + uint64(i), Key: key})
	}
	return runs, nil
}

// Subjects returns the participant ID of each row of a batch ("" for
// none), or nil when the salts do not depend on it.
func (c *Committer) Subjects(rec arrow.Record, first uint64) ([]string, error) {
	if c.subjectIdx < 0 {
		return nil, nil
	}
	enc, err := c.Rules.Encoder(rec.Column(c.subjectIdx))
	if err != nil {
		return nil, err
	}
	out := make([]string, rec.NumRows())
	var buf, prev []byte
	for i := range out {
		if buf, err = enc(buf[:0], i); err != nil {
			return nil, fmt.Errorf("%s: row %d: subject column: %v: %w", c.name, first+uint64(i), err, source.ErrInput)
		}
		if i > 0 && string(buf) == string(prev) { // rows of one participant are usually together
			out[i] = out[i-1]
			continue
		}
		out[i] = canonical.CellText(buf)
		prev = append(prev[:0], buf...)
	}
	return out, nil
}

// CheckErased fails on the first row of a participant whose key was
// erased (naming the row, not the participant).
func (c *Committer) CheckErased(rec arrow.Record, first uint64) error {
	if c.keys == nil || !c.keys.AnyErased() {
		return nil
	}
	subjects, err := c.Subjects(rec, first)
	if err != nil || subjects == nil {
		return err
	}
	for i, s := range subjects {
		if s == "" || c.keys.Has(s) || (i > 0 && s == subjects[i-1]) {
			continue
		}
		if _, err := c.keys.Key(s); errors.Is(err, ErrErased) {
			return fmt.Errorf("%s: row %d: %v (trialog consent erase); their rows cannot be logged again: %w", c.name, first+uint64(i), err, source.ErrInput)
		}
	}
	return nil
}

// RowSalters returns each row's salter, for rows whose subjects are
// given (Subjects; nil: every row the dataset's one salter, or the salter
// of the row's key run). An erased participant's rows get nil. With
// ensure (ingest), participants without a key get one, durably, before
// any of their leaves can be appended, and an erased participant's row is
// an error.
func (c *Committer) RowSalters(subjects []string, n int, first uint64, ensure bool) ([]*leaf.Salter, error) {
	out := make([]*leaf.Salter, n)
	if c.runs != nil {
		k := sort.Search(len(c.runs), func(k int) bool { return c.runs[k].first > first }) - 1
		for i := range out {
			for row := first + uint64(i); k+1 < len(c.runs) && c.runs[k+1].first <= row; {
				c.runs[k].salter = nil // passed: the batch's rows keep what they use
				k++
			}
			if c.runs[k].salter == nil {
				sl, err := leaf.NewSalterFromKey(c.runs[k].key, len(c.Columns.Sorted))
				if err != nil {
					return nil, err
				}
				c.runs[k].salter = sl
			}
			out[i] = c.runs[k].salter
		}
		return out, nil
	}
	if subjects == nil {
		for i := range out {
			out[i] = c.salter
		}
		return out, nil
	}
	if ensure {
		if err := c.keys.Ensure(subjects); errors.Is(err, ErrErased) {
			for i, s := range subjects {
				if _, kerr := c.keys.Key(s); errors.Is(kerr, ErrErased) {
					return nil, fmt.Errorf("%s: row %d: %v (trialog consent erase); their rows cannot be logged again: %w", c.name, first+uint64(i), kerr, source.ErrInput)
				}
			}
			return nil, err
		} else if err != nil {
			return nil, err
		}
	}
	for i, s := range subjects {
		if s == "" {
			out[i] = c.salter
			continue
		}
		if i > 0 && s == subjects[i-1] {
			out[i] = out[i-1]
			continue
		}
		if sl, ok := c.bySubject[s]; ok {
			out[i] = sl
			continue
		}
		key, err := c.keys.Key(s)
		if errors.Is(err, ErrErased) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", c.name, first+uint64(i), err)
		}
		sl, err := leaf.NewSalterV2(key, c.trial, c.dataset, c.version, len(c.Columns.Sorted))
		if err != nil {
			return nil, err
		}
		c.bySubject[s] = sl
		out[i] = sl
	}
	return out, nil
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

// SaltsOf returns the salts of batch rows [lo, hi) (dataset row index
// first+i for batch row i), row after row, each from its salter
// (RowSalters): one keystream per run of rows of the same participant.
// Rows with no salter (erased) get zero salts.
func (c *Committer) SaltsOf(dst []byte, salters []*leaf.Salter, first uint64, lo, hi int) []byte {
	rowBytes := len(c.Columns.Sorted) * leaf.SaltSize
	dst = slices.Grow(dst[:0], (hi-lo)*rowBytes)[:(hi-lo)*rowBytes]
	for i := lo; i < hi; {
		s, j := salters[i], i+1
		for j < hi && salters[j] == s {
			j++
		}
		if s != nil {
			s.Salts(dst[(i-lo)*rowBytes:(j-lo)*rowBytes], first+uint64(i), j-i)
		} else {
			clear(dst[(i-lo)*rowBytes : (j-lo)*rowBytes])
		}
		i = j
	}
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
	// Segment, if set, is called by each worker for its part of the batch
	// with the dataset row index of the part's first row; the worker
	// appends the part's leaf hashes to the segment it returns, and
	// Segments holds those in part order, for the caller to merge (a
	// range proof folded on every core, not after the batch on one).
	Segment  func(first uint64) *trillian.RangeSegment
	Segments []*trillian.RangeSegment
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
	subjects, err := c.Subjects(rec, first)
	if err != nil {
		return err
	}
	salters, err := c.RowSalters(subjects, n, first, true)
	if err != nil {
		return err
	}
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
	lb.Segments = lb.Segments[:0]
	if lb.Segment != nil {
		lb.Segments = slices.Grow(lb.Segments, len(ranges))[:len(ranges)]
	}
	rowSalts := len(encs) * leaf.SaltSize
	parallel.Run(n, workers, func(w, part, lo, hi int) {
		digest, scratch := lb.digests[w], []byte(nil)
		salts := c.SaltsOf(lb.salts[w], salters, first, lo, hi)
		lb.salts[w] = salts
		var r *compact.Range
		if !lb.Unfolded {
			r = trillian.NewCompactRange(first + uint64(lo))
		}
		var seg *trillian.RangeSegment
		if lb.Segment != nil {
			seg = lb.Segment(first + uint64(lo))
			lb.Segments[part] = seg
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
			if seg != nil {
				if err := seg.Append(hs); err != nil {
					failures[part] = err
					return
				}
			}
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
