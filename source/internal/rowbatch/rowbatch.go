// Package rowbatch turns a row-at-a-time decoder (SAS XPT, Dataset-JSON)
// into an Arrow array.RecordReader: rows are appended to one reused
// RecordBuilder and handed out in batches, so a reader holds one batch in
// memory whatever the file's size. The readers keep only their format.
package rowbatch

import (
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// DefaultBatchSize is the number of rows per batch unless WithBatchSize
// says otherwise.
const DefaultBatchSize = 8192

// Config is what the options set.
type Config struct {
	Mem       memory.Allocator
	BatchSize int
	// Encoding names the character set of text in formats that do not
	// define one (XPT): "" or "utf-8", "latin1", "windows-1252".
	Encoding string
	// Formats are SAS display formats by variable name (from define.xml
	// or a manifest), used where the file declares none (XPT).
	Formats map[string]string
	// RawNumbers reads XPT numerics as numbers whatever their format.
	RawNumbers bool
	// Warn receives warnings about accepted but suspicious input (e.g. a
	// non-integer in a column declared integer); nil drops them.
	Warn func(msg string)
	// MaxRowBytes bounds the input one row may take (0: the reader's
	// default), so a hostile row is rejected before it is held whole.
	MaxRowBytes int
}

// Option configures a reader.
type Option func(*Config)

// WithAllocator sets the allocator of the record batches
// (default memory.DefaultAllocator).
func WithAllocator(mem memory.Allocator) Option {
	return func(c *Config) {
		if mem != nil {
			c.Mem = mem
		}
	}
}

// WithBatchSize sets the maximum number of rows per record batch
// (default DefaultBatchSize). Values below 1 are ignored.
func WithBatchSize(n int) Option {
	return func(c *Config) {
		if n > 0 {
			c.BatchSize = n
		}
	}
}

// WithEncoding sets Config.Encoding.
func WithEncoding(name string) Option { return func(c *Config) { c.Encoding = name } }

// WithFormats sets Config.Formats.
func WithFormats(f map[string]string) Option { return func(c *Config) { c.Formats = f } }

// WithRawNumbers sets Config.RawNumbers.
func WithRawNumbers() Option { return func(c *Config) { c.RawNumbers = true } }

// WithWarn sets Config.Warn.
func WithWarn(warn func(string)) Option { return func(c *Config) { c.Warn = warn } }

// NewConfig applies options to the defaults.
func NewConfig(opts []Option) Config {
	c := Config{Mem: memory.DefaultAllocator, BatchSize: DefaultBatchSize}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Batcher implements array.RecordReader over a row source.
type Batcher struct {
	refs    atomic.Int64
	schema  *arrow.Schema
	rb      *array.RecordBuilder
	cur     arrow.Record
	err     error
	done    bool
	size    int
	row     func(*array.RecordBuilder) (bool, error)
	onClose func()
}

// Init prepares the batcher: row appends the next row to the builder and
// returns false at the end of the data; onClose (may be nil) runs when the
// last reference is released.
func (b *Batcher) Init(schema *arrow.Schema, cfg Config, row func(*array.RecordBuilder) (bool, error), onClose func()) {
	b.refs.Store(1)
	b.schema, b.size, b.row, b.onClose = schema, cfg.BatchSize, row, onClose
	b.rb = array.NewRecordBuilder(cfg.Mem, schema)
}

// Schema returns the schema of every batch.
func (b *Batcher) Schema() *arrow.Schema { return b.schema }

// Record returns the current batch; it is valid until the next call to
// Next or Release.
func (b *Batcher) Record() arrow.Record { return b.cur }

// Err returns the error that stopped Next, or nil at a clean end of input.
func (b *Batcher) Err() error { return b.err }

// Retain increments the reference count.
func (b *Batcher) Retain() { b.refs.Add(1) }

// Release decrements the reference count; at zero it frees the builder
// and the current batch and runs onClose.
func (b *Batcher) Release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	if b.cur != nil {
		b.cur.Release()
		b.cur = nil
	}
	if b.rb != nil {
		b.rb.Release()
		b.rb = nil
	}
	if b.onClose != nil {
		b.onClose()
		b.onClose = nil
	}
}

// Next reads up to the batch size of rows into a new record. It returns
// false at the end of the data or on error (see Err); the rows of a batch
// that hit an error are not delivered.
func (b *Batcher) Next() bool {
	if b.cur != nil {
		b.cur.Release()
		b.cur = nil
	}
	if b.done || b.err != nil || b.rb == nil {
		return false
	}
	n := 0
	for n < b.size {
		ok, err := b.row(b.rb)
		if err != nil {
			b.err = err
			return false
		}
		if !ok {
			b.done = true
			break
		}
		n++
	}
	if n == 0 {
		return false
	}
	b.cur = b.rb.NewRecord()
	return true
}
