package verify_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/disclosure"
)

// TestDerivedLayout: a v4 derived package verifies against its data file;
// a metadata record that runs past its end, a chunk of leaf tags that is
// not whole tags, and metadata moved back into the schema are rejected as
// packages (one ErrPackage line), and a flipped tag names its row.
func TestDerivedLayout(t *testing.T) {
	p := pilotTrial(t)
	if rep, err := verifyFile(p, p.derivedDM, openData(t, p.dm)); err != nil || !rep.OK || rep.Rows != 306 {
		t.Fatalf("derived DM: %v %+v", err, rep)
	}
	values, schema := derivedValues(t, p.derivedDM)
	for name, tc := range map[string]struct {
		edit   func(v [][]byte) [][]byte
		schema func(*arrow.Schema) *arrow.Schema
		want   string // "" for a report naming row 5
	}{
		"record runs past its end": {edit: func(v [][]byte) [][]byte { v[0] = append(v[0], 40, 't'); return v }, want: "metadata record"},
		"half a tag":               {edit: func(v [][]byte) [][]byte { v[1] = v[1][:len(v[1])-1]; return v }, want: "leaf tags"},
		"metadata in the schema": {schema: func(s *arrow.Schema) *arrow.Schema {
			md := arrow.NewMetadata(append(s.Metadata().Keys(), "trialog.selection"), append(s.Metadata().Values(), "range"))
			return arrow.NewSchema(s.Fields(), &md)
		}, want: "schema metadata"},
		"flipped tag": {edit: func(v [][]byte) [][]byte { v[1][5*disclosure.LeafTagSize] ^= 1; return v }},
	} {
		t.Run(name, func(t *testing.T) {
			v := make([][]byte, len(values))
			for i := range values {
				v[i] = append([]byte(nil), values[i]...)
			}
			s := schema
			if tc.edit != nil {
				v = tc.edit(v)
			}
			if tc.schema != nil {
				s = tc.schema(s)
			}
			rep, err := verifyFile(p, writeDerived(t, s, v), openData(t, p.dm))
			if tc.want != "" {
				if !errors.Is(err, disclosure.ErrPackage) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("got %v, want one ErrPackage line on %q", err, tc.want)
				}
				return
			}
			if err != nil || rep.OK || rep.BadRowCount != 1 || rep.BadRows[0].Row != 5 {
				t.Fatalf("flipped tag: %v %+v", err, rep)
			}
		})
	}
}

// derivedValues reads the values of a derived package's one column.
func derivedValues(t *testing.T, path string) ([][]byte, *arrow.Schema) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fr, err := ipc.NewFileReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	var out [][]byte
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordAt(i)
		if err != nil {
			t.Fatal(err)
		}
		col := rec.Column(0).(*array.Binary)
		for j := 0; j < col.Len(); j++ {
			out = append(out, append([]byte(nil), col.Value(j)...))
		}
		rec.Release()
	}
	return out, fr.Schema()
}

// writeDerived writes values as one record batch of a derived package.
func writeDerived(t *testing.T, schema *arrow.Schema, values [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "derived.arrow")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, err := ipc.NewFileWriter(fh, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewBinaryBuilder(memory.DefaultAllocator, disclosure.DerivedType)
	for _, v := range values {
		b.Append(v)
	}
	col := b.NewArray()
	rec := array.NewRecord(schema, []arrow.Array{col}, int64(len(values)))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	col.Release()
	b.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
