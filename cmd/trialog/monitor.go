package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/monitor"
	"github.com/trialog/trialog/tlogtiles"
)

func logURLFlag(required bool) cli.Flag {
	return &cli.StringFlag{Name: "log-url", Usage: "a published log: http(s)://HOST/PREFIX/ (e.g. …/CDISCPILOT01/) or a published directory", Required: required}
}

func monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "follow a published log with its verifier key only: check every checkpoint, detect forks and rollbacks, report new dataset versions and consent records",
		Flags: []cli.Flag{logURLFlag(true), jsonFlag(),
			&cli.StringFlag{Name: "key", Usage: "the trial's verifier key file (checkpoint.vkey)", Required: true},
			&cli.StringFlag{Name: "state", Usage: "directory where the monitor keeps the last checkpoint it accepted", Required: true},
			&cli.BoolFlag{Name: "follow", Usage: "keep checking every --interval until interrupted"},
			&cli.DurationFlag{Name: "interval", Usage: "with --follow: time between checks", Value: time.Minute},
		},
		Action: func(c *cli.Context) error {
			vkey, err := readVerifierKey(c.String("key"))
			if err != nil {
				return err
			}
			r, err := tlogtiles.OpenReader(c.String("log-url"))
			if err != nil {
				return err
			}
			for {
				opts := monitor.Options{VerifierKey: vkey, StateDir: c.String("state")}
				var bar *progressbar.ProgressBar
				if isTerminal() && !c.Bool("json") {
					opts.Progress = func(done, total uint64) {
						if bar == nil {
							bar = progressbar.NewOptions64(int64(total), progressbar.OptionSetWriter(os.Stderr),
								progressbar.OptionSetDescription("monitor"), progressbar.OptionShowCount(),
								progressbar.OptionShowIts(), progressbar.OptionSetItsString("leaves"), progressbar.OptionClearOnFinish())
						}
						bar.Set64(int64(done))
					}
				}
				rep, err := monitor.Check(c.Context, r, opts)
				if bar != nil {
					bar.Finish()
				}
				if rep != nil {
					if c.Bool("json") {
						if err := printJSON(rep); err != nil {
							return err
						}
					} else {
						printMonitorReport(rep)
					}
				}
				if errors.Is(err, monitor.ErrInconsistent) {
					return fmt.Errorf("%s: %v: %w", c.String("log-url"), err, errVerification)
				}
				if err != nil {
					return err
				}
				if !c.Bool("follow") {
					return nil
				}
				select {
				case <-c.Context.Done():
					return nil
				case <-time.After(c.Duration("interval")):
				}
			}
		},
	}
}

func printMonitorReport(rep *monitor.Report) {
	if rep.Evidence != nil {
		fmt.Printf("%s: INCONSISTENT: %s\n", rep.Origin, rep.Evidence.Reason)
		fmt.Printf("--- checkpoint this monitor accepted before:\n%s--- checkpoint the log serves now:\n%s", rep.Evidence.Old, rep.Evidence.New)
		return
	}
	policies := ""
	if rep.New.Policies > 0 {
		policies = fmt.Sprintf(", %d witness policy changes", rep.New.Policies)
	}
	if rep.New.Disclosures > 0 {
		policies += fmt.Sprintf(", %d disclosures", rep.New.Disclosures)
	}
	if rep.New.Erasures > 0 {
		policies += fmt.Sprintf(", %d participant key erasures", rep.New.Erasures)
	}
	fmt.Printf("%s: tree %d → %d, consistent: %d new leaves (%d rows, %d manifests%s%s%s)\n", rep.Origin, rep.OldSize, rep.NewSize,
		rep.NewSize-rep.OldSize, rep.New.Rows, rep.New.Manifests, consentSummary(rep.New.Consent), policies, unknownSummary(rep.New.Unknown))
	for _, d := range rep.Datasets {
		fmt.Printf("  new dataset version %s@%d: %d rows (manifest leaf %d)\n", d.Dataset, d.Version, d.Rows, d.Leaf)
	}
}

func consentSummary(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ", consent records:"
	for _, k := range keys {
		s += fmt.Sprintf(" %d %s", m[k], k)
	}
	return s
}

func unknownSummary(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d of an unknown kind", n)
}
