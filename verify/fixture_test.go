package verify_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/trialog/trialog/internal/shareddata"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// pilot is a trial built once per test binary from the real CDISC pilot
// data (../shared/data): DM and AE ingested, and the packages the tests
// craft hostile variants of.
type pilot struct {
	dir, key   string
	dm, ae     string // data files
	subjectDM  string // attached rows package: one subject's DM row
	rangeDM    string // attached whole-dataset package of DM
	subjectAE  string // attached rows package: one subject's AE rows
	detachedAE string // detached rows package of the same AE rows
	minimalAE  string // attached rows package of the same AE rows, minimal disclosure
	trial      *workspace.Trial
}

var (
	pilotOnce sync.Once
	pilotData *pilot
	pilotErr  error
)

func TestMain(m *testing.M) {
	if _, child := os.LookupEnv(childEnv); child {
		peakChild()
		os.Exit(0)
	}
	code := m.Run()
	if pilotData != nil {
		pilotData.trial.Close()
		os.RemoveAll(pilotData.dir)
	}
	os.Exit(code)
}

const (
	subject  = "01-701-1015"
	operator = "cro-operator-7f3a" // must not reach a minimal package
)

// pilotTrial returns the shared pilot trial, building it on first use.
func pilotTrial(t testing.TB) *pilot {
	t.Helper()
	dm := shareddata.Path(t, filepath.Join("cdiscpilot01", "csv", "dm.csv"))
	ae := shareddata.Path(t, filepath.Join("cdiscpilot01", "csv", "ae.csv"))
	pilotOnce.Do(func() { pilotData, pilotErr = buildPilot(dm, ae) })
	if pilotErr != nil {
		t.Fatal(pilotErr)
	}
	return pilotData
}

func buildPilot(dm, ae string) (*pilot, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "trialog-verify-test")
	if err != nil {
		return nil, err
	}
	tr, err := workspace.Init(ctx, filepath.Join(dir, "log"), "CDISCPILOT01", workspace.Options{})
	if err != nil {
		return nil, err
	}
	p := &pilot{dir: dir, key: tr.VerifierKey, dm: dm, ae: ae, trial: tr}
	for _, in := range []struct{ path, name string }{{dm, "DM"}, {ae, "AE"}} {
		f, err := readers.Open(ctx, in.path, source.Options{})
		if err != nil {
			return nil, err
		}
		if _, err := pipeline.Ingest(ctx, tr, f, pipeline.IngestOptions{Dataset: in.name, Operator: operator}); err != nil {
			return nil, err
		}
	}
	where := []pipeline.Condition{{Column: "USUBJID", Value: subject}}
	for i, pk := range []struct {
		out  *string
		data string
		opts pipeline.ProveOptions
	}{
		{&p.subjectDM, dm, pipeline.ProveOptions{Dataset: "DM", Where: where}},
		{&p.rangeDM, dm, pipeline.ProveOptions{Dataset: "DM"}},
		{&p.subjectAE, ae, pipeline.ProveOptions{Dataset: "AE", Where: where}},
		{&p.detachedAE, ae, pipeline.ProveOptions{Dataset: "AE", Where: where, Detached: true}},
		{&p.minimalAE, ae, pipeline.ProveOptions{Dataset: "AE", Where: where, Minimal: true}},
	} {
		f, err := readers.Open(ctx, pk.data, source.Options{})
		if err != nil {
			return nil, err
		}
		*pk.out = filepath.Join(dir, fmt.Sprintf("package%d.arrow", i))
		pk.opts.Recipient, pk.opts.Purpose = "test sponsor", "main"
		if _, err := pipeline.Prove(ctx, tr, f, *pk.out, pk.opts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// writeFile writes b to a fresh file in t's temp dir.
func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "crafted.arrow")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rewrite reads every batch of pkg and writes it, through edit when not
// nil, to a new file under the schema schema gives for pkg's (nil: pkg's
// own), with the writer options given (e.g. compression).
func rewrite(t testing.TB, pkg string, schema func(*arrow.Schema) *arrow.Schema, edit func(arrow.Record, *arrow.Schema) arrow.Record, opts ...ipc.Option) string {
	t.Helper()
	fr, err := ipc.NewFileReader(bytes.NewReader(readFile(t, pkg)))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	sc := fr.Schema()
	if schema != nil {
		sc = schema(sc)
	}
	out := filepath.Join(t.TempDir(), "rewritten.arrow")
	of, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	w, err := ipc.NewFileWriter(of, append([]ipc.Option{ipc.WithSchema(sc)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordAt(i)
		if err != nil {
			t.Fatal(err)
		}
		written := rec
		if edit != nil {
			written = edit(rec, sc)
		}
		if err := w.Write(written); err != nil {
			t.Fatal(err)
		}
		if written != rec {
			written.Release()
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func verifyFile(p *pilot, path string, data *source.File) (*verify.Report, error) {
	return verify.Package(context.Background(), path, verify.Options{VerifierKey: p.key, Data: data})
}

func openData(t testing.TB, path string) *source.File {
	t.Helper()
	f, err := readers.Open(context.Background(), path, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
