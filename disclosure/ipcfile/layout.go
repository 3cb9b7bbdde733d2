// Package ipcfile checks the structure of an Arrow IPC file
// (https://arrow.apache.org/docs/format/Columnar.html#ipc-file-format)
// before any Arrow reader touches it, and opens it with a memory budget.
//
// A disclosure package comes from the party being checked, so its reader
// is hostile territory. The Arrow Go reader trusts the lengths a file
// declares: a footer block declaring a 2^40-byte body is allocated (a
// fatal, unrecoverable out-of-memory), a compressed buffer is inflated to
// whatever size it claims, and a crafted flatbuffer vector length becomes
// a make() of billions of elements. Check walks the file's own bytes with
// a bounds-checked flatbuffer reader and rejects, before anything is
// allocated from a declared size:
//
//   - a file without the ARROW1 magic at both ends, a footer length
//     outside the file, or a footer larger than MaxFooter;
//   - a footer or schema flatbuffer whose tables, strings or vectors
//     reach outside the footer, a schema of more than MaxFields fields or
//     nested deeper than MaxDepth, types trialog never writes (union,
//     view and run-end types), and big-endian data;
//   - messages (walked from the start of the file, as a stream reader
//     sees them) that overrun the file, use the legacy framing, are not a
//     schema followed by dictionary and record batches, or are followed
//     by anything but an optional end-of-stream marker before the footer;
//   - record and dictionary batches with compressed buffers (trialog
//     never writes them; a decompressed size is whatever the file says),
//     view-type variadic buffers, more than Limits.MaxBatchRows rows, a
//     body larger than Limits.MaxBatchBody, buffers outside the body or
//     overlapping one another (the reader copies each buffer: overlapping
//     buffers would multiply the body), or field nodes longer than their
//     batch could hold;
//   - a footer whose dictionary and record blocks are not exactly the
//     messages of the stream section, in the same order (two readings of
//     one file: a stream reader and a file reader must see the same
//     batches). The schemas of the two sections are compared by Open.
//
// Open then reads the file with Arrow's ipc.FileReader through a Budget
// allocator, recovering any panic of the reader into an error.
package ipcfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Limits bound what a file may declare. Zero fields take the defaults.
type Limits struct {
	MaxFooter    int   // bytes of footer flatbuffer (default 64 MiB)
	MaxMetadata  int   // bytes of one message's metadata flatbuffer (default 1 MiB)
	MaxBatchBody int64 // bytes of one message body (default 64 MiB)
	MaxBatchRows int64 // rows of one record batch (default 16384)
}

// Defaults for Limits.
const (
	DefaultMaxFooter    = 64 << 20
	DefaultMaxMetadata  = 1 << 20
	DefaultMaxBatchBody = 64 << 20
	DefaultMaxBatchRows = 16384
	MaxFields           = 100000 // fields in a schema, nested ones included
	MaxDepth            = 32     // nesting of schema fields
)

func (l Limits) withDefaults() Limits {
	if l.MaxFooter <= 0 {
		l.MaxFooter = DefaultMaxFooter
	}
	if l.MaxMetadata <= 0 {
		l.MaxMetadata = DefaultMaxMetadata
	}
	if l.MaxBatchBody <= 0 {
		l.MaxBatchBody = DefaultMaxBatchBody
	}
	if l.MaxBatchRows <= 0 {
		l.MaxBatchRows = DefaultMaxBatchRows
	}
	return l
}

// ErrStructure is wrapped by every structural problem Check finds.
var ErrStructure = errors.New("malformed Arrow IPC file")

var magic = []byte("ARROW1")

// Message kinds (Message.fbs MessageHeader).
const (
	msgSchema     = 1
	msgDictionary = 2
	msgRecord     = 3
)

// Block is one message of the file: where it starts, its metadata length
// (framing included) and body length, as the footer indexes it.
type Block struct {
	Offset   int64
	Meta     int32
	Body     int64
	Kind     byte
	Rows     int64 // record and dictionary batches: declared length
	MetaData []byte
	dictIDs  []int64 // schema message: its fields' dictionary ids
}

// Layout is a checked file's structure.
type Layout struct {
	Size        int64
	FooterStart int64   // first byte of the footer flatbuffer
	Schema      Block   // the stream section's schema message
	Dicts       []Block // dictionary batches, in file order
	Records     []Block // record batches, in file order
	EOS         bool    // the stream section ends with an end-of-stream marker
}

// Rows is the total of the record batches' declared rows.
func (l *Layout) Rows() int64 {
	var n int64
	for _, b := range l.Records {
		n += b.Rows
	}
	return n
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrStructure}, args...)...)
}

