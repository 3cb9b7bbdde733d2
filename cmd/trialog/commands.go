package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/definexml"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/trillian"
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
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(), formatFlag(), encodingFlag(), nullFlag(),
			&cli.StringFlag{Name: "dataset", Usage: "dataset name (default: the file name without extension, upper case)"},
			&cli.StringFlag{Name: "schema", Usage: "pinned schema file (JSON list of {name, type})"},
			&cli.BoolFlag{Name: "new-version", Usage: "log the file again as a new version even if its content was logged before"},
			&cli.StringFlag{Name: "operator", Usage: "who runs the ingest (default: the OS user)"},
			&cli.StringFlag{Name: "keys", Usage: "comma-separated natural key columns (e.g. USUBJID,AESEQ)"},
			&cli.StringFlag{Name: "define", Usage: "Define-XML file: take the dataset's key variables (KeySequence) and the display formats of XPT numerics without one (dates) from it"},
			&cli.IntFlag{Name: "float-digits", Usage: fmt.Sprintf("significant digits non-whole numbers are committed to (%d–%d), recorded in the manifest", canonical.MinFloatDigits, canonical.MaxFloatDigits), Value: canonical.DefaultFloatDigits},
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
			var def *definexml.Dataset
			if d := c.String("define"); d != "" {
				var err error
				if def, err = definexml.DatasetFromFile(d, dataset); err != nil {
					return err
				}
				opts.Formats = def.DisplayFormats()
			}
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
			iopts := pipeline.IngestOptions{Dataset: dataset, NewVersion: c.Bool("new-version"), Operator: c.String("operator"), Keys: splitList(c.String("keys")),
				Rules: canonical.Rules{FloatDigits: c.Int("float-digits")}, SubjectColumn: c.String("subject-column")}
			bar := newProgress(c, "ingest "+dataset)
			iopts.Total, iopts.Progress = bar.callbacks()
			iopts.Now = clockOf(c)
			iopts.ClaimedAt = c.Timestamp("created-at")
			if def != nil && len(iopts.Keys) == 0 {
				if def.KeyError != nil {
					return fmt.Errorf("%w: %v", source.ErrInput, def.KeyError)
				}
				if len(def.Keys) == 0 {
					return fmt.Errorf("%s: dataset %s declares no key variables: %w", filepath.Base(c.String("define")), dataset, source.ErrInput)
				}
				iopts.Keys = def.Keys
			}
			res, err := pipeline.Ingest(c.Context, t, f, iopts)
			bar.finish()
			if err != nil {
				return err
			}
			ws, werr := witnessAfterWrite(c, t)
			if ws != nil {
				// The record and the output carry the checkpoint as cosigned.
				res.Record.Checkpoint = string(ws.Checkpoint)
				if err := t.SaveRecord(res.Record); err != nil {
					return err
				}
			}
			if werr != nil && !errors.Is(werr, errNotWitnessed) {
				return werr
			}
			m := res.Record.Manifest
			out := map[string]any{
				"trial": m.Trial, "dataset": m.Dataset, "version": m.Version, "rows": m.Rows,
				"first_index": m.FirstIndex, "manifest_index": res.Record.ManifestIndex,
				"tree_size": res.Root.Size, "root_hash": hex.EncodeToString(res.Root.Hash),
				"range_root": m.RangeRoot, "checkpoint": res.Record.Checkpoint,
				"resumed_rows": res.ResumedFrom,
			}
			if ws != nil {
				out["witnesses"] = ws.JSON()
			}
			if c.Bool("json") {
				if err := printJSON(out); err != nil {
					return err
				}
				return werr
			}
			resumed := ""
			if res.ResumedFrom > 0 {
				resumed = fmt.Sprintf(" (resumed: %d leaves were already logged)", res.ResumedFrom)
			}
			fmt.Printf("%s version %d: %d rows at %s, manifest at leaf %d%s\ntree size %d, root %x\n",
				m.Dataset, m.Version, m.Rows, leafRange(m.FirstIndex, m.Rows), res.Record.ManifestIndex, resumed, res.Root.Size, res.Root.Hash)
			return werr
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
			ws, werr := witnessAfterWrite(c, t)
			if werr != nil && !errors.Is(werr, errNotWitnessed) {
				return werr
			}
			out := map[string]any{"trial": t.ID, "tree_size": root.Size, "root_hash": hex.EncodeToString(root.Hash), "checkpoint": string(signed)}
			if ws != nil {
				signed = ws.Checkpoint
				out["checkpoint"], out["witnesses"] = string(signed), ws.JSON()
			}
			if c.Bool("json") {
				if err := printJSON(out); err != nil {
					return err
				}
				return werr
			}
			fmt.Print(string(signed))
			return werr
		},
	}
}

