package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// TestPilotIngestAll ingests every real pilot domain and checks counts,
// the log's shape and that no leaf holds a readable cell value.
func TestPilotIngestAll(t *testing.T) {
	ctx := context.Background()
	tr, _ := newTrial(t)
	want := map[string]uint64{"dm": 306, "ae": 1191, "cm": 7510, "mh": 1818, "sv": 3559, "ds": 850, "ex": 591, "suppdm": 1197, "suppae": 1191}
	var size uint64
	for _, name := range []string{"dm", "ae", "cm", "mh", "sv", "ds", "ex", "suppdm", "suppae"} {
		res := ingest(t, tr, pilotFile(t, name+".csv"), strings.ToUpper(name))
		m := res.Record.Manifest
		if m.Rows != want[name] {
			t.Errorf("%s: %d rows, want %d", name, m.Rows, want[name])
		}
		if m.FirstIndex != size || res.Record.ManifestIndex != size+m.Rows || res.Root.Size != size+m.Rows+1 {
			t.Errorf("%s: leaves [%d, %d] manifest %d size %d, want start %d", name, m.FirstIndex, m.FirstIndex+m.Rows, res.Record.ManifestIndex, res.Root.Size, size)
		}
		size = res.Root.Size
	}
	// Privacy: no leaf contains a subject ID, a birth date or a site.
	leaves, err := tr.Log.Leaves(ctx, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range leaves {
		for _, secret := range []string{"01-701-1015", "1950-12-26", "HISPANIC", "APPLICATION SITE"} {
			if bytes.Contains(l, []byte(secret)) {
				t.Fatalf("leaf %d contains %q", i, secret)
			}
		}
		kind, _, _ := leaf.Header(l)
		if kind == leaf.KindRow {
			if _, err := leaf.ParseRow(l); err != nil {
				t.Fatalf("leaf %d: %v", i, err)
			}
		}
	}
	// The manifest leaf decodes to the cataloged manifest.
	rec, err := tr.Version("DM", 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := leaf.ParseManifest(leaves[rec.ManifestIndex])
	if err != nil || m.Rows != 306 || m.Source.Name != "" || m.Operator != "" || len(m.Private) != 64 || len(m.Schema) != 28 {
		t.Fatalf("DM manifest leaf: %+v %v", m, err)
	}
	var ageType string
	for _, c := range m.Schema {
		if c.Name == "AGE" {
			ageType = c.Type
		}
		if c.Name == "SITEID" && c.Type != "utf8" {
			t.Errorf("SITEID (quoted in the CSV) inferred as %s, want utf8", c.Type)
		}
	}
	if ageType != "int64" {
		t.Errorf("AGE inferred as %q, want int64", ageType)
	}
}

// TestSubjectPackageRedacted proves one subject's DM and AE rows with
// BRTHDTC withheld and verifies them offline.
func TestSubjectPackageRedacted(t *testing.T) {
	tr, _ := newTrial(t)
	ingest(t, tr, pilotFile(t, "dm.csv"), "DM")
	ingest(t, tr, pilotFile(t, "ae.csv"), "AE")
	pkg := prove(t, tr, pilotFile(t, "dm.csv"), pipeline.ProveOptions{Dataset: "DM",
		Where: []pipeline.Condition{{Column: "USUBJID", Value: "01-701-1015"}}, Redact: []string{"BRTHDTC"}})
	rep := verifyPackage(t, tr, pkg, nil)
	if !rep.OK || rep.Rows != 1 {
		t.Fatalf("DM subject package: ok=%v rows=%d\n%s", rep.OK, rep.Rows, badRowsString(rep))
	}
	raw, _ := os.ReadFile(pkg)
	if bytes.Contains(raw, []byte("1950-12-26")) {
		t.Error("redacted BRTHDTC value is in the package")
	}
	if !bytes.Contains(raw, []byte("01-701-1015")) {
		t.Error("disclosed USUBJID missing from the package")
	}
	tb := readTable(t, pkg)
	if len(tb.schema.FieldIndices("BRTHDTC")) != 0 || len(tb.schema.FieldIndices(disclosure.SaltColumn("BRTHDTC"))) != 0 {
		t.Error("redacted column or its salt present")
	}
	pkg = prove(t, tr, pilotFile(t, "ae.csv"), pipeline.ProveOptions{Dataset: "AE", Where: []pipeline.Condition{{Column: "USUBJID", Value: "01-701-1015"}}})
	if rep := verifyPackage(t, tr, pkg, nil); !rep.OK || rep.Rows != 3 {
		t.Fatalf("AE subject package: ok=%v rows=%d\n%s", rep.OK, rep.Rows, badRowsString(rep))
	}
	// A numeric --where matches numbers by value, rows by index.
	pkg = prove(t, tr, pilotFile(t, "dm.csv"), pipeline.ProveOptions{Dataset: "DM", Where: []pipeline.Condition{{Column: "AGE", Value: "63.0"}}, Rows: [][2]uint64{{0, 100}}})
	if rep := verifyPackage(t, tr, pkg, nil); !rep.OK || rep.Rows == 0 {
		t.Fatalf("AGE=63 package: ok=%v rows=%d", rep.OK, rep.Rows)
	}
}

// TestTamperMatrix alters real packages every way the issue lists; each
// alteration must be caught, and cell edits pinned to row and column.
func TestTamperMatrix(t *testing.T) {
	ctx := context.Background()
	tr, dir := newTrial(t)
	ingest(t, tr, pilotFile(t, "dm.csv"), "DM")
	aePath := pilotFile(t, "ae.csv")
	ingest(t, tr, aePath, "AE")
	full := prove(t, tr, aePath, pipeline.ProveOptions{Dataset: "AE"})
	rows := prove(t, tr, aePath, pipeline.ProveOptions{Dataset: "AE", Rows: [][2]uint64{{10, 20}, {500, 501}}})
	redacted := prove(t, tr, aePath, pipeline.ProveOptions{Dataset: "AE", Redact: []string{"AETERM"}})
	for _, pkg := range []string{full, rows, redacted} {
		if rep := verifyPackage(t, tr, pkg, nil); !rep.OK {
			t.Fatalf("untampered package fails:\n%s", badRowsString(rep))
		}
	}
	// Artifacts for the cross-version and rollback cases.
	if _, err := pipeline.Ingest(ctx, tr, openFile(t, aePath, source.Options{}), pipeline.IngestOptions{Dataset: "AE", NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	v2 := prove(t, tr, aePath, pipeline.ProveOptions{Dataset: "AE@2"[:2], Version: 2})
	smallCheckpoint, err := os.ReadFile(filepath.Join(dir, "trials", "CDISCPILOT01", "checkpoints", "307"))
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _, _ := checkpoint.GenerateKey(checkpoint.Origin("CDISCPILOT01"))

	type tamper struct {
		name   string
		pkg    string
		edit   func(*testing.T, *table)
		row    int64  // the dataset row that must be reported, -1: any
		column string // the column that must be named, "" for none
		want   string // text the report must contain
	}
	cases := []tamper{
		{"cell edited", full, func(t *testing.T, tb *table) { tb.setCell(t, "AETERM", 7, "HEADACHE") }, 7, "AETERM", "differ"},
		{"numeric cell edited", full, func(t *testing.T, tb *table) { tb.setCell(t, "AESEQ", 3, "99") }, 3, "AESEQ", "differ"},
		{"cell edited (rows package)", rows, func(t *testing.T, tb *table) { tb.setCell(t, "AESEV", 2, "SEVERE") }, 12, "AESEV", "differ"},
		{"row removed", full, func(t *testing.T, tb *table) { tb.take(t, seqWithout(1191, 40)) }, 40, "", "missing"},
		{"row removed (rows package)", rows, func(t *testing.T, tb *table) { tb.take(t, seqWithout(11, 3)) }, 13, "", "missing"},
		{"row duplicated", full, func(t *testing.T, tb *table) { tb.take(t, insertAt(seq(1191), 41, 40)) }, 40, "", "again"},
		{"row moved", full, func(t *testing.T, tb *table) { tb.take(t, move(seq(1191), 100, 5)) }, 100, "", "moved"},
		{"row inserted", full, func(t *testing.T, tb *table) {
			tb.take(t, append(seq(1191), 0))
			tb.setUint(t, disclosure.ColRow, 1191, 1191)
			tb.setUint(t, disclosure.ColLeafIndex, 1191, 307+1191)
		}, 1191, "", "beyond"},
		{"column renamed", full, func(t *testing.T, tb *table) { tb.rename(t, "AETERM", "AETERM2") }, -1, "", "AETERM"},
		{"column dropped", full, func(t *testing.T, tb *table) { tb.drop(t, "AESEV") }, -1, "", "AESEV"},
		{"commitment column dropped", full, func(t *testing.T, tb *table) { tb.drop(t, disclosure.CommitColumn("AESEV")) }, -1, "", "AESEV"},
		{"salt flipped", full, func(t *testing.T, tb *table) { tb.flipBytes(t, disclosure.SaltColumn("AEDECOD"), 9) }, 9, "AEDECOD", "differ"},
		{"commitment flipped", full, func(t *testing.T, tb *table) { tb.flipBytes(t, disclosure.CommitColumn("AEDECOD"), 9) }, 9, "AEDECOD", "differ"},
		{"row hash flipped", full, func(t *testing.T, tb *table) { tb.flipBytes(t, disclosure.ColRowHash, 9) }, 9, "", "row hash was altered"},
		{"value column retyped", full, func(t *testing.T, tb *table) { tb.retype(t, "AESEQ", arrow.PrimitiveTypes.Float64) }, -1, "", "when ingested"},
		{"null in a trialog column", full, func(t *testing.T, tb *table) { tb.setNull(t, disclosure.ColLeafIndex, 3) }, -1, "", "has nulls"},
		{"cell and its commitment edited together", full, func(t *testing.T, tb *table) { tb.setCommitted(t, "AETERM", 7, "HEADACHE") }, 7, "", "a cell together with its commitment"},
		{"row hash column dropped", full, func(t *testing.T, tb *table) { tb.drop(t, disclosure.ColRowHash) }, -1, "", disclosure.ColRowHash},
		{"cell edited (redacted package)", redacted, func(t *testing.T, tb *table) { tb.setCell(t, "AESEV", 4, "SEVERE") }, 4, "AESEV", "differ"},
		{"salt flipped (redacted package)", redacted, func(t *testing.T, tb *table) { tb.flipBytes(t, disclosure.SaltColumn("AEDECOD"), 6) }, 6, "AEDECOD", "differ"},
		{"redacted commitment flipped", redacted, func(t *testing.T, tb *table) { tb.flipBytes(t, disclosure.CommitColumn("AETERM"), 6) }, -1, "", "tree"},
		{"row hash flipped (redacted package)", redacted, func(t *testing.T, tb *table) { tb.flipBytes(t, disclosure.ColRowHash, 6) }, -1, "", "tree"},
		{"range proof hash flipped", full, func(t *testing.T, tb *table) {
			tb.setMeta(t, "trialog.range_proof", func(s string) string { return flipJSONHash(t, s, "left") })
		}, -1, "", "tree"},
		{"inclusion proof hash flipped", rows, func(t *testing.T, tb *table) {
			tb.setMeta(t, "trialog.manifest_proof", func(s string) string { return flipFirstHash(t, s) })
		}, -1, "", "manifest"},
		{"wrong leaf index", full, func(t *testing.T, tb *table) { tb.setUint(t, disclosure.ColLeafIndex, 12, 5) }, 12, "", "leaf index"},
		{"wrong leaf index (rows package)", rows, func(t *testing.T, tb *table) {
			tb.setUint(t, disclosure.ColLeafIndex, 0, 307+11)
			tb.setUint(t, disclosure.ColRow, 0, 11)
		}, -1, "", ""},
		{"checkpoint signed by another key", full, func(t *testing.T, tb *table) {
			tb.setMeta(t, "trialog.checkpoint", func(string) string {
				signed, err := checkpoint.Sign(otherSigner, trillian.Root{Size: 1499, Hash: bytes.Repeat([]byte{1}, 32)})
				if err != nil {
					t.Fatal(err)
				}
				return string(signed)
			})
		}, -1, "", "checkpoint"},
		{"rolled-back checkpoint", full, func(t *testing.T, tb *table) {
			tb.setMeta(t, "trialog.checkpoint", func(string) string { return string(smallCheckpoint) })
		}, -1, "", "rolled back"},
		{"disclosed column passed off as redacted", full, func(t *testing.T, tb *table) {
			tb.drop(t, "AESEV")
			tb.drop(t, disclosure.SaltColumn("AESEV"))
			tb.setMeta(t, "trialog.redacted", func(string) string { return `["AESEV"]` })
		}, -1, "", "withheld"},
		{"statement signed by another key", rows, func(t *testing.T, tb *table) {
			tb.setMeta(t, "trialog.statement", func(s string) string {
				text := s[:strings.Index(s, "\n\n")+1]
				signed, err := checkpoint.SignNote(otherSigner, text)
				if err != nil {
					t.Fatal(err)
				}
				return string(signed)
			})
		}, -1, "", "statement"},
		{"manifest of another version", full, func(t *testing.T, tb *table) {
			other := readTable(t, v2)
			tb.setMeta(t, "trialog.manifest_leaf", func(string) string { return other.meta(t, "trialog.manifest_leaf") })
		}, -1, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := readTable(t, tc.pkg)
			tc.edit(t, tb)
			rep := verifyPackage(t, tr, tb.write(t), nil)
			report := badRowsString(rep)
			if rep.OK {
				t.Fatalf("tampering not detected")
			}
			if tc.want != "" && !strings.Contains(report, tc.want) {
				t.Errorf("report does not say %q:\n%s", tc.want, report)
			}
			if tc.row >= 0 {
				found := false
				for _, r := range rep.BadRows {
					if int64(r.Row) == tc.row && (tc.column == "" || strings.Contains(strings.Join(r.Columns, ","), tc.column)) {
						found = true
					}
				}
				if !found {
					t.Errorf("row %d column %q not reported:\n%s", tc.row, tc.column, report)
				}
				if tc.column != "" && rep.BadRowCount != 1 {
					t.Errorf("%d bad rows reported, want exactly 1:\n%s", rep.BadRowCount, report)
				}
			}
		})
	}
	// A sponsor expecting version 2 is told the package proves version 1.
	rep, err := verify.Package(ctx, full, verify.Options{VerifierKey: tr.VerifierKey, Dataset: "AE", Version: 2})
	if err != nil || rep.OK || !strings.Contains(badRowsString(rep), "expected version 2") {
		t.Errorf("package from another version accepted: %v\n%s", err, badRowsString(rep))
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func seqWithout(n, skip int) []int {
	s := seq(n)
	return append(s[:skip:skip], s[skip+1:]...)
}

func insertAt(s []int, at, v int) []int {
	return append(s[:at:at], append([]int{v}, s[at:]...)...)
}

// move takes the element at from and puts it at to.
func move(s []int, from, to int) []int {
	v := s[from]
	rest := append(s[:from:from], s[from+1:]...)
	return insertAt(rest, to, v)
}

func flipJSONHash(t *testing.T, s, field string) string {
	var rp map[string]any
	if err := json.Unmarshal([]byte(s), &rp); err != nil {
		t.Fatal(err)
	}
	hashes := rp[field].([]any)
	if len(hashes) == 0 {
		t.Fatalf("range proof has no %s hashes", field)
	}
	hashes[0] = flipB64(t, hashes[0].(string))
	out, _ := json.Marshal(rp)
	return string(out)
}

func flipFirstHash(t *testing.T, s string) string {
	var hashes []string
	if err := json.Unmarshal([]byte(s), &hashes); err != nil || len(hashes) == 0 {
		t.Fatalf("proof %q: %v", s, err)
	}
	hashes[0] = flipB64(t, hashes[0])
	out, _ := json.Marshal(hashes)
	return string(out)
}

func flipB64(t *testing.T, s string) string {
	var b []byte
	if err := json.Unmarshal([]byte(`"`+s+`"`), &b); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	out, _ := json.Marshal(b)
	return strings.Trim(string(out), `"`)
}

// TestDuplicateIngestRefused: the same content twice needs --new-version.
func TestDuplicateIngestRefused(t *testing.T) {
	tr, _ := newTrial(t)
	ingest(t, tr, pilotFile(t, "dm.csv"), "DM")
	_, err := pipeline.Ingest(context.Background(), tr, openFile(t, pilotFile(t, "dm.csv"), source.Options{}), pipeline.IngestOptions{Dataset: "DM"})
	if !errors.Is(err, pipeline.ErrDuplicate) {
		t.Fatalf("second ingest: %v", err)
	}
	res, err := pipeline.Ingest(context.Background(), tr, openFile(t, pilotFile(t, "dm.csv"), source.Options{}), pipeline.IngestOptions{Dataset: "DM", NewVersion: true})
	if err != nil || res.Record.Manifest.Version != 2 || res.Record.Manifest.FirstIndex != 307 {
		t.Fatalf("new version: %+v %v", res, err)
	}
}

// TestBadInputWritesNothing: a malformed file is rejected with one error
// naming file and row, before any leaf is logged.
func TestBadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	tr, _ := newTrial(t)
	dir := t.TempDir()
	good, _ := os.ReadFile(pilotFile(t, "dm.csv"))
	lines := strings.SplitAfter(string(good), "\n")
	cases := map[string]string{
		"truncated.csv":  strings.Join(lines[:200], "") + lines[200][:40],
		"badutf8.csv":    strings.Join(lines[:150], "") + strings.Replace(lines[150], "WHITE", "WH\xffTE", 1) + strings.Join(lines[151:], ""),
		"extrafield.csv": strings.Join(lines[:100], "") + strings.TrimSuffix(lines[100], "\n") + ",1\n" + strings.Join(lines[101:], ""),
		"badquote.csv":   strings.Join(lines[:10], "") + "\"CDISCPILOT01,\"DM\n",
		"empty.csv":      "",
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o644)
		f, err := readers.Open(ctx, path, source.Options{})
		if err == nil {
			_, err = pipeline.Ingest(ctx, tr, f, pipeline.IngestOptions{Dataset: "DM"})
		}
		if !errors.Is(err, source.ErrInput) {
			t.Errorf("%s: got %v, want an input error", name, err)
			continue
		}
		if !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error should be one line naming the file: %v", name, err)
		}
		if strings.Contains(err.Error(), "WH") {
			t.Errorf("%s: error leaks a cell value: %v", name, err)
		}
		root, _ := tr.Log.LatestRoot(ctx)
		p, _ := tr.Pending()
		if root.Size != 0 || p != nil {
			t.Fatalf("%s: something was written (size %d, pending %v)", name, root.Size, p)
		}
	}
	// A pinned schema whose names differ from the header.
	schemaPath := filepath.Join(dir, "schema.json")
	os.WriteFile(schemaPath, []byte(`[{"name":"STUDYID","type":"utf8"},{"name":"USUBJID","type":"utf8"}]`), 0o644)
	schema, err := source.SchemaFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readers.Open(ctx, pilotFile(t, "dm.csv"), source.Options{Schema: schema}); !errors.Is(err, source.ErrInput) || !strings.Contains(err.Error(), "unexpected") {
		t.Errorf("pinned schema mismatch: %v", err)
	}
}

// failingLog fails every append after the first n, like a crash mid-ingest.
type failingLog struct {
	trillian.Log
	n int
}

func (f *failingLog) AppendLeaves(ctx context.Context, start uint64, leaves [][]byte) (trillian.Root, error) {
	if f.n <= 0 {
		return trillian.Root{}, errors.New("simulated crash")
	}
	f.n--
	return f.Log.AppendLeaves(ctx, start, leaves)
}

// TestResumeAfterInterruption: an ingest that dies after some appends, and
// one that dies after logging its manifest, both finish on rerun with every
// row exactly once.
func TestResumeAfterInterruption(t *testing.T) {
	ctx := context.Background()
	tr, dir := newTrial(t)
	ingest(t, tr, pilotFile(t, "dm.csv"), "DM")
	cm := pilotFile(t, "cm.csv")
	real := tr.Log
	tr.Log = &failingLog{Log: real, n: 2}
	_, err := pipeline.Ingest(ctx, tr, openFile(t, cm, source.Options{BatchRows: 500}), pipeline.IngestOptions{Dataset: "CM", AppendLeaves: 1000})
	if err == nil {
		t.Fatal("simulated crash did not fail the ingest")
	}
	tr.Log = real
	root, _ := tr.Log.LatestRoot(ctx)
	if root.Size != 307+2000 {
		t.Fatalf("after the crash the tree has %d leaves, want %d", root.Size, 307+2000)
	}
	// Another dataset cannot sneak in while CM is pending.
	if _, err := pipeline.Ingest(ctx, tr, openFile(t, pilotFile(t, "ae.csv"), source.Options{}), pipeline.IngestOptions{Dataset: "AE"}); !errors.Is(err, workspace.ErrUsage) {
		t.Fatalf("ingest of another file while one is pending: %v", err)
	}
	res, err := pipeline.Ingest(ctx, tr, openFile(t, cm, source.Options{}), pipeline.IngestOptions{Dataset: "CM"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom != 2000 || res.Record.Manifest.Rows != 7510 || res.Root.Size != 307+7510+1 {
		t.Fatalf("resumed ingest: from %d rows %d size %d", res.ResumedFrom, res.Record.Manifest.Rows, res.Root.Size)
	}
	if rep := verifyPackage(t, tr, prove(t, tr, cm, pipeline.ProveOptions{Dataset: "CM"}), nil); !rep.OK {
		t.Fatalf("resumed dataset does not verify:\n%s", badRowsString(rep))
	}

	// Crash after the manifest was logged but before the catalog record:
	// put the pending record back and drop the catalog entry.
	ex := pilotFile(t, "ex.csv")
	res = ingest(t, tr, ex, "EX")
	body, _ := json.Marshal(&workspace.Pending{Manifest: res.Record.Manifest, NullValues: []string{"", "NA"}, Salting: res.Record.Salting})
	journal, _ := json.Marshal(&workspace.Journal{Kind: workspace.KindDataset, Start: res.Record.Manifest.FirstIndex, What: "ingest of dataset EX", Body: body})
	if err := os.WriteFile(filepath.Join(tr.Dir, "journal.json"), journal, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "trials", "CDISCPILOT01", "datasets", "EX", "v1.json"))
	before, _ := tr.Log.LatestRoot(ctx)
	res2, err := pipeline.Ingest(ctx, tr, openFile(t, ex, source.Options{}), pipeline.IngestOptions{Dataset: "EX"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := tr.Log.LatestRoot(ctx)
	if after.Size != before.Size || res2.Record.ManifestIndex != res.Record.ManifestIndex {
		t.Fatalf("rerun after a logged manifest appended again: size %d → %d", before.Size, after.Size)
	}
}