// Check validates the structure of the Arrow IPC file r of size bytes
// (see the package comment). It reads the footer and every message's
// metadata, never a message body.
func Check(r io.ReaderAt, size int64, lim Limits) (*Layout, error) {
	lim = lim.withDefaults()
	if size < int64(8+8+4+len(magic)) {
		return nil, errorf("file too small (%d bytes)", size)
	}
	head := make([]byte, 8)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("read file start: %w", err)
	}
	tail := make([]byte, 4+len(magic))
	if _, err := r.ReadAt(tail, size-int64(len(tail))); err != nil {
		return nil, fmt.Errorf("read file end: %w", err)
	}
	if !bytes.Equal(head[:len(magic)], magic) || !bytes.Equal(tail[4:], magic) {
		return nil, errorf("no ARROW1 magic at the start and end (not an Arrow IPC file)")
	}
	footerLen := int64(int32(binary.LittleEndian.Uint32(tail)))
	footerStart := size - int64(len(tail)) - footerLen
	if footerLen <= 0 || footerLen > int64(lim.MaxFooter) || footerStart < 8 {
		return nil, errorf("footer length %d does not fit the file of %d bytes (limit %d)", footerLen, size, lim.MaxFooter)
	}
	footer := make([]byte, footerLen)
	if _, err := r.ReadAt(footer, footerStart); err != nil {
		return nil, fmt.Errorf("read footer: %w", err)
	}
	l := &Layout{Size: size, FooterStart: footerStart}
	dicts, records, footerDicts, err := checkFooter(footer)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct {
		kind   string
		blocks []Block
	}{{"dictionary", dicts}, {"record", records}} {
		kind := k.kind
		for i, b := range k.blocks {
			if b.Offset < 8 || b.Meta < 8 || b.Body < 0 || b.Offset > footerStart || int64(b.Meta) > footerStart-b.Offset || b.Body > footerStart-b.Offset-int64(b.Meta) {
				return nil, errorf("footer %s block %d (offset %d, metadata %d, body %d bytes) lies outside the file's %d bytes of messages", kind, i, b.Offset, b.Meta, b.Body, footerStart)
			}
		}
	}
	if err := l.walkStream(r, lim); err != nil {
		return nil, err
	}
	if !slices.Equal(footerDicts, l.Schema.dictIDs) {
		return nil, errorf("the stream section's schema assigns dictionaries to other fields than the footer's (two readings of one file)")
	}
	if err := sameBlocks("dictionary", dicts, l.Dicts); err != nil {
		return nil, err
	}
	if err := sameBlocks("record", records, l.Records); err != nil {
		return nil, err
	}
	return l, nil
}

// sameBlocks compares the footer's blocks with the stream's messages.
func sameBlocks(kind string, footer, stream []Block) error {
	if len(footer) != len(stream) {
		return errorf("the footer indexes %d %s batches, the stream section holds %d (two readings of one file)", len(footer), kind, len(stream))
	}
	for i := range footer {
		f, s := footer[i], stream[i]
		if f.Offset != s.Offset || f.Meta != s.Meta || f.Body != s.Body {
			return errorf("%s batch %d: the footer indexes bytes %d+%d+%d, the stream section has it at %d+%d+%d (two readings of one file)",
				kind, i, f.Offset, f.Meta, f.Body, s.Offset, s.Meta, s.Body)
		}
	}
	return nil
}

// checkFooter checks the footer flatbuffer (File.fbs) and returns its
// dictionary and record blocks, and the dictionary ids of its schema's
// fields.
func checkFooter(footer []byte) (dicts, records []Block, footerDicts []int64, err error) {
	f := fb{footer}
	root, err := f.root()
	if err != nil {
		return nil, nil, nil, errorf("footer: %v", err)
	}
	schema, ok, err := f.subtable(root, 1)
	if err != nil || !ok {
		return nil, nil, nil, errorf("footer: no readable schema (%v)", err)
	}
	if err := checkSchema(f, schema, &footerDicts); err != nil {
		return nil, nil, nil, errorf("footer schema: %v", err)
	}
	if err := checkKeyValues(f, root, 4); err != nil {
		return nil, nil, nil, errorf("footer metadata: %v", err)
	}
	for i, dst := range []*[]Block{&dicts, &records} {
		start, n, err := f.vector(root, 2+i, 24)
		if err != nil {
			return nil, nil, nil, errorf("footer blocks: %v", err)
		}
		for k := 0; k < n; k++ {
			p := start + 24*k
			off, _ := f.i64(p)
			meta, _ := f.u32(p + 8)
			body, _ := f.i64(p + 16)
			*dst = append(*dst, Block{Offset: off, Meta: int32(meta), Body: body})
		}
	}
	return dicts, records, footerDicts, nil
}

