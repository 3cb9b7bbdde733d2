package consent

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/leaf"
)

// Record types: the third byte of a consent leaf (leaf.ConsentLeaf).
const (
	TypeForm  = leaf.ConsentForm
	TypeEvent = leaf.ConsentEvent
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
	return leaf.RecordSalts("trialog/consent-salt/v1", secret, trial, seq, n)
}

// Leaf encodes a record's consent leaf (leaf.ConsentLeaf) with its
// stored salts.
func (r *Record) Leaf(trial string) ([]byte, error) {
	typ, cells, err := r.Fields()
	if err != nil {
		return nil, err
	}
	if len(r.Salts) != len(cells) {
		return nil, fmt.Errorf("consent record %d has %d salts for %d fields", r.Seq, len(r.Salts), len(cells))
	}
	cl := &leaf.ConsentLeaf{Type: typ, Trial: trial, Seq: r.Seq, Names: FieldNames(typ)}
	for i, c := range cells {
		salt, err := hex.DecodeString(r.Salts[i])
		if err != nil || len(salt) != leaf.SaltSize {
			return nil, fmt.Errorf("consent record %d: salt of %s is not %d hex bytes", r.Seq, cl.Names[i], leaf.SaltSize)
		}
		cl.Commitments = append(cl.Commitments, leaf.Commit(salt, c))
	}
	return cl.Marshal()
}
