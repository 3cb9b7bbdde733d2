package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/workspace"
)

// proveSubject writes, for one subject, one package per dataset: each data
// file given is matched to the dataset version it was ingested as (by
// content hash), and the subject's rows are proved with the --redact
// columns withheld wherever a dataset has them. One file per dataset keeps
// every package an ordinary table a partner can open and verify alone.
func proveSubject(c *cli.Context) error {
	subject, column := c.String("subject"), c.String("subject-column")
	if column == "" {
		column = pipeline.DefaultSubjectColumn
	}
	outDir := c.String("out")
	if c.NArg() == 0 {
		return usageErr("prove --subject needs the ingested data files, e.g. dm.xpt ae.xpt")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	t, err := openTrial(c, true)
	if err != nil {
		return err
	}
	defer t.Close()
	var base pipeline.ProveOptions
	base.DecidedAt = clockOf(c)()
	if err := consentOptions(c, t, &base, base.DecidedAt); err != nil {
		return err
	}
	redact := splitList(c.String("redact"))
	used := map[string]bool{}
	withheldAll := false
	var results []*pipeline.ProveResult
	for _, path := range c.Args().Slice() {
		rec, err := versionOfFile(c.Context, t, path)
		if errors.Is(err, workspace.ErrNotIngested) {
			return usageErr("%s was not ingested into trial %s (no dataset version has its content)", filepath.Base(path), t.ID)
		}
		if err != nil {
			return err
		}
		m := &rec.Manifest
		cols := m.ColumnNames()
		if !slices.Contains(cols, column) {
			return usageErr("%s (%s version %d) has no subject column %s", filepath.Base(path), m.Dataset, m.Version, column)
		}
		var withheld []string
		for _, r := range redact {
			if slices.Contains(cols, r) {
				withheld = append(withheld, r)
				used[r] = true
			}
		}
		f, err := openSource(c.Context, c, path, disclosure.ReadOptions(m))
		if err != nil {
			return err
		}
		out := filepath.Join(outDir, fmt.Sprintf("%s@%d.arrow", m.Dataset, m.Version))
		opts := base
		opts.Dataset, opts.Version, opts.Redact = m.Dataset, m.Version, withheld
		opts.Where = []pipeline.Condition{{Column: column, Value: subject}}
		opts.Minimal = !c.Bool("full-manifest") // partner packages: the header only
		opts.SubjectColumn = column
		res, err := pipeline.Prove(c.Context, t, f, out, opts)
		if errors.Is(err, pipeline.ErrWithheld) {
			fmt.Fprintf(os.Stderr, "%s version %d: %v\n", m.Dataset, m.Version, err)
			withheldAll = true
			continue
		}
		if err != nil && !isNoRows(err) {
			return err
		}
		if err == nil {
			results = append(results, res)
		}
	}
	for _, r := range redact {
		if !used[r] {
			return usageErr("--redact %s: no dataset given has that column", r)
		}
	}
	if len(results) == 0 && withheldAll {
		return fmt.Errorf("subject %s: every row is withheld for consent: %w", subject, pipeline.ErrWithheld)
	}
	if len(results) == 0 {
		return usageErr("subject %s has no rows in the datasets given", subject)
	}
	if c.Bool("json") {
		return printJSON(map[string]any{"subject": subject, "packages": results})
	}
	for _, res := range results {
		fmt.Printf("%s: %s version %d, %d rows; consent %s\n", res.Package, res.Dataset, res.Version, res.Rows, res.Consent)
		printWithheld(res)
	}
	return nil
}

func isNoRows(err error) bool { return errors.Is(err, pipeline.ErrNoRows) }

// versionOfFile finds the dataset version a file was ingested as.
func versionOfFile(ctx context.Context, t *workspace.Trial, path string) (*workspace.Record, error) {
	digest, err := durable.FileSHA256(ctx, path)
	if err != nil {
		return nil, err
	}
	return t.VersionWithContent(digest)
}
