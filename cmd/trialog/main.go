// Command trialog logs clinical-trial datasets row by row into a verifiable
// Merkle log and proves them to sponsors, IRBs and partners offline.
//
// Exit codes: 0 success, 1 verification failed (a report says what), 2 a
// usage, input or operational error (one line on stderr).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// errVerification marks a verification that ran and failed: exit code 1.
var errVerification = errors.New("verification failed")

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		// Batches are bounded; keep the collector from letting garbage
		// pile up past what the pipeline needs.
		debug.SetMemoryLimit(192 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args))
}

func run(ctx context.Context, args []string) int { return runWithClock(ctx, args, time.Now) }

// runWithClock runs the CLI with a system clock (tests fix it to compare
// two logs byte for byte; no flag can set it).
func runWithClock(ctx context.Context, args []string, clock func() time.Time) int {
	app := newApp()
	app.Metadata = map[string]any{clockKey: clock}
	err := app.RunContext(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errVerification):
		fmt.Fprintln(os.Stderr, "trialog:", err)
		return 1
	default:
		fmt.Fprintln(os.Stderr, "trialog:", err)
		return 2
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:                 "trialog",
		Usage:                "clinical-trial data integrity on a verifiable log",
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return fmt.Errorf("%v (see trialog %s --help)", err, c.Command.Name)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() maps errors to exit codes
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile (for benchmarks)", Hidden: true},
		},
		Before: func(c *cli.Context) error {
			if path := c.String("cpuprofile"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
			}
			return nil
		},
		After: func(c *cli.Context) error {
			if c.String("cpuprofile") != "" {
				pprof.StopCPUProfile()
			}
			return nil
		},
		Commands: []*cli.Command{
			initCommand(),
			ingestCommand(),
			checkpointCommand(),
			proveCommand(),
			verifyCommand(),
			consistencyCommand(),
			datasetsCommand(),
			demoCommand(),
			consentCommand(),
			disclosuresCommand(),
		},
	}
}

const clockKey = "clock"

// clockOf is the system clock the app runs with.
func clockOf(c *cli.Context) func() time.Time {
	if clock, ok := c.App.Metadata[clockKey].(func() time.Time); ok {
		return clock
	}
	return time.Now
}
