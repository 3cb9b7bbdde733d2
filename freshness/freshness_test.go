package freshness

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
	"github.com/trialog/trialog/verify"
)

func manifest(t *testing.T, trial, dataset string, version, first uint64) []byte {
	t.Helper()
	m := &leaf.Manifest{Format: leaf.ManifestFormat, Trial: trial, Dataset: dataset, Version: version, Rows: 2, FirstIndex: first,
		Source: leaf.Source{Format: "csv"}, CreatedAt: "2026-12-0" + string(rune('0'+version)) + "T00:00:00Z", Encoding: leaf.NewEncoding(canonical.DefaultRules())}
	if err := m.SetPrivate(bytes.Repeat([]byte{1}, leaf.SecretSize)); err != nil {
		t.Fatal(err)
	}
	b, err := leaf.ManifestLeaf(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func row(i int) []byte {
	return append([]byte{byte(leaf.KindRow), 0x02}, bytes.Repeat([]byte{byte(i)}, 98)...)
}

// TestLoggedLists: Logged lists the manifests of the asked dataset at or
// after From, in log order, and only those (not another dataset's, not
// another trial's, not before From); a manifest leaf it cannot parse is
// listed as unreadable; a log of another trial, or one whose tree does not
// extend the package's, is refused.
func TestLoggedLists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("T1"))
	l, err := embedded.Open(ctx, filepath.Join(dir, "tree"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	leaves := [][]byte{row(0), row(1), manifest(t, "T1", "DM", 1, 0), // 2
		row(2), row(3), manifest(t, "T1", "AE", 1, 3), // 5
		row(4), row(5), manifest(t, "T1", "DM", 2, 6), // 8
		manifest(t, "T2", "DM", 3, 0),             // 9: another trial's
		{byte(leaf.KindManifest), 0x09, '{', '}'}, // 10: a format this verifier cannot read
		row(6), row(7), manifest(t, "T1", "DM", 3, 11), // 13
	}
	pkgRoot, err := l.AppendLeaves(ctx, 0, leaves[:3])
	if err != nil {
		t.Fatal(err)
	}
	root, err := l.AppendLeaves(ctx, 3, leaves[3:])
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := checkpoint.Sign(skey, root)
	pub := filepath.Join(dir, "public")
	if _, err := tlogtiles.Publish(ctx, l, vkey, cp, pub); err != nil {
		t.Fatal(err)
	}
	r, _ := tlogtiles.OpenReader(pub)
	log := New(r, pub, vkey)
	q := verify.VersionQuery{Trial: "T1", Dataset: "DM", From: 3, Size: pkgRoot.Size, Root: pkgRoot.Hash}
	ans, err := log.Logged(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if ans.TreeSize != 14 || len(ans.Versions) != 2 || ans.Versions[0] != (verify.DatasetVersion{Version: 2, IngestedAt: "2026-12-02T00:00:00Z", Rows: 2, Leaf: 8}) ||
		ans.Versions[1].Version != 3 || ans.Versions[1].Leaf != 13 || len(ans.Unreadable) != 1 || ans.Unreadable[0] != 10 {
		t.Errorf("answer %+v", ans)
	}
	q.From = 0
	if ans, err := log.Logged(ctx, q); err != nil || len(ans.Versions) != 3 || ans.Versions[0].Version != 1 {
		t.Errorf("from leaf 0: %+v %v", ans, err)
	}
	q.From = 14
	if ans, err := log.Logged(ctx, q); err != nil || len(ans.Versions) != 0 {
		t.Errorf("from the end: %+v %v", ans, err)
	}
	if _, err := log.Logged(ctx, verify.VersionQuery{Trial: "T2", Dataset: "DM", From: 3, Size: pkgRoot.Size, Root: pkgRoot.Hash}); err == nil {
		t.Error("the log of T1 answered for T2")
	}
	forked := trillian.Root{Size: pkgRoot.Size, Hash: trillian.LeafHash([]byte("another history"))}
	if _, err := log.Logged(ctx, verify.VersionQuery{Trial: "T1", Dataset: "DM", From: 3, Size: forked.Size, Root: forked.Hash}); !errors.Is(err, verify.ErrLogInconsistent) {
		t.Errorf("a package tree the log does not extend: %v", err)
	}
	if _, err := log.Logged(ctx, verify.VersionQuery{Trial: "T1", Dataset: "DM", From: 3, Size: 15, Root: pkgRoot.Hash}); !errors.Is(err, verify.ErrLogInconsistent) {
		t.Errorf("a package tree larger than the log's: %v", err)
	}
	// A stale mirror (adversarial review): it serves a genuine but older
	// checkpoint than one the verifier has seen signed (the package's
	// disclosure record, the trust store), which could hide a version.
	stale := q
	stale.From, stale.MinSize = 3, 20
	if _, err := log.Logged(ctx, stale); !errors.Is(err, verify.ErrLogInconsistent) || !strings.Contains(err.Error(), "stale mirror") {
		t.Errorf("a log older than the verifier has seen: %v", err)
	}
	// With a witness policy, the checkpoint must meet its quorum.
	stale.MinSize = 0
	stale.CheckCheckpoint = func([]byte) error { return errors.New("0 of 3 witness cosignatures") }
	if _, err := log.Logged(ctx, stale); !errors.Is(err, verify.ErrLogInconsistent) || !strings.Contains(err.Error(), "witness") {
		t.Errorf("an unwitnessed log checkpoint: %v", err)
	}
}
