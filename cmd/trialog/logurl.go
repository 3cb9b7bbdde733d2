package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// consistencyFromURL is `consistency --log-url URL --key VKEY OLD NEW`:
// the consistency proof comes from the published tiles, so it needs no
// secret, no signing key and no CRO directory.
func consistencyFromURL(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageErr("consistency takes two checkpoint files, OLD NEW")
	}
	if !c.IsSet("key") {
		return usageErr("consistency --log-url needs --key (the trial's checkpoint.vkey)")
	}
	vkey, err := readVerifierKey(c.String("key"))
	if err != nil {
		return err
	}
	var cps [2]checkpoint.Checkpoint
	for i := range cps {
		data, err := os.ReadFile(c.Args().Get(i))
		if err != nil {
			return err
		}
		if cps[i], err = checkpoint.Open(vkey, data); err != nil {
			return fmt.Errorf("%s: %v: %w", c.Args().Get(i), err, errVerification)
		}
	}
	r, err := tlogtiles.OpenReader(c.String("log-url"))
	if err != nil {
		return err
	}
	proof, verr := tlogtiles.ConsistencyProof(c.Context, r, cps[0].Root, cps[1].Root)
	if verr != nil && !errors.Is(verr, trillian.ErrFork) && !errors.Is(verr, trillian.ErrRollback) {
		return verr
	}
	return printConsistency(c, cps[0], cps[1], proof, verr)
}

// printConsistency prints the outcome of a consistency check.
func printConsistency(c *cli.Context, old, cur checkpoint.Checkpoint, proof [][]byte, verr error) error {
	if c.Bool("json") {
		enc := make([]string, len(proof))
		for i, h := range proof {
			enc[i] = base64.StdEncoding.EncodeToString(h)
		}
		if err := printJSON(map[string]any{"old_size": old.Size, "new_size": cur.Size, "consistent": verr == nil, "proof": enc}); err != nil {
			return err
		}
	} else if verr == nil {
		fmt.Printf("consistent: tree %d extends tree %d (%d proof hashes)\n", cur.Size, old.Size, len(proof))
	}
	if verr != nil {
		return fmt.Errorf("NEW does not extend OLD: %v: %w", verr, errVerification)
	}
	return nil
}

// optional returns a copy of a required string flag that is not required
// (a command where another flag can stand in for it).
func optional(f cli.Flag) cli.Flag {
	if s, ok := f.(*cli.StringFlag); ok {
		c := *s
		c.Required = false
		return &c
	}
	return f
}
