// Package leaf defines what trialog writes into a trial's Merkle tree: the
// versioned, domain-separated leaf values and the salted commitments inside
// them (docs/commitments.md is the normative spec; this is its code).
//
// Every leaf starts with a kind byte and a format version byte, so a row can
// never be read as a manifest or a consent event, and a later format can sit
// beside this one in the same tree. No leaf carries a raw cell value: a row
// leaf carries a salted hash of the whole row and a digest of its per-cell
// commitments SHA-256(0x43 || salt || cell), where each salt is 16
// secret-derived bytes, so a disclosed package can withhold a cell and the
// low-entropy value behind its commitment (SEX=F) cannot be guessed.
package leaf

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
)

// Kind is the first byte of every leaf.
type Kind byte

// Leaf kinds. Values are never reused.
const (
	KindRow      Kind = 0x01
	KindManifest Kind = 0x02
	KindConsent  Kind = 0x03
	// KindDisclosure is a record of one disclosure package (disclosure.go).
	KindDisclosure Kind = 0x05
)

// FormatV1 is the format byte of consent and policy leaves (row leaves
// are FormatRowV2, manifest leaves ManifestFormatByte).
const FormatV1 = 0x01

// SaltSize and CommitmentSize are the byte sizes of a cell salt and a cell
// commitment.
const (
	SaltSize       = 16
	CommitmentSize = sha256.Size
	SecretSize     = 32
)

// commitTag domain-separates cell commitments from every other SHA-256 use.
const commitTag = 0x43

// ErrMalformed is wrapped by the parsers for leaves that do not decode.
var ErrMalformed = errors.New("malformed leaf")

// Salter derives the salts of one dataset version from the trial secret.
//
// The salts of a dataset version with n columns are consecutive 16-byte
// blocks of the AES-256-CTR keystream under
// K = HMAC-SHA256(secret, "trialog/salt/v1" || 0x00 || lp(trial) ||
// lp(dataset) || uvarint(version) || uvarint(n)), counter starting at 0:
// salt(row, col) is block row*n + col, i.e. AES_K(uint128be(row*n + col)).
// AES is a PRF here; one keystream per batch keeps salting at memory speed,
// and the secret never leaves the CRO: only the salts of disclosed cells
// do, and they reveal nothing about the others.
type Salter struct {
	block cipher.Block
	ncols uint64
}

// NewSalter derives the salt key of a dataset version with ncols columns
// (salts v1: every row's salts from the trial secret).
func NewSalter(secret []byte, trial, dataset string, version uint64, ncols int) (*Salter, error) {
	key, err := SaltKey(secret, trial, dataset, version, ncols)
	if err != nil {
		return nil, err
	}
	return NewSalterFromKey(key, ncols)
}

// NewSalterV2 derives the salter of one participant's rows of a dataset
// version (salts v2, docs/commitments.md): the same construction as v1
// under the domain "trialog/salt/v2", keyed by the participant's own
// random 32-byte key, or by the trial secret for rows with no participant.
// Destroying a participant's key makes their salts, and so their
// commitments and row hashes, unrecomputable: the leaves stay in the log
// and keep every proof valid, but can no longer be linked to the data.
func NewSalterV2(key []byte, trial, dataset string, version uint64, ncols int) (*Salter, error) {
	k, err := SaltKeyV2(key, trial, dataset, version, ncols)
	if err != nil {
		return nil, err
	}
	return NewSalterFromKey(k, ncols)
}

// SaltKey is the salt key K of a dataset version (docs/commitments.md):
// HMAC-SHA256(secret, "trialog/salt/v1" || 0x00 || lp(trial) ||
// lp(dataset) || uvarint(version) || uvarint(ncols)). It derives the salt
// of every cell of that version, so it may travel only where every one of
// those cells is disclosed (a derived-salt package, docs/package-format.md).
func SaltKey(secret []byte, trial, dataset string, version uint64, ncols int) ([]byte, error) {
	return saltKey("trialog/salt/v1", secret, trial, dataset, version, ncols)
}

