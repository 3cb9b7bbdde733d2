// Package imports logs consent events taken from other systems' records —
// FHIR Consent resources (consent/fhir) and SDTM DS/DM (consent/sdtm) —
// in one registry append: every source is read and validated against the
// registry first, then all events are logged together or none is.
package imports

import (
	"context"
	"os"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/fhir"
	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/consent/sdtm"
)

// Options say what to import.
type Options struct {
	// FHIR lists FHIR R4/R5 Bundle or NDJSON files.
	FHIR []string
	// DS and DM are SDTM files (INFORMED CONSENT OBTAINED records; RFICDTC
	// for subjects DS does not cover); Form (FORMID@VERSION) is required
	// with either, as SDTM does not say which form was signed.
	DS, DM, Form string
	// WithdrawalDecods are DSDECOD terms to log as full withdrawal.
	WithdrawalDecods []string
	// RecordedBy is who records the imported events.
	RecordedBy string
}

// Result is what was logged.
type Result struct {
	Records []*consent.Record `json:"records"`
	Notes   []string          `json:"notes,omitempty"`
	SDTM    *sdtm.Result      `json:"sdtm,omitempty"`
}

// Run reads every source and appends their events to the registry as one
// batch.
func Run(ctx context.Context, reg *registry.Registry, opts Options) (*Result, error) {
	book, err := reg.Book()
	if err != nil {
		return nil, err
	}
	book = book.Scratch()
	res := &Result{}
	var events []*consent.Event
	for _, path := range opts.FHIR {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		raw, err := fhir.Parse(path, fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		fr, err := fhir.Import(book, path, raw, fhir.Options{RecordedBy: opts.RecordedBy})
		if err != nil {
			return nil, err
		}
		events = append(events, fr.Events...)
		for _, s := range fr.Skipped {
			res.Notes = append(res.Notes, path+": skipped "+s)
		}
	}
	if opts.DS != "" || opts.DM != "" {
		res.SDTM, err = sdtm.Import(ctx, book, opts.DS, opts.DM, sdtm.Options{Form: opts.Form, RecordedBy: opts.RecordedBy, WithdrawalDecods: opts.WithdrawalDecods})
		if err != nil {
			return nil, err
		}
		events = append(events, res.SDTM.Events...)
		res.Notes = append(res.Notes, res.SDTM.Notes...)
	}
	recs := make([]*consent.Record, len(events))
	for i, e := range events {
		recs[i] = &consent.Record{Event: e}
	}
	if res.Records, err = reg.Append(ctx, recs); err != nil {
		return nil, err
	}
	return res, nil
}
