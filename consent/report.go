package consent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness"
)

// ReportFormat is the format tag of a Report. v2 added the consistency
// proofs (docs/witnessing.md), v3 the disclosures and the disclosure
// findings (docs/consent.md). Nothing was released before v3: only v3 is
// read.
const ReportFormat = "trialog-consent-report-v3"

// Report is the IRB report: every consent record with the salts that open
// its leaf and an inclusion proof against one signed checkpoint, every
// participant's timeline, and the audit findings. It is verifiable
// offline with the trial's verifier key alone (Verify).
type Report struct {
	Format       string         `json:"format"`
	Trial        string         `json:"trial"`
	GeneratedAt  string         `json:"generated_at"`
	Checkpoint   string         `json:"checkpoint"` // signed C2SP checkpoint
	TreeSize     uint64         `json:"tree_size"`
	RootHash     string         `json:"root_hash"`
	Forms        []ProvenRecord `json:"forms"`
	Participants []Participant  `json:"participants"`
	Audits       []*AuditResult `json:"audits"`
	// Disclosures is every package issued, with the kept participants,
	// override reason and salts that open its leaf, and the leaf's
	// inclusion proof against Checkpoint; DisclosureFindings flags those
	// that included rows consent did not cover at the time.
	Disclosures        []leaf.ProvenDisclosure `json:"disclosures"`
	DisclosureFindings []DisclosureFinding     `json:"disclosure_findings"`
	// Statement is a note signed with the checkpoint key binding the
	// tree size, the record count and the SHA-256 of the audits' JSON,
	// so findings cannot be edited after the fact either.
	Statement string `json:"statement"`
	// Witnesses is the cosignature check of Checkpoint under the trial's
	// witness policy when the report was made (nil without one), for the
	// HTML: each witness's cosignature time is a time-stamp the CRO does
	// not control (21 CFR Part 11 §11.10(e)). Not in the JSON: the
	// cosignatures themselves are in Checkpoint, and consent verify
	// --witness recomputes this from them.
	Witnesses *witness.Report `json:"-"`
	// Consistency holds RFC 6962 consistency proofs from the trial's
	// earlier published checkpoint sizes to Checkpoint's ("FROM": base64
	// hashes), for an IRB verifier that remembers an earlier checkpoint
	// (consent verify --trust). v2.
	Consistency map[uint64][][]byte `json:"consistency,omitempty"`
}

// ProvenRecord is a record with its leaf hash and inclusion proof.
type ProvenRecord struct {
	Record
	LeafHash    string   `json:"leaf_hash"`
	Proof       []string `json:"inclusion_proof"` // base64, bottom-up
	CorrectedBy uint64   `json:"corrected_by,omitempty"`
	Verified    string   `json:"verified"` // one line, set when the report is made
}

// Participant is one subject's consent history.
type Participant struct {
	Subject  string         `json:"subject"`
	Events   []ProvenRecord `json:"events"`
	Status   []ScopeState   `json:"status"` // after every event
	Findings int            `json:"findings"`
}

// Prover gives the RFC 6962 inclusion proof of a leaf in the tree of a
// size, and Signer signs a statement with the trial's checkpoint key
// (a C2SP signed note): what BuildReport needs from the trial's log.
// consent/registry.MakeReport passes the workspace's.
type (
	Prover func(index, size uint64) ([][]byte, error)
	Signer func(text string) ([]byte, error)
)

