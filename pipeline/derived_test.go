package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/workspace"
)

// TestDerivedPackage: a whole-version detached package of the pilot SV
// carries the salt key and a 4-byte tag per row — a few percent of the
// data — and still verifies the data exactly: an edited copy is caught
// and the rows named, a follow-up full package of those rows names the
// columns, a removed or added row and a package with a flipped tag are
// caught, and a salt key never travels with a selection or a redaction.
func TestDerivedPackage(t *testing.T) {
	tr, _ := newTrial(t)
	csvPath := pilotFile(t, "sv.csv")
	ingest(t, tr, csvPath, "SV")
	pkg := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "SV", Detached: true})
	m, err := disclosure.ReadManifest(pkg)
	if err != nil {
		t.Fatal(err)
	}
	hints := source.Options{TypeHints: disclosure.SchemaHints(m)}
	rep := verifyPackage(t, tr, pkg, openFile(t, csvPath, hints))
	if !rep.OK || rep.Mode != disclosure.ModeDerived || rep.Rows != m.Rows {
		t.Fatalf("derived package of the ingested file: %+v\n%s", rep, badRowsString(rep))
	}
	// Size: O(log n) of proofs and metadata, one salt key per participant
	// (salts v2) and the disclosure proof (both written twice by the Arrow
	// file format: schema message and footer), plus one leaf tag per row.
	st, _ := os.Stat(pkg)
	ipcSize := arrowIPCSize(t, csvPath)
	perRow := int64(m.Rows) * disclosure.LeafTagSize
	meta, err := disclosure.ReadMeta(pkg)
	if err != nil {
		t.Fatal(err)
	}
	participants := int64(len(meta.SaltKeys))
	perKey := int64(2 * 4 * (leaf.SaltKeySize + 2) / 3) // base64 of uvarint(row) || key, twice
	logged := int64(2 * len(meta.LoggedValue))
	if participants < 200 || uint64(participants) > m.Rows {
		t.Errorf("SV: %d salt key runs for %d rows", participants, m.Rows)
	}
	if perRow*20 > ipcSize || st.Size()-perRow-participants*perKey-logged > 8<<10 {
		t.Errorf("derived package %d bytes (%d of leaf tags, %d salt keys, %d of disclosure proof) for %d bytes of Arrow IPC: tags over 5%% or over 8 KiB of the rest",
			st.Size(), perRow, participants, logged, ipcSize)
	}
	t.Logf("SV: derived package %d bytes, the data as Arrow IPC %d bytes (%.1f%%)", st.Size(), ipcSize, 100*float64(st.Size())/float64(ipcSize))

	// An edited copy: rows named, then a follow-up package names columns.
	raw, _ := os.ReadFile(csvPath)
	lines := strings.SplitAfter(string(raw), "\n")
	header := strings.Split(strings.TrimSpace(lines[0]), ",")
	visitCol := -1
	for i, h := range header {
		if strings.Trim(h, `"`) == "VISIT" {
			visitCol = i
		}
	}
	if visitCol < 0 {
		t.Fatal("no VISIT column in sv.csv")
	}
	edit := func(row int) {
		f := strings.Split(lines[row+1], ",")
		f[visitCol] = `"UNSCHEDULED 99"`
		lines[row+1] = strings.Join(f, ",")
	}
	edit(7)
	edit(3000)
	edited := filepath.Join(t.TempDir(), "sv-copy.csv")
	os.WriteFile(edited, []byte(strings.Join(lines, "")), 0o644)
	rep = verifyPackage(t, tr, pkg, openFile(t, edited, hints))
	if rep.OK || rep.BadRowCount != 2 || rep.BadRows[0].Row != 7 || rep.BadRows[1].Row != 3000 || !strings.Contains(rep.BadRows[0].Reason, "follow-up") {
		t.Fatalf("edited copy: want rows 7 and 3000:\n%s", badRowsString(rep))
	}
	followUp := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "SV", Detached: true, Rows: [][2]uint64{{7, 8}, {3000, 3001}}})
	rep = verifyPackage(t, tr, followUp, openFile(t, edited, hints))
	if rep.BadRowCount != 2 || strings.Join(rep.BadRows[0].Columns, ",") != "VISIT" || strings.Join(rep.BadRows[1].Columns, ",") != "VISIT" {
		t.Fatalf("follow-up package: want VISIT named in rows 7 and 3000:\n%s", badRowsString(rep))
	}

	// Rows added or removed.
	for name, content := range map[string]string{
		"extra":   string(raw) + lines[1],
		"removed": strings.Join(append(append([]string{}, lines[:5]...), lines[6:]...), ""),
	} {
		p := filepath.Join(t.TempDir(), name+".csv")
		os.WriteFile(p, []byte(content), 0o644)
		if rep := verifyPackage(t, tr, pkg, openFile(t, p, hints)); rep.OK {
			t.Errorf("%s row: verified OK", name)
		}
	}

	// The salt keys only travel with every row of a version and nothing
	// redacted.
	withholdOne := func(subject string) string {
		if subject == "01-701-1015" {
			return "withdrawn"
		}
		return ""
	}
	for _, opts := range []pipeline.ProveOptions{
		{Dataset: "SV", Detached: true, Form: pipeline.FormDerived, Redact: []string{"VISIT"}},
		{Dataset: "SV", Detached: true, Form: pipeline.FormDerived, Rows: [][2]uint64{{0, 1}}},
		{Dataset: "SV", Form: pipeline.FormDerived},
		// Consent withholds one participant's rows: their key must not travel.
		{Dataset: "SV", Detached: true, Form: pipeline.FormDerived, Consent: withholdOne},
	} {
		opts.Recipient, opts.Purpose = "test sponsor", "main"
		out := filepath.Join(t.TempDir(), "x.arrow")
		if _, err := pipeline.Prove(context.Background(), tr, openFile(t, csvPath, source.Options{}), out, opts); !errors.Is(err, workspace.ErrUsage) {
			t.Errorf("%+v: %v, want a usage error", opts, err)
		}
	}
	// Where rows are withheld, a detached whole-version package is the
	// full form: it carries only the disclosed rows' salts.
	partial := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "SV", Detached: true, Consent: withholdOne})
	if rep := verifyPackage(t, tr, partial, openFile(t, csvPath, hints)); !rep.OK || rep.Mode != disclosure.ModeDetached || rep.Rows >= m.Rows {
		t.Fatalf("package with withheld rows: %+v", rep)
	}
	// A full package is still there for whoever asks.
	full := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "SV", Detached: true, Form: pipeline.FormFull})
	if rep := verifyPackage(t, tr, full, openFile(t, csvPath, hints)); !rep.OK || rep.Mode != disclosure.ModeDetached {
		t.Fatalf("full package: %+v", rep)
	}
}

