package monitor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
)

type fixture struct {
	t          *testing.T
	log        *embedded.Log
	skey, vkey string
	pub        string
}

func newFixture(t *testing.T, dir string) *fixture {
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin("T1"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedded.Open(context.Background(), filepath.Join(dir, "tree"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &fixture{t: t, log: l, skey: skey, vkey: vkey, pub: filepath.Join(dir, "public")}
}

// appendAndPublish appends leaves, signs and publishes; returns the
// signed checkpoint.
func (f *fixture) appendAndPublish(leaves ...[]byte) []byte {
	ctx := context.Background()
	root, err := f.log.LatestRoot(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if root, err = f.log.AppendLeaves(ctx, root.Size, leaves); err != nil {
		f.t.Fatal(err)
	}
	cp, err := checkpoint.Sign(f.skey, root)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := tlogtiles.Publish(ctx, f.log, f.vkey, cp, f.pub); err != nil {
		f.t.Fatal(err)
	}
	return cp
}

func rows(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = append([]byte{byte(leaf.KindRow), 0x02}, bytes.Repeat([]byte{byte(i)}, 98)...)
	}
	return out
}

func manifest(t *testing.T, dataset string, version, nrows, first uint64) []byte {
	m := &leaf.Manifest{Format: leaf.ManifestFormat, Trial: "T1", Dataset: dataset, Version: version, Rows: nrows, FirstIndex: first,
		Source: leaf.Source{Name: "secret-file-name.csv", Format: "csv"}, Operator: "Jane Doe", CreatedAt: "2026-12-03T00:00:00Z",
		Encoding: leaf.NewEncoding(canonical.DefaultRules())}
	if err := m.SetPrivate(bytes.Repeat([]byte{1}, leaf.SecretSize)); err != nil {
		t.Fatal(err)
	}
	b, err := leaf.ManifestLeaf(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func consent(t *testing.T, typ byte, seq uint64) []byte {
	c := &leaf.ConsentLeaf{Type: typ, Trial: "T1", Seq: seq, Names: []string{"subject"}, Commitments: [][leaf.CommitmentSize]byte{{1}}}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckReportsAndResumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := newFixture(t, dir)
	state := filepath.Join(dir, "state")
	f.appendAndPublish(append(append([][]byte{consent(t, leaf.ConsentForm, 0)}, rows(300)...), manifest(t, "DM", 1, 300, 1))...)
	r, err := tlogtiles.OpenReader(f.pub)
	if err != nil {
		t.Fatal(err)
	}
	var progressed uint64
	rep, err := Check(ctx, r, Options{VerifierKey: f.vkey, StateDir: state, Progress: func(done, total uint64) { progressed = done }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NewSize != 302 || rep.New.Rows != 300 || rep.New.Manifests != 1 || rep.New.Consent["form"] != 1 || progressed != 302 ||
		len(rep.Datasets) != 1 || rep.Datasets[0] != (DatasetVersion{Dataset: "DM", Version: 1, Rows: 300, Leaf: 301}) {
		t.Fatalf("first check: %+v", rep)
	}
	f.appendAndPublish(append(rows(1000), manifest(t, "DM", 2, 1000, 302), consent(t, leaf.ConsentEvent, 1), []byte{0x7f, 1})...)
	rep, err = Check(ctx, r, Options{VerifierKey: f.vkey, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OldSize != 302 || rep.NewSize != 1305 || rep.New.Rows != 1000 || rep.New.Consent["event"] != 1 || rep.New.Unknown != 1 ||
		rep.Totals.Rows != 1300 || rep.Totals.Manifests != 2 || len(rep.Datasets) != 1 || rep.Datasets[0].Version != 2 {
		t.Fatalf("second check: %+v", rep)
	}
	st, _ := os.ReadFile(filepath.Join(state, "state.json"))
	for _, secret := range []string{"secret-file-name", "Jane Doe"} {
		if strings.Contains(string(st), secret) {
			t.Errorf("the monitor's state holds %q", secret)
		}
	}
}

func TestCheckRollbackAndBadKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := newFixture(t, dir)
	state := filepath.Join(dir, "state")
	old := f.appendAndPublish(rows(10)...)
	f.appendAndPublish(rows(10)...)
	r, _ := tlogtiles.OpenReader(f.pub)
	if _, err := Check(ctx, r, Options{VerifierKey: f.vkey, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(state, "state.json"))
	// The server goes back to an older checkpoint.
	os.WriteFile(filepath.Join(f.pub, "checkpoint"), old, 0o644)
	rep, err := Check(ctx, r, Options{VerifierKey: f.vkey, StateDir: state})
	if !errors.Is(err, ErrInconsistent) || rep == nil || rep.Evidence == nil || rep.Evidence.New != string(old) || rep.Evidence.Old == "" {
		t.Fatalf("rollback: %v %+v", err, rep)
	}
	if after, _ := os.ReadFile(filepath.Join(state, "state.json")); !bytes.Equal(before, after) {
		t.Error("state changed on a rollback")
	}
	// A checkpoint under another key is refused as evidence too.
	_, otherV, _ := checkpoint.GenerateKey(checkpoint.Origin("T1"))
	if _, err := Check(ctx, r, Options{VerifierKey: otherV, StateDir: filepath.Join(dir, "other")}); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("other key: %v", err)
	}
}
