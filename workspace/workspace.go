// Package workspace is a CRO's trialog state on disk: per trial, the tree
// (or where the remote tree lives), the checkpoint signing key, the trial
// secret the salts derive from, the latest signed checkpoint and the
// catalog of ingested dataset versions.
//
// Layout of a --log DIR (all files written atomically: temp file, fsync,
// rename, fsync of the directory):
//
//	DIR/trials/ID/trial.json          trial ID, origin, backend
//	DIR/trials/ID/tree/               the embedded tree (trillian/embedded)
//	DIR/trials/ID/secret              32 random bytes (0600): never shared
//	DIR/trials/ID/checkpoint.key      Ed25519 note signer key (0600)
//	DIR/trials/ID/checkpoint.vkey     its verifier key: give it to sponsors
//	DIR/trials/ID/checkpoint          the latest signed checkpoint
//	DIR/trials/ID/datasets/NAME/vN.json  one record per dataset version
//	DIR/trials/ID/pending.json        an ingest that has not finished
//	DIR/trials/ID/lock                held (flock) by the one writer
package workspace

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
)

// ErrUsage is wrapped by errors in what the user asked for (unknown trial,
// bad ID, trial exists): the CLI exits 2 on them.
var ErrUsage = errors.New("usage error")

// ErrLocked is wrapped when another process is writing to the trial.
var ErrLocked = errors.New("trial is locked by another trialog process")

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName checks a trial or dataset name: it becomes a path component
// and part of the checkpoint origin.
func ValidName(kind, name string) error {
	if !validID.MatchString(name) {
		return fmt.Errorf("%s %q: use letters, digits, '.', '_' or '-' (at most 128, starting with a letter or digit): %w", kind, name, ErrUsage)
	}
	return nil
}

// Config is trial.json.
type Config struct {
	Trial   string `json:"trial"`
	Origin  string `json:"origin"`
	Backend string `json:"backend"` // "embedded" or "trillian://HOST:PORT"
	TreeID  int64  `json:"tree_id,omitempty"`
	Created string `json:"created"`
}

// Trial is an opened trial.
type Trial struct {
	ID          string
	Dir         string
	Config      Config
	Log         trillian.Log
	VerifierKey string
	signerKey   string
	secret      []byte
	lock        *os.File
}

// LogOpener opens the tree of a trial whose backend is not embedded (the
// remote Trillian backend plugs in here, keeping this package free of gRPC).
type LogOpener func(ctx context.Context, cfg Config, writable bool) (trillian.Log, error)

// Options tune Init and Open.
type Options struct {
	// Backend for Init: "" or "embedded", or a trillian://HOST:PORT URL.
	Backend string
	// Remote opens non-embedded trees; CreateRemote creates them at Init
	// and returns the tree ID.
	Remote       LogOpener
	CreateRemote func(ctx context.Context, cfg Config) (int64, error)
}

func trialDir(dir, id string) string { return filepath.Join(dir, "trials", id) }

// VerifierKeyPath is where a trial's public checkpoint key is written.
func VerifierKeyPath(dir, id string) string {
	return filepath.Join(trialDir(dir, id), "checkpoint.vkey")
}

