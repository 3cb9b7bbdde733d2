package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

func writeTemp(t testing.TB, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCSVInference(t *testing.T) {
	p := writeTemp(t, "x.csv", "\"SITEID\",\"AGE\",\"DOSE\",\"NOTE\",\"EMPTY\"\n\"701\",63,0.4,\"a,b\",NA\n\"702\",NA,1,\"say \"\"hi\"\"\",NA\r\n\"703\",70,2e-3,\"multi\nline\",\n")
	f, err := Open(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]arrow.DataType{"SITEID": arrow.BinaryTypes.String, "AGE": arrow.PrimitiveTypes.Int64,
		"DOSE": arrow.PrimitiveTypes.Float64, "NOTE": arrow.BinaryTypes.String, "EMPTY": arrow.BinaryTypes.String}
	for _, fl := range f.Schema().Fields() {
		if !arrow.TypeEqual(fl.Type, want[fl.Name]) {
			t.Errorf("%s: %s, want %s", fl.Name, fl.Type, want[fl.Name])
		}
	}
	b, err := f.Batches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rows := 0
	for b.Next() {
		rows += int(b.Record().NumRows())
	}
	if err := b.Err(); err != nil || rows != 3 {
		t.Fatalf("rows %d err %v", rows, err)
	}
}

func TestDetect(t *testing.T) {
	for name, content := range map[string]string{"a.csv": "A\n1\n", "noext": "ARROW1\x00\x00", "b.parquet": "PAR1xxxx"} {
		p := writeTemp(t, name, content)
		got, err := detect(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := map[string]Format{"a.csv": CSV, "noext": ArrowFile, "b.parquet": Parquet}[name]; got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if _, err := detect(writeTemp(t, "mystery.bin", "\x01\x02")); !errors.Is(err, ErrInput) {
		t.Errorf("unknown format: %v", err)
	}
}

// FuzzCSV: any bytes either open and read as a table or fail with one
// input error; never a panic, never a multi-line message.
func FuzzCSV(f *testing.F) {
	f.Add("\"A\",\"B\"\n\"x\",1\n")
	f.Add("A,B\n1,2\n3\n")
	f.Add("A\n\"unterminated\n")
	f.Add("A,A\n1,2\n")
	raw, _ := os.ReadFile("../testdata/cdiscpilot01/dm.csv")
	f.Add(string(raw[:min(len(raw), 2000)]))
	f.Fuzz(func(t *testing.T, content string) {
		p := writeTemp(t, "fuzz.csv", content)
		file, err := Open(context.Background(), p, Options{Format: CSV, BatchRows: 7})
		if err == nil {
			var b *Batches
			if b, err = file.Batches(context.Background()); err == nil {
				for b.Next() {
					if rec := b.Record(); rec.NumCols() != int64(file.Schema().NumFields()) {
						t.Fatalf("batch has %d columns, schema %d", rec.NumCols(), file.Schema().NumFields())
					}
				}
				err = b.Err()
				b.Close()
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("not an input error: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
		}
	})
}

// TestPinnedTypeErrorHidesValue: a cell that does not parse as its pinned
// type is reported by line and column, never quoted.
func TestPinnedTypeErrorHidesValue(t *testing.T) {
	p := writeTemp(t, "x.csv", "A,B\n1,2\n3,SECRET\n")
	schema := arrow.NewSchema([]arrow.Field{{Name: "A", Type: arrow.PrimitiveTypes.Int64}, {Name: "B", Type: arrow.PrimitiveTypes.Int64}}, nil)
	_, err := Open(context.Background(), p, Options{Schema: schema})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "column B") || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error %v", err)
	}
	if got := withoutValues(`strconv.ParseInt: parsing "SECRET": invalid syntax`); strings.Contains(got, "SECRET") {
		t.Fatalf("withoutValues kept the value: %s", got)
	}
}

// panickyReader stands for an Arrow reader that panics on a crafted file.
type panickyReader struct{ array.RecordReader }

func (panickyReader) Next() bool            { panic("index out of range [-5]: secret-bytes") }
func (panickyReader) Err() error            { return nil }
func (panickyReader) Release()              {}
func (panickyReader) Retain()               {}
func (panickyReader) Schema() *arrow.Schema { return arrow.NewSchema(nil, nil) }

// TestReaderPanicIsInputError: a reader's panic ends the pass with one
// input error naming the file and quoting nothing of it.
func TestReaderPanicIsInputError(t *testing.T) {
	b := &Batches{RecordReader: panickyReader{}, name: "crafted.arrow"}
	if b.Next() {
		t.Fatal("Next after a panic")
	}
	if b.Next() {
		t.Fatal("Next twice after a panic")
	}
	err := b.Err()
	if !errors.Is(err, ErrInput) || !strings.HasPrefix(err.Error(), "crafted.arrow: ") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("got %v", err)
	}
}
