package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/pipeline"
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
			if c.Bool("json") {
				return printJSON(map[string]any{"trial": t.ID, "erasure_leaf": index})
			}
			fmt.Printf("participant's key destroyed; erasure logged at leaf %d (the participant is salted in it)\n", index)
			return nil
		},
	}
}
