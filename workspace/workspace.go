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
//	DIR/trials/ID/journal.json        the log write in progress (journal.go)
//	DIR/trials/ID/keys.json           per-participant salt keys, salts v2 (keys.go; 0600)
//	DIR/trials/ID/disclosures/N.json  one record per package issued (disclosures.go)
//	DIR/trials/ID/lock                held (flock) by the one writer
package workspace

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trialog/trialog/internal/durable"
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
	// WitnessOptions tune the submission to witnesses after each write.
	WitnessOptions WitnessOptions
	witnessing     *witnessOutcome // what the last Finish got from the witnesses
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
		if err := durable.WriteFile(filepath.Join(td, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	// trial.json goes last: its presence means the trial is complete.
	cfgJSON, _ := json.MarshalIndent(cfg, "", "  ")
	if err := durable.WriteFile(filepath.Join(td, "trial.json"), append(cfgJSON, '\n'), 0o644); err != nil {
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
	// A tree that has not changed keeps the checkpoint already published
	// for it, with whatever witness cosignatures it has gathered: signing
	// it again would drop them (and their times) while a witness is down.
	if prev, err := os.ReadFile(filepath.Join(t.Dir, "checkpoints", strconv.FormatUint(root.Size, 10))); err == nil {
		if cp, err := checkpoint.Open(t.VerifierKey, prev); err == nil && bytes.Equal(cp.Hash, root.Hash) {
			if err := durable.WriteFile(filepath.Join(t.Dir, "checkpoint"), prev, 0o644); err != nil {
				return nil, err
			}
			return prev, nil
		}
	}
	signed, err := checkpoint.Sign(t.signerKey, root)
	if err != nil {
		return nil, err
	}
	if err := durable.WriteFile(filepath.Join(t.Dir, "checkpoint"), signed, 0o644); err != nil {
		return nil, err
	}
	hist := filepath.Join(t.Dir, "checkpoints")
	if err := os.MkdirAll(hist, 0o755); err != nil {
		return nil, err
	}
	if err := durable.WriteFile(filepath.Join(hist, strconv.FormatUint(root.Size, 10)), signed, 0o644); err != nil {
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

// LatestOpened returns the last checkpoint published, signed and opened
// with the trial's own verifier key.
func (t *Trial) LatestOpened() ([]byte, checkpoint.Checkpoint, error) {
	signed, err := t.LatestCheckpoint()
	if err != nil {
		return nil, checkpoint.Checkpoint{}, err
	}
	cp, err := checkpoint.Open(t.VerifierKey, signed)
	if err != nil {
		return nil, checkpoint.Checkpoint{}, fmt.Errorf("trial %s: latest checkpoint: %w", t.ID, err)
	}
	return signed, cp, nil
}
