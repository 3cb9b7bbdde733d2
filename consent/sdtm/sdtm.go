// Package sdtm imports consent events from SDTM: DS records whose DSDECOD
// is INFORMED CONSENT OBTAINED (dated by DSSTDTC), and DM.RFICDTC, the
// date of informed consent, for subjects that DS does not cover. SDTM does
// not say which consent form version was signed, so the caller names it.
package sdtm

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
)

// ConsentDecod is the DS term of an informed consent.
const ConsentDecod = "INFORMED CONSENT OBTAINED"

// Options tune an import.
type Options struct {
	Form       string // FORMID@VERSION every imported consent is under
	RecordedBy string
	// WithdrawalDecods, if set, are DSDECOD terms logged as a full
	// withdrawal of consent (e.g. "WITHDRAWAL BY SUBJECT"). Off by default:
	// discontinuing a study is not always withdrawing consent, and trialog
	// does not guess.
	WithdrawalDecods []string
}

// Result is what an import found.
type Result struct {
	Events          []*consent.Event
	DSRows          int // DS records read
	DSConsents      int // of which INFORMED CONSENT OBTAINED
	DSWithdrawals   int // of which a WithdrawalDecods term
	DMSubjects      int // DM records read
	DMMissingRFIC   int // DM records with RFICDTC missing
	DMUsed          int // RFICDTC taken for subjects DS has no consent for
	AlreadyImported int
	Notes           []string
}

type row struct {
	file   string
	n      int
	values map[string]string
}

