// Package trust is a verifier's memory of the logs it checked: per log
// (its origin and key), the largest checkpoint it accepted and every
// (size, root) it accepted on the way. A log that shows this verifier one
// history and later another (a fork), or an older state as if it were the
// latest (a rollback), is caught here even with no witness at all: a new
// checkpoint is accepted only if it is one already seen, or comes with an
// RFC 6962 consistency proof (verified with transparency-dev/merkle)
// linking it to the stored one. This is the "gossip-free" half of
// split-view protection Go's checksum database clients use (they keep the
// latest tree they saw in their cache and check every new one against it).
//
// Layout of a trust directory (every file replaced atomically):
//
//	DIR/LOG/vkey           the log's verifier key (what LOG stands for)
//	DIR/LOG/latest         the largest accepted signed checkpoint, as received
//	DIR/LOG/seen/SIZE      base64 root hash of an accepted checkpoint of SIZE
//	DIR/LOG/latest.proofs  JSON {"to": N, "proofs": {"FROM": [base64 hashes]}}: the
//	                       consistency proofs that came with the latest checkpoint
//	                       (size N), from earlier sizes to N
//
// where LOG is the path-escaped origin, '+', and the key hash in hex.
package trust

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// Env is the environment variable the CLI reads the trust directory from.
const Env = "TRIALOG_TRUST"

// ErrNoProof is returned by a ProofSource that cannot supply a proof.
var ErrNoProof = errors.New("no consistency proof available")

// ProofSource supplies the RFC 6962 consistency proof between two sizes
// of the log (oldSize < newSize), e.g. carried in a package
// (disclosure.Meta.Consistency) or fetched from the log's public URL.
type ProofSource func(ctx context.Context, oldSize, newSize uint64) ([][]byte, error)

// ForkError says a checkpoint conflicts with what this verifier accepted
// before. It carries both checkpoints as evidence.
type ForkError struct {
	Reason  string // "fork" (same size, other root, or a failed proof) or "rollback"
	Detail  string
	Stored  []byte // the signed checkpoint accepted before
	Offered []byte // the one refused
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("fork or rollback (%s): %s", e.Reason, e.Detail)
}

// Evidence prints both checkpoints for a report.
func (e *ForkError) Evidence() string {
	return "stored checkpoint (accepted before):\n" + indent(e.Stored) +
		"offered checkpoint (refused):\n" + indent(e.Offered)
}

func indent(b []byte) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n") {
		out.WriteString("    " + strings.TrimRight(l, "\n") + "\n")
	}
	return out.String()
}

// Decision is what Accept did.
type Decision struct {
	// Outcome: "first" (nothing stored yet), "same", "seen" (an older
	// checkpoint accepted before), "extended" (larger and consistent:
	// now the stored one), "older" (smaller, proven consistent).
	Outcome    string
	StoredSize uint64 // the size stored after the decision
}

// Store is a trust directory.
type Store struct{ dir string }

// Open opens (creating) a trust directory.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("trust directory: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) logDir(v note.Verifier) string {
	return filepath.Join(s.dir, url.PathEscape(v.Name())+"+"+fmt.Sprintf("%08x", v.KeyHash()))
}

// Accept verifies the signed checkpoint with verifierKey, checks it
// against what was accepted before for the same log and records it. A *ForkError means exit 1: the log
// forked or rolled back. Only one verifier process should use a trust
// directory at a time: Accept takes a lock on the log's entry.
//
// carried are consistency proofs from earlier sizes to this checkpoint's
// size that came with it (a package's or a report's): the one from the
// stored size proves an extension, and when it becomes the stored
// checkpoint they are kept, so an older checkpoint met later (an older
// package verified after a newer one) is checked against it offline.
func (s *Store) Accept(ctx context.Context, verifierKey string, signed []byte, proofs ProofSource, carried map[uint64][][]byte) (*Decision, error) {
	return s.decide(ctx, verifierKey, signed, proofs, carried, true)
}

// Check is Accept without recording anything: it tells whether the
// checkpoint forks or rolls back what was accepted before. A verifier
// uses it for a checkpoint that fails other checks (a missed witness
// quorum), which must not become what it remembers.
func (s *Store) Check(ctx context.Context, verifierKey string, signed []byte, proofs ProofSource) (*Decision, error) {
	return s.decide(ctx, verifierKey, signed, proofs, nil, false)
}

