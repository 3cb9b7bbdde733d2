package datasetjson_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/datasetjson"
)

// readBytes reads data with the framing chosen by name's extension.
func readBytes(t testing.TB, data []byte, name string) (table, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rr, err := openDJ(data, name, mem)
	if err != nil {
		return table{}, err
	}
	defer rr.Release()
	return drain(t, rr)
}

const small = `{"datasetJSONVersion":"1.1.0","records":3,"name":"DM","label":"Demographics","itemGroupOID":"IG.DM","studyOID":"S",
"columns":[{"itemOID":"IT.USUBJID","name":"USUBJID","label":"Subject","dataType":"string","length":8,"keySequence":1},
{"itemOID":"IT.AGE","name":"AGE","dataType":"integer"},
{"itemOID":"IT.H","name":"HEIGHT","dataType":"decimal","targetDataType":"decimal"},
{"itemOID":"IT.W","name":"WEIGHT","dataType":"double"},
{"itemOID":"IT.F","name":"FL","dataType":"boolean"},
{"itemOID":"IT.D","name":"DTC","dataType":"datetime"}],
"rows":[["A",63,"170.5",70.25,true,"2014-01"],["B",null,170,1e2,false,""],[null,7,null,null,null,null]]}`

func TestTypesAndValues(t *testing.T) {
	tb, err := readBytes(t, []byte(small), "dm.json")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"A", "num:63", "num:170.5", "num:70.25", "bool:true", "2014-01"},
		{"B", nil, "num:170", "num:100", "bool:false", ""},
		{nil, "num:7", nil, nil, nil, nil},
	}
	if fmt.Sprint(tb.rows) != fmt.Sprint(want) {
		t.Errorf("rows %v\nwant %v", tb.rows, want)
	}
	wantTypes := []arrow.DataType{arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float64, datasetjson.DecimalType,
		arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean, arrow.BinaryTypes.String}
	for i, f := range tb.schema.Fields() {
		if !arrow.TypeEqual(f.Type, wantTypes[i]) || !f.Nullable {
			t.Errorf("field %s: %s nullable=%v", f.Name, f.Type, f.Nullable)
		}
	}
	if v, _ := tb.schema.Field(2).Metadata.GetValue("targetDataType"); v != "decimal" {
		t.Errorf("targetDataType %q", v)
	}
}

// ndjsonOf turns the small .json document into NDJSON lines.
func ndjsonOf(meta string, rows ...string) []byte {
	return []byte(meta + "\n" + strings.Join(rows, "\n") + "\n")
}

const smallMeta = `{"records":2,"name":"X","columns":[{"name":"A","dataType":"string"},{"name":"N","dataType":"integer"}]}`

func TestNDJSONAndCompressed(t *testing.T) {
	nd := ndjsonOf(smallMeta, `["a",1]`, `["b",null]`)
	tb, err := readBytes(t, nd, "x.ndjson")
	if err != nil || len(tb.rows) != 2 {
		t.Fatalf("ndjson: %v %v", tb.rows, err)
	}
	var gz, zl bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(nd)
	gw.Close()
	zw := zlib.NewWriter(&zl)
	zw.Write(nd)
	zw.Close()
	for name, data := range map[string][]byte{"gz.dsjc": gz.Bytes(), "zlib.dsjc": zl.Bytes()} {
		got, err := readBytes(t, data, name)
		if err != nil || fmt.Sprint(got.rows) != fmt.Sprint(tb.rows) {
			t.Errorf("%s: %v %v", name, got.rows, err)
		}
	}
	// Corrupt the compressed payloads and cut them short.
	for name, data := range map[string][]byte{"gz.dsjc": gz.Bytes(), "zlib.dsjc": zl.Bytes()} {
		bad := bytes.Clone(data)
		bad[len(bad)-3] ^= 0xff // checksum / length trailer
		_, err := readBytes(t, bad, name)
		testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, name, "")
		_, err = readBytes(t, data[:len(data)/2], name)
		testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, name, "")
	}
	_, err = readBytes(t, nd, "raw.dsjc")
	testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, "raw.dsjc", "offset 0: not a zlib or gzip stream (first bytes 7b 22)")
	_, err = readBytes(t, nil, "empty.dsjc")
	testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, "empty.dsjc", "truncated file")
}

