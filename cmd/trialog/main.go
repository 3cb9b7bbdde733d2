// Command trialog logs clinical-trial datasets row by row into a verifiable
// Merkle log and proves them to sponsors, IRBs and partners offline.
//
// Exit codes: 0 success, 1 verification failed (a report says what), 2 a
// usage, input or operational error (one line on stderr), 3 the write is
// done and durable but its checkpoint has not reached the witness quorum
// yet (trialog witness sync completes it).
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

	"github.com/trialog/trialog/source"
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
	markRequired(app.Commands)
	args, err := normalizeArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errVerification):
		fmt.Fprintln(os.Stderr, "trialog:", err)
		return 1
	case errors.Is(err, errNotWitnessed):
		fmt.Fprintln(os.Stderr, "trialog:", err)
		return 3
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
		Version:              version(),
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			if !isSubcommand {
				return fmt.Errorf("%v (see trialog --help)", err)
			}
			return fmt.Errorf("%v (see trialog %s --help)", err, c.Command.FullName())
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() maps errors to exit codes
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile (for benchmarks)", Hidden: true},
			&cli.IntFlag{Name: "max-record-bytes", Value: source.DefaultMaxRecordBytes, EnvVars: []string{"TRIALOG_MAX_RECORD_BYTES"},
				Usage: "reject a CSV record or Dataset-JSON row (NDJSON line) longer than this"},
			&cli.IntFlag{Name: "max-fields", Value: source.DefaultMaxFields, EnvVars: []string{"TRIALOG_MAX_FIELDS"},
				Usage: "reject a CSV header with more fields than this"},
			&cli.IntFlag{Name: "max-cell-bytes", Value: source.DefaultMaxCellBytes, EnvVars: []string{"TRIALOG_MAX_CELL_BYTES"},
				Usage: "reject a CSV cell longer than this"},
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
			publishCommand(),
			serveCommand(),
			monitorCommand(),
			witnessCommand(),
			verifierPageCommand(),
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
