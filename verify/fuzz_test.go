package verify_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/hostile"
	"github.com/trialog/trialog/source"
)

// FuzzPackage (issue 12) mutates the structure of packages built from the
// pilot data, the footer, the schema message and the record batches'
// metadata, and verifies the result. The verifier must never panic or
// fail other than with one ErrPackage line or a report; and whenever it
// says OK, an ordinary Arrow stream reader of the same file must see the
// rows it checked (the two readings of one file agree).
//
// region picks the package (high bits) and the part mutated (low bits);
// patch overwrites bytes there, from offset (modulo the part's length).
func FuzzPackage(f *testing.F) {
	p := pilotTrial(f)
	// The third, a derived package, is verified against the DM data file.
	bases := [][]byte{readFile(f, p.subjectDM), readFile(f, p.minimalAE), readFile(f, p.derivedDM)}
	for region := range 8 {
		f.Add(uint8(region), uint32(0), []byte{})
		f.Add(uint8(region), uint32(13), []byte{0xff})
		f.Add(uint8(region), uint32(40), []byte{0, 0, 0, 0x40})
		f.Add(uint8(region|0x10), uint32(7), []byte{0x7f, 0xff})
		f.Add(uint8(region|0x20), uint32(21), []byte{0xff})
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, region uint8, offset uint32, patch []byte) {
		which := int(region>>4) % len(bases)
		base := bases[which]
		l, err := hostile.Layout(base)
		if err != nil {
			t.Fatal(err)
		}
		parts := [][2]int64{
			{l.FooterStart, l.Size},                                                   // footer, its length and magic
			{8, 8 + int64(l.Schema.Meta)},                                             // schema message
			{l.Records[0].Offset, l.Records[0].Offset + 8},                            // first batch's framing
			{l.Records[0].Offset + 8, l.Records[0].Offset + int64(l.Records[0].Meta)}, // its metadata
			{0, 8},                // leading magic
			{0, l.Size},           // anywhere
			{l.Size - 10, l.Size}, // footer length
			{l.FooterStart, l.FooterStart + min(64, l.Size-l.FooterStart)}, // footer root and vtable
		}
		part := parts[int(region&0x0f)%len(parts)]
		b := bytes.Clone(base)
		span := part[1] - part[0]
		at := part[0] + int64(offset)%span
		copy(b[at:min(part[1], at+int64(len(patch)))], patch)
		path := filepath.Join(dir, "fuzz.arrow")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var data *source.File
		if which == 2 {
			data = openData(t, p.dm)
		}
		rep, err := verifyFile(p, path, data)
		if err != nil {
			if !errors.Is(err, disclosure.ErrPackage) || bytes.ContainsRune([]byte(err.Error()), '\n') {
				t.Fatalf("error is not one ErrPackage line: %q", err)
			}
			return
		}
		if !rep.OK {
			return
		}
		sr, err := ipc.NewReader(bytes.NewReader(b[8:]))
		if err != nil {
			t.Fatalf("verified OK, but a stream reader cannot read it: %v", err)
		}
		defer sr.Release()
		var rows uint64
		record := which == 2 // a derived package's first value is its metadata record
		for sr.Next() {
			rec := sr.Record()
			if which != 2 {
				rows += uint64(rec.NumRows())
				continue
			}
			// A derived package: the rows are its leaf tags
			// (docs/package-format.md).
			col, ok := rec.Column(0).(*array.Binary)
			if !ok {
				t.Fatalf("verified OK, but a stream reader sees a %s column", rec.Column(0).DataType())
			}
			for i := 0; i < col.Len(); i++ {
				if record {
					record = false
					continue
				}
				rows += uint64(len(col.Value(i)) / disclosure.LeafTagSize)
			}
		}
		if err := sr.Err(); err != nil && rows != rep.Rows {
			t.Fatalf("verified OK with %d rows, a stream reader fails after %d: %v", rep.Rows, rows, err)
		}
		if rows != rep.Rows {
			t.Fatalf("verified OK with %d rows, a stream reader sees %d", rep.Rows, rows)
		}
	})
}
