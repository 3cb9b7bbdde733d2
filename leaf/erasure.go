package leaf

import (
	"bytes"
	"fmt"
)

// KindErasure is the leaf of a participant's key erasure.
const KindErasure Kind = 0x06

// ErasureFormat names the erasure leaf's schema inside its JSON.
const ErasureFormat = "trialog-erasure-v1"

// Erasure is the erasure leaf, kind 0x06 format 0x01 (docs/commitments.md):
// who destroyed a participant's salt key, when and why. The participant is
// only a salted commitment (ErasureSalts): the log must not name the
// person whose data was made unlinkable.
type Erasure struct {
	Format string `json:"format"`
	Trial  string `json:"trial"`
	// Subject is the hex commitment to the participant's ID, Operator
	// to who erased the key (a person: committed, as everywhere in a log
	// that may be published, docs/publishing.md).
	Subject  string `json:"subject"`
	Operator string `json:"operator"`
	// Time is the CRO's system clock, UTC, RFC 3339.
	Time string `json:"time"`
	// Reason is in clear: it must not name the participant (the writer
	// refuses one that contains their ID).
	Reason string `json:"reason"`
}

// Erasure salt positions.
const (
	ErasureSaltSubject  = 0
	ErasureSaltOperator = 1
)

// ErasureSalts derives the salts of the erasure leaf at a leaf index:
// salt(i) = AES-256_K(uint128be(i)), K = HMAC-SHA256(secret,
// "trialog/erasure-salt/v1" || 0x00 || lp(trial) || uvarint(index)), i = 0
// for the participant, 1 for the operator.
func ErasureSalts(secret []byte, trial string, index uint64) ([][]byte, error) {
	return RecordSalts("trialog/erasure-salt/v1", secret, trial, index, 2)
}

// ErasureLeaf encodes an erasure leaf: 0x06 0x01 || compact JSON.
func ErasureLeaf(e *Erasure) ([]byte, error) {
	return jsonLeaf(KindErasure, FormatV1, "erasure", e)
}

// ParseErasure decodes an erasure leaf strictly (one encoding per record).
func ParseErasure(b []byte) (*Erasure, error) {
	if err := expectHeader(b, KindErasure, FormatV1, "a v1 erasure leaf"); err != nil {
		return nil, err
	}
	e, err := strictJSON[Erasure](b, "erasure")
	if err != nil {
		return nil, err
	}
	if e.Format != ErasureFormat {
		return nil, fmt.Errorf("%w: erasure format %q", ErrMalformed, e.Format)
	}
	if again, err := ErasureLeaf(e); err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: erasure leaf is not in its one encoding", ErrMalformed)
	}
	return e, nil
}