// SaltKeyV2 is the salt key K_P of one participant's rows of a dataset
// version (salts v2): HMAC-SHA256(key_P, "trialog/salt/v2" || 0x00 ||
// lp(trial) || lp(dataset) || uvarint(version) || uvarint(ncols)). It
// derives the salts of that participant's cells of that version only.
func SaltKeyV2(participantKey []byte, trial, dataset string, version uint64, ncols int) ([]byte, error) {
	return saltKey("trialog/salt/v2", participantKey, trial, dataset, version, ncols)
}

func saltKey(domain string, secret []byte, trial, dataset string, version uint64, ncols int) ([]byte, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("salt key is %d bytes, want %d", len(secret), SecretSize)
	}
	mac := hmac.New(sha256.New, secret)
	msg := append([]byte(domain), 0)
	msg = AppendString(msg, trial)
	msg = AppendString(msg, dataset)
	msg = binary.AppendUvarint(msg, version)
	msg = binary.AppendUvarint(msg, uint64(ncols))
	mac.Write(msg)
	return mac.Sum(nil), nil
}

// SaltKeySize is the size of a salt key.
const SaltKeySize = 32

// NewSalterFromKey makes the salter of a salt key (SaltKey).
func NewSalterFromKey(key []byte, ncols int) (*Salter, error) {
	if len(key) != SaltKeySize {
		return nil, fmt.Errorf("salt key is %d bytes, want %d", len(key), SaltKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &Salter{block: block, ncols: uint64(ncols)}, nil
}

// Salts writes the salts of rows [first, first+rows), every column in name
// order, row after row, into dst (rows*ncols*16 bytes).
func (s *Salter) Salts(dst []byte, first uint64, rows int) {
	var iv [16]byte
	hi, lo := bits.Mul64(first, s.ncols)
	binary.BigEndian.PutUint64(iv[:8], hi)
	binary.BigEndian.PutUint64(iv[8:], lo)
	dst = dst[:uint64(rows)*s.ncols*SaltSize]
	clear(dst)
	cipher.NewCTR(s.block, iv[:]).XORKeyStream(dst, dst)
}

// Salt writes the salt of one cell (row, col in name order) into dst.
func (s *Salter) Salt(dst []byte, row uint64, col int) {
	var ctr [16]byte
	hi, lo := bits.Mul64(row, s.ncols)
	lo, carry := bits.Add64(lo, uint64(col), 0)
	binary.BigEndian.PutUint64(ctr[:8], hi+carry)
	binary.BigEndian.PutUint64(ctr[8:], lo)
	s.block.Encrypt(dst[:SaltSize], ctr[:])
}

// Commit returns SHA-256(0x43 || salt || cell), the commitment to one
// canonical cell encoding (see canonical).
func Commit(salt, cell []byte) [CommitmentSize]byte {
	var buf [128]byte
	msg := append(buf[:0], commitTag)
	msg = append(msg, salt...)
	msg = append(msg, cell...)
	return sha256.Sum256(msg)
}

// AppendString appends a length-prefixed string: uvarint(len) || bytes.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads the length-prefixed fields of a leaf.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) { // minimal encodings only: one byte string per leaf
		d.err = fmt.Errorf("%w: bad %s", ErrMalformed, what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = fmt.Errorf("%w: %s truncated", ErrMalformed, what)
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

// Header returns the kind and format version of a leaf.
func Header(leaf []byte) (Kind, byte, error) {
	if len(leaf) < 2 {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrMalformed, len(leaf))
	}
	return Kind(leaf[0]), leaf[1], nil
}

// expectHeader checks that b is a leaf of one kind and format version
// (what names it in the error).
func expectHeader(b []byte, kind Kind, format byte, what string) error {
	k, f, err := Header(b)
	if err != nil {
		return err
	}
	if k != kind || f != format {
		return fmt.Errorf("%w: kind %#x format %#x is not %s", ErrMalformed, k, f, what)
	}
	return nil
}

// strictJSON decodes the JSON body of a leaf (after its kind and format
// bytes), refusing unknown fields: what names the leaf in the error.
func strictJSON[T any](b []byte, what string) (*T, error) {
	dec := json.NewDecoder(bytes.NewReader(b[2:]))
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return &v, nil
}

// jsonLeaf encodes a JSON leaf: kind, format, then v as compact JSON
// (fields in struct order: the one encoding its strict decoder accepts).
func jsonLeaf(kind Kind, format byte, what string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return append([]byte{byte(kind), format}, body...), nil
}
