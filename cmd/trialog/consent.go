package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/imports"
	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/consent/reporthtml"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/workspace"
)

// consentCommand is trialog consent: the consent registry, its audit
// against ingested data, and the IRB report (docs/consent.md).
func consentCommand() *cli.Command {
	return &cli.Command{
		Name:  "consent",
		Usage: "consent forms and participant consent on the log; audit data against it; IRB report",
		Subcommands: []*cli.Command{
			{
				Name:  "form",
				Usage: "consent form versions",
				Subcommands: []*cli.Command{
					consentFormAddCommand(),
				},
			},
			consentRecordCommand(),
			consentImportCommand(),
			consentHistoryCommand(),
			consentStatusCommand(),
			consentCheckCommand(),
			consentAuditCommand(),
			consentReportCommand(),
			consentVerifyCommand(),
			consentEraseCommand(),
		},
	}
}

// withRegistry opens the trial and its consent registry.
func withRegistry(c *cli.Context, writable bool, fn func(t *workspace.Trial, reg *registry.Registry) error) error {
	t, err := openTrial(c, writable)
	if err != nil {
		return err
	}
	defer t.Close()
	reg, err := registry.Open(c.Context, t, writable)
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := fn(t, reg); err != nil || !writable {
		return err
	}
	_, err = witnessAfterWrite(c, t)
	return err
}

func printRecords(c *cli.Context, t *workspace.Trial, recs []*consent.Record) error {
	if c.Bool("json") {
		return printJSON(withWitnesses(t, map[string]any{"records": recs}))
	}
	for _, r := range recs {
		if r.Form != nil {
			fmt.Printf("record %d (leaf %d): form %s effective %s, scopes %s\n", r.Seq, r.LeafIndex, r.Form.Ref(), r.Form.Effective, strings.Join(r.Form.Scopes, ","))
		} else {
			fmt.Printf("record %d (leaf %d): %s %s %s %s\n", r.Seq, r.LeafIndex, r.Event.Subject, r.Event.Type, r.Event.Form, r.Event.Time)
		}
	}
	return nil
}

func consentFormAddCommand() *cli.Command {
	return &cli.Command{
		Name:  "add",
		Usage: "register an IRB-approved consent form version (logged as a consent leaf)",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(),
			&cli.StringFlag{Name: "form", Usage: "FORMID@VERSION, e.g. MAIN-ICF@2.0", Required: true},
			&cli.StringFlag{Name: "irb-ref", Usage: "IRB approval reference", Required: true},
			&cli.StringFlag{Name: "irb-approved", Usage: "IRB approval date YYYY-MM-DD", Required: true},
			&cli.StringFlag{Name: "effective", Usage: "effective date YYYY-MM-DD", Required: true},
			&cli.StringFlag{Name: "supersedes", Usage: "the version of the same form this one replaces"},
			&cli.StringFlag{Name: "document", Usage: "the approved document (its SHA-256 is logged)"},
			&cli.StringFlag{Name: "sha256", Usage: "the approved document's SHA-256, instead of --document"},
			&cli.StringFlag{Name: "scopes", Usage: "comma-separated scopes it covers, e.g. main,samples,future-research", Required: true},
		},
		Action: func(c *cli.Context) error {
			id, version, err := consent.ParseRef(c.String("form"))
			if err != nil {
				return usageErr("--form: %v", err)
			}
			digest := strings.ToLower(c.String("sha256"))
			if doc := c.String("document"); doc != "" {
				if digest != "" {
					return usageErr("give --document or --sha256, not both")
				}
				if digest, err = durable.FileSHA256(c.Context, doc); err != nil {
					return err
				}
			}
			f := consent.Form{ID: id, Version: version, IRBRef: c.String("irb-ref"), IRBApproved: c.String("irb-approved"),
				Effective: c.String("effective"), Supersedes: c.String("supersedes"), DocumentSHA256: digest, Scopes: splitList(c.String("scopes"))}
			return withRegistry(c, true, func(t *workspace.Trial, reg *registry.Registry) error {
				rec, err := reg.AddForm(c.Context, f)
				if err != nil {
					return err
				}
				return printRecords(c, t, []*consent.Record{rec})
			})
		},
	}
}

