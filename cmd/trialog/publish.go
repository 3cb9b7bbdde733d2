package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
)

func publishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "write the trial's log into DIR as C2SP tlog-tiles (static files any web server or object store can serve)",
		ArgsUsage: "DIR",
		Flags:     []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("publish takes one directory, DIR")
			}
			loc, err := logLocation(c)
			if err != nil {
				return err
			}
			res, err := publishTrial(c.Context, loc, c.String("trial"), c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(map[string]any{"trial": c.String("trial"), "old_size": res.OldSize, "new_size": res.NewSize, "tiles": res.Tiles, "entry_bundles": res.Bundles})
			}
			fmt.Printf("published %s: tree %d → %d, %d tiles and %d entry bundles written to %s\n",
				c.String("trial"), res.OldSize, res.NewSize, res.Tiles, res.Bundles, c.Args().First())
			return nil
		},
	}
}

// publishTrial publishes a trial's latest signed checkpoint and its tree
// into dir. A log that forked or rolled back from what dir already
// publishes is a failed verification (exit 1).
func publishTrial(ctx context.Context, loc backend.Location, trial, dir string) (tlogtiles.Result, error) {
	t, err := backend.Open(ctx, loc, trial, false)
	if err != nil {
		return tlogtiles.Result{}, err
	}
	defer t.Close()
	cp, err := t.LatestCheckpoint()
	if err != nil {
		return tlogtiles.Result{}, fmt.Errorf("trial %s: latest checkpoint: %w", trial, err)
	}
	res, err := tlogtiles.Publish(ctx, t.Log, t.VerifierKey, cp, dir)
	if errors.Is(err, trillian.ErrFork) || errors.Is(err, trillian.ErrRollback) {
		return res, fmt.Errorf("trial %s: %v: %w", trial, err, errVerification)
	}
	if err != nil {
		return res, fmt.Errorf("trial %s: publish: %w", trial, err)
	}
	return res, nil
}

// publicDir is where serve publishes a trial: beside (never above) its
// secret and keys, which no servable path can name.
func publicDir(loc backend.Location, trial string) string {
	return filepath.Join(loc.Dir, "trials", trial, "public")
}