// checkSchema checks a Schema table (Schema.fbs): its fields, recursively,
// and its metadata. It appends the fields' dictionary ids (-1 for a field
// without a dictionary), depth first, to ids: decoded Arrow schemas do not
// show them, and a stream schema that assigns the dictionaries to other
// fields than the footer's would show other values to a stream reader.
func checkSchema(f fb, schema table, ids *[]int64) error {
	if e, err := f.scalar16(schema, 0); err != nil || e != 0 { // Endianness is a short
		return fmt.Errorf("not little-endian")
	}
	if _, _, err := f.vector(schema, 3, 8); err != nil { // features
		return err
	}
	if err := checkKeyValues(f, schema, 2); err != nil {
		return err
	}
	fields, err := f.tables(schema, 1)
	if err != nil {
		return err
	}
	count := 0
	for _, fl := range fields {
		if err := checkField(f, fl, 1, &count, ids); err != nil {
			return err
		}
	}
	return nil
}

// Field types (Schema.fbs Type) trialog never writes and Check rejects:
// they carry buffers or type ids that are not checked here.
var rejectedTypes = map[byte]string{14: "union", 17: "map", 22: "run-end encoded", 23: "binary view", 24: "utf8 view", 25: "list view", 26: "large list view"}

func checkField(f fb, fl table, depth int, count *int, ids *[]int64) error {
	if *count++; *count > MaxFields {
		return fmt.Errorf("more than %d fields", MaxFields)
	}
	if depth > MaxDepth {
		return fmt.Errorf("fields nested deeper than %d", MaxDepth)
	}
	if err := f.str(fl, 0); err != nil {
		return err
	}
	typ, err := f.scalar8(fl, 2)
	if err != nil {
		return err
	}
	if name, bad := rejectedTypes[typ]; bad || typ == 0 || typ > 26 {
		if !bad {
			name = fmt.Sprintf("type %d", typ)
		}
		return fmt.Errorf("field of type %s", name)
	}
	if _, ok, err := f.subtable(fl, 3); err != nil || !ok {
		return fmt.Errorf("field type missing or unreadable")
	}
	id := int64(-1)
	if dict, ok, err := f.subtable(fl, 4); err != nil {
		return err
	} else if ok {
		if _, _, err := f.subtable(dict, 1); err != nil {
			return err
		}
		if id, err = f.scalar64(dict, 0); err != nil || id < 0 {
			return fmt.Errorf("dictionary id %d", id)
		}
	}
	*ids = append(*ids, id)
	if err := checkKeyValues(f, fl, 6); err != nil {
		return err
	}
	children, err := f.tables(fl, 5)
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := checkField(f, c, depth+1, count, ids); err != nil {
			return err
		}
	}
	return nil
}

// checkKeyValues checks a custom_metadata vector of KeyValue tables.
func checkKeyValues(f fb, t table, i int) error {
	kvs, err := f.tables(t, i)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := f.str(kv, 0); err != nil {
			return err
		}
		if err := f.str(kv, 1); err != nil {
			return err
		}
	}
	return nil
}

// walkStream reads the messages from the start of the file, as a stream
// reader would, up to the footer.
func (l *Layout) walkStream(r io.ReaderAt, lim Limits) error {
	pos := int64(8)
	prefix := make([]byte, 8)
	for n := 0; ; n++ {
		if pos == l.FooterStart {
			break
		}
		if pos+8 > l.FooterStart {
			return errorf("message %d at byte %d overruns the footer", n, pos)
		}
		if _, err := r.ReadAt(prefix, pos); err != nil {
			return fmt.Errorf("read message %d: %w", n, err)
		}
		if binary.LittleEndian.Uint32(prefix) != 0xFFFFFFFF {
			return errorf("message %d at byte %d: no continuation marker (legacy or corrupt framing)", n, pos)
		}
		metaLen := int64(int32(binary.LittleEndian.Uint32(prefix[4:])))
		if metaLen == 0 { // end-of-stream marker: only the footer may follow
			if pos+8 != l.FooterStart {
				return errorf("end-of-stream marker at byte %d is followed by %d bytes before the footer (two readings of one file)", pos, l.FooterStart-pos-8)
			}
			l.EOS = true
			break
		}
		if metaLen < 0 || metaLen > int64(lim.MaxMetadata) || pos+8+metaLen > l.FooterStart {
			return errorf("message %d at byte %d: metadata length %d out of bounds", n, pos, metaLen)
		}
		meta := make([]byte, metaLen)
		if _, err := r.ReadAt(meta, pos+8); err != nil {
			return fmt.Errorf("read message %d: %w", n, err)
		}
		blk, err := checkMessage(meta, lim)
		if err != nil {
			return errorf("message %d at byte %d: %v", n, pos, err)
		}
		blk.Offset, blk.Meta, blk.MetaData = pos, int32(8+metaLen), meta
		if blk.Body > l.FooterStart-pos-8-metaLen {
			return errorf("message %d at byte %d: body of %d bytes overruns the footer", n, pos, blk.Body)
		}
		switch {
		case n == 0 && blk.Kind != msgSchema:
			return errorf("the first message is not the schema")
		case n == 0:
			l.Schema = blk
		case blk.Kind == msgDictionary:
			l.Dicts = append(l.Dicts, blk)
		case blk.Kind == msgRecord:
			l.Records = append(l.Records, blk)
		default:
			return errorf("message %d at byte %d: a second schema or an unsupported message", n, pos)
		}
		pos += 8 + metaLen + blk.Body
	}
	if l.Schema.Kind != msgSchema {
		return errorf("no schema message")
	}
	return nil
}