// Init creates a trial: its tree, checkpoint key pair and secret.
func Init(ctx context.Context, dir, id string, opts Options) (*Trial, error) {
	if err := ValidName("trial", id); err != nil {
		return nil, err
	}
	td := trialDir(dir, id)
	if _, err := os.Stat(filepath.Join(td, "trial.json")); err == nil {
		return nil, fmt.Errorf("trial %s already exists in %s: %w", id, dir, ErrUsage)
	}
	if err := os.MkdirAll(filepath.Join(td, "datasets"), 0o700); err != nil {
		return nil, err
	}
	backend := opts.Backend
	if backend == "" {
		backend = "embedded"
	}
	cfg := Config{Trial: id, Origin: checkpoint.Origin(id), Backend: backend, Created: time.Now().UTC().Format(time.RFC3339)}
	if backend != "embedded" {
		if opts.CreateRemote == nil {
			return nil, fmt.Errorf("backend %q is not supported: %w", backend, ErrUsage)
		}
		treeID, err := opts.CreateRemote(ctx, cfg)
		if err != nil {
			return nil, err
		}
		cfg.TreeID = treeID
	}
	secret := make([]byte, leaf.SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	skey, vkey, err := checkpoint.GenerateKey(cfg.Origin)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"secret", secret, 0o600},
		{"checkpoint.key", []byte(skey + "\n"), 0o600},
		{"checkpoint.vkey", []byte(vkey + "\n"), 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(td, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	// trial.json goes last: its presence means the trial is complete.
	cfgJSON, _ := json.MarshalIndent(cfg, "", "  ")
	if err := WriteFileAtomic(filepath.Join(td, "trial.json"), append(cfgJSON, '\n'), 0o644); err != nil {
		return nil, err
	}
	t, err := Open(ctx, dir, id, true, opts)
	if err != nil {
		return nil, err
	}
	// An empty tree still gets a signed checkpoint, so consistency from the
	// very start can be shown.
	root, err := t.Log.LatestRoot(ctx)
	if err != nil {
		t.Close()
		return nil, err
	}
	if _, err := t.PublishCheckpoint(root); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Open opens an existing trial; writable takes the trial's writer lock.
func Open(ctx context.Context, dir, id string, writable bool, opts Options) (*Trial, error) {
	if err := ValidName("trial", id); err != nil {
		return nil, err
	}
	td := trialDir(dir, id)
	cfgJSON, err := os.ReadFile(filepath.Join(td, "trial.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no trial %s in %s (run trialog init): %w", id, dir, ErrUsage)
	}
	if err != nil {
		return nil, err
	}
	t := &Trial{ID: id, Dir: td}
	if err := json.Unmarshal(cfgJSON, &t.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(td, "trial.json"), err)
	}
	if writable {
		if t.lock, err = lockFile(filepath.Join(td, "lock")); err != nil {
			return nil, fmt.Errorf("trial %s: %w", id, err)
		}
	}
	fail := func(err error) (*Trial, error) {
		t.Close()
		return nil, err
	}
	if t.secret, err = os.ReadFile(filepath.Join(td, "secret")); err != nil {
		return fail(err)
	}
	skey, err := os.ReadFile(filepath.Join(td, "checkpoint.key"))
	if err != nil {
		return fail(err)
	}
	t.signerKey = strings.TrimSpace(string(skey))
	vkey, err := os.ReadFile(filepath.Join(td, "checkpoint.vkey"))
	if err != nil {
		return fail(err)
	}
	t.VerifierKey = strings.TrimSpace(string(vkey))
	switch t.Config.Backend {
	case "embedded":
		l, err := embedded.Open(ctx, filepath.Join(td, "tree"), embedded.Options{ReadOnly: !writable})
		if errors.Is(err, embedded.ErrLocked) {
			return fail(fmt.Errorf("trial %s: %w", id, ErrLocked))
		}
		if err != nil {
			return fail(err)
		}
		t.Log = l
	default:
		if opts.Remote == nil {
			return fail(fmt.Errorf("trial %s uses backend %q, which this command cannot reach: %w", id, t.Config.Backend, ErrUsage))
		}
		if t.Log, err = opts.Remote(ctx, t.Config, writable); err != nil {
			return fail(err)
		}
	}
	return t, nil
}

func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// Close releases the tree and the writer lock.
func (t *Trial) Close() error {
	var err error
	if t.Log != nil {
		err = t.Log.Close()
	}
	if t.lock != nil {
		err = errors.Join(err, t.lock.Close())
	}
	return err
}

// Secret is the trial secret the salts derive from.
func (t *Trial) Secret() []byte { return t.secret }

// PublishCheckpoint signs a checkpoint for root and records it as the
// trial's latest.
func (t *Trial) PublishCheckpoint(root trillian.Root) ([]byte, error) {
	signed, err := checkpoint.Sign(t.signerKey, root)
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(t.Dir, "checkpoint"), signed, 0o644); err != nil {
		return nil, err
	}
	hist := filepath.Join(t.Dir, "checkpoints")
	if err := os.MkdirAll(hist, 0o755); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(hist, strconv.FormatUint(root.Size, 10)), signed, 0o644); err != nil {
		return nil, err
	}
	return signed, nil
}

