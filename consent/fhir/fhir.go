// Package fhir imports participant consent events from HL7 FHIR Consent
// resources, R4 and R5, given as a JSON Bundle, a single resource, or
// NDJSON (one resource per line). docs/consent.md lists the mapping.
//
// Each resource is decided against the consent history including the
// resources before it, so a deny for a scope the subject holds is a
// withdrawal while a deny with nothing granted is a decline, and a
// resource whose id was imported before is a correction of it.
package fhir

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/trialog/trialog/consent"
)

// Options tune an import.
type Options struct {
	// RecordedBy is who recorded the events (the person running the import).
	RecordedBy string
}

// Result is what an import decided.
type Result struct {
	Events  []*consent.Event
	Skipped []string // resources that are not consent events (draft, duplicates), with why
}

type reference struct {
	Reference  string `json:"reference"`
	Display    string `json:"display"`
	Identifier *struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type provision struct {
	Type    string          `json:"type"` // R4 permit|deny
	Period  *period         `json:"period"`
	Purpose []coding        `json:"purpose"`
	Nested  json.RawMessage `json:"provision"` // nested exceptions, both versions
}

type attachment struct {
	URL  string `json:"url"`
	Hash string `json:"hash"`
}

// resource holds the fields of R4 and R5 Consent that the import reads.
type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Status       string `json:"status"`
	// R4
	Patient    *reference       `json:"patient"`
	DateTime   string           `json:"dateTime"`
	PolicyRule *codeableConcept `json:"policyRule"`
	Policy     []struct {
		URI string `json:"uri"`
	} `json:"policy"`
	// R5
	Subject         *reference        `json:"subject"`
	Date            string            `json:"date"`
	Decision        string            `json:"decision"`
	RegulatoryBasis []codeableConcept `json:"regulatoryBasis"`
	PolicyBasis     *struct {
		Reference *reference `json:"reference"`
		URL       string     `json:"url"`
	} `json:"policyBasis"`
	// both (R4: object / R5: array)
	Provision        json.RawMessage `json:"provision"`
	SourceReference  json.RawMessage `json:"sourceReference"`
	SourceAttachment json.RawMessage `json:"sourceAttachment"`
}

// Parse reads the Consent resources of a Bundle, a single resource or an
// NDJSON file, in file order. Other resource types in a Bundle are
// skipped.
func Parse(name string, r io.Reader) ([]json.RawMessage, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format+": %w", append([]any{name}, append(args, consent.ErrInput)...)...)
	}
	trimmed := bytes.TrimSpace(data)
	var top struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(trimmed, &top); err == nil {
		switch top.ResourceType {
		case "Bundle":
			var out []json.RawMessage
			for i, e := range top.Entry {
				if len(e.Resource) == 0 {
					return nil, bad("entry %d has no resource", i)
				}
				out = append(out, e.Resource)
			}
			return out, nil
		case "":
			return nil, bad("not a FHIR resource (no resourceType)")
		default:
			return []json.RawMessage{trimmed}, nil
		}
	}
	// NDJSON: one resource per line.
	var out []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		if !json.Valid(l) {
			return nil, bad("line %d is not JSON (want a Bundle, a resource, or NDJSON)", line)
		}
		out = append(out, slices.Clone(l))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, bad("no FHIR resources")
	}
	return out, nil
}

// Import maps the Consent resources of one file to consent events, adding
// each to book (a scratch copy) so that later resources see earlier ones.
// Any resource it cannot map is an error naming the file, the resource and
// the field; no event of the file is returned then.
func Import(book *consent.Book, name string, raw []json.RawMessage, opts Options) (*Result, error) {
	res := &Result{}
	for i, msg := range raw {
		var r resource
		if err := json.Unmarshal(msg, &r); err != nil {
			return nil, fmt.Errorf("%s: resource %d: %v: %w", name, i, err, consent.ErrInput)
		}
		if r.ResourceType != "Consent" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("resource %d: %s is not a Consent", i, r.ResourceType))
			continue
		}
		id := r.ID
		if id == "" {
			id = fmt.Sprintf("#%d", i)
		}
		where := fmt.Sprintf("%s: Consent/%s", name, id)
		// The source names the resource and the SHA-256 of its JSON: the
		// same resource imported again is skipped, a changed one with the
		// same id corrects the earlier import.
		var compact bytes.Buffer
		if err := json.Compact(&compact, msg); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", where, err, consent.ErrInput)
		}
		sum := sha256.Sum256(compact.Bytes())
		source := fmt.Sprintf("fhir:Consent/%s#sha256:%x", id, sum[:8])
		if prev := book.LastBySource(source); prev != nil {
			res.Skipped = append(res.Skipped, fmt.Sprintf("Consent/%s: already imported as record %d", id, prev.Seq))
			continue
		}
		prev := lastByID(book, "fhir:Consent/"+id+"#")
		e, skip, err := r.event(book, where, prev, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", where, err, consent.ErrInput)
		}
		if skip != "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("Consent/%s: %s", id, skip))
			continue
		}
		e.Source = source
		if _, err := book.AddEvent(e); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", where, err, consent.ErrInput)
		}
		res.Events = append(res.Events, e)
	}
	return res, nil
}

