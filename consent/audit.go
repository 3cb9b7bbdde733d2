package consent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/trialog/trialog/leaf"
)

// Finding kinds. A row is in exactly one of them, or compliant.
const (
	NoConsent       = "no-consent"       // the subject never consented to the scope
	BeforeConsent   = "before-consent"   // dated before the subject's consent to the scope
	AfterWithdrawal = "after-withdrawal" // dated after a withdrawal covering the scope
	SupersededForm  = "superseded-form"  // under a replaced form version past the re-consent grace period
	Undetermined    = "undetermined"     // a partial date leaves the outcome open: Possible lists the outcomes
	Undated         = "undated"          // the date column is empty
	BadDate         = "bad-date"         // the date column is not ISO 8601
	Compliant       = "ok"               // not a finding: the kind Classify gives a row with valid consent
)

// FindingKinds lists the kinds in report order.
var FindingKinds = []string{NoConsent, BeforeConsent, AfterWithdrawal, SupersededForm, Undetermined, Undated, BadDate}

// AuditOptions say which rows to audit against which consent.
type AuditOptions struct {
	Dataset       string
	Version       uint64 // 0: latest
	SubjectColumn string // e.g. USUBJID
	DateColumn    string // e.g. AESTDTC
	// Scope is the consent scope the dataset's data needs (default "main").
	Scope string
	// GraceDays is how long data may still be collected under a form
	// version after the version replacing it became effective.
	GraceDays int
	// MaxFindings bounds the findings listed (0: all); all are counted.
	MaxFindings int
}

// Finding is one row that was not collected under valid consent.
type Finding struct {
	Row       uint64   `json:"row"`
	LeafIndex uint64   `json:"leaf_index"`
	Subject   string   `json:"subject"`
	Date      string   `json:"date,omitempty"`
	Partial   bool     `json:"partial_date,omitempty"`
	Kind      string   `json:"kind"`
	Detail    string   `json:"detail"`
	Possible  []string `json:"possible,omitempty"`
	Records   []uint64 `json:"records,omitempty"` // consent records the finding rests on
}

// AuditResult is what an audit found.
type AuditResult struct {
	Format        string            `json:"format"`
	Trial         string            `json:"trial"`
	Dataset       string            `json:"dataset"`
	Version       uint64            `json:"version"`
	Source        leaf.Source       `json:"source"`
	SubjectColumn string            `json:"subject_column"`
	DateColumn    string            `json:"date_column"`
	Scope         string            `json:"scope"`
	GraceDays     int               `json:"grace_days"`
	Rows          uint64            `json:"rows"`
	Compliant     uint64            `json:"compliant_rows"`
	PartialDates  uint64            `json:"rows_with_partial_dates"`
	Counts        map[string]uint64 `json:"counts"`
	Subjects      int               `json:"subjects"`
	Flagged       int               `json:"subjects_with_findings"`
	Findings      []Finding         `json:"findings"`
	Truncated     bool              `json:"findings_truncated,omitempty"`
	// Disclosures flags logged disclosures of this dataset version that
	// included rows their participants' consent did not cover then.
	Disclosures []DisclosureFinding `json:"disclosure_findings"`
}

// AuditFormat is the format tag of an AuditResult.
const AuditFormat = "trialog-consent-audit-v1"