func proveCommand() *cli.Command {
	return &cli.Command{
		Name:      "prove",
		Usage:     "write a disclosure package (Arrow IPC) for a dataset version's rows, or one per dataset for a subject",
		ArgsUsage: "DATAFILE (with --dataset) | DATAFILE... (with --subject)",
		Flags: append([]cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(), formatFlag(), encodingFlag(), nullFlag(),
			&cli.StringFlag{Name: "dataset", Usage: "NAME[@VERSION] (default: the latest version)"},
			&cli.StringFlag{Name: "subject", Usage: "subject ID: one package per dataset file given, with that subject's rows, into the --out directory"},
			&cli.StringFlag{Name: "subject-column", Usage: "column holding the subject ID (default: the dataset's subject key from --define/--keys at ingest, else USUBJID)"},
			&cli.StringFlag{Name: "rows", Usage: "row indices (0-based) to disclose, e.g. 0-9,42"},
			&cli.StringSliceFlag{Name: "where", Usage: "COL=VALUE: disclose matching rows (repeatable)"},
			&cli.StringFlag{Name: "redact", Usage: "comma-separated columns to withhold (values and salts)"},
			&cli.BoolFlag{Name: "detached", Usage: "proofs and salts only: the recipient verifies their own copy of the data"},
			&cli.StringFlag{Name: "form", Usage: "package form: derived (the version's salt key and a 3-byte tag per row: a few percent of the data; a whole version, --detached, nothing redacted), full (salts and commitments per row: names the column of a difference, matches a re-sorted copy by key); default derived where allowed and the dataset has no natural keys"},
			&cli.BoolFlag{Name: "minimal", Usage: "rows packages: disclose the dataset header only, not the manifest (row count, source file digest, operator) (default with --subject)"},
			&cli.BoolFlag{Name: "full-manifest", Usage: "with --subject: carry the whole manifest, as other packages do"},
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
			opts := pipeline.ProveOptions{Dataset: name, Version: version, Redact: splitList(c.String("redact")), Detached: c.Bool("detached"), Form: c.String("form"), Minimal: c.Bool("minimal")}
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
			f, err := openSource(c.Context, c, c.Args().First(), disclosure.ReadOptions(&rec.Manifest))
			if err != nil {
				return err
			}
			opts.DecidedAt = clockOf(c)()
			if err := consentOptions(c, t, &opts, opts.DecidedAt); err != nil {
				return err
			}
			bar := newProgress(c, "prove "+name)
			opts.Total, opts.Progress = bar.callbacks()
			res, err := pipeline.Prove(c.Context, t, f, c.String("out"), opts)
			bar.finish()
			if err != nil {
				return err
			}
			warnUnwitnessed(t)
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
		Flags: append([]cli.Flag{jsonFlag(), formatFlag(), encodingFlag(), nullFlag(),
			&cli.StringFlag{Name: "key", Usage: "the trial's verifier key file (checkpoint.vkey)", Required: true},
			&cli.StringFlag{Name: "dataset", Usage: "expected NAME[@VERSION]; with @VERSION that version is pinned (with --log-url, a newer one is then a note, not a warning)"},
			&cli.IntFlag{Name: "max-rows", Usage: "bad rows to list in the report", Value: 1000},
			logURLFlag(false),
			&cli.BoolFlag{Name: "require-latest", Usage: "with --log-url: fail if the log holds a newer version of the dataset (default: a warning)"},
			&cli.BoolFlag{Name: "strict", Usage: "fail when DATAFILE has columns the package does not cover (default: list them in a note)"},
			&cli.BoolFlag{Name: "complete", Usage: "fail if DATAFILE has rows the package does not prove (default: count them in the report)"},
		}, verifyWitnessFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr("verify takes PACKAGE [DATAFILE]")
			}
			vkey, err := readVerifierKey(c.String("key"))
			if err != nil {
				return err
			}
			opts := verify.Options{VerifierKey: vkey, MaxReportedRows: c.Int("max-rows"), Strict: c.Bool("strict"), Complete: c.Bool("complete")}
			if err := applyWitnessOptions(c, &opts); err != nil {
				return err
			}
			if err := applyFreshnessOptions(c, &opts); err != nil {
				return err
			}
			if d := c.String("dataset"); d != "" {
				if opts.Dataset, opts.Version, err = pipeline.ParseDatasetRef(d); err != nil {
					return err
				}
			}
			if c.NArg() == 2 {
				if opts.Data, err = verify.OpenData(c.Context, c.Args().First(), c.Args().Get(1), sourceOptions(c, source.Options{Readers: readers.All()})); err != nil {
					return err
				}
			}
			bar := newProgress(c, "verify "+filepath.Base(c.Args().First()))
			opts.Total, opts.Progress = bar.callbacks()
			rep, err := verify.Package(c.Context, c.Args().First(), opts)
			bar.finish()
			if err != nil {
				return err
			}
			var pub *publishedCheck
			if c.IsSet("log-url") && rep.TreeSize > 0 {
				if pub, err = checkPublished(c, vkey, rep.TreeSize, rep.RootHash); err != nil {
					return err
				}
			}
			if c.Bool("json") {
				if err := printJSON(struct {
					*verify.Report
					Published *publishedCheck `json:"published_log,omitempty"`
				}{rep, pub}); err != nil {
					return err
				}
			} else {
				if err := rep.WriteText(os.Stdout); err != nil {
					return err
				}
				printPublished(pub)
			}
			if !rep.OK {
				return fmt.Errorf("%s: %d bad rows, %d problems: %w", rep.Package, rep.BadRowCount, len(rep.Problems), errVerification)
			}
			if pub != nil && !pub.Consistent {
				return fmt.Errorf("%s: %s: %w", rep.Package, pub.Problem, errVerification)
			}
			return nil
		},
	}
}