func consentRecordCommand() *cli.Command {
	return &cli.Command{
		Name:  "record",
		Usage: "log one participant consent event",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(),
			&cli.StringFlag{Name: "subject", Usage: "subject ID (USUBJID)", Required: true},
			&cli.StringFlag{Name: "type", Usage: "consented, re-consented, declined, withdrawn or entered-in-error", Required: true},
			&cli.StringFlag{Name: "form", Usage: "FORMID@VERSION (required but for withdrawals)"},
			&cli.StringFlag{Name: "scopes", Usage: "comma-separated scopes (default: all of the form's, or all held for a withdrawal)"},
			&cli.StringFlag{Name: "time", Usage: "event time, ISO 8601 (an offset is converted to UTC)", Required: true},
			&cli.StringFlag{Name: "recorded-by", Usage: "who recorded it", Required: true},
			&cli.StringFlag{Name: "signed-ref", Usage: "reference or hash of the signed form"},
			&cli.Uint64Flag{Name: "corrects", Usage: "record number of the event this one corrects"},
		},
		Action: func(c *cli.Context) error {
			e := consent.Event{Subject: c.String("subject"), Type: consent.EventType(c.String("type")), Form: c.String("form"),
				Scopes: splitList(c.String("scopes")), Time: c.String("time"), RecordedBy: c.String("recorded-by"),
				SignedRef: c.String("signed-ref"), Corrects: c.Uint64("corrects")}
			return withRegistry(c, true, func(t *workspace.Trial, reg *registry.Registry) error {
				recs, err := reg.Append(c.Context, []*consent.Record{{Event: &e}})
				if err != nil {
					return err
				}
				return printRecords(c, t, recs)
			})
		},
	}
}

func consentImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "log consent events from FHIR Consent resources (R4/R5 Bundle or NDJSON) and/or SDTM DS/DM",
		ArgsUsage: "[FHIR-FILE...]",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(),
			&cli.StringFlag{Name: "recorded-by", Usage: "who records the imported events (default: the OS user)"},
			&cli.StringFlag{Name: "ds", Usage: "SDTM DS file: INFORMED CONSENT OBTAINED records"},
			&cli.StringFlag{Name: "dm", Usage: "SDTM DM file: RFICDTC for subjects DS does not cover"},
			&cli.StringFlag{Name: "form", Usage: "FORMID@VERSION the SDTM consents are under (SDTM does not say)"},
			&cli.StringFlag{Name: "ds-withdrawal", Usage: "comma-separated DSDECOD terms to log as full withdrawal (e.g. WITHDRAWAL BY SUBJECT)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 && c.String("ds") == "" && c.String("dm") == "" {
				return usageErr("import takes FHIR files and/or --ds/--dm")
			}
			if (c.String("ds") != "" || c.String("dm") != "") && c.String("form") == "" {
				return usageErr("--form FORMID@VERSION is required with --ds/--dm")
			}
			by := c.String("recorded-by")
			if by == "" {
				by = os.Getenv("USER")
			}
			if by == "" {
				by = "trialog-import"
			}
			return withRegistry(c, true, func(t *workspace.Trial, reg *registry.Registry) error {
				res, err := imports.Run(c.Context, reg, imports.Options{FHIR: c.Args().Slice(), DS: c.String("ds"), DM: c.String("dm"),
					Form: c.String("form"), WithdrawalDecods: splitList(c.String("ds-withdrawal")), RecordedBy: by})
				if err != nil {
					return err
				}
				recs, notes := res.Records, res.Notes
				if c.Bool("json") {
					return printJSON(withWitnesses(t, map[string]any{"logged": len(recs), "records": recs, "notes": notes, "sdtm": res.SDTM}))
				}
				fmt.Printf("%d consent events logged\n", len(recs))
				for _, n := range notes {
					fmt.Println("note:", n)
				}
				return nil
			})
		},
	}
}

func consentHistoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "every consent event of a subject, corrections included",
		ArgsUsage: "SUBJECT",
		Flags:     []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("history takes one SUBJECT")
			}
			subject := c.Args().First()
			return withRegistry(c, false, func(t *workspace.Trial, reg *registry.Registry) error {
				book, err := reg.Book()
				if err != nil {
					return err
				}
				h := book.History(subject)
				if len(h) == 0 {
					return usageErr("trial %s has no consent event for subject %s", t.ID, subject)
				}
				if c.Bool("json") {
					return printJSON(map[string]any{"subject": subject, "events": h, "granted": book.Granted(subject)})
				}
				for _, e := range h {
					corr := ""
					if e.CorrectedBy != 0 {
						corr = fmt.Sprintf(" [corrected by %d]", e.CorrectedBy)
					}
					if e.Event.Corrects != 0 {
						corr += fmt.Sprintf(" [corrects %d]", e.Event.Corrects)
					}
					scopes := "all"
					if len(e.Event.Scopes) > 0 {
						scopes = strings.Join(e.Event.Scopes, ",")
					}
					fmt.Printf("%d\t%s\t%s\t%s\tscopes %s\tby %s%s\n", e.Seq, e.Event.Time, e.Event.Type, e.Event.Form, scopes, e.Event.RecordedBy, corr)
				}
				return nil
			})
		},
	}
}

func consentStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "which consent form version and scopes each participant was under on a date",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(),
			&cli.StringFlag{Name: "at", Usage: "date, ISO 8601 (default: today)"},
			&cli.StringFlag{Name: "subject", Usage: "only this subject"},
		},
		Action: func(c *cli.Context) error {
			at := c.String("at")
			if at == "" {
				at = time.Now().UTC().Format("2006-01-02")
			}
			d, err := consent.ParseDate(at)
			if err != nil {
				return usageErr("--at: %v", err)
			}
			return withRegistry(c, false, func(t *workspace.Trial, reg *registry.Registry) error {
				book, err := reg.Book()
				if err != nil {
					return err
				}
				subjects := book.Subjects()
				if s := c.String("subject"); s != "" {
					subjects = []string{s}
				}
				type row struct {
					Subject   string               `json:"subject"`
					Scopes    []consent.ScopeState `json:"scopes"`
					Uncertain []uint64             `json:"uncertain_records,omitempty"`
				}
				var out []row
				for _, s := range subjects {
					st, unc := book.StatusAt(s, d)
					r := row{Subject: s, Scopes: []consent.ScopeState{}}
					for _, sc := range sortedKeys(st) {
						r.Scopes = append(r.Scopes, st[sc])
					}
					for _, u := range unc {
						r.Uncertain = append(r.Uncertain, u.Seq)
					}
					out = append(out, r)
				}
				if c.Bool("json") {
					return printJSON(map[string]any{"at": d.Text, "subjects": out})
				}
				for _, r := range out {
					var parts []string
					for _, s := range r.Scopes {
						parts = append(parts, fmt.Sprintf("%s=%s(%s since %s)", s.Scope, s.Status, s.Form, s.Since))
					}
					if len(parts) == 0 {
						parts = []string{"no consent"}
					}
					unc := ""
					if len(r.Uncertain) > 0 {
						unc = fmt.Sprintf("  [records %v have partial dates that may fall on either side of %s]", r.Uncertain, d.Text)
					}
					fmt.Printf("%s\t%s%s\n", r.Subject, strings.Join(parts, " "), unc)
				}
				return nil
			})
		},
	}
}

func sortedKeys(st consent.State) []string { return slices.Sorted(maps.Keys(st)) }

func consentCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "prove the local registry equals the logged consent records (detects local edits)",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			return withRegistry(c, false, func(t *workspace.Trial, reg *registry.Registry) error {
				rep, err := reg.Check(c.Context)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					if err := printJSON(rep); err != nil {
						return err
					}
				} else {
					status := "OK"
					if !rep.OK {
						status = "FAILED"
					}
					fmt.Printf("consent registry of trial %s: %d records (%d forms, %d events), %d consent leaves in the log, checkpoint size %d: %s\n",
						rep.Trial, rep.Records, rep.Forms, rep.Events, rep.ConsentLeaves, rep.TreeSize, status)
					for _, p := range rep.Problems {
						fmt.Println("  problem:", p)
					}
				}
				if !rep.OK {
					return fmt.Errorf("consent registry check: %d problems: %w", len(rep.Problems), errVerification)
				}
				return nil
			})
		},
	}
}

func auditFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dataset", Usage: "NAME[@VERSION] of the ingested dataset", Required: true},
		&cli.StringFlag{Name: "subject-column", Usage: "subject ID column", Value: "USUBJID"},
		&cli.StringFlag{Name: "date-column", Usage: "the rows' date column (e.g. AESTDTC)", Required: true},
		&cli.StringFlag{Name: "scope", Usage: "consent scope the data needs", Value: "main"},
		&cli.IntFlag{Name: "grace-days", Usage: "re-consent grace period after a new form version is effective", Value: 30},
		&cli.IntFlag{Name: "max-findings", Usage: "findings to list (0: all; all are counted)"},
		formatFlag(), nullFlag(),
	}
}

func consentAuditCommand() *cli.Command {
	return &cli.Command{
		Name:      "audit",
		Usage:     "join an ingested dataset's rows to the consent history and list rows without valid consent",
		ArgsUsage: "DATAFILE",
		Flags:     append([]cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(), &cli.StringFlag{Name: "out", Usage: "also write the audit JSON here (for consent report --audit)"}}, auditFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("audit takes exactly one DATAFILE (the file that was ingested)")
			}
			name, version, err := pipeline.ParseDatasetRef(c.String("dataset"))
			if err != nil {
				return err
			}
			return withRegistry(c, false, func(t *workspace.Trial, reg *registry.Registry) error {
				book, err := reg.Book()
				if err != nil {
					return err
				}
				rec, err := t.Version(name, version)
				if err != nil {
					return err
				}
				f, err := openSource(c.Context, c, c.Args().First(), disclosure.ReadOptions(&rec.Manifest))
				if err != nil {
					return err
				}
				res, err := registry.Audit(c.Context, t, book, f, consent.AuditOptions{Dataset: name, Version: rec.Manifest.Version,
					SubjectColumn: c.String("subject-column"), DateColumn: c.String("date-column"), Scope: c.String("scope"),
					GraceDays: c.Int("grace-days"), MaxFindings: c.Int("max-findings")})
				if err != nil {
					return err
				}
				if out := c.String("out"); out != "" {
					data, _ := json.MarshalIndent(res, "", "  ")
					// Subject IDs and dates: personal data, owner only.
					if err := durable.WriteFile(out, append(data, '\n'), 0o600); err != nil {
						return err
					}
				}
				if c.Bool("json") {
					return printJSON(res)
				}
				fmt.Printf("%s version %d: %d rows, %d with valid %q consent, %d with partial dates; %d of %d subjects with findings\n",
					res.Dataset, res.Version, res.Rows, res.Compliant, res.Scope, res.PartialDates, res.Flagged, res.Subjects)
				for _, k := range consent.FindingKinds {
					fmt.Printf("  %-17s %d\n", k, res.Counts[k])
				}
				for _, fd := range res.Findings {
					fmt.Printf("  row %d\t%s\t%s\t%s\t%s\n", fd.Row, fd.Subject, fd.Date, fd.Kind, fd.Detail)
				}
				fmt.Printf("%d disclosure findings\n", len(res.Disclosures))
				for _, fd := range res.Disclosures {
					fmt.Printf("  disclosure leaf %d\t%s\t%s\t%s\n", fd.LeafIndex, fd.Subject, fd.Kind, fd.Detail)
				}
				return nil
			})
		},
	}
}

func consentReportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "write the IRB report: timelines, audit findings, inclusion proofs, signed checkpoint",
		Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(),
			&cli.StringFlag{Name: "html", Usage: "self-contained HTML report to write (mode 0600: it names participants)"},
			&cli.StringFlag{Name: "out", Usage: "JSON report to write, what consent verify checks (mode 0600: it names participants)"},
			jsonFlag(),
			&cli.StringSliceFlag{Name: "audit", Usage: "audit JSON from consent audit --out (repeatable)"},
			&cli.IntFlag{Name: "html-findings", Usage: "findings listed per audit in the HTML (the JSON has all)", Value: 500},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("report takes no arguments (the JSON report goes to --out FILE, or to stdout with --json)")
			}
			if c.String("html") == "" && c.String("out") == "" && !c.Bool("json") {
				return usageErr("report needs --out FILE (JSON), --html FILE and/or --json (JSON on stdout)")
			}
			var audits []*consent.AuditResult
			for _, path := range c.StringSlice("audit") {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				var a consent.AuditResult
				if err := json.Unmarshal(data, &a); err != nil || a.Format != consent.AuditFormat {
					return usageErr("%s: not a consent audit (trialog consent audit --out)", path)
				}
				audits = append(audits, &a)
			}
			return withRegistry(c, false, func(t *workspace.Trial, reg *registry.Registry) error {
				for _, a := range audits {
					if a.Trial != t.ID {
						return usageErr("audit of %s is for trial %s, not %s", a.Dataset, a.Trial, t.ID)
					}
				}
				rep, err := registry.MakeReport(c.Context, t, reg, audits, time.Now())
				if err != nil {
					return err
				}
				// Subject IDs, dates and salts: personal data, owner only.
				if p := c.String("out"); p != "" {
					data, _ := json.MarshalIndent(rep, "", "  ")
					if err := durable.WriteFile(p, append(data, '\n'), 0o600); err != nil {
						return err
					}
				}
				if p := c.String("html"); p != "" {
					var sb strings.Builder
					if err := reporthtml.WriteHTML(&sb, rep, c.Int("html-findings")); err != nil {
						return err
					}
					if err := durable.WriteFile(p, []byte(sb.String()), 0o600); err != nil {
						return err
					}
				}
				if c.Bool("json") {
					return printJSON(rep)
				}
				fmt.Printf("consent report of trial %s: %d forms, %d participants, %d audits, %d disclosures (%d findings), against tree size %d\n",
					t.ID, len(rep.Forms), len(rep.Participants), len(rep.Audits), len(rep.Disclosures), len(rep.DisclosureFindings), rep.TreeSize)
				return nil
			})
		},
	}
}

func consentVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "re-verify every proof of a consent report offline",
		ArgsUsage: "REPORT.json",
		Flags: append([]cli.Flag{jsonFlag(),
			&cli.StringFlag{Name: "key", Usage: "the trial's verifier key file (checkpoint.vkey)", Required: true},
			logURLFlag(false),
		}, verifyWitnessFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("verify takes one REPORT.json")
			}
			vkey, err := readVerifierKey(c.String("key"))
			if err != nil {
				return err
			}
			fh, err := os.Open(c.Args().First())
			if err != nil {
				return err
			}
			defer fh.Close()
			res, err := consent.Verify(fh, vkey)
			if err != nil {
				return err
			}
			wrep, err := checkConsentWitnesses(c, c.Args().First(), strings.TrimSpace(string(vkey)), res)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := printJSON(res); err != nil {
					return err
				}
			} else {
				fmt.Println(res.Summary(c.Args().First()))
				if wrep.quorum != nil {
					fmt.Printf("  witnesses: %s\n", wrep.quorum)
					for _, v := range wrep.quorum.Valid {
						fmt.Printf("    cosigned by %s at %s\n", v.Witness, v.Time.Format(time.RFC3339))
					}
				}
				if wrep.decision != nil {
					fmt.Printf("  trust: %s (remembered tree size %d)\n", wrep.decision.Outcome, wrep.decision.StoredSize)
				}
				for _, p := range res.Problems {
					fmt.Println("  problem:", p)
				}
				if wrep.fork != nil {
					fmt.Print(indentLines(wrep.fork.Evidence(), "  "))
				}
			}
			if !res.OK {
				return fmt.Errorf("%s: %d records failed, %d problems: %w", c.Args().First(), res.Failed, len(res.Problems), errVerification)
			}
			return nil
		},
	}
}