// Classify audits one row of subject dated date (ISO 8601 text, "" when
// missing) against the subject's consent to scope.
func (b *Book) Classify(subject, scope, date string, graceDays int) Finding {
	fd := Finding{Subject: subject, Date: date}
	d, derr := ParseDate(date)
	fd.Partial = date != "" && derr == nil && d.Partial()
	eff := b.Effective(subject)
	var first *HistoryEntry
	for i, h := range eff {
		if (h.Event.Type == Consented || h.Event.Type == Reconsented) && b.covers(h.Event, scope) {
			first = &eff[i]
			break
		}
	}
	if first == nil {
		fd.Kind = NoConsent
		switch {
		case len(eff) == 0:
			fd.Detail = "no consent event for this subject"
		default:
			fd.Detail = fmt.Sprintf("no consent covering scope %q (%d other events)", scope, len(eff))
			for _, h := range eff {
				fd.Records = append(fd.Records, h.Seq)
			}
		}
		return fd
	}
	if date == "" {
		fd.Kind, fd.Detail = Undated, "the row has no "+"date: it cannot be placed in the consent history"
		return fd
	}
	if derr != nil {
		fd.Kind, fd.Detail = BadDate, derr.Error()
		return fd
	}
	uncertain := false
	for _, h := range eff {
		if _, ok := Compare(h.Date, d); !ok {
			uncertain = true
		}
	}
	k1, det1, open1 := b.outcome(eff, d, scope, graceDays, false, first)
	k2, det2, open2 := k1, det1, open1
	if uncertain {
		k2, det2, open2 = b.outcome(eff, d, scope, graceDays, true, first)
	}
	possible := []string{k1.Kind, k2.Kind}
	if open1 || open2 {
		possible = append(possible, SupersededForm)
	}
	slices.Sort(possible)
	possible = slices.Compact(possible)
	if len(possible) == 1 {
		fd.Kind, fd.Detail, fd.Records = k1.Kind, det1, k1.Records
		return fd
	}
	fd.Kind, fd.Possible = Undetermined, possible
	fd.Detail = fmt.Sprintf("partial date %s: cannot tell which applies: %s", date, strings.Join(possible, " or "))
	if det1 != det2 {
		fd.Detail += fmt.Sprintf(" (%s; or %s)", det1, det2)
	} else {
		fd.Detail += fmt.Sprintf(" (%s)", det1)
	}
	fd.Records = append(slices.Clone(k1.Records), k2.Records...)
	slices.Sort(fd.Records)
	fd.Records = slices.Compact(fd.Records)
	return fd
}

// covers reports whether a consent event grants scope.
func (b *Book) covers(e *Event, scope string) bool {
	if len(e.Scopes) > 0 {
		return slices.Contains(e.Scopes, scope)
	}
	f := b.Form(e.Form)
	return f != nil && slices.Contains(f.Scopes, scope)
}

// outcome classifies a row dated d; open is set when a supersession
// deadline cannot be ordered against a partial d.
func (b *Book) outcome(eff []HistoryEntry, d Date, scope string, graceDays int, withUncertain bool, first *HistoryEntry) (fd Finding, detail string, open bool) {
	st := b.statusWith(eff, d, withUncertain)
	s, ok := st[scope]
	switch {
	case !ok || s.Status == "declined":
		fd.Kind, fd.Records = BeforeConsent, []uint64{first.Seq}
		return fd, fmt.Sprintf("before consent to %q on %s (record %d)", scope, first.Event.Time, first.Seq), false
	case s.Status == "withdrawn":
		fd.Kind, fd.Records = AfterWithdrawal, []uint64{s.Seq}
		return fd, fmt.Sprintf("after withdrawal from %q on %s (record %d)", scope, s.Since, s.Seq), false
	}
	for _, g := range b.Supersessors(s.Form) {
		eff, err := ParseDate(g.Effective)
		if err != nil {
			continue
		}
		deadline := eff.AddDays(graceDays)
		c, det := Compare(d, deadline)
		if !det {
			open = true
			continue
		}
		if c > 0 {
			fd.Kind, fd.Records = SupersededForm, []uint64{s.Seq}
			return fd, fmt.Sprintf("under %s (record %d), superseded by %s effective %s; re-consent was due by %s", s.Form, s.Seq, g.Ref(), g.Effective, deadline.Text), false
		}
	}
	fd.Kind, fd.Records = Compliant, []uint64{s.Seq}
	return fd, fmt.Sprintf("consented under %s (record %d)", s.Form, s.Seq), open
}