// checkMessage checks one message's metadata (Message.fbs).
func checkMessage(meta []byte, lim Limits) (Block, error) {
	f := fb{meta}
	msg, err := f.root()
	if err != nil {
		return Block{}, err
	}
	kind, err := f.scalar8(msg, 1)
	if err != nil {
		return Block{}, err
	}
	header, ok, err := f.subtable(msg, 2)
	if err != nil || !ok {
		return Block{}, fmt.Errorf("no readable header")
	}
	body, err := f.scalar64(msg, 3)
	if err != nil {
		return Block{}, err
	}
	if body < 0 || body > lim.MaxBatchBody {
		return Block{}, fmt.Errorf("body of %d bytes (limit %d)", body, lim.MaxBatchBody)
	}
	blk := Block{Kind: kind, Body: body}
	switch kind {
	case msgSchema:
		if body != 0 {
			return Block{}, fmt.Errorf("schema message with a body")
		}
		err = checkSchema(f, header, &blk.dictIDs)
	case msgDictionary:
		data, ok, err2 := f.subtable(header, 1)
		if err2 != nil || !ok {
			return Block{}, fmt.Errorf("dictionary batch without data")
		}
		blk.Rows, err = checkBatch(f, data, body, lim.MaxBatchBody*8)
	case msgRecord:
		blk.Rows, err = checkBatch(f, header, body, lim.MaxBatchRows)
	default:
		return Block{}, fmt.Errorf("unsupported message type %d", kind)
	}
	return blk, err
}

// checkBatch checks a RecordBatch table against its body: rows, field
// nodes and buffers.
func checkBatch(f fb, rb table, body, maxRows int64) (int64, error) {
	rows, err := f.scalar64(rb, 0)
	if err != nil {
		return 0, err
	}
	if rows < 0 || rows > maxRows {
		return 0, fmt.Errorf("batch of %d rows (limit %d)", rows, maxRows)
	}
	if _, ok, err := f.subtable(rb, 3); err != nil || ok {
		return 0, fmt.Errorf("compressed buffers (trialog never writes them)")
	}
	if _, n, err := f.vector(rb, 4, 8); err != nil || n > 0 {
		return 0, fmt.Errorf("variadic buffers (view types are not used by trialog)")
	}
	start, n, err := f.vector(rb, 1, 16)
	if err != nil {
		return 0, err
	}
	// Every element takes at least one bit of some buffer, except nulls,
	// which are never longer than the batch.
	maxLen := max(rows, 8*body)
	for k := 0; k < n; k++ {
		length, _ := f.i64(start + 16*k)
		nulls, _ := f.i64(start + 16*k + 8)
		if length < 0 || length > maxLen || nulls < 0 || nulls > length {
			return 0, fmt.Errorf("field node %d: length %d, nulls %d out of bounds", k, length, nulls)
		}
	}
	if start, n, err = f.vector(rb, 2, 16); err != nil {
		return 0, err
	}
	end := int64(0)
	for k := 0; k < n; k++ {
		off, _ := f.i64(start + 16*k)
		length, _ := f.i64(start + 16*k + 8)
		if length == 0 {
			continue
		}
		if off < end || length < 0 || off > body || length > body-off {
			return 0, fmt.Errorf("buffer %d (%d bytes at %d) outside the body of %d bytes or overlapping the previous one", k, length, off, body)
		}
		end = off + length
	}
	return rows, nil
}