func (s *Store) decide(ctx context.Context, verifierKey string, signed []byte, proofs ProofSource, carried map[uint64][][]byte, write bool) (*Decision, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	cp, err := checkpoint.Open(verifierKey, signed)
	if err != nil {
		return nil, err
	}
	if err := checkEmptyRoot(cp); err != nil {
		return nil, err
	}
	dir := s.logDir(v)
	if err := os.MkdirAll(filepath.Join(dir, "seen"), 0o700); err != nil {
		return nil, fmt.Errorf("trust directory: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	stored, err := os.ReadFile(filepath.Join(dir, "latest"))
	if errors.Is(err, os.ErrNotExist) {
		if !write {
			return &Decision{Outcome: "first"}, nil
		}
		if err := durable.WriteFile(filepath.Join(dir, "vkey"), []byte(strings.TrimSpace(verifierKey)+"\n"), 0o644); err != nil {
			return nil, err
		}
		if err := s.record(dir, cp, signed, true); err != nil {
			return nil, err
		}
		if err := s.keepProofs(dir, cp.Size, carried); err != nil {
			return nil, err
		}
		return &Decision{Outcome: "first", StoredSize: cp.Size}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trust directory: %w", err)
	}
	old, err := checkpoint.Open(verifierKey, stored)
	if err != nil {
		return nil, fmt.Errorf("trust directory %s: stored checkpoint: %w", dir, err)
	}
	fork := func(reason, format string, args ...any) error {
		return &ForkError{Reason: reason, Detail: fmt.Sprintf(format, args...), Stored: stored, Offered: signed}
	}
	if seen, ok := s.seen(dir, cp.Size); ok {
		if !bytes.Equal(seen, cp.Hash) {
			return nil, fork("fork", "this verifier accepted another root for tree size %d", cp.Size)
		}
		outcome := "seen"
		if cp.Size == old.Size {
			outcome = "same"
		}
		return &Decision{Outcome: outcome, StoredSize: old.Size}, nil
	}
	switch {
	case cp.Size == old.Size:
		return nil, fork("fork", "same tree size %d, different root", cp.Size)
	case cp.Size > old.Size:
		p, ok := carried[old.Size]
		if !ok {
			var perr error
			if p, perr = get(ctx, proofs, old.Size, cp.Size); perr != nil {
				return nil, fork("fork", "no consistency proof from the stored size %d to %d: %v", old.Size, cp.Size, perr)
			}
		}
		if err := proof.VerifyConsistency(trillian.Hasher, old.Size, cp.Size, p, old.Hash, cp.Hash); err != nil {
			return nil, fork("fork", "tree %d is not an extension of the stored tree %d: %v", cp.Size, old.Size, err)
		}
		if !write {
			return &Decision{Outcome: "extended", StoredSize: old.Size}, nil
		}
		if err := s.record(dir, cp, signed, true); err != nil {
			return nil, err
		}
		if err := s.keepProofs(dir, cp.Size, carried); err != nil {
			return nil, err
		}
		return &Decision{Outcome: "extended", StoredSize: cp.Size}, nil
	default:
		p, ok := s.keptProof(dir, cp.Size, old.Size)
		if !ok {
			var perr error
			if p, perr = get(ctx, proofs, cp.Size, old.Size); perr != nil {
				return nil, fork("rollback", "tree size %d is smaller than the stored %d and was never accepted; no proof that it is a prefix: %v", cp.Size, old.Size, perr)
			}
		}
		if err := proof.VerifyConsistency(trillian.Hasher, cp.Size, old.Size, p, cp.Hash, old.Hash); err != nil {
			return nil, fork("rollback", "tree %d is not a prefix of the stored tree %d: %v", cp.Size, old.Size, err)
		}
		if write {
			if err := s.record(dir, cp, signed, false); err != nil {
				return nil, err
			}
		}
		return &Decision{Outcome: "older", StoredSize: old.Size}, nil
	}
}

// Latest returns the stored signed checkpoint of the log, or nil.
func (s *Store) Latest(verifierKey string) ([]byte, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(s.logDir(v), "latest"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// checkEmptyRoot refuses a checkpoint of the empty tree with any root but
// the empty tree's, SHA-256 of the empty string (RFC 6962, section 2.1).
// Consistency proofs from size 0 are empty and check nothing (every tree
// extends the empty one), so a wrong root there would be remembered, and
// compared with later size-0 checkpoints, as if it meant something; a log
// key that signs one has signed a false statement.
func checkEmptyRoot(cp checkpoint.Checkpoint) error {
	if cp.Size == 0 && !bytes.Equal(cp.Hash, trillian.Hasher.EmptyRoot()) {
		return fmt.Errorf("%w: a checkpoint of the empty tree with root %x, not the empty tree's root %x (RFC 6962: SHA-256 of the empty string)", checkpoint.ErrBadCheckpoint, cp.Hash, trillian.Hasher.EmptyRoot())
	}
	return nil
}

func get(ctx context.Context, src ProofSource, a, b uint64) ([][]byte, error) {
	if src == nil {
		return nil, ErrNoProof
	}
	return src(ctx, a, b)
}

func (s *Store) seen(dir string, size uint64) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "seen", strconv.FormatUint(size, 10)))
	if err != nil {
		return nil, false
	}
	h, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false
	}
	return h, true
}

// record writes seen/SIZE first, then latest: a crash in between leaves a
// seen entry for a checkpoint that was proven consistent, which is safe.
func (s *Store) record(dir string, cp checkpoint.Checkpoint, signed []byte, latest bool) error {
	seen := filepath.Join(dir, "seen", strconv.FormatUint(cp.Size, 10))
	if err := durable.WriteFile(seen, []byte(base64.StdEncoding.EncodeToString(cp.Hash)+"\n"), 0o644); err != nil {
		return fmt.Errorf("trust directory: %w", err)
	}
	if !latest {
		return nil
	}
	if err := durable.WriteFile(filepath.Join(dir, "latest"), signed, 0o644); err != nil {
		return fmt.Errorf("trust directory: %w", err)
	}
	return nil
}

type keptProofs struct {
	To     uint64              `json:"to"`
	Proofs map[uint64][][]byte `json:"proofs"`
}

// keepProofs stores the proofs that came with the new latest checkpoint
// (size to). Written after latest: a crash in between leaves proofs for
// another size, which keptProof ignores.
func (s *Store) keepProofs(dir string, to uint64, carried map[uint64][][]byte) error {
	path := filepath.Join(dir, "latest.proofs")
	if len(carried) == 0 {
		if err := durable.Remove(path); err != nil {
			return fmt.Errorf("trust directory: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(keptProofs{To: to, Proofs: carried})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("trust directory: %w", err)
	}
	return nil
}

func (s *Store) keptProof(dir string, from, to uint64) ([][]byte, bool) {
	data, err := os.ReadFile(filepath.Join(dir, "latest.proofs"))
	if err != nil {
		return nil, false
	}
	var k keptProofs
	if json.Unmarshal(data, &k) != nil || k.To != to {
		return nil, false
	}
	p, ok := k.Proofs[from]
	return p, ok
}
