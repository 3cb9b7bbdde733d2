package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian/embedded"
)

// TestInteropIndependentClient: what trialog publishes is read by
// independent code only — a plain static file server, torchwood's tile
// fetcher and checkpoint parser, x/mod's note verifier and proofs — which
// proves a pilot DM row leaf's inclusion and the consistency of two
// published checkpoints. None of trialog's own reader is involved.
func TestInteropIndependentClient(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	initPilotTrial(t, log)
	mustRun(t, 0, "ingest", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	pub := filepath.Join(dir, "public")
	mustRun(t, 0, "publish", pub)
	cp1, _ := os.ReadFile(filepath.Join(pub, "checkpoint"))
	mustRun(t, 0, "ingest", "--dataset", "AE", filepath.Join(pilot, "ae.csv"))
	mustRun(t, 0, "publish", pub)
	cp2, _ := os.ReadFile(filepath.Join(pub, "checkpoint"))

	srv := httptest.NewServer(http.FileServer(http.Dir(pub)))
	defer srv.Close()
	vkey, _ := os.ReadFile(filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey"))
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	open := func(signed []byte) torchwood.Checkpoint {
		n, err := note.Open(signed, note.VerifierList(verifier))
		if err != nil {
			t.Fatal(err)
		}
		c, err := torchwood.ParseCheckpoint(n.Text)
		if err != nil || c.Origin != "trialog/CDISCPILOT01" {
			t.Fatalf("checkpoint: %+v %v", c, err)
		}
		return c
	}
	c1, c2 := open(cp1), open(cp2)
	if c1.N != 307 || c2.N <= c1.N {
		t.Fatalf("sizes %d, %d", c1.N, c2.N)
	}
	ctx := context.Background()
	fetcher, err := torchwood.NewTileFetcher(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Consistency of the two checkpoints, from the tiles.
	hr := torchwood.TileHashReaderWithContext(ctx, c2.Tree, fetcher)
	tp, err := tlog.ProveTree(c2.N, c1.N, hr)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(tp, c2.N, c2.Hash, c1.N, c1.Hash); err != nil {
		t.Fatalf("consistency %d→%d: %v", c1.N, c2.N, err)
	}
	// Inclusion of DM row 5 (leaf 5) in the larger tree.
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	entry, rp, err := client.Entry(ctx, c2.Tree, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(rp, c2.N, c2.Hash, 5, tlog.RecordHash(entry)); err != nil {
		t.Fatal(err)
	}
	if kind, _, _ := leaf.Header(entry); kind != leaf.KindRow {
		t.Fatalf("leaf 5 is of kind %#x", kind)
	}
	l, err := embedded.Open(ctx, filepath.Join(log, "trials", "CDISCPILOT01", "tree"), embedded.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	logged, err := l.Leaves(ctx, 5, 1)
	if err != nil || !bytes.Equal(logged[0], entry) {
		t.Fatalf("the published leaf 5 is not the logged one (%v)", err)
	}
	// A wrong leaf does not prove.
	bad := bytes.Clone(entry)
	bad[len(bad)-1] ^= 1
	if err := tlog.CheckRecord(rp, c2.N, c2.Hash, 5, tlog.RecordHash(bad)); err == nil {
		t.Fatal("an altered leaf proved")
	}

	// trialog's third-party verbs on a machine without the CRO's
	// directory: only the static server's URL, the verifier key and the
	// files the party was given.
	party := filepath.Join(dir, "party")
	os.MkdirAll(party, 0o755)
	pkg := filepath.Join(party, "dm.arrow")
	l.Close() // prove appends the package's disclosure record: it takes the trial's lock
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--where", "USUBJID=01-701-1015", "--out", pkg, filepath.Join(pilot, "dm.csv"))
	for name, data := range map[string][]byte{"log.vkey": vkey, "cp1": cp1, "cp2": cp2} {
		os.WriteFile(filepath.Join(party, name), data, 0o644)
	}
	if err := os.Rename(log, log+".elsewhere"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRIALOG_LOG", "")
	key := filepath.Join(party, "log.vkey")
	mustRun(t, 0, "consistency", "--log-url", srv.URL, "--key", key, filepath.Join(party, "cp1"), filepath.Join(party, "cp2"))
	mustRun(t, 0, "verify", "--log-url", srv.URL, "--key", key, pkg)
	if out := mustRun(t, 0, "monitor", "--log-url", srv.URL, "--key", key, "--state", filepath.Join(party, "state")); !strings.Contains(out, "new dataset version AE@1") {
		t.Errorf("monitor: %s", out)
	}
}
