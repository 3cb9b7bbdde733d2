package consent

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/leaf"
)

// Record types: the third byte of a consent leaf.
const (
	TypeForm  byte = 0x01
	TypeEvent byte = 0x02
)

// FormFields and EventFields are the committed fields of each record type,
// in bytewise name order (the order of salts and commitments).
var (
	FormFields  = []string{"document_sha256", "effective", "form_id", "irb_approved", "irb_ref", "scopes", "supersedes", "version"}
	EventFields = []string{"corrects", "form", "recorded_by", "scopes", "signed_ref", "source", "subject", "time", "type"}
)

// Fields returns the record type and the canonical cells of a record's
// fields, in the order of FormFields or EventFields. Text is canonical
// text ("" is missing); scopes are sorted and comma-joined; corrects is a
// number, missing when 0.
func (r *Record) Fields() (byte, [][]byte, error) {
	text := func(s string) []byte { b, _ := canonical.AppendText(nil, s); return b }
	scopes := func(s []string) []byte {
		s = slices.Clone(s)
		slices.Sort(s)
		return text(strings.Join(s, ","))
	}
	var typ byte
	var cells [][]byte
	switch {
	case r.Form != nil && r.Event == nil:
		f := r.Form
		typ = TypeForm
		cells = [][]byte{text(f.DocumentSHA256), text(f.Effective), text(f.ID), text(f.IRBApproved), text(f.IRBRef), scopes(f.Scopes), text(f.Supersedes), text(f.Version)}
	case r.Event != nil && r.Form == nil:
		e := r.Event
		typ = TypeEvent
		corrects := []byte{canonical.TagNull}
		if e.Corrects != 0 {
			corrects = canonical.AppendUint(nil, false, e.Corrects)
		}
		cells = [][]byte{corrects, text(e.Form), text(e.RecordedBy), scopes(e.Scopes), text(e.SignedRef), text(e.Source), text(e.Subject), text(e.Time), text(string(e.Type))}
	default:
		return 0, nil, fmt.Errorf("consent record %d is neither a form nor an event", r.Seq)
	}
	for i, c := range cells {
		if len(c) == 0 {
			return 0, nil, fmt.Errorf("consent record %d: field %d is not valid UTF-8", r.Seq, i)
		}
	}
	return typ, cells, nil
}

// FieldNames returns the field names of a record type.
func FieldNames(typ byte) []string {
	if typ == TypeForm {
		return FormFields
	}
	return EventFields
}

// DeriveSalts returns the salts of record seq's n fields:
// K = HMAC-SHA256(secret, "trialog/consent-salt/v1" || 0x00 || lp(trial) ||
// uvarint(seq)), salt(i) = AES-256_K(uint128be(i)). Keyed by the record's
// sequence number, not by anything about the participant, so a resumed
// append recomputes exactly the same leaves.
func DeriveSalts(secret []byte, trial string, seq uint64, n int) ([][]byte, error) {
	if len(secret) != leaf.SecretSize {
		return nil, fmt.Errorf("trial secret is %d bytes, want %d", len(secret), leaf.SecretSize)
	}
	mac := hmac.New(sha256.New, secret)
	msg := append([]byte("trialog/consent-salt/v1"), 0)
	msg = leaf.AppendString(msg, trial)
	msg = binary.AppendUvarint(msg, seq)
	mac.Write(msg)
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i := range out {
		var ctr [16]byte
		binary.BigEndian.PutUint64(ctr[8:], uint64(i))
		out[i] = make([]byte, leaf.SaltSize)
		block.Encrypt(out[i], ctr[:])
	}
	return out, nil
}

// Leaf encodes a record's consent leaf with its stored salts:
//
//	0x03 0x01 type lp(trial) uvarint(seq) uvarint(n) lp(name)... commitment(32)...
//
// Only the record type, the trial, the sequence number and the (fixed)
// field names are in clear; every value, the event type included, is a
// salted commitment.
func (r *Record) Leaf(trial string) ([]byte, error) {
	typ, cells, err := r.Fields()
	if err != nil {
		return nil, err
	}
	if len(r.Salts) != len(cells) {
		return nil, fmt.Errorf("consent record %d has %d salts for %d fields", r.Seq, len(r.Salts), len(cells))
	}
	names := FieldNames(typ)
	b := []byte{byte(leaf.KindConsent), leaf.FormatV1, typ}
	b = leaf.AppendString(b, trial)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = leaf.AppendString(b, n)
	}
	for i, c := range cells {
		salt, err := hex.DecodeString(r.Salts[i])
		if err != nil || len(salt) != leaf.SaltSize {
			return nil, fmt.Errorf("consent record %d: salt of %s is not %d hex bytes", r.Seq, names[i], leaf.SaltSize)
		}
		cm := leaf.Commit(salt, c)
		b = append(b, cm[:]...)
	}
	return b, nil
}

// LeafHeader is the clear part of a consent leaf.
type LeafHeader struct {
	Type  byte
	Trial string
	Seq   uint64
}

// ParseLeafHeader reads the clear part of a consent leaf.
func ParseLeafHeader(b []byte) (LeafHeader, error) {
	kind, format, err := leaf.Header(b)
	if err != nil {
		return LeafHeader{}, err
	}
	if kind != leaf.KindConsent || format != leaf.FormatV1 || len(b) < 3 {
		return LeafHeader{}, fmt.Errorf("%w: kind %#x format %#x is not a v1 consent leaf", leaf.ErrMalformed, kind, format)
	}
	h := LeafHeader{Type: b[2]}
	rest := b[3:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || uint64(len(rest)-k) < n {
		return LeafHeader{}, fmt.Errorf("%w: consent leaf trial", leaf.ErrMalformed)
	}
	h.Trial = string(rest[k : k+int(n)])
	rest = rest[k+int(n):]
	if h.Seq, k = binary.Uvarint(rest); k <= 0 {
		return LeafHeader{}, fmt.Errorf("%w: consent leaf sequence number", leaf.ErrMalformed)
	}
	return h, nil
}