// readRows reads the named columns of every row as text (missing: "").
func readRows(ctx context.Context, path string, cols []string, optional map[string]bool) ([]row, error) {
	f, err := readers.Open(ctx, path, source.Options{})
	if err != nil {
		return nil, err
	}
	b, err := f.Batches(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var out []row
	n := 0
	for b.Next() {
		rec := b.Record()
		encs := map[string]canonical.CellEncoder{}
		for _, c := range cols {
			idx := rec.Schema().FieldIndices(c)
			if len(idx) != 1 {
				if optional[c] {
					continue
				}
				return nil, fmt.Errorf("%s has no column %s: %w", f.Name, c, consent.ErrInput)
			}
			if encs[c], err = canonical.Encoder(rec.Column(idx[0])); err != nil {
				return nil, fmt.Errorf("%s column %s: %w", f.Name, c, err)
			}
		}
		var buf []byte
		for i := 0; i < int(rec.NumRows()); i++ {
			r := row{file: f.Name, n: n, values: map[string]string{}}
			for c, enc := range encs {
				if buf, err = enc(buf[:0], i); err != nil {
					return nil, fmt.Errorf("%s row %d column %s: %w", f.Name, n, c, err)
				}
				if len(buf) > 1 && buf[0] != canonical.TagNull {
					r.values[c] = strings.TrimSpace(string(buf[1:]))
				}
			}
			out = append(out, r)
			n++
		}
	}
	return out, b.Err()
}

// Import reads DS (and DM, if dmPath is set) and adds the consent events
// to book (a scratch copy), in subject then time order. Re-importing the
// same records adds nothing. Any record it cannot use (bad subject, bad or
// missing date on a consent record) is an error naming file, row and
// column, and no event is returned.
func Import(ctx context.Context, book *consent.Book, dsPath, dmPath string, opts Options) (*Result, error) {
	if book.Form(opts.Form) == nil {
		return nil, fmt.Errorf("form %q is not a registered form version (trialog consent form add): %w", opts.Form, consent.ErrInput)
	}
	res := &Result{}
	var events []*consent.Event
	consented := map[string]string{}
	if dsPath != "" {
		rows, err := readRows(ctx, dsPath, []string{"USUBJID", "DSDECOD", "DSSTDTC", "DSSEQ"}, map[string]bool{"DSSEQ": true})
		if err != nil {
			return nil, err
		}
		res.DSRows = len(rows)
		for _, r := range rows {
			decod := r.values["DSDECOD"]
			typ := consent.EventType("")
			switch {
			case decod == ConsentDecod:
				typ = consent.Consented
				res.DSConsents++
			case slices.Contains(opts.WithdrawalDecods, decod):
				typ = consent.Withdrawn
				res.DSWithdrawals++
			default:
				continue
			}
			e, err := event(r, "DSSTDTC", typ, opts)
			if err != nil {
				return nil, err
			}
			key := r.values["DSSEQ"]
			if key == "" {
				key = fmt.Sprintf("row%d", r.n)
			}
			e.Source = fmt.Sprintf("sdtm:DS/%s/%s", e.Subject, key)
			if typ == consent.Consented {
				if _, seen := consented[e.Subject]; !seen {
					consented[e.Subject] = e.Time
				}
			}
			events = append(events, e)
		}
	}
	if dmPath != "" {
		rows, err := readRows(ctx, dmPath, []string{"USUBJID", "RFICDTC"}, nil)
		if err != nil {
			return nil, err
		}
		res.DMSubjects = len(rows)
		for _, r := range rows {
			if r.values["RFICDTC"] == "" {
				res.DMMissingRFIC++
				continue
			}
			e, err := event(r, "RFICDTC", consent.Consented, opts)
			if err != nil {
				return nil, err
			}
			if ds, ok := consented[e.Subject]; ok {
				if ds != e.Time {
					res.Notes = append(res.Notes, fmt.Sprintf("%s: DM.RFICDTC %s differs from DS consent %s; DS kept", e.Subject, e.Time, ds))
				}
				continue
			}
			e.Source = fmt.Sprintf("sdtm:DM/%s/RFICDTC", e.Subject)
			res.DMUsed++
			events = append(events, e)
		}
	}
	slices.SortStableFunc(events, func(a, b *consent.Event) int {
		da, _ := consent.ParseDate(a.Time)
		db, _ := consent.ParseDate(b.Time)
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), da.T.Compare(db.T), cmp.Compare(rank(a.Type), rank(b.Type)))
	})
	for _, e := range events {
		if book.LastBySource(e.Source) != nil {
			res.AlreadyImported++
			continue
		}
		if e.Type == consent.Withdrawn && len(book.Granted(e.Subject)) == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %s on %s, but no consent is recorded: withdrawal logged anyway", e.Subject, e.Source, e.Time))
		}
		if _, err := book.AddEvent(e); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", e.Source, err, consent.ErrInput)
		}
		res.Events = append(res.Events, e)
	}
	if dsPath != "" && res.DSConsents == 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("DS: none of %d records has DSDECOD %q", res.DSRows, ConsentDecod))
	}
	if dmPath != "" && res.DMMissingRFIC > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("DM: RFICDTC is missing for %d of %d subjects", res.DMMissingRFIC, res.DMSubjects))
	}
	return res, nil
}

func rank(t consent.EventType) int {
	if t == consent.Withdrawn {
		return 1
	}
	return 0
}

func event(r row, dateCol string, typ consent.EventType, opts Options) (*consent.Event, error) {
	subject := r.values["USUBJID"]
	if err := consent.ValidSubject(subject); err != nil {
		return nil, fmt.Errorf("%s row %d column USUBJID: %v: %w", r.file, r.n, err, consent.ErrInput)
	}
	date := r.values[dateCol]
	if date == "" {
		return nil, fmt.Errorf("%s row %d column %s: date is missing: %w", r.file, r.n, dateCol, consent.ErrInput)
	}
	if _, err := consent.ParseDate(date); err != nil {
		return nil, fmt.Errorf("%s row %d column %s: %v: %w", r.file, r.n, dateCol, err, consent.ErrInput)
	}
	e := &consent.Event{Subject: subject, Type: typ, Time: date, RecordedBy: opts.RecordedBy}
	if typ != consent.Withdrawn {
		e.Form = opts.Form
	}
	return e, nil
}
