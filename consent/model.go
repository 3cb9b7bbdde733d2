// Package consent is trialog's consent model: the versioned consent forms
// an IRB approved and every participant's consent events, each logged as
// a salted consent leaf (kind 0x03) in the trial's tree; their replay
// (Book); the audit rules that classify a data row, and the consent rule
// that governs a disclosure, against that history; and the IRB report's
// format, offline verification (Verify) and HTML.
//
// It touches no storage: the durable registry beside a trial's log, its
// check against the log, and the operations on a trial (the audit of an
// ingested dataset, making a report) are package consent/registry. So the
// report verifier links no store and builds to WebAssembly for the
// browser verifier (verify/browser); deps_test.go keeps it so.
//
// The spec is docs/consent.md. The log holds commitments only: no subject
// ID or date can be read from it, yet a registry edited behind trialog's
// back no longer recomputes the logged leaves, and registry.Check says so.
package consent

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ErrInput is wrapped by every error in a consent record or an imported
// file (the CLI exits 2 on it).
var ErrInput = errors.New("bad consent input")

// Form is one IRB-approved version of a consent form.
type Form struct {
	ID             string   `json:"form_id"`
	Version        string   `json:"version"`
	IRBRef         string   `json:"irb_ref"`
	IRBApproved    string   `json:"irb_approved"`         // YYYY-MM-DD
	Effective      string   `json:"effective"`            // YYYY-MM-DD
	Supersedes     string   `json:"supersedes,omitempty"` // the version of the same form it replaces
	DocumentSHA256 string   `json:"document_sha256"`      // of the approved document
	Scopes         []string `json:"scopes"`               // what consenting to it covers
}

// Ref is the form version's reference, FORMID@VERSION.
func (f *Form) Ref() string { return f.ID + "@" + f.Version }

// EventType is what happened to a participant's consent.
type EventType string

// Event types. A correction is any event with Corrects set; EnteredInError
// voids the event it corrects without replacing it (FHIR's
// entered-in-error status).
const (
	Consented      EventType = "consented"
	Reconsented    EventType = "re-consented"
	Declined       EventType = "declined"
	Withdrawn      EventType = "withdrawn"
	EnteredInError EventType = "entered-in-error"
)

// EventTypes lists the valid event types.
var EventTypes = []EventType{Consented, Reconsented, Declined, Withdrawn, EnteredInError}

// Event is one participant consent event.
type Event struct {
	Subject    string    `json:"subject"`        // the trial's subject ID (USUBJID)
	Form       string    `json:"form,omitempty"` // FORMID@VERSION
	Type       EventType `json:"type"`
	Scopes     []string  `json:"scopes,omitempty"` // consented or withdrawn scopes; empty = all
	Time       string    `json:"time"`             // ISO 8601, UTC when it had an offset; may be partial
	RecordedBy string    `json:"recorded_by"`
	SignedRef  string    `json:"signed_ref,omitempty"` // reference or hash of the signed form
	Corrects   uint64    `json:"corrects,omitempty"`   // seq of the event this one corrects
	Source     string    `json:"source,omitempty"`     // where it was imported from
}

// Record is a registry entry: a form version or an event, with where its
// leaf is and the salts of its committed fields (in field name order).
type Record struct {
	Seq       uint64   `json:"seq"`
	LeafIndex uint64   `json:"leaf_index"`
	Form      *Form    `json:"form,omitempty"`
	Event     *Event   `json:"event,omitempty"`
	Salts     []string `json:"salts_hex"`
}

var (
	validSubject = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$`)
	validScope   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	validFormID  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ValidSubject checks a subject ID: letters, digits and . _ : / - (as in
// USUBJID 01-701-1015), at most 64 characters.
func ValidSubject(s string) error {
	if !validSubject.MatchString(s) {
		return fmt.Errorf("subject ID: want letters, digits, '.', '_', ':', '/' or '-', at most 64, starting with a letter or digit")
	}
	return nil
}

// ParseRef splits FORMID@VERSION.
func ParseRef(ref string) (id, version string, err error) {
	id, version, ok := strings.Cut(ref, "@")
	if !ok || !validFormID.MatchString(id) || !validFormID.MatchString(version) {
		return "", "", fmt.Errorf("form %q: want FORMID@VERSION", ref)
	}
	return id, version, nil
}

func checkScopes(scopes []string) error {
	for i, s := range scopes {
		if !validScope.MatchString(s) {
			return fmt.Errorf("scope %q: want letters, digits, '.', '_' or '-'", s)
		}
		if slices.Contains(scopes[:i], s) {
			return fmt.Errorf("scope %q listed twice", s)
		}
	}
	return nil
}

func checkDay(what, s string) error {
	d, err := ParseDate(s)
	if err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	if d.Prec != Day {
		return fmt.Errorf("%s: want a full date YYYY-MM-DD", what)
	}
	return nil
}

// Validate checks a form version on its own.
func (f *Form) Validate() error {
	if _, _, err := ParseRef(f.Ref()); err != nil {
		return err
	}
	if f.Supersedes != "" && !validFormID.MatchString(f.Supersedes) {
		return fmt.Errorf("form %s: supersedes %q is not a version", f.Ref(), f.Supersedes)
	}
	if f.Supersedes == f.Version {
		return fmt.Errorf("form %s supersedes itself", f.Ref())
	}
	if f.IRBRef == "" {
		return fmt.Errorf("form %s: IRB approval reference is missing", f.Ref())
	}
	if err := checkDay("form "+f.Ref()+": IRB approval date", f.IRBApproved); err != nil {
		return err
	}
	if err := checkDay("form "+f.Ref()+": effective date", f.Effective); err != nil {
		return err
	}
	if b, err := hex.DecodeString(f.DocumentSHA256); err != nil || len(b) != 32 || strings.ToLower(f.DocumentSHA256) != f.DocumentSHA256 {
		return fmt.Errorf("form %s: document SHA-256 %q is not 64 lower-case hex digits", f.Ref(), f.DocumentSHA256)
	}
	if len(f.Scopes) == 0 {
		return fmt.Errorf("form %s covers no scope", f.Ref())
	}
	if err := checkScopes(f.Scopes); err != nil {
		return fmt.Errorf("form %s: %v", f.Ref(), err)
	}
	return nil
}

// Validate checks an event on its own; Book.check checks it against the
// forms and events before it.
func (e *Event) Validate() error {
	if err := ValidSubject(e.Subject); err != nil {
		return err
	}
	if !slices.Contains(EventTypes, e.Type) {
		return fmt.Errorf("event type %q: want one of %v", e.Type, EventTypes)
	}
	if e.Form != "" {
		if _, _, err := ParseRef(e.Form); err != nil {
			return fmt.Errorf("event: %v", err)
		}
	} else if e.Type == Consented || e.Type == Reconsented || e.Type == Declined {
		return fmt.Errorf("event: a %s event needs the form version", e.Type)
	}
	if e.Type == EnteredInError && e.Corrects == 0 {
		return fmt.Errorf("event: an entered-in-error event must name the event it voids")
	}
	if err := checkScopes(e.Scopes); err != nil {
		return fmt.Errorf("event: %v", err)
	}
	if _, err := ParseDate(e.Time); err != nil {
		return fmt.Errorf("event time: %v", err)
	}
	if e.RecordedBy == "" {
		return fmt.Errorf("event: who recorded the event is missing")
	}
	return nil
}
