package consent

import (
	"fmt"
	"slices"
	"time"
)

// Grounds on which a participant's rows are withheld from a disclosure.
const (
	GroundWithdrawn = "withdrawn"  // consent to the purpose was withdrawn before the disclosure
	GroundDeclined  = "declined"   // the participant declined the purpose
	GroundNoConsent = "no-consent" // no consent to the purpose was ever recorded
	GroundUncertain = "uncertain"  // an event with a partial date may or may not be in force now
)

// Scopes lists every scope a registered form version covers, sorted.
func (b *Book) Scopes() []string {
	var out []string
	for _, r := range b.forms {
		for _, s := range r.Form.Scopes {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// DisclosureRule returns the rule a disclosure for purpose (a consent
// scope, e.g. main or future-research) made at time at follows: for a
// subject, the ground on which its rows must be withheld, or "" if its
// consent covers the purpose at that time. A purpose no registered form
// covers is bad input: no participant could have consented to it.
//
// Consent is judged as the audit judges data rows (Book.StatusAt): a
// withdrawal takes effect after its day. An event whose date is too
// partial to place before or after at makes the answer uncertain, and an
// uncertain answer withholds (GroundUncertain) unless both readings allow.
func (b *Book) DisclosureRule(purpose string, at time.Time) (func(subject string) string, error) {
	if !b.knownScope(purpose) {
		return nil, fmt.Errorf("purpose %q: no registered consent form covers it (registered scopes: %v): %w", purpose, b.Scopes(), ErrInput)
	}
	now, err := ParseDate(at.UTC().Format("2006-01-02T15:04:05Z"))
	if err != nil {
		return nil, err
	}
	cache := map[string]string{}
	return func(subject string) string {
		if g, ok := cache[subject]; ok {
			return g
		}
		g := b.groundAt(subject, purpose, now)
		cache[subject] = g
		return g
	}, nil
}

func (b *Book) groundAt(subject, purpose string, at Date) string {
	eff := b.Effective(subject)
	ground := func(st State) string {
		switch s := st[purpose]; s.Status {
		case "consented":
			return ""
		case "withdrawn":
			return GroundWithdrawn
		case "declined":
			return GroundDeclined
		default:
			return GroundNoConsent
		}
	}
	without := ground(b.statusWith(eff, at, false))
	with := ground(b.statusWith(eff, at, true))
	switch {
	case without == with:
		return without
	case without == "" || with == "":
		return GroundUncertain
	default:
		return without
	}
}
