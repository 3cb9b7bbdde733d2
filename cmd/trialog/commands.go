package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/definexml"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a trial: its tree, checkpoint signing key and trial secret",
		Flags: []cli.Flag{logFlag(), trialFlag(), jsonFlag(), stateFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("init takes no arguments")
			}
			loc, err := logLocation(c)
			if err != nil {
				return err
			}
			id := c.String("trial")
			t, err := backend.Init(c.Context, loc, id)
			if err != nil {
				return err
			}
			defer t.Close()
			vkey := workspace.VerifierKeyPath(loc.Dir, id)
			if c.Bool("json") {
				return printJSON(map[string]any{"trial": id, "log": loc.Dir, "origin": t.Config.Origin, "backend": t.Config.Backend, "verifier_key": vkey})
			}
			fmt.Printf("trial %s created in %s (%s log", id, loc.Dir, t.Config.Backend)
			if t.Config.TreeID != 0 {
				fmt.Printf(", tree %d", t.Config.TreeID)
			}
			fmt.Printf(")\nverifier key: %s\n", vkey)
			return nil
		},
	}
}

func ingestCommand() *cli.Command {
	return &cli.Command{
		Name:      "ingest",
		Usage:     "log every row of a dataset file, then its manifest, and sign a checkpoint",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(), formatFlag(), nullFlag(),
			&cli.StringFlag{Name: "dataset", Usage: "dataset name (default: the file name without extension, upper case)"},
			&cli.StringFlag{Name: "schema", Usage: "pinned schema file (JSON list of {name, type})"},
			&cli.BoolFlag{Name: "new-version", Usage: "log the file again as a new version even if its content was logged before"},
			&cli.StringFlag{Name: "operator", Usage: "who runs the ingest (default: the OS user)"},
			&cli.StringFlag{Name: "keys", Usage: "comma-separated natural key columns (e.g. USUBJID,AESEQ)"},
			&cli.StringFlag{Name: "define", Usage: "Define-XML file: take the dataset's key variables (KeySequence) from it"},
			&cli.StringFlag{Name: "subject-column", Usage: "participant ID column whose per-participant key salts each row (default: the subject key from --define/--keys, else USUBJID if present, else none)"},
			&cli.TimestampFlag{Name: "created-at", Layout: time.RFC3339, Usage: "a claimed ingest time (e.g. when replaying an ingest made elsewhere): logged as claimed_created_at beside the system's own UTC time, never instead of it"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("ingest takes exactly one FILE")
			}
			path := c.Args().First()
			dataset := c.String("dataset")
			if dataset == "" {
				dataset = strings.ToUpper(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
			}
			var opts source.Options
			if s := c.String("schema"); s != "" {
				schema, err := source.SchemaFile(s)
				if err != nil {
					return err
				}
				opts.Schema = schema
			}
			f, err := openSource(c.Context, c, path, opts)
			if err != nil {
				return err
			}
			t, err := openTrial(c, true)
			if err != nil {
				return err
			}
			defer t.Close()
			var bar *progressbar.ProgressBar
			iopts := pipeline.IngestOptions{Dataset: dataset, NewVersion: c.Bool("new-version"), Operator: c.String("operator"), Keys: splitList(c.String("keys")),
				SubjectColumn: c.String("subject-column")}
			if isTerminal() && !c.Bool("json") {
				iopts.Total = func(n uint64) {
					bar = progressbar.NewOptions64(int64(n), progressbar.OptionSetWriter(os.Stderr),
						progressbar.OptionSetDescription("ingest "+dataset), progressbar.OptionShowCount(),
						progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"), progressbar.OptionClearOnFinish())
				}
				iopts.Progress = func(n uint64) {
					if bar != nil {
						bar.Set64(int64(n))
					}
				}
			}
			iopts.Now = clockOf(c)
			iopts.ClaimedAt = c.Timestamp("created-at")
			if d := c.String("define"); d != "" && len(iopts.Keys) == 0 {
				if iopts.Keys, err = definexml.KeysFromFile(d, dataset); err != nil {
					return err
				}
			}
			res, err := pipeline.Ingest(c.Context, t, f, iopts)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			m := res.Record.Manifest
			out := map[string]any{
				"trial": m.Trial, "dataset": m.Dataset, "version": m.Version, "rows": m.Rows,
				"first_index": m.FirstIndex, "manifest_index": res.Record.ManifestIndex,
				"tree_size": res.Root.Size, "root_hash": hex.EncodeToString(res.Root.Hash),
				"range_root": m.RangeRoot, "checkpoint": res.Record.Checkpoint,
				"resumed_rows": res.ResumedFrom,
			}
			if c.Bool("json") {
				return printJSON(out)
			}
			resumed := ""
			if res.ResumedFrom > 0 {
				resumed = fmt.Sprintf(" (resumed: %d leaves were already logged)", res.ResumedFrom)
			}
			fmt.Printf("%s version %d: %d rows at leaves %d–%d, manifest at %d%s\ntree size %d, root %x\n",
				m.Dataset, m.Version, m.Rows, m.FirstIndex, m.FirstIndex+m.Rows, res.Record.ManifestIndex, resumed, res.Root.Size, res.Root.Hash)
			return nil
		},
	}
}

func checkpointCommand() *cli.Command {
	return &cli.Command{
		Name:  "checkpoint",
		Usage: "sign and publish a checkpoint for the trial's current tree",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			t, err := openTrial(c, true)
			if err != nil {
				return err
			}
			defer t.Close()
			root, err := t.Log.LatestRoot(c.Context)
			if err != nil {
				return err
			}
			signed, err := t.PublishCheckpoint(root)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(map[string]any{"trial": t.ID, "tree_size": root.Size, "root_hash": hex.EncodeToString(root.Hash), "checkpoint": string(signed)})
			}
			fmt.Print(string(signed))
			return nil
		},
	}
}

