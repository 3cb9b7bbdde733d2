package disclosure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
)

// metaLogged holds the package's DisclosureProof (see
// docs/package-format.md "Disclosure proof").
const metaLogged = "trialog.logged"

// DisclosureProof is the proof, inside a package, that its issue was
// logged: the disclosure leaf (leaf.Disclosure) and its inclusion proof
// against a checkpoint signed after it was appended.
//
// The leaf holds the package's digest, so the proof cannot be part of
// what was digested: the package is first written with a blank of the
// same length in this metadata value (BlankValue, naming Nonce), digested,
// the leaf logged, and the blank then overwritten in place by the value.
// A verifier undoes that: PackageDigest replaces every occurrence of the
// value's bytes in the file by the blank and hashes the result.
type DisclosureProof struct {
	Nonce      string   `json:"nonce"` // 32 hex digits, random per package
	LeafIndex  uint64   `json:"leaf_index"`
	Leaf       []byte   `json:"leaf"`            // the disclosure leaf (base64 in JSON)
	Proof      [][]byte `json:"inclusion_proof"` // RFC 6962, bottom-up (base64 in JSON)
	Checkpoint string   `json:"checkpoint"`      // signed note; its tree holds the leaf
}

// blankPrefix starts a blank disclosure value.
const blankPrefix = "trialog-disclosure-pending "

// BlankValue is the placeholder of n bytes a package is digested with:
// "trialog-disclosure-pending " || nonce, then spaces up to n.
func BlankValue(nonce string, n int) string {
	b := blankPrefix + nonce
	if len(b) < n {
		b += strings.Repeat(" ", n-len(b))
	}
	return b
}

// Value encodes the proof as the metadata value of exactly n bytes
// (compact JSON, then spaces).
func (p *DisclosureProof) Value(n int) (string, error) {
	js, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	if len(js) > n {
		return "", fmt.Errorf("disclosure proof of %d bytes does not fit the %d reserved", len(js), n)
	}
	return string(js) + strings.Repeat(" ", n-len(js)), nil
}

// ParseDisclosureProof decodes a metadata value.
func ParseDisclosureProof(value string) (*DisclosureProof, error) {
	var p DisclosureProof
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: disclosure proof: %v", ErrPackage, err)
	}
	if rest := value[dec.InputOffset():]; strings.TrimRight(rest, " ") != "" {
		return nil, fmt.Errorf("%w: disclosure proof: bytes after the JSON other than spaces", ErrPackage)
	}
	if b, err := hex.DecodeString(p.Nonce); err != nil || len(b) != 16 {
		return nil, fmt.Errorf("%w: disclosure proof: nonce is not 32 hex digits", ErrPackage)
	}
	return &p, nil
}

// ReserveDisclosure is the value length to reserve for a proof of a leaf
// of leafLen bytes in a trial with this checkpoint origin, logged at or
// after treeSize: room for a signed checkpoint and an inclusion proof of
// ProofHashesFor(treeSize) hashes (the leaf is appended while the writer
// holds the trial, so at treeSize, and proved against the checkpoint
// signed right after it).
func ReserveDisclosure(leafLen int, origin string, treeSize uint64) int {
	return 128 + (leafLen+2)/3*4 + ProofHashesFor(treeSize)*47 + 2*len(origin) + 400
}

// ProofHashesFor bounds the inclusion proof of a leaf appended to a tree
// of treeSize leaves: one hash per level of the tree that holds it
// (RFC 6962), with room for the tree to grow 256-fold before the append,
// at most 64.
func ProofHashesFor(treeSize uint64) int {
	return min(64, bits.Len64(treeSize)+8)
}

// PackageDigest is the hex SHA-256 of a package file with every
// occurrence of value replaced by blank (same length): for a package
// written with the blank, its digest before the value was filled in.
func PackageDigest(ctx context.Context, path string, value, blank string) (digest string, occurrences int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	offsets, err := scanReplace(ctxReader{ctx, f}, []byte(value), []byte(blank), h)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), len(offsets), nil
}

// FillDisclosure overwrites, in the open file, every occurrence of blank
// with value (same length) and syncs it. It fails unless blank occurs.
func FillDisclosure(f *os.File, blank, value string) error {
	if len(blank) != len(value) {
		return fmt.Errorf("disclosure value of %d bytes for a blank of %d", len(value), len(blank))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	offsets, err := scanReplace(f, []byte(blank), nil, nil)
	if err != nil {
		return err
	}
	if len(offsets) == 0 {
		return fmt.Errorf("%s: the package holds no disclosure blank", f.Name())
	}
	for _, off := range offsets {
		if _, err := f.WriteAt([]byte(value), off); err != nil {
			return err
		}
	}
	return f.Sync()
}

// scanReplace reads r to the end and returns the offsets of the
// non-overlapping occurrences of old; if out is set, it receives the
// stream with each occurrence replaced by repl (same length).
func scanReplace(r io.Reader, old, repl []byte, out io.Writer) ([]int64, error) {
	if len(old) == 0 {
		return nil, fmt.Errorf("empty pattern")
	}
	const chunk = 1 << 20
	var offsets []int64
	buf := make([]byte, 0, chunk+len(old))
	var base int64 // file offset of buf[0]
	searchFrom := 0
	for {
		n, rerr := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for {
			i := bytes.Index(buf[searchFrom:], old)
			if i < 0 {
				break
			}
			at := searchFrom + i
			offsets = append(offsets, base+int64(at))
			if repl != nil {
				copy(buf[at:], repl)
			}
			searchFrom = at + len(old)
		}
		done := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !done {
			return nil, rerr
		}
		keep := 0 // bytes that could still start an occurrence
		if !done {
			keep = min(len(old)-1, len(buf))
			if searchFrom > len(buf)-keep {
				keep = len(buf) - searchFrom
			}
		}
		emit := buf[:len(buf)-keep]
		if out != nil {
			if _, err := out.Write(emit); err != nil {
				return nil, err
			}
		}
		base += int64(len(emit))
		searchFrom = max(0, searchFrom-len(emit))
		buf = append(buf[:0], buf[len(emit):]...)
		if done {
			return offsets, nil
		}
	}
}

// ctxReader stops a long read when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
