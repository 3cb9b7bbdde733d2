package datasetjson_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/datasetjson"
	"github.com/trialog/trialog/source/xpt"
)

const msgDir = "../../../shared/data/datasetjson-msg"

var domains = []string{"ae", "dm", "ds", "ex", "lb", "sv", "ts", "vs"}

// table is a materialised dataset with values normalised for comparison
// across formats: strings as is, numbers (integer or float) as "num:" plus 15
// significant digits, booleans as "bool:true"/"bool:false", null as nil.
type table struct {
	schema *arrow.Schema
	names  []string
	rows   [][]any
}

func norm(col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch c := col.(type) {
	case *array.String:
		return c.Value(i)
	case *array.Int64:
		return "num:" + strconv.FormatFloat(float64(c.Value(i)), 'g', 15, 64)
	case *array.Float64:
		return "num:" + strconv.FormatFloat(c.Value(i), 'g', 15, 64)
	case *array.Boolean:
		return "bool:" + strconv.FormatBool(c.Value(i))
	case *array.Decimal128:
		return "num:" + strconv.FormatFloat(c.Value(i).ToFloat64(c.DataType().(*arrow.Decimal128Type).Scale), 'g', 15, 64)
	case *array.Date32:
		return c.Value(i).FormattedString()
	case *array.Timestamp:
		return c.Value(i).ToTime(arrow.Microsecond).Format("2006-01-02T15:04:05.999999")
	case *array.Time64:
		return c.Value(i).FormattedString(arrow.Microsecond)
	}
	panic(fmt.Sprintf("unexpected column type %s", col.DataType()))
}

// drain reads a RecordReader to the end, checking batches against the
// schema; it does not release rr.
func drain(t testing.TB, rr array.RecordReader) (table, error) {
	t.Helper()
	tb := table{schema: rr.Schema()}
	for _, f := range rr.Schema().Fields() {
		tb.names = append(tb.names, f.Name)
	}
	var err error
	tb.rows, err = testutil.Rows(t, rr, norm)
	return tb, err
}

type opener func(data []byte, name string, mem memory.Allocator) (array.RecordReader, error)

func openDJ(data []byte, name string, mem memory.Allocator) (array.RecordReader, error) {
	return datasetjson.NewReaderFor(bytes.NewReader(data), name, datasetjson.WithAllocator(mem), datasetjson.WithBatchSize(500))
}

func openXPT(data []byte, name string, mem memory.Allocator) (array.RecordReader, error) {
	return xpt.NewReader(bytes.NewReader(data), name, xpt.WithAllocator(mem), xpt.WithBatchSize(500))
}