// BuildReport assembles the IRB report of a replayed book against one
// signed checkpoint (signed, opened as cp): every record with its leaf
// hash and inclusion proof, every participant's history and status, the
// audits, the disclosures (already proven against cp) with their
// findings, and the signed statement binding them. It does no I/O of its
// own: the proofs and the signature come through prove and sign.
func BuildReport(trial string, signed []byte, cp checkpoint.Checkpoint, book *Book, audits []*AuditResult, disclosures []leaf.ProvenDisclosure,
	now time.Time, prove Prover, sign Signer) (*Report, error) {
	if audits == nil {
		audits = []*AuditResult{}
	}
	if disclosures == nil {
		disclosures = []leaf.ProvenDisclosure{}
	}
	rep := &Report{Format: ReportFormat, Trial: trial, GeneratedAt: now.UTC().Format(time.RFC3339), Checkpoint: string(signed),
		TreeSize: cp.Size, RootHash: hex.EncodeToString(cp.Hash), Forms: []ProvenRecord{}, Participants: []Participant{}, Audits: audits}
	proven := func(r *Record) (ProvenRecord, error) {
		l, err := r.Leaf(trial)
		if err != nil {
			return ProvenRecord{}, err
		}
		proof, err := prove(r.LeafIndex, cp.Size)
		if err != nil {
			return ProvenRecord{}, fmt.Errorf("inclusion proof of consent record %d: %w", r.Seq, err)
		}
		pr := ProvenRecord{Record: *r, LeafHash: hex.EncodeToString(trillian.LeafHash(l))}
		for _, h := range proof {
			pr.Proof = append(pr.Proof, base64.StdEncoding.EncodeToString(h))
		}
		pr.Verified = verifyRecord(trial, cp, &pr)
		return pr, nil
	}
	for _, r := range book.Forms() {
		pr, err := proven(r)
		if err != nil {
			return nil, err
		}
		rep.Forms = append(rep.Forms, pr)
	}
	findings := map[string]int{}
	for _, a := range audits {
		for _, f := range a.Findings {
			findings[f.Subject]++
		}
	}
	for _, s := range book.Subjects() {
		p := Participant{Subject: s, Findings: findings[s], Status: []ScopeState{}}
		for _, h := range book.History(s) {
			pr, err := proven(h.Record)
			if err != nil {
				return nil, err
			}
			pr.CorrectedBy = h.CorrectedBy
			p.Events = append(p.Events, pr)
		}
		st := State{}
		for _, h := range book.Effective(s) {
			book.apply(st, h)
		}
		for _, sc := range sortedScopes(st) {
			p.Status = append(p.Status, st[sc])
		}
		rep.Participants = append(rep.Participants, p)
	}
	rep.Disclosures = disclosures
	recs := make([]*leaf.DisclosureRecord, len(disclosures))
	for i := range disclosures {
		recs[i] = &disclosures[i].DisclosureRecord
	}
	var err error
	if rep.DisclosureFindings, err = book.AuditDisclosures(recs); err != nil {
		return nil, err
	}
	digest, err := auditsDigest(audits, rep.DisclosureFindings)
	if err != nil {
		return nil, err
	}
	note, err := sign(statementText(trial, cp.Size, len(book.Records), len(disclosures), digest))
	if err != nil {
		return nil, err
	}
	rep.Statement = string(note)
	return rep, nil
}

func sortedScopes(st State) []string { return slices.Sorted(maps.Keys(st)) }

func statementText(trial string, size uint64, records, disclosures int, auditsSHA string) string {
	return fmt.Sprintf("%s\n%s\ntree-size %d\nrecords %d\ndisclosures %d\naudits-sha256 %s\n", checkpoint.Origin(trial), ReportFormat, size, records, disclosures, auditsSHA)
}