func (r *resource) r5() bool {
	return r.Subject != nil || r.Date != "" || r.Decision != "" || r.RegulatoryBasis != nil || r.PolicyBasis != nil ||
		bytes.HasPrefix(bytes.TrimSpace(r.Provision), []byte("["))
}

// event maps one Consent resource; skip says why it maps to no event.
func (r *resource) event(book *consent.Book, where string, prev *consent.Record, opts Options) (e *consent.Event, skip string, err error) {
	r5 := r.r5()
	e = &consent.Event{RecordedBy: opts.RecordedBy}
	// Subject.
	ref, field := r.Patient, "patient"
	if r5 {
		ref, field = r.Subject, "subject"
	}
	if ref == nil {
		return nil, "", fmt.Errorf("%s is missing", field)
	}
	if e.Subject, err = subjectOf(ref); err != nil {
		return nil, "", fmt.Errorf("%s: %v", field, err)
	}
	// Time.
	t, tfield := r.DateTime, "dateTime"
	if r5 {
		t, tfield = r.Date, "date"
	}
	if t == "" {
		return nil, "", fmt.Errorf("%s is missing", tfield)
	}
	if _, err := consent.ParseDate(t); err != nil {
		return nil, "", fmt.Errorf("%s: %v", tfield, err)
	}
	e.Time = t
	// Form version.
	var candidates []string
	if r.PolicyRule != nil {
		for _, c := range r.PolicyRule.Coding {
			candidates = append(candidates, c.Code)
		}
		candidates = append(candidates, r.PolicyRule.Text)
	}
	for _, p := range r.Policy {
		candidates = append(candidates, p.URI)
	}
	for _, cc := range r.RegulatoryBasis {
		for _, c := range cc.Coding {
			candidates = append(candidates, c.Code)
		}
		candidates = append(candidates, cc.Text)
	}
	if r.PolicyBasis != nil {
		candidates = append(candidates, r.PolicyBasis.URL)
		if r.PolicyBasis.Reference != nil {
			candidates = append(candidates, r.PolicyBasis.Reference.Reference)
		}
	}
	formField := "policyRule/policy"
	if r5 {
		formField = "regulatoryBasis/policyBasis"
	}
	var named []string
	for _, c := range candidates {
		if c == "" {
			continue
		}
		named = append(named, c)
		ref := c[strings.LastIndexAny(c, "/:")+1:]
		if book.Form(ref) != nil {
			e.Form = ref
			break
		}
	}
	// Provisions.
	var top []provision
	if p := bytes.TrimSpace(r.Provision); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if p[0] == '[' {
			err = json.Unmarshal(p, &top)
		} else {
			var one provision
			err = json.Unmarshal(p, &one)
			top = []provision{one}
		}
		if err != nil {
			return nil, "", fmt.Errorf("provision: %v", err)
		}
	}
	decision := r.Decision
	if !r5 && len(top) == 1 {
		decision = top[0].Type
	}
	if decision == "" {
		decision = "permit"
	}
	if decision != "permit" && decision != "deny" {
		return nil, "", fmt.Errorf("provision type/decision %q: want permit or deny", decision)
	}
	var purposes, opposite []string
	var denyStart string
	for _, p := range top {
		purposes = append(purposes, codes(p.Purpose)...)
		if p.Period != nil && p.Period.Start != "" {
			denyStart = p.Period.Start
		}
		var nested []provision
		if len(bytes.TrimSpace(p.Nested)) > 0 {
			if err := json.Unmarshal(p.Nested, &nested); err != nil {
				return nil, "", fmt.Errorf("provision.provision: %v", err)
			}
		}
		for _, n := range nested {
			if n.Type != "" && n.Type != decision || r5 {
				opposite = append(opposite, codes(n.Purpose)...)
			}
		}
	}
	// Signed form.
	e.SignedRef = firstRef(r.SourceReference)
	if e.SignedRef == "" {
		e.SignedRef = firstAttachment(r.SourceAttachment)
	}

	switch r.Status {
	case "draft", "proposed", "unknown":
		return nil, "status " + r.Status + " is not a consent decision", nil
	case "entered-in-error":
		if prev == nil {
			return nil, "", fmt.Errorf("status entered-in-error, but Consent/%s was never imported", r.ID)
		}
		e.Type, e.Corrects, e.Form, e.Scopes = consent.EnteredInError, prev.Seq, prev.Event.Form, nil
		return e, "", nil
	case "rejected", "not-done":
		e.Type = consent.Declined
	case "inactive":
		e.Type = consent.Withdrawn
		e.Scopes = purposes
	case "active":
		granted := book.Granted(e.Subject)
		switch decision {
		case "permit":
			e.Type = consent.Consented
			for _, f := range granted {
				if fid, _, _ := consent.ParseRef(f); e.Form != "" && strings.HasPrefix(e.Form, fid+"@") {
					e.Type = consent.Reconsented
				}
			}
			if e.Form != "" && (len(purposes) > 0 || len(opposite) > 0) {
				scopes := purposes
				if len(scopes) == 0 {
					scopes = slices.Clone(book.Form(e.Form).Scopes)
				}
				e.Scopes = slices.DeleteFunc(scopes, func(s string) bool { return slices.Contains(opposite, s) })
			}
		case "deny":
			scopes := purposes
			held := len(scopes) == 0 && len(granted) > 0
			for _, s := range scopes {
				if granted[s] != "" {
					held = true
				}
			}
			if held {
				e.Type, e.Scopes = consent.Withdrawn, scopes
				if denyStart != "" {
					e.Time = denyStart
				}
			} else {
				e.Type, e.Scopes = consent.Declined, scopes
			}
		}
	default:
		return nil, "", fmt.Errorf("status %q is not a Consent status", r.Status)
	}
	if e.Form == "" && e.Type != consent.Withdrawn {
		if len(named) == 0 {
			return nil, "", fmt.Errorf("%s names no consent form version", formField)
		}
		return nil, "", fmt.Errorf("%s names %s, none a registered form version FORMID@VERSION (trialog consent form add)", formField, strings.Join(named, ", "))
	}
	// A new version of a resource already imported corrects it (keeping
	// the kind of decision it corrects), unless it only moves the consent
	// on: inactive is a withdrawal, a new event.
	if prev != nil && r.Status != "inactive" {
		e.Corrects = prev.Seq
		if consentish(e.Type) == consentish(prev.Event.Type) {
			e.Type = prev.Event.Type
		}
	}
	return e, "", nil
}

