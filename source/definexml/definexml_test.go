package definexml_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/datasetjson"
	"github.com/trialog/trialog/source/definexml"
)

const (
	define10 = "../../../shared/data/cdiscpilot01/xpt/define.xml"
	define21 = "../../../shared/data/datasetjson-msg/define.xml"
	msgDir   = "../../../shared/data/datasetjson-msg"
)

func parse(t testing.TB, path string) *definexml.Define {
	t.Helper()
	d, err := definexml.Parse(bytes.NewReader(testutil.ReadFileOrSkip(t, path)), filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRealKeys(t *testing.T) {
	for _, tc := range []struct {
		path, version string
		datasets      int
		keys          map[string]string
	}{
		{define10, "1.0.0", 22, map[string]string{
			// Define-XML 1.0: from def:DomainKeys.
			"DM": "STUDYID,USUBJID",
			"AE": "STUDYID,USUBJID,AETERM,AESTDTC,AESEQ",
			"TS": "STUDYID,TSPARMCD,TSSEQ",
			"VS": "STUDYID,USUBJID,VSTESTCD,VISITNUM,VSTPTNUM",
		}},
		{define21, "2.1.0", 31, map[string]string{
			// Define-XML 2.1: from ItemRef/@KeySequence (AE lists AEDECOD
			// as key 3 and AELNKID as key 5 although AELNKID comes first).
			"DM": "STUDYID,USUBJID",
			"AE": "STUDYID,USUBJID,AEDECOD,AESTDTC,AELNKID",
			"TS": "STUDYID,TSPARMCD,TSVAL,TSSEQ",
			"LB": "STUDYID,USUBJID,LBCAT,LBTESTCD,LBDTC,VISITNUM",
		}},
	} {
		d := parse(t, tc.path)
		if d.DefineVersion != tc.version || len(d.Datasets) != tc.datasets {
			t.Errorf("%s: version %q, %d datasets", tc.path, d.DefineVersion, len(d.Datasets))
		}
		for name, want := range tc.keys {
			ds, ok := d.Dataset(strings.ToLower(name))
			if !ok {
				t.Fatalf("%s: no dataset %s", tc.path, name)
			}
			if got := strings.Join(ds.Keys, ","); got != want {
				t.Errorf("%s %s keys %s, want %s", tc.version, name, got, want)
			}
		}
	}
}

func TestRealDMColumns(t *testing.T) {
	d := parse(t, define21)
	dm, _ := d.Dataset("DM")
	if dm.Label != "Demographics" || dm.SASDatasetName != "DM" || len(dm.Columns) != 26 {
		t.Errorf("DM %q %q %d columns", dm.Label, dm.SASDatasetName, len(dm.Columns))
	}
	age := dm.Columns[columnIndex(dm, "AGE")]
	if age.DataType != "integer" || age.Label != "Age" || age.KeySequence != 0 {
		t.Errorf("AGE %+v", age)
	}
	usubjid := dm.Columns[columnIndex(dm, "USUBJID")]
	if usubjid.Length != 8 || usubjid.KeySequence != 2 || usubjid.OrderNumber != 3 || !usubjid.Mandatory || usubjid.DataType != "text" {
		t.Errorf("USUBJID %+v", usubjid)
	}
	s := dm.ArrowSchema()
	f, _ := s.FieldsByName("AGE")
	if !arrow.TypeEqual(f[0].Type, arrow.PrimitiveTypes.Int64) || !f[0].Nullable {
		t.Errorf("AGE field %v", f[0])
	}
	f, _ = s.FieldsByName("RFSTDTC")
	if !arrow.TypeEqual(f[0].Type, arrow.BinaryTypes.String) {
		t.Errorf("RFSTDTC field %v", f[0])
	}
	if v, _ := f[0].Metadata.GetValue("dataType"); v != "date" {
		t.Errorf("RFSTDTC dataType %q", v)
	}
	if k, _ := s.Metadata().GetValue("keys"); k != "STUDYID,USUBJID" {
		t.Errorf("schema keys %q", k)
	}
	// Define-XML 1.0 labels come from def:Label.
	d10 := parse(t, define10)
	ae, _ := d10.Dataset("AE")
	if ae.Label != "Adverse Events" || ae.Columns[0].Label != "Study Identifier" || ae.Columns[0].Length != 12 {
		t.Errorf("1.0 AE %q %+v", ae.Label, ae.Columns[0])
	}
	if _, ok := d10.Dataset("XX"); ok {
		t.Error("found XX")
	}
}

func columnIndex(ds *definexml.Dataset, name string) int {
	for i, c := range ds.Columns {
		if c.Name == name {
			return i
		}
	}
	panic(name)
}

// TestDefineMatchesDatasetJSON compares the define's variables with the
// columns of each datasetjson-msg domain, name, order, type and key.
func TestDefineMatchesDatasetJSON(t *testing.T) {
	d := parse(t, define21)
	for _, dom := range []string{"ae", "dm", "ds", "ex", "lb", "sv", "ts", "vs"} {
		ds, ok := d.Dataset(dom)
		if !ok {
			t.Fatalf("no %s in define", dom)
		}
		r, err := datasetjson.NewReader(bytes.NewReader(testutil.ReadFileOrSkip(t, filepath.Join(msgDir, dom+".json"))), dom+".json")
		if err != nil {
			t.Fatal(err)
		}
		cols := r.Metadata().Columns
		r.Release()
		if len(cols) != len(ds.Columns) {
			t.Errorf("%s: %d columns in json, %d in define", dom, len(cols), len(ds.Columns))
			continue
		}
		var jsonKeys []string
		for i, c := range cols {
			dc := ds.Columns[i]
			if c.Name != dc.Name || c.ItemOID != dc.ItemOID {
				t.Errorf("%s column %d: json %s/%s, define %s/%s", dom, i+1, c.Name, c.ItemOID, dc.Name, dc.ItemOID)
			}
			if jt, _ := datasetjsonType(c.DataType); !arrow.TypeEqual(jt, definexml.ArrowType(dc.DataType)) {
				t.Errorf("%s %s: json %s, define %s", dom, c.Name, c.DataType, dc.DataType)
			}
			if c.KeySequence != nil {
				for len(jsonKeys) < *c.KeySequence {
					jsonKeys = append(jsonKeys, "")
				}
				jsonKeys[*c.KeySequence-1] = c.Name
			}
		}
		if fmt.Sprint(jsonKeys) != fmt.Sprint(ds.Keys) {
			t.Errorf("%s keys: json %v, define %v", dom, jsonKeys, ds.Keys)
		}
	}
}

func datasetjsonType(dt string) (arrow.DataType, bool) {
	switch dt {
	case "integer":
		return arrow.PrimitiveTypes.Int64, true
	case "decimal", "float", "double":
		return arrow.PrimitiveTypes.Float64, true
	case "boolean":
		return arrow.FixedWidthTypes.Boolean, true
	}
	return arrow.BinaryTypes.String, true
}

const tiny = `<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1"><Study OID="S">
<MetaDataVersion OID="M" def:DefineVersion="2.1.0">
<ItemGroupDef OID="IG.X" Name="X" SASDatasetName="X">%s</ItemGroupDef>
<ItemDef OID="IT.A" Name="A" DataType="text" Length="8"/>
<ItemDef OID="IT.B" Name="B" DataType="integer" Length="%s"/>
</MetaDataVersion></Study></ODM>`

func TestMalformed(t *testing.T) {
	refs := `<ItemRef ItemOID="IT.A" OrderNumber="2" KeySequence="1"/><ItemRef ItemOID="IT.B" OrderNumber="1"/>`
	d, err := definexml.Parse(strings.NewReader(fmt.Sprintf(tiny, refs, "8")), "x.xml")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.Dataset("X")
	if x.Columns[0].Name != "B" || fmt.Sprint(x.Keys) != "[A]" {
		t.Errorf("order %+v keys %v", x.Columns, x.Keys)
	}
	// A DomainKeys naming no variable spoils that dataset's keys only.
	d, err = definexml.Parse(strings.NewReader(strings.Replace(fmt.Sprintf(tiny, `<ItemRef ItemOID="IT.A"/>`, "8"), `SASDatasetName="X"`, `def:DomainKeys="A, Q"`, 1)), "x.xml")
	if err != nil {
		t.Fatal(err)
	}
	x, _ = d.Dataset("X")
	testutil.CheckMalformed(t, x.KeyError, definexml.ErrMalformed, "x.xml", `DomainKeys names "Q"`)
	if len(x.Keys) != 0 || x.Columns[0].KeySequence != 0 {
		t.Errorf("keys %v %+v", x.Keys, x.Columns)
	}
	full := testutil.ReadFileOrSkip(t, define21)
	for _, tc := range []struct{ doc, want string }{
		{fmt.Sprintf(tiny, `<ItemRef ItemOID="IT.Z"/>`, "8"), `ItemGroupDef X: ItemRef "IT.Z": no ItemDef with that OID`},
		{fmt.Sprintf(tiny, refs, "eight"), `ItemGroupDef X: variable B: Length "eight": want a positive integer`},
		{fmt.Sprintf(tiny, `<ItemRef ItemOID="IT.A" OrderNumber="-1"/>`, "8"), `variable A: OrderNumber "-1"`},
		{fmt.Sprintf(tiny, `<ItemRef ItemOID="IT.A" KeySequence="1"/><ItemRef ItemOID="IT.B" KeySequence="1"/>`, "8"), `KeySequence 1 on both A and B`},
		{fmt.Sprintf(tiny, `<ItemRef ItemOID="IT.A"/><ItemRef ItemOID="IT.A"/>`, "8"), `variable A listed twice`},
		{`<ODM><Study OID="S"></Study></ODM>`, `no Study/MetaDataVersion element`},
		{`<NotODM/>`, `line 1: expected element type <ODM> but have <NotODM>`},
		{`<ODM><Study>`, `unexpected end of input`},
		{``, `unexpected end of input`},
		{`<ODM><Study></ODM>`, `invalid XML at line 1`},
		{string(full[:len(full)/3]), `unexpected end of input`},
		{string(full[:100]), `unexpected end of input (line 3)`},
	} {
		_, err := definexml.Parse(strings.NewReader(tc.doc), "x.xml")
		testutil.CheckMalformed(t, err, definexml.ErrMalformed, "x.xml", tc.want)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestIOErrorIsNotMalformed(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := definexml.Parse(io.MultiReader(strings.NewReader("<ODM><Study>"), errReader{boom}), "x.xml")
	if !errors.Is(err, boom) || errors.Is(err, definexml.ErrMalformed) {
		t.Errorf("got %v", err)
	}
}

// TestMain caps fuzz-input minimization (see testutil).
func TestMain(m *testing.M) { os.Exit(testutil.MainCappingMinimization(m)) }

// FuzzDefineXML checks that any input either fails with ErrMalformed or
// yields datasets whose keys name columns and whose schemas build.
func FuzzDefineXML(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/definexml/*.xml")
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(fmt.Sprintf(tiny, `<ItemRef ItemOID="IT.A" OrderNumber="2" KeySequence="1"/><ItemRef ItemOID="IT.B" OrderNumber="1"/>`, "8")))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := definexml.Parse(bytes.NewReader(data), "fuzz.xml")
		if err != nil {
			if !errors.Is(err, definexml.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		for _, ds := range d.Datasets {
			if got, ok := d.Dataset(ds.Name); !ok || got == nil {
				t.Fatalf("Dataset(%q) not found", ds.Name)
			}
			s := ds.ArrowSchema()
			if s.NumFields() != len(ds.Columns) {
				t.Fatalf("%s: schema has %d fields for %d columns", ds.Name, s.NumFields(), len(ds.Columns))
			}
			for i, k := range ds.Keys {
				if c := ds.Columns[columnIndex(ds, k)]; c.KeySequence <= 0 || (i > 0 && c.KeySequence <= ds.Columns[columnIndex(ds, ds.Keys[i-1])].KeySequence) {
					t.Fatalf("%s: keys %v out of KeySequence order", ds.Name, ds.Keys)
				}
			}
		}
	})
}

func BenchmarkDefineXMLParse(b *testing.B) {
	data := testutil.ReadFileOrSkip(b, define21)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := definexml.Parse(bytes.NewReader(data), "define.xml"); err != nil {
			b.Fatal(err)
		}
	}
}
