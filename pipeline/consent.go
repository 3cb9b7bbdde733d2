package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/workspace"
)

// DefaultSubjectColumn is the CDISC SDTM subject identifier.
const DefaultSubjectColumn = "USUBJID"

// Consent states of a disclosure (ProveResult.Consent, the disclosure leaf).
const (
	ConsentChecked    = "checked"     // rows not covered by consent were withheld
	ConsentOverridden = "overridden"  // consent was checked, and rows it withholds were included for a stated reason
	ConsentNotChecked = "not-checked" // explicitly disclosed without a consent check
)

// Withheld counts the rows (and distinct participants) withheld on one
// ground. It names no participant: a package whose subject column is
// redacted must not say whose rows are missing.
type Withheld struct {
	Ground       string `json:"ground"`
	Rows         uint64 `json:"rows"`
	Participants int    `json:"participants"`
}

// consentTally is what the selection pass learned about participants.
type consentTally struct {
	subjectIdx int                          // source column of the subject ID, -1 if none
	withheld   map[string]map[string]uint64 // ground → subject → rows
	included   map[string]bool              // subjects with rows in the package
	erased     uint64                       // selected rows of erased participants
}

// erasedFilter removes the rows of participants whose salt key was
// erased: their salts are gone, so no package can prove them (and no
// override can bring them back).
func (w *packageWriter) erasedFilter(b source.Batch, pos []int) ([]int, error) {
	subjects, err := w.committer.Subjects(b.Rec, b.First)
	if err != nil || subjects == nil {
		return pos, err
	}
	salters, err := w.committer.RowSalters(subjects, len(subjects), b.First, false)
	if err != nil {
		return nil, err
	}
	kept := pos[:0]
	for _, i := range pos {
		if salters[i] == nil {
			w.erased++
			continue
		}
		kept = append(kept, i)
	}
	return kept, nil
}

// checkSubjectColumn finds the subject column. A consent check needs one;
// without a check, a dataset with no subject column (a trial-level table)
// is disclosed without recording participants.
func (w *packageWriter) checkSubjectColumn(columns []string) error {
	w.subjectIdx = -1
	w.withheld, w.included = map[string]map[string]uint64{}, map[string]bool{}
	name := w.opts.SubjectColumn
	explicit := name != ""
	if !explicit {
		name = SubjectColumnOf(w.meta.Manifest.Keys)
	}
	if slices.Contains(columns, name) {
		w.subjectIdx = w.schema.FieldIndices(name)[0]
		return nil
	}
	if explicit || w.opts.Consent != nil {
		return fmt.Errorf("dataset %s has no subject column %s, so consent cannot be checked (name it with --subject-column, or disclose with --no-consent-check): %w",
			w.meta.Manifest.Dataset, name, workspace.ErrUsage)
	}
	return nil
}

// SubjectColumnOf picks the subject column when none is named: the
// natural key (from Define-XML's KeySequence or ingest --keys) that is a
// subject identifier (USUBJID, or else a name ending in SUBJID), or
// USUBJID.
func SubjectColumnOf(keys []string) string {
	if slices.Contains(keys, DefaultSubjectColumn) {
		return DefaultSubjectColumn
	}
	for _, k := range keys {
		if strings.HasSuffix(strings.ToUpper(k), "SUBJID") {
			return k
		}
	}
	return DefaultSubjectColumn
}

// consentFilter removes from pos (batch positions) the rows of
// participants the consent rule withholds, counting them by ground; with
// an override they stay and are counted all the same.
func (w *packageWriter) consentFilter(b source.Batch, pos []int) ([]int, error) {
	if w.subjectIdx < 0 {
		return pos, nil
	}
	enc, err := canonical.Encoder(b.Rec.Column(w.subjectIdx))
	if err != nil {
		return nil, err
	}
	kept := pos[:0]
	var buf []byte
	for _, i := range pos {
		if buf, err = enc(buf[:0], i); err != nil {
			return nil, fmt.Errorf("row %d, subject column: %w", b.First+uint64(i), err)
		}
		subject := canonical.CellText(buf)
		ground := ""
		if subject != "" && w.opts.Consent != nil {
			ground = w.opts.Consent(subject)
		}
		if ground != "" {
			if w.withheld[ground] == nil {
				w.withheld[ground] = map[string]uint64{}
			}
			w.withheld[ground][subject]++
			if w.opts.Override == "" {
				continue
			}
		}
		if subject != "" {
			w.included[subject] = true
		}
		kept = append(kept, i)
	}
	return kept, nil
}

func (w *packageWriter) withheldList() []Withheld {
	out := []Withheld{}
	for _, g := range slices.Sorted(maps.Keys(w.withheld)) {
		var rows uint64
		for _, n := range w.withheld[g] {
			rows += n
		}
		out = append(out, Withheld{Ground: g, Rows: rows, Participants: len(w.withheld[g])})
	}
	return out
}

func (w *packageWriter) withheldRows() uint64 {
	var n uint64
	for _, x := range w.withheldList() {
		n += x.Rows
	}
	return n
}

func (w *packageWriter) withheldText() string { return WithheldText(w.withheldList()) }

// WithheldText renders counts as "3 rows of 1 participant: withdrawn".
func WithheldText(ws []Withheld) string {
	var parts []string
	for _, x := range ws {
		p := "participants"
		if x.Participants == 1 {
			p = "participant"
		}
		parts = append(parts, fmt.Sprintf("%d rows of %d %s: %s", x.Rows, x.Participants, p, x.Ground))
	}
	return strings.Join(parts, "; ")
}

func (w *packageWriter) consentState() string {
	switch {
	case w.opts.Consent == nil:
		return ConsentNotChecked
	case w.opts.Override != "":
		return ConsentOverridden
	default:
		return ConsentChecked
	}
}

func (w *packageWriter) subjectList() []string { return slices.Sorted(maps.Keys(w.included)) }
