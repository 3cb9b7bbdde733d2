package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/freshness"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// freshTrial is a trial with DM version 1 ingested and proved (a rows
// package and a minimal one), then version 2 ingested and published, and a
// version 1 package made after that.
type freshTrial struct {
	tr                        *workspace.Trial
	dir, pub                  string
	early, minimal, late, cur string // v1 before v2; v1 minimal; v1 after v2; v2
	v2Leaf                    uint64
	size                      uint64 // of the published log (with the packages' disclosure records)
	times                     []time.Time
}

func newFreshTrial(t *testing.T) *freshTrial {
	ctx := context.Background()
	p := pilotTrial(t)
	dir := t.TempDir()
	tr, err := workspace.Init(ctx, filepath.Join(dir, "log"), "CDISCPILOT01", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	f := &freshTrial{tr: tr, dir: dir, pub: filepath.Join(dir, "public"),
		times: []time.Time{time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}}
	lines := strings.SplitAfter(string(readFile(t, p.dm)), "\n")[:21]
	v1 := filepath.Join(dir, "dm1.csv")
	v2 := filepath.Join(dir, "dm2.csv")
	os.WriteFile(v1, []byte(strings.Join(lines, "")), 0o644)
	lines = append(lines, lines[1]) // version 2: a row added
	os.WriteFile(v2, []byte(strings.Join(lines, "")), 0o644)
	ingest := func(data string, at time.Time) {
		f, err := readers.Open(ctx, data, source.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipeline.Ingest(ctx, tr, f, pipeline.IngestOptions{Dataset: "DM", Operator: "test", NewVersion: true, Now: func() time.Time { return at }}); err != nil {
			t.Fatal(err)
		}
	}
	prove := func(data, name string, version uint64, minimal bool) string {
		f, _ := readers.Open(ctx, data, source.Options{})
		out := filepath.Join(dir, name)
		if _, err := pipeline.Prove(ctx, tr, f, out, pipeline.ProveOptions{Dataset: "DM", Version: version, Rows: [][2]uint64{{0, 3}}, Minimal: minimal, Recipient: "test sponsor", Purpose: "main"}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ingest(v1, f.times[0])
	f.early = prove(v1, "early.arrow", 1, false)
	f.minimal = prove(v1, "minimal.arrow", 1, true)
	ingest(v2, f.times[1])
	f.late = prove(v1, "late.arrow", 1, false)
	f.cur = prove(v2, "v2.arrow", 2, false)
	rec, err := tr.Version("DM", 2)
	if err != nil {
		t.Fatal(err)
	}
	f.v2Leaf = rec.Manifest.FirstIndex + rec.Manifest.Rows
	f.publish(t)
	return f
}

func (f *freshTrial) publish(t *testing.T) {
	cp, err := f.tr.LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlogtiles.Publish(context.Background(), f.tr.Log, f.tr.VerifierKey, cp, f.pub); err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.Open(f.tr.VerifierKey, cp)
	if err != nil {
		t.Fatal(err)
	}
	f.size = c.Size
}

func (f *freshTrial) log(t *testing.T) verify.Versions {
	r, err := tlogtiles.OpenReader(f.pub)
	if err != nil {
		t.Fatal(err)
	}
	return freshness.New(r, f.pub, f.tr.VerifierKey)
}

// TestFreshness (issue 12, point 5): the report names the version and its
// ingest time; with the published log to ask, a superseded version still
// verifies but the report warns that a newer version was logged, naming
// it, its ingest time and its manifest leaf, whether the package was made
// before or after the newer version was logged and whatever its
// disclosure; --require-latest (RequireLatest) makes that a failure; a
// pinned version gets a note; the latest version gets no warning.
func TestFreshness(t *testing.T) {
	ctx := context.Background()
	f := newFreshTrial(t)
	log := f.log(t)
	check := func(pkg string, opts verify.Options, ok bool, freshness, text string) *verify.Report {
		t.Helper()
		opts.VerifierKey = f.tr.VerifierKey
		rep, err := verify.Package(ctx, pkg, opts)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		rep.WriteText(&b)
		if rep.OK != ok || rep.Freshness != freshness || !strings.Contains(b.String(), text) {
			t.Errorf("%s: ok=%v freshness=%q, want %v %q and %q in:\n%s", filepath.Base(pkg), rep.OK, rep.Freshness, ok, freshness, text, b.String())
		}
		if want := f.times[rep.Version-1].Format(time.RFC3339); rep.IngestedAt != want {
			t.Errorf("ingested_at %q, want %q", rep.IngestedAt, want)
		}
		return rep
	}
	newer := "a newer version 2 of dataset DM was logged at 2026-11-20T09:00:00Z (leaf " + itoa(f.v2Leaf) + ")"
	if rep := check(f.early, verify.Options{}, true, verify.FreshnessNotChecked, "newer version: not checked"); rep.NewerVersions != nil {
		t.Errorf("not checked, yet newer versions %v", rep.NewerVersions)
	}
	for _, pkg := range []string{f.early, f.late, f.minimal} {
		rep := check(pkg, verify.Options{Versions: log}, true, verify.FreshnessSuperseded, "WARNING: "+newer)
		if len(rep.NewerVersions) != 1 || rep.NewerVersions[0].Version != 2 || rep.NewerVersions[0].Leaf != f.v2Leaf || rep.Latest == nil || rep.Latest.Version != 2 {
			t.Errorf("%s: newer versions %+v, latest %+v", filepath.Base(pkg), rep.NewerVersions, rep.Latest)
		}
		check(pkg, verify.Options{Versions: log, RequireLatest: true}, false, verify.FreshnessSuperseded, "problem: "+newer)
	}
	check(f.early, verify.Options{Versions: log, Dataset: "DM", Version: 1}, true, verify.FreshnessSuperseded, "note: "+newer)
	rep := check(f.cur, verify.Options{Versions: log, RequireLatest: true}, true, verify.FreshnessLatest, "newer version: none")
	if rep.NewerVersions == nil || len(rep.NewerVersions) != 0 || len(rep.Warnings) != 0 {
		t.Errorf("latest version: newer %v, warnings %v", rep.NewerVersions, rep.Warnings)
	}
	check(f.cur, verify.Options{Versions: log, Dataset: "DM", Version: 1}, false, verify.FreshnessLatest, "expected version 1")
}

// TestFreshnessLyingLog: a log server that hides version 2 — its manifest
// entry replaced by an old one, with the level-0 tile recomputed to match,
// or dropped from its entry bundle — is caught: the entries do not
// recompute to the signed root, and verification fails. A published log
// that does not yet reach the package's checkpoint fails too.
func TestFreshnessLyingLog(t *testing.T) {
	ctx := context.Background()
	f := newFreshTrial(t)
	size := f.size
	if size > tlogtiles.TileWidth {
		t.Fatalf("test log of %d leaves spans several bundles", size)
	}
	bundle := filepath.Join(f.pub, filepath.FromSlash(tlogtiles.TilePathOf(tlog.Tile{H: tlogtiles.TileHeight, L: -1, N: 0, W: int(size)})))
	tile := filepath.Join(f.pub, filepath.FromSlash(tlogtiles.TilePathOf(tlog.Tile{H: tlogtiles.TileHeight, L: 0, N: 0, W: int(size)})))
	origBundle, origTile := readFile(t, bundle), readFile(t, tile)
	leaves, err := tlogtiles.SplitBundle(origBundle, int(size))
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := f.tr.Version("DM", 1)
	v1Manifest := leaves[rec.Manifest.FirstIndex+rec.Manifest.Rows]
	if k, _, _ := leaf.Header(v1Manifest); k != leaf.KindManifest {
		t.Fatal("no version 1 manifest")
	}
	frame := func(ls [][]byte) []byte {
		var b []byte
		for _, l := range ls {
			b, _ = torchwood.AppendTileEntry(b, l)
		}
		return b
	}
	hidden := append([][]byte(nil), leaves...)
	hidden[f.v2Leaf] = v1Manifest
	var hashes []byte
	for _, l := range hidden {
		hashes = append(hashes, trillian.LeafHash(l)...)
	}
	for name, files := range map[string][2][]byte{
		"replaced":            {frame(hidden), hashes},
		"replaced, tile kept": {frame(hidden), origTile},
		"dropped":             {frame(leaves[:f.v2Leaf]), origTile},
	} {
		os.WriteFile(bundle, files[0], 0o644)
		os.WriteFile(tile, files[1], 0o644)
		rep, err := verify.Package(ctx, f.early, verify.Options{VerifierKey: f.tr.VerifierKey, Versions: f.log(t)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if all := strings.Join(rep.Problems, "\n"); rep.OK || len(rep.NewerVersions) != 0 || !strings.Contains(all, "contradicts its signed checkpoints") {
			t.Errorf("%s: ok=%v newer=%v problems:\n%s", name, rep.OK, rep.NewerVersions, all)
		}
	}
	os.WriteFile(bundle, origBundle, 0o644)
	os.WriteFile(tile, origTile, 0o644)

	// Not yet published: the log's tree is smaller than the package's.
	stale := newFreshTrial(t)
	os.RemoveAll(stale.pub)
	cp, _ := stale.tr.LatestCheckpoint()
	more, _ := readers.Open(ctx, filepath.Join(stale.dir, "dm1.csv"), source.Options{})
	if _, err := pipeline.Ingest(ctx, stale.tr, more, pipeline.IngestOptions{Dataset: "AE", Operator: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tlogtiles.Publish(ctx, stale.tr.Log, stale.tr.VerifierKey, cp, stale.pub); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(stale.dir, "after.arrow")
	data, _ := readers.Open(ctx, filepath.Join(stale.dir, "dm2.csv"), source.Options{})
	if _, err := pipeline.Prove(ctx, stale.tr, data, pkg, pipeline.ProveOptions{Dataset: "DM", Version: 2, Rows: [][2]uint64{{0, 1}}, Recipient: "test sponsor", Purpose: "main"}); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Package(ctx, pkg, verify.Options{VerifierKey: stale.tr.VerifierKey, Versions: stale.log(t)})
	if err != nil || rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "not yet published") {
		t.Errorf("a log that does not reach the package: %v %+v", err, rep)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