func consistencyCommand() *cli.Command {
	return &cli.Command{
		Name:      "consistency",
		Usage:     "prove that the tree of checkpoint NEW extends the tree of checkpoint OLD",
		ArgsUsage: "OLD NEW",
		Flags:     []cli.Flag{optional(logFlag()), stateFlag(), optional(trialFlag()), jsonFlag(), logURLFlag(false), &cli.StringFlag{Name: "key", Usage: "with --log-url: the trial's verifier key file"}},
		Action: func(c *cli.Context) error {
			if c.IsSet("log-url") {
				return consistencyFromURL(c)
			}
			if !c.IsSet("log") || !c.IsSet("trial") {
				return usageErr("consistency needs --log and --trial, or --log-url and --key")
			}
			if c.NArg() != 2 {
				return usageErr("consistency takes two checkpoint files, OLD NEW")
			}
			t, err := openTrial(c, false)
			if err != nil {
				return err
			}
			defer t.Close()
			cps, err := readCheckpoints(c, t.VerifierKey)
			if err != nil {
				return err
			}
			old, cur := cps[0], cps[1]
			if old.Size > cur.Size {
				if c.Bool("json") {
					if err := printJSON(map[string]any{"old_size": old.Size, "new_size": cur.Size, "consistent": false, "rolled_back": true, "proof": []string{}}); err != nil {
						return err
					}
				}
				return fmt.Errorf("OLD has %d leaves, NEW only %d: the log was rolled back: %w", old.Size, cur.Size, errVerification)
			}
			var proof [][]byte
			if old.Size > 0 && old.Size < cur.Size {
				if proof, err = t.Log.ConsistencyProof(c.Context, old.Size, cur.Size); err != nil {
					return err
				}
			}
			return printConsistency(c, old, cur, proof, trillian.CheckExtends(old.Root, cur.Root, proof))
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
			wit, err := recordWitnesses(t, all)
			if err != nil {
				return err
			}
			interrupted, err := interruptedIngest(c, t)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				out := map[string]any{"trial": t.ID, "datasets": wit}
				if interrupted != nil {
					out["interrupted_ingest"] = interrupted
				}
				return printJSON(out)
			}
			for _, r := range wit {
				m := r.Manifest
				fmt.Printf("%s@%d\t%d rows\t%s, manifest at leaf %d\t%s\t%s%s\n", m.Dataset, m.Version, m.Rows, leafRange(m.FirstIndex, m.Rows), r.ManifestIndex, m.Source.Name, m.CreatedAt, r.witnessSummary())
			}
			if p := interrupted; p != nil {
				fmt.Printf("%s@%d\tINTERRUPTED ingest of %s: %d of %d rows logged; no other ingest can run until it is finished: rerun trialog ingest --dataset %s with that file\n",
					p.Dataset, p.Version, p.Source, p.LoggedRows, p.Rows, p.Dataset)
			}
			return nil
		},
	}
}
