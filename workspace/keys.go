package workspace

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
)

// ErrErased is wrapped when a participant's key was destroyed (commit.ErrErased).
var ErrErased = commit.ErrErased

// keysFormat tags keys.json.
const keysFormat = "trialog-keys-v1"

// KeyStore is the trial's per-participant salt keys (salts v2,
// docs/commitments.md), DIR/trials/ID/keys.json (0600): each participant
// gets a random 32-byte key the first time their rows are ingested, and
// erasing them destroys it. The file is only ever replaced whole
// (durable.WriteFile: temp file, fsync, rename, directory fsync), so a
// crash at any point leaves either the old or the new store.
//
// Erased participants are remembered by a tag, HMAC-SHA256(secret,
// "trialog/erased/v1" || 0x00 || lp(trial) || lp(subject)), not by their
// ID: the store no longer names them, yet a later ingest or prove of
// their rows is recognised and refused.
type KeyStore struct {
	t    *Trial
	data keysFile
}

type keysFile struct {
	Format string `json:"format"`
	// Participants maps a subject ID to its hex key.
	Participants map[string]string `json:"participants"`
	// Erased maps an erased participant's tag to the leaf index of the
	// erasure record.
	Erased map[string]uint64 `json:"erased"`
}

// Mentions reports whether text contains the ID of a participant this
// store holds a key for (case-insensitive): free text logged in clear
// (a disclosure's recipient and purpose, an erasure's reason) must not
// name one, or a published log would.
func (k *KeyStore) Mentions(text string) bool {
	lower := strings.ToLower(text)
	for id := range k.data.Participants {
		if id != "" && strings.Contains(lower, strings.ToLower(id)) {
			return true
		}
	}
	return false
}

func (t *Trial) keysPath() string { return filepath.Join(t.Dir, "keys.json") }

// Keys loads the trial's key store (empty if none was written yet).
func (t *Trial) Keys() (*KeyStore, error) {
	// A write killed before its rename leaves its temporary file, which
	// may hold a key erased since: the trial's lock is held, so no write
	// is under way, and every leftover goes (crypto-shredding must not
	// leave a copy behind).
	if err := removeLeftovers(t.keysPath()); err != nil {
		return nil, err
	}
	k := &KeyStore{t: t, data: keysFile{Format: keysFormat, Participants: map[string]string{}, Erased: map[string]uint64{}}}
	raw, err := os.ReadFile(t.keysPath())
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &k.data); err != nil || k.data.Format != keysFormat {
		return nil, fmt.Errorf("%s: not a trialog key store (%v)", t.keysPath(), err)
	}
	if k.data.Participants == nil {
		k.data.Participants = map[string]string{}
	}
	if k.data.Erased == nil {
		k.data.Erased = map[string]uint64{}
	}
	return k, nil
}

// ErasedTag is the tag an erased participant is remembered by.
func (t *Trial) ErasedTag(subject string) string {
	mac := hmac.New(sha256.New, t.secret)
	msg := append([]byte("trialog/erased/v1"), 0)
	msg = leaf.AppendString(msg, t.ID)
	msg = leaf.AppendString(msg, subject)
	mac.Write(msg)
	return hex.EncodeToString(mac.Sum(nil))
}

// Key returns the salt key of a participant's rows: their own key, or
// the trial secret for rows with no participant (subject ""). It wraps
// ErrErased for an erased participant, and ErrUsage for one who has no
// key (their rows were never ingested under salts v2).
func (k *KeyStore) Key(subject string) ([]byte, error) {
	if subject == "" {
		return k.t.secret, nil
	}
	if _, erased := k.data.Erased[k.t.ErasedTag(subject)]; erased {
		return nil, ErrErased
	}
	h, ok := k.data.Participants[subject]
	if !ok {
		return nil, fmt.Errorf("no salt key for a participant of these rows: %w", ErrUsage)
	}
	key, err := hex.DecodeString(h)
	if err != nil || len(key) != leaf.SecretSize {
		return nil, fmt.Errorf("%s: a participant's key is malformed", k.t.keysPath())
	}
	return key, nil
}

// AnyErased reports whether any participant was ever erased.
func (k *KeyStore) AnyErased() bool { return len(k.data.Erased) > 0 }

// Has reports whether a participant has a key.
func (k *KeyStore) Has(subject string) bool {
	_, ok := k.data.Participants[subject]
	return ok
}

// Ensure gives every subject without a key a new random one, durably, in
// one write; erased participants are refused (ErrErased). It must run
// before any leaf salted with the new keys is appended.
func (k *KeyStore) Ensure(subjects []string) error {
	added := false
	for _, s := range subjects {
		if s == "" || k.Has(s) {
			continue
		}
		if _, erased := k.data.Erased[k.t.ErasedTag(s)]; erased {
			return ErrErased
		}
		key := make([]byte, leaf.SecretSize)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		k.data.Participants[s] = hex.EncodeToString(key)
		added = true
	}
	if !added {
		return nil
	}
	return k.save()
}

// destroy removes a participant's key and remembers the erasure by tag,
// in one atomic write. It is idempotent (recovery may repeat it).
func (k *KeyStore) destroy(subject string, leafIndex uint64) error {
	delete(k.data.Participants, subject)
	k.data.Erased[k.t.ErasedTag(subject)] = leafIndex
	return k.save()
}

func (k *KeyStore) save() error {
	data, err := json.Marshal(k.data) // compact: rewritten whole as participants arrive
	if err != nil {
		return err
	}
	return durable.WriteFile(k.t.keysPath(), append(data, '\n'), 0o600)
}

// removeLeftovers removes the temporary files that durable.WriteFile makes
// beside path and an interrupted process left behind.
func removeLeftovers(path string) error {
	left, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*"))
	if err != nil {
		return err
	}
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