func readWith(t testing.TB, open opener, path string) table {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rr, err := open(testutil.ReadFileOrSkip(t, path), filepath.Base(path), mem)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	tb, err := drain(t, rr)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestCrossFormat reads every datasetjson-msg domain in its four formats and
// compares them cell by cell, with .json as the reference.
//
// Real differences between the formats, found on this data and accepted
// here:
//   - Types: Dataset-JSON integer columns are Int64, XPT has only Float64;
//     the normalisation compares both as numbers.
//   - Numbers are compared at 15 significant digits: the IBM floats of the
//     XPT file can differ from the decimal text in the 16th-17th digit
//     (LB.LBSTRESN 8.549999999999999 in lb.xpt, 8.55 in lb.json).
//   - Missing character values: XPT cannot store a null string, only
//     blanks, which read as "". Where Dataset-JSON has null in a string
//     column, the XPT cell would be "" (counted and logged, not an error).
//     On this data it never happens: the Dataset-JSON files write missing
//     strings as "" and use null only in numeric columns, exactly where the
//     XPT files hold SAS missing values.
//
// Apart from the Int64/Float64 type of integer columns, all four formats
// agree on every cell.
func TestCrossFormat(t *testing.T) {
	for _, dom := range domains {
		t.Run(dom, func(t *testing.T) {
			ref := readWith(t, openDJ, filepath.Join(msgDir, dom+".json"))
			if want := ref.schema.Metadata().Values()[ref.schema.Metadata().FindKey("records")]; want != strconv.Itoa(len(ref.rows)) {
				t.Errorf("records %s, rows %d", want, len(ref.rows))
			}
			for _, other := range []struct {
				ext  string
				open opener
			}{{"ndjson", openDJ}, {"dsjc", openDJ}, {"xpt", openXPT}} {
				got := readWith(t, other.open, filepath.Join(msgDir, dom+"."+other.ext))
				compareTables(t, dom+".json", dom+"."+other.ext, ref, got, other.ext == "xpt")
			}
		})
	}
}

func compareTables(t *testing.T, refName, name string, ref, got table, xptSide bool) {
	t.Helper()
	if fmt.Sprint(ref.names) != fmt.Sprint(got.names) {
		t.Errorf("%s columns %v, %s columns %v", refName, ref.names, name, got.names)
		return
	}
	if len(ref.rows) != len(got.rows) {
		t.Errorf("%s has %d rows, %s has %d", refName, len(ref.rows), name, len(got.rows))
		return
	}
	diffs, nullBlank := 0, 0
	for i := range ref.rows {
		for j := range ref.rows[i] {
			a, b := ref.rows[i][j], got.rows[i][j]
			if a == b {
				continue
			}
			if xptSide && a == nil && b == "" && ref.schema.Field(j).Type.ID() == arrow.STRING {
				nullBlank++ // XPT has no null string
				continue
			}
			diffs++
			if diffs <= 20 {
				t.Errorf("row %d column %s: %s %#v, %s %#v", i+1, ref.names[j], refName, a, name, b)
			}
		}
	}
	if diffs > 20 {
		t.Errorf("%s vs %s: %d cells differ in all", refName, name, diffs)
	}
	if nullBlank > 0 {
		t.Logf("%s vs %s: %d null strings in JSON are \"\" in XPT", refName, name, nullBlank)
	}
}

func TestColumnMetadata(t *testing.T) {
	tb := readWith(t, openDJ, filepath.Join(msgDir, "dm.json"))
	md := tb.schema.Metadata()
	for k, want := range map[string]string{"name": "DM", "label": "Demographics", "itemGroupOID": "IG.DM", "studyOID": "cdisc.com/CDISCPILOT01", "records": "18"} {
		if got, _ := md.GetValue(k); got != want {
			t.Errorf("schema %s = %q, want %q", k, got, want)
		}
	}
	f, _ := tb.schema.FieldsByName("USUBJID")
	for k, want := range map[string]string{"label": "Unique Subject Identifier", "dataType": "string", "length": "8", "keySequence": "2", "itemOID": "IT.DM.USUBJID"} {
		if got, _ := f[0].Metadata.GetValue(k); got != want {
			t.Errorf("USUBJID %s = %q, want %q", k, got, want)
		}
	}
	age, _ := tb.schema.FieldsByName("AGE")
	if age[0].Type.ID() != arrow.FLOAT64 {
		t.Errorf("AGE type %s", age[0].Type)
	}
}

// TestCrossFormatExactNumbers pins the numeric cells where the XPT value is
// not the float64 nearest to the Dataset-JSON decimal text. SAS wrote these
// IBM floats from values that were already a few units off in the last
// place (e.g. 8.549999999999999); the exact IBM → IEEE conversion keeps
// that, and the 15-digit comparison above accepts it. On this data it is
// LB only: 695 cells (LBSTRESN 400, LBSTNRLO 128, LBSTNRHI 167), and all of
// them agree to 15 significant digits.
func TestCrossFormatExactNumbers(t *testing.T) {
	want := map[string]int{"lb": 695}
	for _, dom := range domains {
		_, jr := readExact(t, openDJ, filepath.Join(msgDir, dom+".json"))
		names, xr := readExact(t, openXPT, filepath.Join(msgDir, dom+".xpt"))
		diffs, perCol := 0, map[string]int{}
		for c := range jr {
			for i := range jr[c] {
				a, b := jr[c][i], xr[c][i]
				if a == nil || b == nil || *a == *b {
					continue
				}
				diffs++
				perCol[names[c]]++
				if strconv.FormatFloat(*a, 'g', 15, 64) != strconv.FormatFloat(*b, 'g', 15, 64) {
					t.Errorf("%s row %d: json %v, xpt %v differ at 15 digits", dom, i+1, *a, *b)
				}
			}
		}
		if diffs != want[dom] {
			t.Errorf("%s: %d numeric cells differ at full precision (%v), want %d", dom, diffs, perCol, want[dom])
		} else if diffs > 0 {
			t.Logf("%s: %d cells differ beyond 15 digits, per column %v", dom, diffs, perCol)
		}
	}
}

// exactCols holds the numeric columns of a dataset as float64 (nil for
// null and for non-numeric columns' cells), indexed [column][row].
type exactCols [][]*float64

func readExact(t *testing.T, open opener, path string) ([]string, exactCols) {
	t.Helper()
	rr, err := open(testutil.ReadFileOrSkip(t, path), filepath.Base(path), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	cols := make(exactCols, len(rr.Schema().Fields()))
	for rr.Next() {
		rec := rr.Record()
		for c, col := range rec.Columns() {
			for i := 0; i < col.Len(); i++ {
				var v *float64
				if !col.IsNull(i) {
					switch a := col.(type) {
					case *array.Float64:
						f := a.Value(i)
						v = &f
					case *array.Int64:
						f := float64(a.Value(i))
						v = &f
					}
				}
				cols[c] = append(cols[c], v)
			}
		}
	}
	if rr.Err() != nil {
		t.Fatal(rr.Err())
	}
	var names []string
	for _, f := range rr.Schema().Fields() {
		names = append(names, f.Name)
	}
	return names, cols
}
