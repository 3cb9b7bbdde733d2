package registry

import (
	"context"
	"fmt"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/workspace"
)

// Audit joins an ingested dataset version's rows to the consent history.
// The data file must be the ingested one (its SHA-256 is checked against
// the logged manifest): the log holds commitments only, so the dates and
// subjects come from the file.
func Audit(ctx context.Context, t *workspace.Trial, book *consent.Book, f *source.File, opts consent.AuditOptions) (*consent.AuditResult, error) {
	if opts.Scope == "" {
		opts.Scope = "main"
	}
	if opts.GraceDays < 0 {
		return nil, fmt.Errorf("grace period of %d days: %w", opts.GraceDays, workspace.ErrUsage)
	}
	rec, err := t.Version(opts.Dataset, opts.Version)
	if err != nil {
		return nil, err
	}
	m := rec.Manifest
	digest, err := durable.FileSHA256(ctx, f.Path)
	if err != nil {
		return nil, err
	}
	if digest != m.Source.SHA256 {
		return nil, fmt.Errorf("%s is not the file ingested as %s version %d (sha256 %s…, logged %s…): %w",
			f.Name, m.Dataset, m.Version, digest[:12], m.Source.SHA256[:12], workspace.ErrUsage)
	}
	res := &consent.AuditResult{Format: consent.AuditFormat, Trial: t.ID, Dataset: m.Dataset, Version: m.Version, Source: m.Source,
		SubjectColumn: opts.SubjectColumn, DateColumn: opts.DateColumn, Scope: opts.Scope, GraceDays: opts.GraceDays,
		Counts: map[string]uint64{}, Findings: []consent.Finding{}}
	for _, k := range consent.FindingKinds {
		res.Counts[k] = 0
	}
	subjects, flagged := map[string]bool{}, map[string]bool{}
	err = forEachRow(ctx, f, opts.SubjectColumn, opts.DateColumn, func(row uint64, subject, date string) error {
		res.Rows++
		subjects[subject] = true
		fd := book.Classify(subject, opts.Scope, date, opts.GraceDays)
		if fd.Partial {
			res.PartialDates++
		}
		if fd.Kind == consent.Compliant {
			res.Compliant++
			return nil
		}
		flagged[subject] = true
		res.Counts[fd.Kind]++
		fd.Row, fd.LeafIndex = row, m.FirstIndex+row
		if opts.MaxFindings > 0 && len(res.Findings) >= opts.MaxFindings {
			res.Truncated = true
			return nil
		}
		res.Findings = append(res.Findings, fd)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Rows != m.Rows {
		return nil, fmt.Errorf("%s: read %d rows, the manifest logged %d", f.Name, res.Rows, m.Rows)
	}
	res.Subjects, res.Flagged = len(subjects), len(flagged)
	recs, err := t.Disclosures()
	if err != nil {
		return nil, err
	}
	var ofVersion []*leaf.DisclosureRecord
	for _, r := range recs {
		if r.Leaf.Dataset == m.Dataset && r.Leaf.Version == m.Version {
			ofVersion = append(ofVersion, r)
		}
	}
	if res.Disclosures, err = book.AuditDisclosures(ofVersion); err != nil {
		return nil, err
	}
	return res, nil
}

// forEachRow streams the subject and date columns of every row as text.
func forEachRow(ctx context.Context, f *source.File, subjectCol, dateCol string, fn func(row uint64, subject, date string) error) error {
	b, err := f.Batches(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	var row uint64
	for b.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := b.Record()
		col := func(name string) (canonical.CellEncoder, error) {
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				return nil, fmt.Errorf("%s has no column %s: %w", f.Name, name, workspace.ErrUsage)
			}
			return canonical.Encoder(rec.Column(idx[0]))
		}
		subj, err := col(subjectCol)
		if err != nil {
			return err
		}
		date, err := col(dateCol)
		if err != nil {
			return err
		}
		var buf []byte
		for i := 0; i < int(rec.NumRows()); i++ {
			if buf, err = subj(buf[:0], i); err != nil {
				return fmt.Errorf("%s row %d column %s: %w", f.Name, row, subjectCol, err)
			}
			s := canonical.CellText(buf)
			if buf, err = date(buf[:0], i); err != nil {
				return fmt.Errorf("%s row %d column %s: %w", f.Name, row, dateCol, err)
			}
			if err := fn(row, s, canonical.CellText(buf)); err != nil {
				return err
			}
			row++
		}
	}
	return b.Err()
}
