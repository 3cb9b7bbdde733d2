package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/workspace"
)

// disclosureFlags are prove's flags on why, to whom and under which
// consent a package goes out.
func disclosureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "purpose", Usage: "why the data is disclosed: a consent scope of the trial's forms (e.g. main, future-research); rows of participants whose consent does not cover it are withheld", Required: true},
		&cli.StringFlag{Name: "recipient", Usage: "who receives the package (logged)", Required: true},
		&cli.StringFlag{Name: "operator", Usage: "who discloses (default: the OS user; logged)"},
		&cli.StringFlag{Name: "override-consent", Usage: "REASON: include the rows consent would withhold (e.g. expedited safety reporting); the reason is logged"},
		&cli.BoolFlag{Name: "no-consent-check", Usage: "disclose without checking consent (required when the trial has no consent records; logged as not checked)"},
	}
}

// consentOptions fills in the consent rule of a prove from the trial's
// consent registry and the flags.
func consentOptions(c *cli.Context, t *workspace.Trial, opts *pipeline.ProveOptions, now time.Time) error {
	noCheck, override := c.Bool("no-consent-check"), c.String("override-consent")
	opts.SubjectColumn = c.String("subject-column")
	opts.Recipient, opts.Purpose, opts.Operator = c.String("recipient"), c.String("purpose"), c.String("operator")
	if noCheck {
		if override != "" {
			return usageErr("--override-consent and --no-consent-check exclude each other")
		}
		return nil
	}
	if c.IsSet("override-consent") && override == "" {
		return usageErr("--override-consent needs a reason")
	}
	reg, err := registry.Open(c.Context, t, false)
	if err != nil {
		return err
	}
	defer reg.Close()
	book, err := reg.Book()
	if err != nil {
		return err
	}
	if len(book.Records) == 0 {
		return usageErr("trial %s has no consent records, so prove cannot tell whose rows may be disclosed: record consent (trialog consent import/record), or disclose explicitly with --no-consent-check", t.ID)
	}
	rule, err := book.DisclosureRule(c.String("purpose"), now)
	if err != nil {
		return err
	}
	opts.Consent, opts.Override = rule, override
	return nil
}

// printWithheld says what consent held back, or let through by override.
func printWithheld(res *pipeline.ProveResult) {
	if res.Erased > 0 {
		fmt.Printf("  left out: %d rows of participants whose key was erased (they can never be proved)\n", res.Erased)
	}
	switch {
	case len(res.Withheld) == 0:
	case res.Consent == pipeline.ConsentOverridden:
		fmt.Printf("  consent override: included %s\n", pipeline.WithheldText(res.Withheld))
	default:
		fmt.Printf("  withheld for consent: %s\n", pipeline.WithheldText(res.Withheld))
	}
}
