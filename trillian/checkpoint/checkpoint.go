// Package checkpoint signs and verifies tree heads in the C2SP
// tlog-checkpoint format: a signed note (golang.org/x/mod/sumdb/note,
// Ed25519) whose text is the origin line, the tree size and the base64 root
// hash. Trillian v1.8 no longer signs roots, so trialog signs its own; any
// tlog-checkpoint tool can check these with the published verifier key.
package checkpoint

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/trillian"
)

// ErrBadCheckpoint is wrapped by Open for checkpoints that do not verify.
var ErrBadCheckpoint = errors.New("checkpoint does not verify")

// Origin is the checkpoint origin (and signing key name) of a trial's tree.
func Origin(trial string) string { return "trialog/" + trial }

// GenerateKey makes a new Ed25519 signer key and its public verifier key,
// both in note's text encoding, named after the origin.
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("generate checkpoint key for %q: %w", origin, err)
	}
	return skey, vkey, nil
}

// Checkpoint is a verified tree head.
type Checkpoint struct {
	Origin string
	trillian.Root
}

// Sign returns the signed note for root under the given signer key; the
// origin is the key's name.
func Sign(signerKey string, root trillian.Root) ([]byte, error) {
	signer, err := note.NewSigner(strings.TrimSpace(signerKey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer key: %w", err)
	}
	text := log.Checkpoint{Origin: signer.Name(), Size: root.Size, Hash: root.Hash}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return signed, nil
}

// Open verifies a signed checkpoint with the verifier key and returns the
// tree head it vouches for. The origin must be the key's name.
func Open(verifierKey string, signed []byte) (Checkpoint, error) {
	verifier, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	cp, _, _, err := log.ParseCheckpoint(signed, verifier.Name(), verifier)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if len(cp.Hash) != trillian.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root hash of %d bytes", ErrBadCheckpoint, len(cp.Hash))
	}
	return Checkpoint{Origin: cp.Origin, Root: trillian.Root{Size: cp.Size, Hash: cp.Hash}}, nil
}

// SignNote signs an arbitrary statement text (one or more lines, ending in
// a newline) with the trial's checkpoint key; trialog uses it to bind a
// package's selection to the CRO that made it.
func SignNote(signerKey, text string) ([]byte, error) {
	signer, err := note.NewSigner(strings.TrimSpace(signerKey))
	if err != nil {
		return nil, fmt.Errorf("signer key: %w", err)
	}
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign note: %w", err)
	}
	return signed, nil
}

// OpenNote verifies a note signed with SignNote and returns its text.
func OpenNote(verifierKey string, signed []byte) (string, error) {
	verifier, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return "", fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	return n.Text, nil
}

// ErrBadKey is wrapped when a verifier key is not a note verifier key.
var ErrBadKey = errors.New("not a note verifier key")

// CheckVerifierKey checks that text is one note verifier key line
// (name+hash+base64 key, as trialog init writes to checkpoint.vkey), so a
// wrong file is bad input, not a failed verification.
func CheckVerifierKey(text string) error {
	if _, err := note.NewVerifier(strings.TrimSpace(text)); err != nil {
		return fmt.Errorf("%w (%v)", ErrBadKey, err)
	}
	return nil
}