func TestMalformedJSON(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"a.json", `{"columns":[{"name":"AGE","dataType":"integer"}],"rows":[[1],[2],["x"]]}`,
			`row 2: column AGE: want integer, got a string`},
		{"a.json", `{"columns":[{"name":"AGE","dataType":"integer"}],"rows":[[99999999999999999999]]}`, `want integer, got a whole number beyond 2^53`},
		{"a.json", "{\"columns\":[{\"name\":\"S\",\"dataType\":\"string\"}],\"rows\":[[\"a\"],[\"b\xffc\"]]}", `row 1: column S: text is not valid UTF-8`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["\ud800x"]]}`, `row 0: column S: text is not valid UTF-8`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["\udc00\ud800"]]}`, `row 0: column S: text is not valid UTF-8`},
		{"a.json", "{\"label\":\"\xfe\",\"columns\":[{\"name\":\"S\",\"dataType\":\"string\"}],\"rows\":[]}", `"label": text is not valid UTF-8`},
		{"a.ndjson", "{\"columns\":[{\"name\":\"S\xff\",\"dataType\":\"string\"}]}\n", `text is not valid UTF-8`},
		{"a.ndjson", "{\"columns\":[{\"name\":\"S\",\"dataType\":\"string\"}]}\n[\"\xc3\"]\n", `row 0 (line 2): column S: text is not valid UTF-8`},
		{"a.json", `{"columns":[{"name":"D","dataType":"date","targetDataType":"integer"}],"rows":[["2014-03"]]}`, `row 0: column D: want a complete ISO 8601 date`},
		{"a.json", `{"columns":[{"name":"D","dataType":"date","targetDataType":"integer"}],"rows":[[19000]]}`, `row 0: column D: want date as ISO 8601 text, got a number`},
		{"a.json", `{"columns":[{"name":"D","dataType":"datetime","targetDataType":"integer"}],"rows":[["2014-03-01T10:00:00+01:00"]]}`, `want a complete ISO 8601 datetime without time zone`},
		{"a.json", `{"columns":[{"name":"D","dataType":"time","targetDataType":"integer"}],"rows":[["25:00"]]}`, `want a complete ISO 8601 time`},
		{"a.json", `{"columns":[{"name":"H","dataType":"decimal"}],"rows":[["0.0000000000000000001"]]}`, `more than 18 digits after the point`},
		{"a.json", `{"columns":[{"name":"H","dataType":"decimal"}],"rows":[["1e-2000000000"]]}`, `more than 18 digits after the point`},
		{"a.json", `{"columns":[{"name":"H","dataType":"decimal"}],"rows":[[1e999]]}`, `more than 20 digits before the point`},
		{"a.json", `{"columns":[{"name":"H","dataType":"decimal"}],"rows":[["1.5"],["NaN"]]}`, `row 1: column H: want decimal, got a string`},
		{"a.json", `{"columns":[{"name":"H","dataType":"decimal"}],"rows":[[""]]}`, `row 0: column H: want decimal, got a string`},
		{"a.json", `{"columns":[{"name":"H","dataType":"float"}],"rows":[["1.5"]]}`, `row 0: column H: want float, got a string`},
		{"a.json", `{"columns":[{"name":"H","dataType":"float"}],"rows":[[1e999]]}`, `out of range`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[[5]]}`, `row 0: column S: want string as a JSON string, got a number`},
		{"a.json", `{"columns":[{"name":"B","dataType":"boolean"}],"rows":[["true"]]}`, `want boolean, got a string`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[[["nested"]]]}`, `row 0: column S: want string, got an array`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"},{"name":"T","dataType":"string"}],"rows":[["a","b"],["a"]]}`,
			`row 1: 1 values, want 2`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["a","b"]]}`, `row 0: 2 values, want 1`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":["a"]}`, `row 0: want a JSON array, got a string`},
		{"a.json", `{"records":3,"columns":[{"name":"S","dataType":"string"}],"rows":[["a"],["b"]]}`, `records is 3 but the file holds 2 rows`},
		{"a.json", `{"records":1,"columns":[{"name":"S","dataType":"string"}],"rows":[["a"],["b"]]}`, `row 1: more rows than records (1)`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["a"],["b"]],"records":5}`, `records is 5 but the file holds 2 rows`},
		{"a.json", `{"records":-1,"columns":[{"name":"S","dataType":"string"}],"rows":[]}`, `negative count`},
		{"a.json", `{"rows":[["a"]],"columns":[{"name":"S","dataType":"string"}]}`, `"rows" comes before "columns"`},
		{"a.json", `{"name":"X"}`, `no "columns"`},
		{"a.json", `{"columns":[]}`, `no columns`},
		{"a.json", `{"columns":[{"name":"S","dataType":"text"}]}`, `column S: unknown dataType "text"`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"},{"name":"S","dataType":"string"}]}`, `duplicate name S`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string","length":"8"}]}`, `"columns": json: cannot unmarshal string`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"columns":[]}`, `duplicate "columns"`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["a"]],"rows":[]}`, `duplicate "rows"`},
		{"a.json", `{"clinicalData":{}}`, `Dataset-JSON v1.0 is not supported`},
		{"a.json", `[1,2]`, `start of file: want a JSON object, got an array`},
		{"a.json", ``, `start of file: unexpected end of input`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["a"]]} {}`, `end of file: unexpected an object after the dataset object`},
		{"a.json", `{"columns":[{"name":"S","dataType":"string"}],"rows":[["a"] x]}`, `invalid JSON at byte`},
		{"a.json", `{"columns":[{"name":"S" "dataType":"string"}]}`, `invalid JSON at byte`},
		{"a.ndjson", "{\"columns\":[{\"name\":\"S\",\"dataType\":\"string\"}]}\n[\"a\"]\n{\"x\":1}\n", `row 1 (line 3): want a JSON array, got an object`},
		{"a.ndjson", "{\"columns\":[{\"name\":\"S\",\"dataType\":\"integer\"}]}\n[1]\n[\"x\"]\n", `row 1 (line 3): column S: want integer, got a string`},
		{"a.ndjson", "{\"records\":3,\"columns\":[{\"name\":\"S\",\"dataType\":\"integer\"}]}\n[1]\n", `records is 3 but the file holds 1 rows`},
		{"a.ndjson", "[\"a\"]\n", `line 1 (metadata): json: cannot unmarshal array`},
		{"a.ndjson", "{\"name\":\"X\"}\n", `line 1 (metadata): no "columns"`},
		{"a.ndjson", "{\"columns\":[{\"name\":\"S\",\"dataType\":\"integer\"}]}\n[1]\n]\n", `line 3 (after 1 rows): invalid JSON`},
		{"a.txt", "", `unknown Dataset-JSON extension ".txt"`},
	} {
		_, err := readBytes(t, []byte(tc.doc), tc.name)
		if tc.name == "a.txt" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v", err)
			}
			continue
		}
		testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, tc.name, tc.want)
	}
}

func TestEmptyDataset(t *testing.T) {
	for name, doc := range map[string]string{
		"norows.json":  `{"records":0,"columns":[{"name":"S","dataType":"string"}]}`,
		"empty.json":   `{"columns":[{"name":"S","dataType":"string"}],"rows":[],"records":0}`,
		"empty.ndjson": `{"records":0,"columns":[{"name":"S","dataType":"string"}]}`,
	} {
		tb, err := readBytes(t, []byte(doc), name)
		if err != nil || len(tb.rows) != 0 || len(tb.names) != 1 {
			t.Errorf("%s: %v %v", name, tb, err)
		}
	}
}

// TestTruncatedRealFiles cuts real files at several offsets: every cut is
// one clear error (a cut of .ndjson exactly at a line end is a valid file
// with fewer rows, caught by the records count).
func TestTruncatedRealFiles(t *testing.T) {
	for _, name := range []string{"dm.json", "dm.ndjson", "dm.dsjc", "ae.json", "ae.ndjson", "ae.dsjc"} {
		data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, name))
		for _, frac := range []float64{0.001, 0.05, 0.3, 0.5, 0.9, 0.999} {
			at := int(float64(len(data)) * frac)
			_, err := readBytes(t, data[:at], name)
			testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, name, "")
		}
		// Every line boundary of NDJSON: a missing row is a records mismatch.
		if strings.HasSuffix(name, ".ndjson") {
			for i := 0; i < len(data)-1; i++ {
				if data[i] == '\n' {
					_, err := readBytes(t, data[:i+1], name)
					testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, name, "")
				}
			}
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestIOErrorIsNotMalformed(t *testing.T) {
	boom := errors.New("disk on fire")
	data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "dm.json"))
	r, err := datasetjson.NewReader(io.MultiReader(bytes.NewReader(data[:5000]), errReader{boom}), "dm.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	for r.Next() {
	}
	if !errors.Is(r.Err(), boom) || errors.Is(r.Err(), datasetjson.ErrMalformed) {
		t.Errorf("got %v", r.Err())
	}
}

func TestBatching(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := datasetjson.NewReader(bytes.NewReader(testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "lb.json"))), "lb.json",
		datasetjson.WithAllocator(mem), datasetjson.WithBatchSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if sizes, err := testutil.BatchSizes(r); err != nil || sizes != "[1000 1000 1000 488]" {
		t.Errorf("batches %v err %v", sizes, err)
	}
	if md := r.Metadata(); md.Name != "LB" || *md.Records != 3488 || len(md.Columns) != 23 {
		t.Errorf("metadata %+v", md)
	}
}

// TestMemoryDoesNotGrowWithRows reads 300,000 generated rows and checks that
// the Arrow memory in use never exceeds what one batch needs.
func TestMemoryDoesNotGrowWithRows(t *testing.T) {
	const rows = 300_000
	g := &testutil.Stream{N: rows,
		Head: []byte(`{"columns":[{"name":"S","dataType":"string"},{"name":"N","dataType":"integer"},{"name":"D","dataType":"decimal"},{"name":"X","dataType":"float"}],"rows":[`),
		Row: func(dst []byte, i int) []byte {
			if i > 0 {
				dst = append(dst, ',')
			}
			return fmt.Appendf(dst, `["subject-%08d",%d,"%d.25",null]`, i+1, i+1, i+1)
		},
		Tail: fmt.Appendf(nil, `],"records":%d}`, rows)}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := datasetjson.NewReader(g, "gen.json", datasetjson.WithAllocator(mem), datasetjson.WithBatchSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckFlatMemory(t, r, mem, rows, 256<<10)
}

// TestNumericDatesDecimalsAndIntegerWarning: date/datetime/time columns
// with targetDataType integer (SAS numerics) are read as calendar values,
// ISO text in other date columns stays text (partial dates included),
// decimal strings keep every digit, and a column declared integer that
// holds 2.5 is accepted with one warning naming the column and first row.
func TestNumericDatesDecimalsAndIntegerWarning(t *testing.T) {
	doc := `{"columns":[{"name":"ADT","dataType":"date","targetDataType":"integer"},
{"name":"ADTM","dataType":"datetime","targetDataType":"integer"},
{"name":"ATM","dataType":"time","targetDataType":"integer"},
{"name":"DTC","dataType":"date"},
{"name":"CHG","dataType":"decimal","targetDataType":"decimal"},
{"name":"PCHG","dataType":"integer"}],
"rows":[["2014-01-02","2014-01-02T10:30","10:30:15.5","2014-03","0.123456789012345678",1],
[null,"2014-01-02T10:30:00.000001","00:00","2014-03-01","-8.550",2.5],
["1960-01-01","1960-01-01T00:00:00","23:59:59",null,"12",-7.25]]}`
	var warnings []string
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rr, err := datasetjson.NewReader(strings.NewReader(doc), "adxx.json", datasetjson.WithAllocator(mem),
		datasetjson.WithWarn(func(m string) { warnings = append(warnings, m) }))
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	tb, err := drain(t, rr)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"2014-01-02", "2014-01-02T10:30:00", "10:30:15.500000", "2014-03", "num:0.123456789012346", "num:1"},
		{nil, "2014-01-02T10:30:00.000001", "00:00:00.000000", "2014-03-01", "num:-8.55", "num:2.5"},
		{"1960-01-01", "1960-01-01T00:00:00", "23:59:59.000000", nil, "num:12", "num:-7.25"},
	}
	if fmt.Sprint(tb.rows) != fmt.Sprint(want) {
		t.Errorf("rows %v\nwant %v", tb.rows, want)
	}
	if len(warnings) != 1 || warnings[0] != "adxx.json: column PCHG is declared integer but holds non-integer numbers (first at row 1); they are committed by value" {
		t.Errorf("warnings %q", warnings)
	}
	// Every digit of the decimal string is kept.
	rr2, _ := datasetjson.NewReader(strings.NewReader(doc), "adxx.json")
	defer rr2.Release()
	rr2.Next()
	d := rr2.Record().Column(4).(*array.Decimal128)
	if got := d.Value(0).ToString(18); got != "0.123456789012345678" {
		t.Errorf("decimal %s", got)
	}
}

// TestEscapes: escaped strings decode as encoding/json would for valid
// input, surrogate pairs included, and the scratch buffer never leaks one
// value into another.
func TestEscapes(t *testing.T) {
	doc := `{"columns":[{"name":"A","dataType":"string"},{"name":"B","dataType":"string"}],"rows":[` +
		`["q\"b\\s\/\b\f\n\r\t","plain"],["\u00e9\ud83d\ude00x","\u0041"],["plain2","tail\u0000"]]}`
	tb, err := readBytes(t, []byte(doc), "e.json")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"q\"b\\s/\b\f\n\r\t", "plain"}, {"é😀x", "A"}, {"plain2", "tail\x00"}}
	if fmt.Sprintf("%q", tb.rows) != fmt.Sprintf("%q", want) {
		t.Errorf("rows %q\nwant %q", tb.rows, want)
	}
}

// TestNumericColumnsWithDateFormats: an export that writes SAS dates as
// numbers (days or seconds since 1960) with a SAS date displayFormat, not
// as ISO text, is read as the same calendar values.
func TestNumericColumnsWithDateFormats(t *testing.T) {
	doc := `{"columns":[{"name":"TRTSDT","dataType":"integer","displayFormat":"DATE9."},
{"name":"ADTM","dataType":"double","displayFormat":"DATETIME20."},
{"name":"ATM","dataType":"decimal","displayFormat":"TIME8."},
{"name":"AVAL","dataType":"integer","displayFormat":"8."}],
"rows":[[19725,1704277800,"37815.5",3],[null,0,"0",null]]}`
	tb, err := readBytes(t, []byte(doc), "adxx.json")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"2014-01-02", "2014-01-02T10:30:00", "10:30:15.500000", "num:3"}, {nil, "1960-01-01T00:00:00", "00:00:00.000000", nil}}
	if fmt.Sprint(tb.rows) != fmt.Sprint(want) {
		t.Errorf("rows %v\nwant %v", tb.rows, want)
	}
	_, err = readBytes(t, []byte(strings.Replace(doc, "19725,", "19725.5,", 1)), "adxx.json")
	testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, "adxx.json", "row 0: column TRTSDT: format DATE9.: date value is not a whole number of days")
	_, err = readBytes(t, []byte(strings.Replace(doc, "19725,", `"2014-01-02",`, 1)), "adxx.json")
	testutil.CheckMalformed(t, err, datasetjson.ErrMalformed, "adxx.json", "row 0: column TRTSDT: want integer (a SAS date, format DATE9.), got a string")
}