func consentish(t consent.EventType) bool { return t == consent.Consented || t == consent.Reconsented }

// lastByID returns the latest event imported from any version of a
// resource (its source starts with prefix).
func lastByID(book *consent.Book, prefix string) *consent.Record {
	for i := len(book.Records) - 1; i >= 0; i-- {
		if r := book.Records[i]; r.Event != nil && strings.HasPrefix(r.Event.Source, prefix) {
			return r
		}
	}
	return nil
}

func codes(cs []coding) []string {
	var out []string
	for _, c := range cs {
		if c.Code != "" && !slices.Contains(out, c.Code) {
			out = append(out, c.Code)
		}
	}
	return out
}

// subjectOf takes the trial subject ID from a reference: its identifier
// value, else the id of a relative Patient/ID or ResearchSubject/ID
// reference. Anything else (a urn:uuid, an absolute URL to another
// server) is not a subject ID trialog can match to data rows.
func subjectOf(ref *reference) (string, error) {
	if ref.Identifier != nil && ref.Identifier.Value != "" {
		if err := consent.ValidSubject(ref.Identifier.Value); err != nil {
			return "", err
		}
		return ref.Identifier.Value, nil
	}
	typ, id, ok := strings.Cut(ref.Reference, "/")
	if !ok || (typ != "Patient" && typ != "ResearchSubject") || strings.Contains(id, "/") {
		return "", fmt.Errorf("subject reference is not Patient/ID, ResearchSubject/ID or an identifier: unknown subject format")
	}
	if err := consent.ValidSubject(id); err != nil {
		return "", err
	}
	return id, nil
}

func firstRef(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var refs []reference
	if raw[0] == '[' {
		_ = json.Unmarshal(raw, &refs)
	} else {
		var one reference
		_ = json.Unmarshal(raw, &one)
		refs = []reference{one}
	}
	for _, r := range refs {
		if r.Reference != "" {
			return r.Reference
		}
	}
	return ""
}

func firstAttachment(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var as []attachment
	if raw[0] == '[' {
		_ = json.Unmarshal(raw, &as)
	} else {
		var one attachment
		_ = json.Unmarshal(raw, &one)
		as = []attachment{one}
	}
	for _, a := range as {
		if a.Hash != "" {
			return "sha1-base64:" + a.Hash
		}
		if a.URL != "" {
			return a.URL
		}
	}
	return ""
}
