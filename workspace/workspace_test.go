package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

func newTrial(t *testing.T) (string, *Trial) {
	t.Helper()
	dir := t.TempDir()
	tr, err := Init(context.Background(), dir, "T1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return dir, tr
}

func TestInitOpenAndKeys(t *testing.T) {
	dir, tr := newTrial(t)
	if _, err := Init(context.Background(), dir, "T1", Options{}); !errors.Is(err, ErrUsage) {
		t.Errorf("second init: %v, want ErrUsage", err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("x", 129)} {
		if _, err := Init(context.Background(), dir, bad, Options{}); !errors.Is(err, ErrUsage) {
			t.Errorf("init %q: %v, want ErrUsage", bad, err)
		}
	}
	for name, mode := range map[string]os.FileMode{"secret": 0o600, "checkpoint.key": 0o600, "checkpoint.vkey": 0o644} {
		st, err := os.Stat(filepath.Join(tr.Dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", name, err, st.Mode().Perm(), mode)
		}
	}
	signed, err := tr.LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Open(tr.VerifierKey, signed)
	if err != nil || cp.Size != 0 {
		t.Fatalf("initial checkpoint: %+v, %v", cp, err)
	}
	if _, err := Open(context.Background(), dir, "T2", false, Options{}); !errors.Is(err, ErrUsage) {
		t.Errorf("open of a missing trial: %v, want ErrUsage", err)
	}
}

// TestLockContention: one writer at a time, refused at once (not
// waited for) with ErrLocked; a read-only trial cannot begin a write.
func TestLockContention(t *testing.T) {
	dir, tr := newTrial(t) // Init holds the writer lock
	if _, err := Open(context.Background(), dir, "T1", true, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	tr.Close()
	r, err := Open(context.Background(), dir, "T1", false, Options{})
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	if _, err := r.Begin(context.Background(), KindDataset, "x", nil); !errors.Is(err, ErrUsage) {
		t.Errorf("a read-only trial began a write: %v", err)
	}
	r.Close()
	w, err := Open(context.Background(), dir, "T1", true, Options{})
	if err != nil {
		t.Fatalf("writer after the first closed: %v", err)
	}
	w.Close()
}

// TestJournal: Write journals, appends at the journaled start, signs and
// clears; a second kind is refused while one is open; Abandon drops it.
func TestJournal(t *testing.T) {
	ctx := context.Background()
	_, tr := newTrial(t)
	root, signed, err := tr.Write(ctx, KindConsent, "two leaves", func(start uint64) (any, [][]byte, error) {
		if start != 0 {
			t.Errorf("start %d, want 0", start)
		}
		return map[string]int{"n": 2}, [][]byte{[]byte("a"), []byte("b")}, nil
	}, func(s []byte) error {
		if j, _ := tr.Journal(); j == nil || j.Kind != KindConsent || j.Start != 0 {
			t.Errorf("journal during store: %+v", j)
		}
		return nil
	})
	if err != nil || root.Size != 2 {
		t.Fatalf("write: %+v %v", root, err)
	}
	if cp, err := checkpoint.Open(tr.VerifierKey, signed); err != nil || cp.Size != 2 {
		t.Fatalf("checkpoint: %+v %v", cp, err)
	}
	if j, err := tr.Journal(); j != nil || err != nil {
		t.Fatalf("journal left after Write: %+v %v", j, err)
	}

	if _, err := tr.Begin(ctx, KindDataset, "ingest of dataset DM from dm.csv", &Pending{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = tr.Write(ctx, KindConsent, "x", func(uint64) (any, [][]byte, error) { return nil, [][]byte{[]byte("c")}, nil }, nil)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "ingest of dataset DM") {
		t.Fatalf("write during an open journal: %v", err)
	}
	if r, _ := tr.Log.LatestRoot(ctx); r.Size != 2 {
		t.Fatalf("a refused write appended: size %d", r.Size)
	}
	if p, err := tr.Pending(); p == nil || err != nil {
		t.Fatalf("Pending: %v %v", p, err)
	}
	if err := tr.Abandon(); err != nil {
		t.Fatal(err)
	}
	// A build error leaves nothing behind.
	_, _, err = tr.Write(ctx, KindConsent, "x", func(uint64) (any, [][]byte, error) { return nil, nil, errors.New("invalid record") }, nil)
	if err == nil {
		t.Fatal("a failed build was written")
	}
	if j, _ := tr.Journal(); j != nil {
		t.Fatalf("journal left after a failed build: %+v", j)
	}
}

// TestKillBetweenJournalAndAppend runs a write in a child process that
// exits (as a kill would) right after the journal is durable and before
// any leaf is appended, then after the append and before the checkpoint:
// the parent then finds exactly the journal, and the log in the state the
// journal says.
func TestKillBetweenJournalAndAppend(t *testing.T) {
	if dir := os.Getenv("TRIALOG_JOURNAL_CHILD"); dir != "" {
		tr, err := Open(context.Background(), dir, "T1", true, Options{})
		if err != nil {
			os.Exit(3)
		}
		j, err := tr.Begin(context.Background(), KindConsent, "child write", map[string]string{"state": "before"})
		if err != nil {
			os.Exit(4)
		}
		if os.Getenv("TRIALOG_JOURNAL_STAGE") == "appended" {
			if _, err := tr.Log.AppendLeaves(context.Background(), j.Start, [][]byte{[]byte("x")}); err != nil {
				os.Exit(5)
			}
		}
		os.Exit(0) // no Close, no Finish: as abrupt as SIGKILL for the files
	}
	for _, stage := range []string{"journaled", "appended"} {
		t.Run(stage, func(t *testing.T) {
			dir, tr := newTrial(t)
			tr.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillBetweenJournalAndAppend$")
			cmd.Env = append(os.Environ(), "TRIALOG_JOURNAL_CHILD="+dir, "TRIALOG_JOURNAL_STAGE="+stage)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			tr, err := Open(context.Background(), dir, "T1", true, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			j, err := tr.Journal()
			var body map[string]string
			if j != nil {
				json.Unmarshal(j.Body, &body)
			}
			if err != nil || j == nil || j.Kind != KindConsent || j.Start != 0 || body["state"] != "before" {
				t.Fatalf("journal after the kill: %+v %v", j, err)
			}
			root, _ := tr.Log.LatestRoot(context.Background())
			want := map[string]uint64{"journaled": 0, "appended": 1}[stage]
			if root.Size != want {
				t.Fatalf("log size %d after the kill, want %d", root.Size, want)
			}
			// Another kind of writer is refused until the write is finished.
			if _, err := tr.Begin(context.Background(), KindDataset, "x", nil); !errors.Is(err, ErrBusy) {
				t.Fatalf("begin beside an unfinished write: %v", err)
			}
			if stage == "appended" {
				if _, err := tr.Finish(context.Background(), root, nil); err != nil {
					t.Fatal(err)
				}
				cp, _ := tr.LatestCheckpoint()
				if c, err := checkpoint.Open(tr.VerifierKey, cp); err != nil || c.Size != 1 {
					t.Fatalf("checkpoint after finishing: %+v %v", c, err)
				}
			} else if err := tr.Abandon(); err != nil {
				t.Fatal(err)
			}
			if j, _ := tr.Journal(); j != nil {
				t.Fatalf("journal left: %+v", j)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	_, tr := newTrial(t)
	if _, err := tr.Version("DM", 0); !errors.Is(err, ErrUsage) {
		t.Errorf("missing dataset: %v", err)
	}
	for v := uint64(1); v <= 2; v++ {
		r := &Record{ManifestIndex: v}
		r.Manifest.Dataset, r.Manifest.Version, r.Manifest.Source.SHA256 = "DM", v, strings.Repeat(string(rune('a'+v)), 64)
		if err := tr.SaveRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := tr.Version("DM", 0); err != nil || r.Manifest.Version != 2 {
		t.Errorf("latest: %+v %v", r, err)
	}
	if r, err := tr.VersionWithContent(strings.Repeat("b", 64)); err != nil || r.Manifest.Version != 1 {
		t.Errorf("by content: %+v %v", r, err)
	}
	if _, err := tr.VersionWithContent(strings.Repeat("f", 64)); !errors.Is(err, ErrNotIngested) {
		t.Errorf("unknown content: %v", err)
	}
	_ = trillian.Root{}
}

// TestRepublishKeepsCosignatures: publishing a checkpoint for a tree that
// has not changed keeps the stored one, cosignature lines included
// (adversarial review: trialog checkpoint dropped them while a witness
// was down).
func TestRepublishKeepsCosignatures(t *testing.T) {
	_, tr := newTrial(t)
	root, err := tr.Log.LatestRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first, err := tr.PublishCheckpoint(root)
	if err != nil {
		t.Fatal(err)
	}
	// Stand in for a stored cosignature: one more signature line.
	cosigned := append(append([]byte{}, first...), []byte("— witness.example/w AAAAAAAAAAAA\n")...)
	hist := filepath.Join(tr.Dir, "checkpoints", "0")
	if err := os.WriteFile(hist, cosigned, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := tr.PublishCheckpoint(root)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(cosigned) {
		t.Fatalf("republished checkpoint dropped the stored signature lines:\n%s", again)
	}
	if latest, _ := tr.LatestCheckpoint(); string(latest) != string(cosigned) {
		t.Fatalf("latest checkpoint:\n%s", latest)
	}
}
