package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/workspace"
)

// consentEraseCommand destroys a participant's salt key
// (crypto-shredding; docs/commitments.md, salts v2).
func consentEraseCommand() *cli.Command {
	return &cli.Command{
		Name:  "erase",
		Usage: "destroy a participant's salt key: their logged rows become unlinkable forever; every checkpoint and other package stays valid (logged: who, when, why)",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(),
			&cli.StringFlag{Name: "subject", Usage: "the participant's ID (USUBJID)", Required: true},
			&cli.StringFlag{Name: "reason", Usage: "why (logged in clear: must not name the participant)", Required: true},
			&cli.StringFlag{Name: "operator", Usage: "who erases (default: the OS user; logged)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("erase takes no arguments")
			}
			t, err := openTrial(c, true)
			if err != nil {
				return err
			}
			defer t.Close()
			index, err := t.Erase(c.Context, c.String("subject"), c.String("reason"), pipeline.OperatorName(c.String("operator")), clockOf(c)())
			if err != nil {
				return err
			}
			uncovered, err := versionsWithoutParticipantKeys(t)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(map[string]any{"trial": t.ID, "erasure_leaf": index, "not_covered": uncovered})
			}
			fmt.Printf("participant's key destroyed; erasure logged at leaf %d (the participant is salted in it)\n", index)
			for _, v := range uncovered {
				fmt.Fprintf(os.Stderr, "warning: %s was salted without a subject column (every row from the trial key): if it holds this participant's rows, this erasure does not cover them (re-ingest it with --subject-column)\n", v)
			}
			return nil
		},
	}
}

// versionsWithoutParticipantKeys lists the dataset versions (NAME@V) whose
// rows were salted from the trial key, not per participant: salts v1, or
// salts v2 without a subject column (none found, none given). An erasure
// cannot make such rows unlinkable, so erase says so (adversarial review:
// a subject column under another name was salted with the trial key).
func versionsWithoutParticipantKeys(t *workspace.Trial) ([]string, error) {
	names, err := t.Datasets()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, n := range names {
		recs, err := t.Versions(n)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Salts != 2 || r.SubjectColumn == "" {
				out = append(out, fmt.Sprintf("%s@%d", r.Manifest.Dataset, r.Manifest.Version))
			}
		}
	}
	return out, nil
}
