package consent

import (
	"cmp"
	"fmt"
	"slices"
)

// Book is the consent history in memory: every form version and event in
// sequence order. It is what the registry holds and what a replay of the
// logged records rebuilds; Add applies the same rules to both.
type Book struct {
	Records []*Record
	forms   map[string]*Record   // by FORMID@VERSION
	events  map[uint64]*Record   // by seq
	subject map[string][]*Record // events by subject, seq order
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{forms: map[string]*Record{}, events: map[uint64]*Record{}, subject: map[string][]*Record{}}
}

// Form returns a form version by reference.
func (b *Book) Form(ref string) *Form {
	if r := b.forms[ref]; r != nil {
		return r.Form
	}
	return nil
}

// Forms returns every form version in sequence order.
func (b *Book) Forms() []*Record {
	var out []*Record
	for _, r := range b.Records {
		if r.Form != nil {
			out = append(out, r)
		}
	}
	return out
}

// Event returns an event record by sequence number.
func (b *Book) Event(seq uint64) *Record { return b.events[seq] }

// Subjects lists the subjects with events, sorted.
func (b *Book) Subjects() []string {
	out := make([]string, 0, len(b.subject))
	for s := range b.subject {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Check validates a record against the book as it stands: forms are new
// and supersede a known version of the same form; events name known forms
// and scopes; corrections point back to an earlier event of the same
// subject.
func (b *Book) Check(r *Record) error {
	if want := uint64(len(b.Records)) + 1; r.Seq != want {
		return fmt.Errorf("consent record seq %d, want %d", r.Seq, want)
	}
	switch {
	case r.Form != nil && r.Event == nil:
		f := r.Form
		if err := f.Validate(); err != nil {
			return err
		}
		if b.forms[f.Ref()] != nil {
			return fmt.Errorf("form %s is already registered", f.Ref())
		}
		if f.Supersedes != "" && b.forms[f.ID+"@"+f.Supersedes] == nil {
			return fmt.Errorf("form %s supersedes %s@%s, which is not registered", f.Ref(), f.ID, f.Supersedes)
		}
	case r.Event != nil && r.Form == nil:
		e := r.Event
		if err := e.Validate(); err != nil {
			return err
		}
		var form *Form
		if e.Form != "" {
			if form = b.Form(e.Form); form == nil {
				return fmt.Errorf("event: form %s is not registered (trialog consent form add)", e.Form)
			}
		}
		for _, s := range e.Scopes {
			if form != nil && !slices.Contains(form.Scopes, s) {
				return fmt.Errorf("event: form %s does not cover scope %q (it covers %v)", e.Form, s, form.Scopes)
			}
			if form == nil && !b.knownScope(s) {
				return fmt.Errorf("event: no registered form covers scope %q", s)
			}
		}
		if e.Corrects != 0 {
			c := b.events[e.Corrects]
			if c == nil {
				return fmt.Errorf("event: corrects record %d, which is not an earlier consent event", e.Corrects)
			}
			if c.Event.Subject != e.Subject {
				return fmt.Errorf("event: corrects record %d, an event of another subject", e.Corrects)
			}
		}
	default:
		return fmt.Errorf("consent record %d is neither a form nor an event", r.Seq)
	}
	return nil
}

func (b *Book) knownScope(s string) bool {
	for _, r := range b.forms {
		if slices.Contains(r.Form.Scopes, s) {
			return true
		}
	}
	return false
}

// Add checks and appends a record.
func (b *Book) Add(r *Record) error {
	if err := b.Check(r); err != nil {
		return err
	}
	b.Records = append(b.Records, r)
	if r.Form != nil {
		b.forms[r.Form.Ref()] = r
	} else {
		b.events[r.Seq] = r
		b.subject[r.Event.Subject] = append(b.subject[r.Event.Subject], r)
	}
	return nil
}

// HistoryEntry is one event of a participant's history, with what later
// events did to it.
type HistoryEntry struct {
	*Record
	CorrectedBy uint64 `json:"corrected_by,omitempty"` // a later event replaced or voided this one
	Date        Date   `json:"-"`
}

// History returns every event of a subject in seq order (nothing is ever
// removed), each marked with the event that corrected it, if any.
func (b *Book) History(subject string) []HistoryEntry {
	var out []HistoryEntry
	corrected := map[uint64]uint64{}
	for _, r := range b.subject[subject] {
		if r.Event.Corrects != 0 {
			corrected[r.Event.Corrects] = r.Seq
		}
	}
	for _, r := range b.subject[subject] {
		d, _ := ParseDate(r.Event.Time)
		out = append(out, HistoryEntry{Record: r, CorrectedBy: corrected[r.Seq], Date: d})
	}
	return out
}

// Effective returns the events that stand: not corrected by a later event
// and not entered-in-error, in time order (seq breaks ties).
func (b *Book) Effective(subject string) []HistoryEntry {
	var out []HistoryEntry
	for _, h := range b.History(subject) {
		if h.CorrectedBy == 0 && h.Event.Type != EnteredInError {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(x, y HistoryEntry) int {
		return cmp.Or(x.Date.T.Compare(y.Date.T), cmp.Compare(x.Seq, y.Seq))
	})
	return out
}

// ScopeState is where one scope of a participant's consent stands.
type ScopeState struct {
	Scope  string    `json:"scope"`
	Status string    `json:"status"` // consented, declined or withdrawn
	Form   string    `json:"form,omitempty"`
	Since  string    `json:"since"`
	Seq    uint64    `json:"seq"`
	Type   EventType `json:"event_type"`
}

// State is a participant's consent per scope after some events.
type State map[string]ScopeState

// apply replays one effective event.
func (b *Book) apply(st State, h HistoryEntry) {
	e := h.Event
	set := func(scope, status, form string) {
		st[scope] = ScopeState{Scope: scope, Status: status, Form: form, Since: e.Time, Seq: h.Seq, Type: e.Type}
	}
	form := b.Form(e.Form)
	switch e.Type {
	case Consented, Reconsented:
		scopes := e.Scopes
		if len(scopes) == 0 {
			scopes = form.Scopes
		}
		for _, s := range form.Scopes {
			if slices.Contains(scopes, s) {
				set(s, "consented", e.Form)
			} else {
				set(s, "declined", e.Form)
			}
		}
	case Declined:
		scopes := e.Scopes
		if len(scopes) == 0 {
			scopes = form.Scopes
		}
		for _, s := range scopes {
			set(s, "declined", e.Form)
		}
	case Withdrawn:
		scopes := e.Scopes
		if len(scopes) == 0 {
			for s, v := range st {
				if v.Status == "consented" {
					scopes = append(scopes, s)
				}
			}
		}
		for _, s := range scopes {
			set(s, "withdrawn", st[s].Form)
		}
	}
}

// StatusAt replays a subject's effective events dated on or before at.
// Events whose order relative to at is unknown (a partial date on either
// side) are returned in uncertain and not applied.
func (b *Book) StatusAt(subject string, at Date) (st State, uncertain []HistoryEntry) {
	st = State{}
	for _, h := range b.Effective(subject) {
		c, ok := Compare(h.Date, at)
		switch {
		case !ok:
			uncertain = append(uncertain, h)
		case inForce(h, c):
			b.apply(st, h)
		}
	}
	return st, uncertain
}

// inForce says whether an event compared c (Compare(event, at)) to a
// date is in force at it. A consent is in force from its own day on; a
// withdrawal or decline only after its day (or its exact instant): data
// of the consent visit and of the withdrawal visit are both covered.
func inForce(h HistoryEntry, c int) bool {
	if h.Event.Type == Consented || h.Event.Type == Reconsented {
		return c <= 0
	}
	return c < 0
}

// statusWith replays a subject's events before at, applying the uncertain
// ones too when withUncertain is set.
func (b *Book) statusWith(effective []HistoryEntry, at Date, withUncertain bool) State {
	st := State{}
	for _, h := range effective {
		c, ok := Compare(h.Date, at)
		if (ok && inForce(h, c)) || (!ok && withUncertain) {
			b.apply(st, h)
		}
	}
	return st
}

// Supersessors returns the registered versions that replace ref, directly
// or through a chain, in sequence order.
func (b *Book) Supersessors(ref string) []*Form {
	f := b.Form(ref)
	if f == nil {
		return nil
	}
	var out []*Form
	replaced := map[string]bool{f.Version: true}
	for _, r := range b.Forms() {
		g := r.Form
		if g.ID == f.ID && g.Supersedes != "" && replaced[g.Supersedes] && !replaced[g.Version] {
			replaced[g.Version] = true
			out = append(out, g)
		}
	}
	return out
}

// LastBySource returns the latest event imported from source (a FHIR
// resource or an SDTM record), or nil: re-importing the same record is
// then a correction or a no-op, never a second consent.
func (b *Book) LastBySource(source string) *Record {
	if source == "" {
		return nil
	}
	for i := len(b.Records) - 1; i >= 0; i-- {
		if r := b.Records[i]; r.Event != nil && r.Event.Source == source {
			return r
		}
	}
	return nil
}

// Scratch returns an independent copy of the book, for importers that
// decide each event against the history including the events before it
// in the same batch.
func (b *Book) Scratch() *Book {
	c := NewBook()
	for _, r := range b.Records {
		_ = c.Add(r) // already checked
	}
	return c
}

// AddEvent checks an event against the book and adds it with the next
// sequence number, which is the one Registry.Append will give it when the
// batch is appended in the same order.
func (b *Book) AddEvent(e *Event) (*Record, error) {
	if d, err := ParseDate(e.Time); err == nil {
		e.Time = d.Text
	}
	r := &Record{Seq: uint64(len(b.Records)) + 1, Event: e}
	if err := b.Add(r); err != nil {
		return nil, err
	}
	return r, nil
}

// Granted returns the scopes a subject holds consent to after all of its
// effective events, with the form each was granted under.
func (b *Book) Granted(subject string) map[string]string {
	st := State{}
	for _, h := range b.Effective(subject) {
		b.apply(st, h)
	}
	out := map[string]string{}
	for s, v := range st {
		if v.Status == "consented" {
			out[s] = v.Form
		}
	}
	return out
}