// arrowIPCSize is the size of a data file written as an uncompressed
// Arrow IPC file: the measure of "the data" that package sizes are held
// to (docs/performance.md).
func arrowIPCSize(t *testing.T, path string) int64 {
	t.Helper()
	f := openFile(t, path, source.Options{})
	out, err := os.Create(filepath.Join(t.TempDir(), "data.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := ipc.NewFileWriter(out, ipc.WithSchema(f.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := source.ForEachBatch(context.Background(), f, func(b source.Batch) error { return w.Write(b.Rec) }); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := out.Stat()
	return st.Size()
}

// TestDerivedPackageSizes logs, for every pilot domain, the size of a
// whole-version derived package against the data as Arrow IPC (the
// figures in docs/performance.md).
func TestDerivedPackageSizes(t *testing.T) {
	tr, _ := newTrial(t)
	for _, d := range []string{"dm", "ae", "cm", "ds", "ex", "mh", "sv", "suppae", "suppdm"} {
		csvPath := pilotFile(t, d+".csv")
		ingest(t, tr, csvPath, strings.ToUpper(d))
		derived := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: strings.ToUpper(d), Detached: true, Form: pipeline.FormDerived})
		full := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: strings.ToUpper(d), Detached: true, Form: pipeline.FormFull})
		ds, _ := os.Stat(derived)
		fs, _ := os.Stat(full)
		ipcSize := arrowIPCSize(t, csvPath)
		t.Logf("%-7s Arrow IPC %8d  derived %7d (%4.1f%%)  full %8d (%5.1f%%)", strings.ToUpper(d), ipcSize, ds.Size(), 100*float64(ds.Size())/float64(ipcSize), fs.Size(), 100*float64(fs.Size())/float64(ipcSize))
	}
}
