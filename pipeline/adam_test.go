package pipeline_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/shareddata"
	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/definexml"
	"github.com/trialog/trialog/source/xpt"
)

// adamFile is a file of the pilot ADaM datasets (SAS XPORT + define.xml).
func adamFile(t *testing.T, name string) string {
	t.Helper()
	return shareddata.Path(t, filepath.Join("cdiscpilot01-adam", name))
}

// adslFullPrecision writes a copy of the pilot adsl.xpt whose AVGDD (average
// daily dose) is CUMDOSE / TRTDUR at full double precision, as a
// derivation without rounding leaves it (the pilot file rounds it to one
// decimal): ratios such as 27/34 = 0.7941176470588235 are what converters
// write with fewer digits, and what the precision policy is for.
func adslFullPrecision(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(adamFile(t, "adsl.xpt"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := xpt.NewReader(bytes.NewReader(raw), "adsl.xpt", xpt.WithRawNumbers())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	vars := r.Variables()
	// TS-140: library header + 2 records, member and descriptor headers,
	// 2 member records, NAMESTR header, NAMESTRs padded to 80, OBS header.
	obsStart := 720 + (len(vars)*140+79)/80*80
	if !bytes.HasPrefix(raw[obsStart-80:], []byte("HEADER RECORD*******OBS")) {
		t.Fatal("adsl.xpt: unexpected header layout")
	}
	offset, obsLen := map[string]int{}, 0
	for _, v := range vars {
		offset[v.Name] = obsLen
		obsLen += v.Length
	}
	idx := func(name string) int { return r.Schema().FieldIndices(name)[0] }
	row, changed := 0, 0
	for r.Next() {
		rec := r.Record()
		cum, dur := rec.Column(idx("CUMDOSE")).(*array.Float64), rec.Column(idx("TRTDUR")).(*array.Float64)
		for i := 0; i < int(rec.NumRows()); i, row = i+1, row+1 {
			if cum.IsNull(i) || dur.IsNull(i) || dur.Value(i) == 0 {
				continue
			}
			v := testutil.IBM(cum.Value(i) / dur.Value(i))
			copy(raw[obsStart+row*obsLen+offset["AVGDD"]:][:8], v[:])
			changed++
		}
	}
	if err := r.Err(); err != nil || changed < 200 {
		t.Fatalf("derived %d values: %v", changed, err)
	}
	path := filepath.Join(t.TempDir(), "adsl.xpt")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// djColumn is one Dataset-JSON 1.1 column definition.
type djColumn struct {
	ItemOID        string `json:"itemOID"`
	Name           string `json:"name"`
	Label          string `json:"label"`
	DataType       string `json:"dataType"`
	TargetDataType string `json:"targetDataType,omitempty"`
	Length         int    `json:"length,omitempty"`
	DisplayFormat  string `json:"displayFormat,omitempty"`
	KeySequence    int    `json:"keySequence,omitempty"`
}

// djDataset is a Dataset-JSON 1.1 dataset in memory: the metadata (in the
// member order of the specification) and the rows, each value a string,
// a json.Number or nil, ready to write.
type djDataset struct {
	CreationDateTime string     `json:"datasetJSONCreationDateTime"`
	Version          string     `json:"datasetJSONVersion"`
	FileOID          string     `json:"fileOID"`
	LastModified     string     `json:"dbLastModifiedDateTime"`
	Originator       string     `json:"originator"`
	SourceSystem     any        `json:"sourceSystem"`
	StudyOID         string     `json:"studyOID"`
	MetaDataVersion  string     `json:"metaDataVersionOID"`
	MetaDataRef      string     `json:"metaDataRef"`
	ItemGroupOID     string     `json:"itemGroupOID"`
	Records          int        `json:"records"`
	Name             string     `json:"name"`
	Label            string     `json:"label"`
	Columns          []djColumn `json:"columns"`
	Rows             [][]any    `json:"rows,omitempty"`
}

// convertToDatasetJSON turns an XPT file into Dataset-JSON 1.1 the way a
// standard converter does (CDISC Dataset-JSON 1.1 specification; SAS
// %write_datasetjson-style output), with the define.xml for types:
//   - character variables: dataType "string" (or the define's date,
//     datetime or time for ISO 8601 character dates, which stay text),
//     with their length;
//   - numerics with a date, datetime or time format: dataType date,
//     datetime or time, targetDataType "integer", ISO 8601 text computed
//     from the SAS value (days or seconds since 1960-01-01);
//   - numerics the define types integer: "integer", JSON numbers;
//   - other numerics: floatsAs ("float": JSON numbers, or "decimal": JSON
//     strings, targetDataType "decimal"), both at 12 significant digits,
//     as SAS BEST12.-style converters write doubles.
func convertToDatasetJSON(t *testing.T, xptPath, floatsAs string) *djDataset {
	t.Helper()
	fh, err := os.Open(xptPath)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	// Read raw: the converter does its own date arithmetic from the SAS
	// numbers, independently of the reader under test.
	r, err := xpt.NewReader(fh, filepath.Base(xptPath), xpt.WithRawNumbers())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	md := r.Schema().Metadata()
	name, _ := md.GetValue("name")
	label, _ := md.GetValue("label")
	def, err := definexml.DatasetFromFile(adamFile(t, "define.xml"), name)
	if err != nil {
		t.Fatal(err)
	}
	defType := map[string]string{}
	for _, c := range def.Columns {
		defType[c.Name] = c.DataType
	}
	ds := &djDataset{CreationDateTime: "2026-12-03T10:00:00", Version: "1.1.0", FileOID: "trialog.test/" + name,
		LastModified: "2013-06-18T00:00:00", Originator: "trialog tests", SourceSystem: map[string]string{"name": "trialog test converter", "version": "1"},
		StudyOID: "CDISCPILOT01", MetaDataVersion: "MDV.CDISCPILOT01.ADaM", MetaDataRef: "define.xml",
		ItemGroupOID: "IG." + name, Name: name, Label: label}
	vars := r.Variables()
	for _, v := range vars {
		c := djColumn{ItemOID: "IT." + name + "." + v.Name, Name: v.Name, Label: v.Label}
		if k := slices.Index(def.Keys, v.Name); k >= 0 {
			c.KeySequence = k + 1
		}
		switch {
		case !v.Numeric:
			c.DataType, c.Length = "string", v.Length
			if dt := defType[v.Name]; dt == "date" || dt == "datetime" || dt == "time" {
				c.DataType = dt
			}
		case xpt.FormatTemporal(v.Format) != xpt.Number:
			c.DataType = map[xpt.Temporal]string{xpt.Date: "date", xpt.Datetime: "datetime", xpt.Time: "time"}[xpt.FormatTemporal(v.Format)]
			c.TargetDataType, c.DisplayFormat = "integer", v.Format
		case defType[v.Name] == "integer":
			c.DataType = "integer"
		default:
			c.DataType = floatsAs
			if floatsAs == "decimal" {
				c.TargetDataType = "decimal"
			}
		}
		ds.Columns = append(ds.Columns, c)
	}
	sasEpoch := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	for r.Next() {
		rec := r.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, len(vars))
			for j, c := range ds.Columns {
				col := rec.Column(j)
				if col.IsNull(i) {
					continue // JSON null
				}
				if !vars[j].Numeric {
					row[j] = col.(*array.String).Value(i)
					continue
				}
				f := col.(*array.Float64).Value(i)
				switch c.DataType {
				case "date":
					row[j] = sasEpoch.AddDate(0, 0, int(f)).Format("2006-01-02")
				case "datetime":
					row[j] = sasEpoch.Add(time.Duration(f * 1e9)).Format("2006-01-02T15:04:05")
				case "time":
					row[j] = sasEpoch.Add(time.Duration(f * 1e9)).Format("15:04:05")
				case "decimal":
					row[j] = strconv.FormatFloat(f, 'g', 12, 64)
				default:
					row[j] = json.Number(strconv.FormatFloat(f, 'g', 12, 64))
				}
			}
			ds.Rows = append(ds.Rows, row)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	ds.Records = len(ds.Rows)
	return ds
}

// write writes the dataset as .json, .ndjson or .dsjc (NDJSON in a zlib
// stream, as the Compressed Dataset-JSON 1.1 specification says).
func (ds *djDataset) write(t *testing.T, dir, ext string) string {
	t.Helper()
	path := filepath.Join(dir, strings.ToLower(ds.Name)+ext)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if ext == ".json" {
		if err := enc.Encode(ds); err != nil {
			t.Fatal(err)
		}
	} else {
		head := *ds
		head.Rows = nil
		if err := enc.Encode(head); err != nil {
			t.Fatal(err)
		}
		for _, row := range ds.Rows {
			if err := enc.Encode(row); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := buf.Bytes()
	if ext == ".dsjc" {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(out)
		zw.Close()
		out = z.Bytes()
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (ds *djDataset) col(t *testing.T, name string) int {
	t.Helper()
	for j, c := range ds.Columns {
		if c.Name == name {
			return j
		}
	}
	t.Fatalf("%s has no column %s", ds.Name, name)
	return -1
}

// clone copies the rows so that edits do not leak between copies.
func (ds *djDataset) clone() *djDataset {
	out := *ds
	out.Rows = make([][]any, len(ds.Rows))
	for i, r := range ds.Rows {
		out.Rows[i] = slices.Clone(r)
	}
	return &out
}

// lostDigits counts the numeric cells whose 12-digit text is not the
// double's exact shortest form: the cells the precision policy is for.
func lostDigits(ds *djDataset) int {
	n := 0
	for _, row := range ds.Rows {
		for j, c := range ds.Columns {
			if c.DataType != "float" && c.DataType != "decimal" && c.DataType != "integer" {
				continue
			}
			var s string
			switch v := row[j].(type) {
			case json.Number:
				s = string(v)
			case string:
				s = v
			default:
				continue
			}
			f, _ := strconv.ParseFloat(s, 64)
			if strconv.FormatFloat(f, 'g', -1, 64) != s || len(strings.TrimLeft(strings.ReplaceAll(s, ".", ""), "0-")) >= 12 {
				n++
			}
		}
	}
	return n
}

var adamCopies = []struct{ ext, floatsAs string }{{".json", "float"}, {".ndjson", "decimal"}, {".dsjc", "decimal"}}

// TestADaMXPTAndDatasetJSONVerifyEachOther is issue 14's "must show": the
// pilot ADaM ADSL and ADTTE as SAS XPT, and as Dataset-JSON 1.1 written
// from the XPT by a standard converter (numeric dates as ISO text with
// targetDataType integer, floats and decimals at 12 significant digits,
// decimals as strings; .json, .ndjson, .dsjc), commit identically: the
// XPT's detached package verifies every copy, and a package made from
// each copy verifies the XPT.
func TestADaMXPTAndDatasetJSONVerifyEachOther(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"adsl", "adtte", "adsl-full-precision"} {
		xptPath, dataset := "", strings.ToUpper(name)
		if name == "adsl-full-precision" {
			xptPath, dataset = adslFullPrecision(t), "ADSL"
		} else {
			xptPath = adamFile(t, name+".xpt")
		}
		tr, _ := newTrial(t)
		res := ingest(t, tr, xptPath, dataset)
		m := res.Record.Manifest
		if m.Encoding.Version != canonical.Version || m.Encoding.FloatDigits != canonical.DefaultFloatDigits {
			t.Fatalf("manifest cells %+v", m.Encoding)
		}
		for _, c := range m.Schema {
			if (strings.HasSuffix(c.Name, "DT") && c.Type != "date32") || c.Name == "AGE" && c.Type != "float64" {
				t.Errorf("%s: column %s read as %s", name, c.Name, c.Type)
			}
		}
		pkg := prove(t, tr, xptPath, pipeline.ProveOptions{Dataset: dataset, Detached: true})
		dir := t.TempDir()
		for _, cp := range adamCopies {
			ds := convertToDatasetJSON(t, xptPath, cp.floatsAs)
			if name == "adsl-full-precision" && lostDigits(ds) < 50 {
				t.Fatalf("%s: no cell lost digits at 12 significant digits: the precision policy is not exercised", name)
			}
			path := ds.write(t, dir, cp.ext)
			var warnings []string
			data := openFile(t, path, source.Options{TypeHints: disclosure.SchemaHints(&m), Warn: func(w string) { warnings = append(warnings, w) }})
			rep := verifyPackage(t, tr, pkg, data)
			if !rep.OK || rep.Rows != m.Rows || rep.FloatDigits != 12 {
				t.Errorf("%s XPT package vs %s copy: ok=%v rows=%d/%d\n%s", name, cp.ext, rep.OK, rep.Rows, m.Rows, badRowsString(rep))
			}
			// The reverse: a package made from the copy verifies the XPT.
			tr2, _ := newTrial(t)
			r2, err := pipeline.Ingest(ctx, tr2, openFile(t, path, source.Options{}), pipeline.IngestOptions{Dataset: dataset, Operator: "test"})
			if err != nil {
				t.Fatal(err)
			}
			pkg2 := filepath.Join(t.TempDir(), "pkg.arrow")
			if _, err := pipeline.Prove(ctx, tr2, openFile(t, path, source.Options{TypeHints: disclosure.SchemaHints(&r2.Record.Manifest)}), pkg2,
				pipeline.ProveOptions{Dataset: dataset, Detached: true, Recipient: "test sponsor", Purpose: "main"}); err != nil {
				t.Fatal(err)
			}
			rep = verifyPackage(t, tr2, pkg2, openFile(t, xptPath, source.Options{TypeHints: disclosure.SchemaHints(&r2.Record.Manifest)}))
			if !rep.OK || rep.Rows != m.Rows {
				t.Errorf("%s %s package vs the XPT: ok=%v rows=%d\n%s", name, cp.ext, rep.OK, rep.Rows, badRowsString(rep))
			}
		}
	}
}

// TestADaMDatasetJSONEditsNamed: a Dataset-JSON copy of ADSL/ADTTE with one
// date, one float, one text and one integer cell changed by amounts a
// person calls a change (a day; 0.01; another word; 27 → 28) fails
// against the XPT's package on exactly those rows and columns.
func TestADaMDatasetJSONEditsNamed(t *testing.T) {
	type edit struct {
		row  int
		col  string
		edit func(any) any
	}
	nextDay := func(v any) any {
		d, _ := time.Parse("2006-01-02", v.(string))
		return d.AddDate(0, 0, 1).Format("2006-01-02")
	}
	plus := func(delta float64) func(any) any {
		return func(v any) any {
			f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
			s := strconv.FormatFloat(f+delta, 'g', 12, 64)
			if _, ok := v.(string); ok {
				return s
			}
			return json.Number(s)
		}
	}
	other := func(v any) any {
		if v.(string) == "F" {
			return "M"
		}
		return "F"
	}
	for name, edits := range map[string][]edit{
		"adsl":  {{5, "TRTSDT", nextDay}, {7, "BMIBL", plus(0.01)}, {9, "SEX", other}, {11, "AGE", plus(1)}, {13, "AVGDD", plus(0.01)}},
		"adtte": {{3, "ADT", nextDay}, {6, "SEX", other}, {8, "AVAL", plus(1)}},
	} {
		xptPath := adamFile(t, name+".xpt")
		if name == "adsl" {
			xptPath = adslFullPrecision(t)
		}
		dataset := strings.ToUpper(name)
		tr, _ := newTrial(t)
		m := ingest(t, tr, xptPath, dataset).Record.Manifest
		// The compact (derived) package names the rows; a full one (or a
		// follow-up package of those rows) names the columns too.
		derived := prove(t, tr, xptPath, pipeline.ProveOptions{Dataset: dataset, Detached: true})
		pkg := prove(t, tr, xptPath, pipeline.ProveOptions{Dataset: dataset, Detached: true, Form: pipeline.FormFull})
		for _, cp := range adamCopies {
			ds := convertToDatasetJSON(t, xptPath, cp.floatsAs).clone()
			want := map[uint64]string{}
			for _, e := range edits {
				j := ds.col(t, e.col)
				if ds.Rows[e.row][j] == nil {
					t.Fatalf("%s row %d %s is missing: pick another row", name, e.row, e.col)
				}
				ds.Rows[e.row][j] = e.edit(ds.Rows[e.row][j])
				want[uint64(e.row)] = e.col
			}
			path := ds.write(t, t.TempDir(), cp.ext)
			rep := verifyPackage(t, tr, derived, openFile(t, path, disclosure.ReadOptions(&m)))
			var rows []uint64
			for _, r := range rep.BadRows {
				rows = append(rows, r.Row)
			}
			if rep.OK || len(rows) != len(want) || !slices.IsSorted(rows) || fmt.Sprint(rows) != fmt.Sprint(slices.Sorted(maps.Keys(want))) {
				t.Errorf("%s %s derived package: bad rows %v, want those of %v", name, cp.ext, rows, want)
			}
			rep = verifyPackage(t, tr, pkg, openFile(t, path, disclosure.ReadOptions(&m)))
			got := map[uint64]string{}
			for _, r := range rep.BadRows {
				got[r.Row] = strings.Join(r.Columns, ",")
			}
			if rep.OK || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %s: bad rows %v, want %v\n%s", name, cp.ext, got, want, badRowsString(rep))
			}
		}
	}
}

// TestADaMFloatDigitsRecorded: the precision is the manifest's. An XPT
// ingested with 15 significant digits does not verify a 12-digit export
// (the cells that lost digits are named), and the same export verifies
// at the default 12.
func TestADaMFloatDigitsRecorded(t *testing.T) {
	ctx := context.Background()
	xptPath := adslFullPrecision(t)
	tr, _ := newTrial(t)
	res, err := pipeline.Ingest(ctx, tr, openFile(t, xptPath, source.Options{}), pipeline.IngestOptions{Dataset: "ADSL", Rules: canonical.Rules{FloatDigits: 15}})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Record.Manifest
	if m.Encoding.FloatDigits != 15 {
		t.Fatalf("manifest float digits %d", m.Encoding.FloatDigits)
	}
	pkg := prove(t, tr, xptPath, pipeline.ProveOptions{Dataset: "ADSL", Detached: true})
	if pm, err := disclosure.ReadManifest(pkg); err != nil || pm.Encoding.FloatDigits != 15 {
		t.Fatalf("package manifest %+v %v", pm, err)
	}
	ds := convertToDatasetJSON(t, xptPath, "float")
	path := ds.write(t, t.TempDir(), ".json")
	rep := verifyPackage(t, tr, pkg, openFile(t, path, source.Options{TypeHints: disclosure.SchemaHints(&m)}))
	if rep.OK || rep.FloatDigits != 15 {
		t.Fatalf("a 12-digit export verified at 15 digits")
	}
	cols := map[string]bool{}
	for _, r := range rep.BadRows {
		for _, c := range r.Columns {
			cols[c] = true
		}
	}
	var names []string
	for c := range cols {
		names = append(names, c)
		if ds.Columns[ds.col(t, c)].DataType != "float" {
			t.Errorf("column %s (%s) differs at 15 digits", c, ds.Columns[ds.col(t, c)].DataType)
		}
	}
	sort.Strings(names)
	t.Logf("at 15 digits, %d rows differ, in %v", rep.BadRowCount, names)
	if _, err := pipeline.Ingest(ctx, tr, openFile(t, xptPath, source.Options{}), pipeline.IngestOptions{Dataset: "X", Rules: canonical.Rules{FloatDigits: 3}}); err == nil {
		t.Error("3 significant digits accepted")
	}
}

// TestADaMDatesAgreeWithSDTM checks the SAS date epoch on real data
// rather than on our own arithmetic: ADSL's numeric TRTSDT (days since
// 1960) read as a date equals the first-dose date of the SDTM character
// RFXSTDTC of DM for every subject that has both.
func TestADaMDatesAgreeWithSDTM(t *testing.T) {
	ctx := context.Background()
	read := func(path string, cols ...string) map[string][]string {
		f := openFile(t, path, source.Options{})
		out := map[string][]string{}
		_, err := source.ForEachBatch(ctx, f, func(b source.Batch) error {
			idx := make([]int, len(cols))
			for k, c := range cols {
				idx[k] = b.Rec.Schema().FieldIndices(c)[0]
			}
			for i := 0; i < int(b.Rec.NumRows()); i++ {
				var vals []string
				for _, j := range idx {
					col := b.Rec.Column(j)
					switch {
					case col.IsNull(i):
						vals = append(vals, "")
					case col.DataType().ID() == arrow.DATE32:
						vals = append(vals, col.(*array.Date32).Value(i).FormattedString())
					default:
						vals = append(vals, col.ValueStr(i))
					}
				}
				out[vals[0]] = vals[1:]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	adsl := read(adamFile(t, "adsl.xpt"), "USUBJID", "TRTSDT")
	dm := read(shareddata.Path(t, filepath.Join("cdiscpilot01", "xpt", "dm.xpt")), "USUBJID", "RFXSTDTC")
	same, both := 0, 0
	for subj, v := range adsl {
		if d, ok := dm[subj]; ok && v[0] != "" && d[0] != "" {
			both++
			if strings.HasPrefix(d[0], v[0]) {
				same++
			}
		}
	}
	if both < 200 || same != both {
		t.Fatalf("TRTSDT equals DM.RFXSTDTC for %d of %d subjects", same, both)
	}
}

// TestADaMDatesFromDefineXML: an XPT whose numerics carry no display format
// (formats stripped, as some tools write) is read with dates only when
// define.xml gives them (ingest --define); proving and verifying then take
// the calendar types from the manifest, so the formatless file, the
// original XPT and a Dataset-JSON copy all verify without the define.
func TestADaMDatesFromDefineXML(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(adamFile(t, "adtte.xpt"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := xpt.NewReader(bytes.NewReader(raw), "adtte.xpt")
	if err != nil {
		t.Fatal(err)
	}
	nvars := len(r.Variables())
	r.Release()
	for i := 0; i < nvars; i++ { // blank nform, zero nfl/nfd (TS-140 NAMESTR)
		ns := raw[640+i*140:]
		copy(ns[56:64], "        ")
		copy(ns[64:68], []byte{0, 0, 0, 0})
	}
	stripped := filepath.Join(t.TempDir(), "adtte.xpt")
	os.WriteFile(stripped, raw, 0o644)
	plain := openFile(t, stripped, source.Options{})
	if typ, _ := plain.Schema().FieldsByName("ADT"); typ[0].Type.ID() != arrow.FLOAT64 {
		t.Fatalf("without formats ADT is %s", typ[0].Type)
	}
	def, err := definexml.DatasetFromFile(adamFile(t, "define.xml"), "ADTTE")
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := newTrial(t)
	res, err := pipeline.Ingest(ctx, tr, openFile(t, stripped, source.Options{Formats: def.DisplayFormats()}), pipeline.IngestOptions{Dataset: "ADTTE"})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Record.Manifest
	pkg := filepath.Join(t.TempDir(), "pkg.arrow")
	if _, err := pipeline.Prove(ctx, tr, openFile(t, stripped, disclosure.ReadOptions(&m)), pkg, pipeline.ProveOptions{Dataset: "ADTTE", Detached: true, Recipient: "test sponsor", Purpose: "main"}); err != nil {
		t.Fatal(err)
	}
	json := convertToDatasetJSON(t, adamFile(t, "adtte.xpt"), "float").write(t, t.TempDir(), ".json")
	for _, copyPath := range []string{stripped, adamFile(t, "adtte.xpt"), json} {
		rep := verifyPackage(t, tr, pkg, openFile(t, copyPath, disclosure.ReadOptions(&m)))
		if !rep.OK || rep.Rows != m.Rows {
			t.Errorf("%s: ok=%v rows=%d\n%s", copyPath, rep.OK, rep.Rows, badRowsString(rep))
		}
	}
}

// TestADaMNumericDateExportVerifies: an export that keeps SAS dates as
// numbers (dataType integer, days since 1960, with their DATE9.
// displayFormat) instead of ISO text also verifies against the XPT's
// package: the display format decides in both formats.
func TestADaMNumericDateExportVerifies(t *testing.T) {
	xptPath := adamFile(t, "adsl.xpt")
	tr, _ := newTrial(t)
	m := ingest(t, tr, xptPath, "ADSL").Record.Manifest
	pkg := prove(t, tr, xptPath, pipeline.ProveOptions{Dataset: "ADSL", Detached: true, Form: pipeline.FormFull})
	ds := convertToDatasetJSON(t, xptPath, "float").clone()
	sasEpoch := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	converted := 0
	for j, c := range ds.Columns {
		if c.DataType != "date" || c.TargetDataType != "integer" {
			continue
		}
		ds.Columns[j].DataType, ds.Columns[j].TargetDataType = "integer", ""
		for _, row := range ds.Rows {
			if s, ok := row[j].(string); ok {
				d, _ := time.Parse("2006-01-02", s)
				row[j] = json.Number(strconv.Itoa(int(d.Sub(sasEpoch).Hours() / 24)))
				converted++
			}
		}
	}
	if converted < 500 {
		t.Fatalf("only %d dates converted", converted)
	}
	for _, ext := range []string{".json", ".ndjson"} {
		path := ds.write(t, t.TempDir(), ext)
		rep := verifyPackage(t, tr, pkg, openFile(t, path, disclosure.ReadOptions(&m)))
		if !rep.OK || rep.Rows != m.Rows {
			t.Errorf("%s: ok=%v rows=%d\n%s", ext, rep.OK, rep.Rows, badRowsString(rep))
		}
	}
}
