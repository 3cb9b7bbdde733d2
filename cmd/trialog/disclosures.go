package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/workspace"
)

// disclosuresCommand lists every package the trial issued, each checked
// against the log (docs/commitments.md, disclosure leaf).
func disclosuresCommand() *cli.Command {
	return &cli.Command{
		Name:  "disclosures",
		Usage: "list every disclosure package issued (to whom, why, what, when), each checked against the log",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("disclosures takes no arguments")
			}
			t, err := openTrial(c, false)
			if err != nil {
				return err
			}
			defer t.Close()
			signed, cp, err := t.LatestOpened()
			if err != nil {
				return err
			}
			list, problems, err := t.ProveDisclosures(c.Context, cp)
			if err != nil {
				return err
			}
			if j, err := t.Journal(); err != nil {
				return err
			} else if j != nil && j.Kind == workspace.KindDisclosure {
				problems = append(problems, "a disclosure record is unfinished (run any trialog prove to finish it)")
			}
			if c.Bool("json") {
				if err := printJSON(map[string]any{"trial": t.ID, "checkpoint": string(signed), "tree_size": cp.Size,
					"disclosures": list, "ok": len(problems) == 0, "problems": problems}); err != nil {
					return err
				}
			} else {
				for _, d := range list {
					fmt.Println(disclosureLine(&d))
				}
				fmt.Printf("%d disclosures against tree size %d\n", len(list), cp.Size)
				for _, p := range problems {
					fmt.Printf("  problem: %s\n", p)
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problems in the disclosure log: %w", len(problems), errVerification)
			}
			return nil
		},
	}
}

// disclosureLine is one disclosure for people; the override reason is
// the CRO's own record and is shown, participants are not.
func disclosureLine(d *workspace.ProvenDisclosure) string {
	l := d.Leaf
	var b strings.Builder
	fmt.Fprintf(&b, "leaf %d\t%s\t%s@%d\t%d rows\t%s\tto %s\tpurpose %s\tconsent %s", d.LeafIndex, l.Time, l.Dataset, l.Version, l.Rows, d.Operator, l.Recipient, l.Purpose, l.Consent)
	if len(l.Redacted) > 0 {
		fmt.Fprintf(&b, "\tredacted %s", strings.Join(l.Redacted, ","))
	}
	var ws []pipeline.Withheld
	for _, w := range l.Withheld {
		ws = append(ws, pipeline.Withheld{Ground: w.Ground, Rows: w.Rows, Participants: int(w.Participants)})
	}
	if len(ws) > 0 {
		verb := "withheld"
		if l.Consent == pipeline.ConsentOverridden {
			verb = "included by override"
		}
		fmt.Fprintf(&b, "\t%s: %s", verb, pipeline.WithheldText(ws))
	}
	if d.OverrideReason != "" {
		fmt.Fprintf(&b, "\treason %q", d.OverrideReason)
	}
	fmt.Fprintf(&b, "\tsha256 %s\t%s", l.PackageSHA256, d.Verified)
	return b.String()
}