// auditsDigest is the SHA-256 of the audits' and the disclosure
// findings' JSON, one after the other.
func auditsDigest(audits []*AuditResult, findings []DisclosureFinding) (string, error) {
	data, err := json.Marshal(audits)
	if err != nil {
		return "", err
	}
	more, err := json.Marshal(findings)
	if err != nil {
		return "", err
	}
	data = append(data, more...)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// verifyRecord recomputes a record's leaf from its fields and salts and
// checks its inclusion proof; it returns the one-line status.
func verifyRecord(trial string, cp checkpoint.Checkpoint, pr *ProvenRecord) string {
	l, err := pr.Record.Leaf(trial)
	if err != nil {
		return "FAILED: " + err.Error()
	}
	hash := trillian.LeafHash(l)
	if hex.EncodeToString(hash) != pr.LeafHash {
		return fmt.Sprintf("FAILED: record %d's fields and salts do not give its leaf hash", pr.Seq)
	}
	proof := make([][]byte, len(pr.Proof))
	for i, p := range pr.Proof {
		if proof[i], err = base64.StdEncoding.DecodeString(p); err != nil {
			return fmt.Sprintf("FAILED: record %d: proof hash %d is not base64", pr.Seq, i)
		}
	}
	if err := trillian.VerifyInclusion(pr.LeafIndex, cp.Size, hash, proof, cp.Hash); err != nil {
		return fmt.Sprintf("FAILED: record %d: leaf %d is not in the signed tree of size %d: %v", pr.Seq, pr.LeafIndex, cp.Size, err)
	}
	return fmt.Sprintf("verified: leaf %d is in the signed tree of size %d", pr.LeafIndex, cp.Size)
}

// VerifyResult is the outcome of an offline report verification.
type VerifyResult struct {
	OK       bool   `json:"ok"`
	Trial    string `json:"trial"`
	TreeSize uint64 `json:"tree_size"`
	Records  int    `json:"records_checked"`
	Failed   int    `json:"records_failed"`
	// Disclosures counts the disclosure records checked.
	Disclosures int      `json:"disclosures_checked"`
	Problems    []string `json:"problems,omitempty"`
}

// Summary is the outcome's first line as `trialog consent verify` prints
// it (and the browser verifier shows it) for the report at path; the
// problems follow it, one per line.
func (v *VerifyResult) Summary(path string) string {
	status := "OK"
	if !v.OK {
		status = "FAILED"
	}
	return fmt.Sprintf("%s: trial %s, %d consent records and %d disclosures checked against tree size %d: %s", path, v.Trial, v.Records, v.Disclosures, v.TreeSize, status)
}

func (v *VerifyResult) fail(format string, args ...any) {
	v.OK = false
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

// Verify re-checks a report offline with the trial's verifier key: the
// checkpoint signature and origin, every record's leaf (recomputed from
// its fields and salts) and inclusion proof, that the records replay in
// sequence 1..N with no gap, and the signed statement over the audits.
// It trusts nothing the report says about itself (the "verified" lines
// are recomputed, not read).
func Verify(r io.Reader, verifierKey string) (*VerifyResult, error) {
	var rep Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("report: %v: %w", err, ErrInput)
	}
	if rep.Format != ReportFormat {
		return nil, fmt.Errorf("report format %q, want %s: %w", rep.Format, ReportFormat, ErrInput)
	}
	res := &VerifyResult{OK: true, Trial: rep.Trial}
	cp, err := checkpoint.Open(verifierKey, []byte(rep.Checkpoint))
	if err != nil {
		res.fail("checkpoint: %v (signed by another key, or altered)", err)
		return res, nil
	}
	res.TreeSize = cp.Size
	if want := checkpoint.Origin(rep.Trial); cp.Origin != want {
		res.fail("checkpoint origin %q is not trial %s's (%q)", cp.Origin, rep.Trial, want)
	}
	var all []*ProvenRecord
	for i := range rep.Forms {
		all = append(all, &rep.Forms[i])
	}
	for i := range rep.Participants {
		for j := range rep.Participants[i].Events {
			all = append(all, &rep.Participants[i].Events[j])
		}
	}
	bySeq := map[uint64]*ProvenRecord{}
	for _, pr := range all {
		res.Records++
		if status := verifyRecord(rep.Trial, cp, pr); !strings.HasPrefix(status, "verified") {
			res.Failed++
			res.fail("%s", status)
		}
		if bySeq[pr.Seq] != nil {
			res.fail("record %d appears twice", pr.Seq)
		}
		bySeq[pr.Seq] = pr
	}
	book := NewBook()
	for seq := uint64(1); seq <= uint64(len(bySeq)); seq++ {
		pr := bySeq[seq]
		if pr == nil {
			res.fail("record %d is missing: the report leaves out part of the history", seq)
			break
		}
		rec := pr.Record
		if err := book.Add(&rec); err != nil {
			res.fail("record %d does not replay: %v", seq, err)
			break
		}
	}
	verifyDisclosures(&rep, cp, book, res)
	digest, err := auditsDigest(rep.Audits, rep.DisclosureFindings)
	if err != nil {
		return nil, err
	}
	text, err := checkpoint.OpenNote(verifierKey, []byte(rep.Statement))
	switch {
	case err != nil:
		res.fail("report statement: %v", err)
	case text != statementText(rep.Trial, cp.Size, len(all), len(rep.Disclosures), digest):
		res.fail("the signed statement does not match this report's checkpoint, record count or audit findings")
	}
	return res, nil
}
