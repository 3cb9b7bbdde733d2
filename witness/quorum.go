package witness

import (
	"errors"
	"fmt"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// ErrNotLogSigned is wrapped when a checkpoint does not carry a valid
// signature of the log's key: nothing about its cosignatures is then
// worth reporting.
var ErrNotLogSigned = errors.New("checkpoint is not signed by the log's key")

// Cosignature is one valid cosignature of a policy witness.
type Cosignature struct {
	Witness string    `json:"witness"` // the policy's name for it
	KeyName string    `json:"key_name"`
	Time    time.Time `json:"time"` // when the witness signed (its clock, not the log's)
}

// Report says which of a policy's witnesses cosigned a checkpoint.
type Report struct {
	Quorum int `json:"quorum"`
	// Valid lists the cosignatures that count, in policy order.
	Valid []Cosignature `json:"valid"`
	// Missing names the witnesses without a cosignature; Invalid those
	// whose cosignature line does not verify (forged, or over another
	// checkpoint).
	Missing []string `json:"missing,omitempty"`
	Invalid []string `json:"invalid,omitempty"`
}

// OK reports whether the quorum is met.
func (r *Report) OK() bool { return len(r.Valid) >= r.Quorum }

// String is a one-line summary, e.g. "2 of 3 cosignatures, quorum 2
// (missing: notary)".
func (r *Report) String() string {
	total := len(r.Valid) + len(r.Missing) + len(r.Invalid)
	s := fmt.Sprintf("%d of %d witness cosignatures, quorum %d", len(r.Valid), total, r.Quorum)
	var extra []string
	if len(r.Missing) > 0 {
		extra = append(extra, "missing: "+strings.Join(r.Missing, ", "))
	}
	if len(r.Invalid) > 0 {
		extra = append(extra, "invalid: "+strings.Join(r.Invalid, ", "))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, "; ") + ")"
	}
	return s
}

// Check verifies the log's signature on a signed checkpoint and counts the
// valid cosignatures of p's witnesses. Each witness counts at most once
// (the note format forbids two signatures by one key, and the policy two
// witnesses with one key); signatures by keys the policy does not list are
// ignored, never counted. An error means the checkpoint itself is bad;
// a missed quorum is reported in the Report (see Report.OK).
func Check(logVerifier note.Verifier, signed []byte, p *Policy) (*Report, error) {
	if _, err := note.Open(signed, note.VerifierList(logVerifier)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotLogSigned, err)
	}
	r := &Report{Quorum: p.Quorum}
	for _, w := range p.Witnesses {
		v := w.verifier
		n, err := note.Open(signed, note.VerifierList(logVerifier, v))
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &invalid):
			// Only the log's and this witness's keys are known here, and
			// the log's signature verified above: the witness's failed.
			r.Invalid = append(r.Invalid, w.Name)
			continue
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ErrNotLogSigned, err)
		}
		found := false
		for _, sig := range n.Sigs {
			if sig.Name != v.Name() || sig.Hash != v.KeyHash() {
				continue
			}
			t, err := fnote.CoSigV1Timestamp(sig)
			if err != nil {
				r.Invalid = append(r.Invalid, w.Name)
				found = true
				break
			}
			r.Valid = append(r.Valid, Cosignature{Witness: w.Name, KeyName: v.Name(), Time: t.UTC()})
			found = true
			break
		}
		if !found {
			r.Missing = append(r.Missing, w.Name)
		}
	}
	return r, nil
}

// AddCosignature returns signed with the cosignature lines a witness
// returned (c2sp.org/tlog-witness: the response body is signature lines of
// the signed-note format) appended, after checking that one of them is a
// valid cosignature by v over the same checkpoint. An older signature by
// the same key is replaced; every other signature is kept as it was.
func AddCosignature(signed, sigLines []byte, v note.Verifier) ([]byte, error) {
	base, err := note.Open(signed, rejectAll{})
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		base = unverified.Note
	case err != nil:
		return nil, fmt.Errorf("witness: checkpoint: %w", err)
	}
	// The cosignature verifies only over the checkpoint text: put the
	// returned lines under that text and let note.Open check them.
	resp := []byte(base.Text + "\n" + string(sigLines))
	n, err := note.Open(resp, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("witness %s: response is not a valid cosignature of this checkpoint: %w", v.Name(), err)
	}
	var cosig *note.Signature
	for i := range n.Sigs {
		if n.Sigs[i].Name == v.Name() && n.Sigs[i].Hash == v.KeyHash() {
			cosig = &n.Sigs[i]
		}
	}
	if cosig == nil {
		return nil, fmt.Errorf("witness %s: response holds no cosignature by its key", v.Name())
	}
	out := &note.Note{Text: base.Text}
	for _, s := range base.UnverifiedSigs {
		if s.Name == cosig.Name && s.Hash == cosig.Hash {
			continue
		}
		out.UnverifiedSigs = append(out.UnverifiedSigs, s)
	}
	out.UnverifiedSigs = append(out.UnverifiedSigs, *cosig)
	return note.Sign(out)
}

// rejectAll knows no key, so note.Open hands back every signature as
// unverified, parsed by the library.
type rejectAll struct{}

func (rejectAll) Verifier(name string, hash uint32) (note.Verifier, error) {
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}
