package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/workspace"
)

func logFlag() cli.Flag {
	return &cli.StringFlag{Name: "log", Usage: "trialog directory holding the trial's keys and embedded log, or trillian://HOST:PORT for a Trillian deployment (keys then in --state)", EnvVars: []string{"TRIALOG_LOG"}, Required: true}
}

func stateFlag() cli.Flag {
	return &cli.StringFlag{Name: "state", Usage: "with --log trillian://…: directory for the trial's keys, secret and catalog", EnvVars: []string{"TRIALOG_STATE"}}
}

// logLocation resolves --log (and --state for a Trillian deployment).
func logLocation(c *cli.Context) (backend.Location, error) {
	return backend.Resolve(c.String("log"), c.String("state"))
}

func trialFlag() cli.Flag {
	return &cli.StringFlag{Name: "trial", Usage: "trial ID (e.g. CDISCPILOT01)", EnvVars: []string{"TRIALOG_TRIAL"}, Required: true}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"}
}

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: fmt.Sprintf("input format, one of %v (default: detect)", source.Formats)}
}

func encodingFlag() cli.Flag {
	return &cli.StringFlag{Name: "encoding", Usage: "character set of SAS XPT text: utf-8 (checked), latin1 or windows-1252 (converted); other formats are UTF-8 by definition", Value: "utf-8"}
}

func nullFlag() cli.Flag {
	return &cli.StringFlag{Name: "null", Usage: "comma-separated CSV tokens meaning missing", Value: ",NA"}
}

// usageErr marks a command-line mistake (exit 2).
func usageErr(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, workspace.ErrUsage)...)
}

func openTrial(c *cli.Context, writable bool) (*workspace.Trial, error) {
	loc, err := logLocation(c)
	if err != nil {
		return nil, err
	}
	return backend.Open(c.Context, loc, c.String("trial"), writable)
}

// openSource opens a data file with the reader options from the flags.
func openSource(ctx context.Context, c *cli.Context, path string, opts source.Options) (*source.File, error) {
	return readers.Open(ctx, path, sourceOptions(c, opts))
}

// sourceOptions sets the reader options the flags choose.
func sourceOptions(c *cli.Context, opts source.Options) source.Options {
	opts.Format = source.Format(c.String("format"))
	opts.Encoding = c.String("encoding")
	opts.Warn = func(msg string) { fmt.Fprintln(os.Stderr, "warning: "+msg) }
	if c.IsSet("null") || opts.NullValues == nil {
		opts.NullValues = strings.Split(c.String("null"), ",")
	}
	// Global flags (trialog --max-fields N ingest …), or their TRIALOG_ env.
	opts.Limits = source.Limits{MaxRecordBytes: c.Int("max-record-bytes"), MaxFields: c.Int("max-fields"), MaxCellBytes: c.Int("max-cell-bytes")}
	return opts
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// parseRows reads "0-9,20,30-" style row lists (0-based, inclusive) into
// half-open ranges.
func parseRows(s string) ([][2]uint64, error) {
	var out [][2]uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, usageErr("--rows %q: %v", part, err)
		}
		b := a
		if isRange {
			if hi == "" {
				b = ^uint64(0) - 1
			} else if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, usageErr("--rows %q: bad range", part)
			}
		}
		out = append(out, [2]uint64{a, b + 1})
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readVerifierKey reads a verifier key file (--key). A file that is not a
// note verifier key is bad input (exit 2, naming the file), not a failed
// verification.
func readVerifierKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(data))
	if err := checkpoint.CheckVerifierKey(key); err != nil {
		return "", usageErr("%s: %v", path, err)
	}
	return key, nil
}

// leafRange says which leaves n rows from first occupy, ends included, so
// that "leaves 0–305" cannot be read as a half-open range.
func leafRange(first, n uint64) string {
	switch n {
	case 0:
		return "no leaves"
	case 1:
		return fmt.Sprintf("leaf %d", first)
	}
	return fmt.Sprintf("leaves %d to %d (inclusive)", first, first+n-1)
}