// SignStatement signs a statement with the trial's checkpoint key.
func (t *Trial) SignStatement(text string) ([]byte, error) {
	return checkpoint.SignNote(t.signerKey, text)
}

// LatestCheckpoint returns the last checkpoint published.
func (t *Trial) LatestCheckpoint() ([]byte, error) {
	return os.ReadFile(filepath.Join(t.Dir, "checkpoint"))
}

// Record is a catalog entry: a finished dataset version.
type Record struct {
	Manifest      leaf.Manifest `json:"manifest"`
	ManifestIndex uint64        `json:"manifest_index"`
	Checkpoint    string        `json:"checkpoint"` // signed, right after the ingest
}

func (t *Trial) datasetDir(name string) string { return filepath.Join(t.Dir, "datasets", name) }

// Versions lists a dataset's finished versions, oldest first.
func (t *Trial) Versions(dataset string) ([]*Record, error) {
	entries, err := os.ReadDir(t.datasetDir(dataset))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "v") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(t.datasetDir(dataset), e.Name()))
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, &r)
	}
	slices.SortFunc(out, func(a, b *Record) int { return int(a.Manifest.Version) - int(b.Manifest.Version) })
	return out, nil
}

// Datasets lists the names of the trial's ingested datasets.
func (t *Trial) Datasets() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(t.Dir, "datasets"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Version returns one finished version; version 0 means the latest.
func (t *Trial) Version(dataset string, version uint64) (*Record, error) {
	all, err := t.Versions(dataset)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("trial %s has no dataset %s: %w", t.ID, dataset, ErrUsage)
	}
	if version == 0 {
		return all[len(all)-1], nil
	}
	for _, r := range all {
		if r.Manifest.Version == version {
			return r, nil
		}
	}
	return nil, fmt.Errorf("trial %s has no version %d of dataset %s: %w", t.ID, version, dataset, ErrUsage)
}

// SaveRecord writes a finished version's catalog record.
func (t *Trial) SaveRecord(r *Record) error {
	if err := os.MkdirAll(t.datasetDir(r.Manifest.Dataset), 0o700); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	return WriteFileAtomic(filepath.Join(t.datasetDir(r.Manifest.Dataset), fmt.Sprintf("v%d.json", r.Manifest.Version)), append(data, '\n'), 0o644)
}

// Pending is an ingest that started but has not logged its manifest and
// catalog record yet. Everything the manifest needs except the row count
// and range root is fixed here, before the first row is appended, so a
// resumed ingest produces exactly the leaves the first attempt would have.
type Pending struct {
	Manifest leaf.Manifest `json:"manifest"`
	// NullValues are the CSV missing tokens the first run read with: a
	// resumed run must read the file exactly the same way.
	NullValues []string `json:"null_values,omitempty"`
	// Encoding is the XPT text encoding the first run read with (same
	// reason).
	Encoding string `json:"encoding,omitempty"`
}

func (t *Trial) pendingPath() string { return filepath.Join(t.Dir, "pending.json") }

// Pending returns the unfinished ingest, or nil.
func (t *Trial) Pending() (*Pending, error) {
	data, err := os.ReadFile(t.pendingPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Pending
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", t.pendingPath(), err)
	}
	return &p, nil
}

// SavePending records an ingest before its first leaf is appended.
func (t *Trial) SavePending(p *Pending) error {
	data, _ := json.MarshalIndent(p, "", "  ")
	return WriteFileAtomic(t.pendingPath(), append(data, '\n'), 0o600)
}

// ClearPending removes the pending record once the ingest is cataloged.
func (t *Trial) ClearPending() error {
	if err := os.Remove(t.pendingPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(t.Dir)
}

// WriteFileAtomic replaces path with data durably: a crash leaves either
// the old or the new content, never a torn file.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