func proveCommand() *cli.Command {
	return &cli.Command{
		Name:      "prove",
		Usage:     "write a disclosure package (Arrow IPC) for a dataset version's rows, or one per dataset for a subject",
		ArgsUsage: "DATAFILE (with --dataset) | DATAFILE... (with --subject)",
		Flags: append([]cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(), formatFlag(), nullFlag(),
			&cli.StringFlag{Name: "dataset", Usage: "NAME[@VERSION] (default: the latest version)"},
			&cli.StringFlag{Name: "subject", Usage: "subject ID: one package per dataset file given, with that subject's rows, into the --out directory"},
			&cli.StringFlag{Name: "subject-column", Usage: "column holding the subject ID (default: the dataset's subject key from --define/--keys at ingest, else USUBJID)"},
			&cli.StringFlag{Name: "rows", Usage: "row indices (0-based) to disclose, e.g. 0-9,42"},
			&cli.StringSliceFlag{Name: "where", Usage: "COL=VALUE: disclose matching rows (repeatable)"},
			&cli.StringFlag{Name: "redact", Usage: "comma-separated columns to withhold (values and salts)"},
			&cli.BoolFlag{Name: "detached", Usage: "proofs and salts only: the recipient verifies their own copy of the data"},
			&cli.StringFlag{Name: "out", Usage: "package file to write", Required: true},
		}, disclosureFlags()...),
		Action: func(c *cli.Context) error {
			if c.String("subject") != "" {
				return proveSubject(c)
			}
			if c.String("dataset") == "" {
				return usageErr("prove needs --dataset NAME[@VERSION] or --subject ID")
			}
			if c.NArg() != 1 {
				return usageErr("prove takes exactly one DATAFILE (the file that was ingested)")
			}
			name, version, err := pipeline.ParseDatasetRef(c.String("dataset"))
			if err != nil {
				return err
			}
			opts := pipeline.ProveOptions{Dataset: name, Version: version, Redact: splitList(c.String("redact")), Detached: c.Bool("detached")}
			if r := c.String("rows"); r != "" {
				if opts.Rows, err = parseRows(r); err != nil {
					return err
				}
			}
			for _, w := range c.StringSlice("where") {
				col, val, ok := strings.Cut(w, "=")
				if !ok || col == "" {
					return usageErr("--where %q: want COL=VALUE", w)
				}
				opts.Where = append(opts.Where, pipeline.Condition{Column: col, Value: val})
			}
			t, err := openTrial(c, true)
			if err != nil {
				return err
			}
			defer t.Close()
			rec, err := t.Version(name, version)
			if err != nil {
				return err
			}
			f, err := openSource(c.Context, c, c.Args().First(), source.Options{TypeHints: pipeline.ManifestSchemaHints(&rec.Manifest)})
			if err != nil {
				return err
			}
			if err := consentOptions(c, t, &opts, time.Now()); err != nil {
				return err
			}
			res, err := pipeline.Prove(c.Context, t, f, c.String("out"), opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(res)
			}
			fmt.Printf("%s: %s version %d, %d rows (%s, %s proof) against tree size %d; consent %s\n",
				res.Package, res.Dataset, res.Version, res.Rows, res.Mode, res.Selection, res.TreeSize, res.Consent)
			printWithheld(res)
			return nil
		},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a package (and a data file) offline against the trial's public key",
		ArgsUsage: "PACKAGE [DATAFILE]",
		Flags: []cli.Flag{jsonFlag(), formatFlag(), nullFlag(),
			&cli.StringFlag{Name: "key", Usage: "the trial's verifier key file (checkpoint.vkey)", Required: true},
			&cli.StringFlag{Name: "dataset", Usage: "expected NAME[@VERSION]"},
			&cli.IntFlag{Name: "max-rows", Usage: "bad rows to list in the report", Value: 1000},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr("verify takes PACKAGE [DATAFILE]")
			}
			vkey, err := readVerifierKey(c.String("key"))
			if err != nil {
				return err
			}
			opts := verify.Options{VerifierKey: vkey, MaxReportedRows: c.Int("max-rows")}
			if d := c.String("dataset"); d != "" {
				if opts.Dataset, opts.Version, err = pipeline.ParseDatasetRef(d); err != nil {
					return err
				}
			}
			if c.NArg() == 2 {
				m, err := disclosure.ReadManifest(c.Args().First())
				if err != nil {
					return err
				}
				if opts.Data, err = openSource(c.Context, c, c.Args().Get(1), source.Options{TypeHints: pipeline.ManifestSchemaHints(m)}); err != nil {
					return err
				}
			}
			rep, err := verify.Package(c.Context, c.Args().First(), opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := printJSON(rep); err != nil {
					return err
				}
			} else {
				printReport(rep)
			}
			if !rep.OK {
				return fmt.Errorf("%s: %d bad rows, %d problems: %w", rep.Package, rep.BadRowCount, len(rep.Problems), errVerification)
			}
			return nil
		},
	}
}

