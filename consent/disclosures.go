package consent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// Disclosure finding kinds: a logged disclosure included rows of a
// participant whose consent did not cover its purpose when it was made.
const (
	DisclosedAfterWithdrawal = "disclosed-after-withdrawal"
	DisclosedWithoutConsent  = "disclosed-without-consent" // declined, or never consented to the purpose
	DisclosedUncertain       = "disclosed-uncertain"       // a partial date leaves consent at that time open
)

// DisclosureFinding is one participant's rows in one disclosure that
// their consent did not cover at the time. An override or an unchecked
// disclosure is the usual cause; a checked one is flagged too when the
// history changed afterwards (a withdrawal recorded late, backdated).
type DisclosureFinding struct {
	LeafIndex      uint64 `json:"disclosure_leaf"`
	Time           string `json:"time"`
	Dataset        string `json:"dataset"`
	Version        uint64 `json:"version"`
	Recipient      string `json:"recipient"`
	Purpose        string `json:"purpose"`
	Consent        string `json:"consent"` // checked, overridden or not-checked
	OverrideReason string `json:"override_reason,omitempty"`
	Subject        string `json:"subject"`
	Kind           string `json:"kind"`
	Detail         string `json:"detail"`
}

// AuditDisclosures replays every participant of every disclosure record
// against the consent history at the disclosure's time and purpose.
func (b *Book) AuditDisclosures(recs []*leaf.DisclosureRecord) ([]DisclosureFinding, error) {
	out := []DisclosureFinding{}
	for _, r := range recs {
		at, err := ParseDate(r.Leaf.Time)
		if err != nil {
			return nil, fmt.Errorf("disclosure at leaf %d: time %w", r.LeafIndex, err)
		}
		for _, s := range r.Subjects {
			ground := b.groundAt(s, r.Leaf.Purpose, at)
			var kind string
			switch ground {
			case "":
				continue
			case GroundWithdrawn:
				kind = DisclosedAfterWithdrawal
			case GroundUncertain:
				kind = DisclosedUncertain
			default:
				kind = DisclosedWithoutConsent
			}
			out = append(out, DisclosureFinding{LeafIndex: r.LeafIndex, Time: r.Leaf.Time, Dataset: r.Leaf.Dataset, Version: r.Leaf.Version,
				Recipient: r.Leaf.Recipient, Purpose: r.Leaf.Purpose, Consent: r.Leaf.Consent, OverrideReason: r.OverrideReason, Subject: s, Kind: kind,
				Detail: fmt.Sprintf("rows of %s went to %s for %q on %s (consent %s), when the participant's standing was %s", s, r.Leaf.Recipient, r.Leaf.Purpose, r.Leaf.Time, r.Leaf.Consent, ground)})
		}
	}
	return out, nil
}

// verifyDisclosures re-checks a report's disclosures offline: each
// record's commitments open with its participants, reason and salts, its
// leaf recomputes to the leaf hash, the inclusion proof verifies against
// the report's checkpoint, and the disclosure findings are exactly what
// replaying them against the report's consent history gives.
func verifyDisclosures(rep *Report, cp checkpoint.Checkpoint, book *Book, res *VerifyResult) {
	recs := make([]*leaf.DisclosureRecord, len(rep.Disclosures))
	for i := range rep.Disclosures {
		pd := &rep.Disclosures[i]
		recs[i] = &pd.DisclosureRecord
		res.Disclosures++
		if err := pd.Open(); err != nil {
			res.fail("%v", err)
			continue
		}
		l, err := pd.Bytes()
		if err != nil {
			res.fail("disclosure %d: %v", pd.LeafIndex, err)
			continue
		}
		hash := trillian.LeafHash(l)
		if hex.EncodeToString(hash) != pd.LeafHash {
			res.fail("disclosure %d: its record does not give its leaf hash", pd.LeafIndex)
			continue
		}
		if err := trillian.VerifyInclusion(pd.LeafIndex, cp.Size, hash, pd.Proof, cp.Hash); err != nil {
			res.fail("disclosure %d: leaf is not in the signed tree of size %d: %v", pd.LeafIndex, cp.Size, err)
		}
	}
	want, err := book.AuditDisclosures(recs)
	if err != nil {
		res.fail("disclosures: %v", err)
		return
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(rep.DisclosureFindings)
	if !bytes.Equal(a, b) {
		res.fail("the report's disclosure findings are not what its consent history and disclosures give (%d listed, %d found)", len(rep.DisclosureFindings), len(want))
	}
}