func printReport(rep *verify.Report) {
	status := "OK"
	if !rep.OK {
		status = "FAILED"
	}
	fmt.Printf("%s: %s version %d of trial %s, %s package (%s proof), %d rows checked against tree size %d: %s\n",
		rep.Package, rep.Dataset, rep.Version, rep.Trial, rep.Mode, rep.Selection, rep.Rows, rep.TreeSize, status)
	if len(rep.Redacted) > 0 {
		fmt.Printf("  redacted columns: %s\n", strings.Join(rep.Redacted, ", "))
	}
	if rep.Disclosure != nil {
		fmt.Printf("  disclosure: %s\n", rep.Disclosure)
	}
	for _, p := range rep.Problems {
		fmt.Printf("  problem: %s\n", p)
	}
	for _, n := range rep.Notes {
		fmt.Printf("  note: %s\n", n)
	}
	for _, r := range rep.BadRows {
		cols := ""
		if len(r.Columns) > 0 {
			cols = " columns " + strings.Join(r.Columns, ", ") + ":"
		}
		fmt.Printf("  row %d (leaf %d):%s %s\n", r.Row, r.LeafIndex, cols, r.Reason)
	}
	if rep.Truncated {
		fmt.Printf("  … %d bad rows in all\n", rep.BadRowCount)
	}
}

func consistencyCommand() *cli.Command {
	return &cli.Command{
		Name:      "consistency",
		Usage:     "prove that the tree of checkpoint NEW extends the tree of checkpoint OLD",
		ArgsUsage: "OLD NEW",
		Flags:     []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageErr("consistency takes two checkpoint files, OLD NEW")
			}
			t, err := openTrial(c, false)
			if err != nil {
				return err
			}
			defer t.Close()
			var cps [2]checkpoint.Checkpoint
			for i := range cps {
				data, err := os.ReadFile(c.Args().Get(i))
				if err != nil {
					return err
				}
				if cps[i], err = checkpoint.Open(t.VerifierKey, data); err != nil {
					return fmt.Errorf("%s: %v: %w", c.Args().Get(i), err, errVerification)
				}
			}
			old, cur := cps[0], cps[1]
			var proof [][]byte
			if old.Size > 0 && old.Size < cur.Size {
				if proof, err = t.Log.ConsistencyProof(c.Context, old.Size, cur.Size); err != nil {
					return err
				}
			}
			verr := trillian.CheckExtends(old.Root, cur.Root, proof)
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
		},
	}
}

func datasetsCommand() *cli.Command {
	return &cli.Command{
		Name:  "datasets",
		Usage: "list the trial's ingested dataset versions",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			t, err := openTrial(c, false)
			if err != nil {
				return err
			}
			defer t.Close()
			names, err := t.Datasets()
			if err != nil {
				return err
			}
			var all []*workspace.Record
			for _, n := range names {
				vs, err := t.Versions(n)
				if err != nil {
					return err
				}
				all = append(all, vs...)
			}
			if c.Bool("json") {
				return printJSON(map[string]any{"trial": t.ID, "datasets": all})
			}
			for _, r := range all {
				m := r.Manifest
				fmt.Printf("%s@%d\t%d rows\tleaves %d–%d\t%s\t%s\n", m.Dataset, m.Version, m.Rows, m.FirstIndex, r.ManifestIndex, m.Source.Name, m.CreatedAt)
			}
			return nil
		},
	}
}
