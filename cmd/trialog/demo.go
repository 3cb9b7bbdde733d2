package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// demoCommand runs the main job end to end on the bundled CDISC pilot
// extract: init, ingest, prove one subject with BRTHDTC redacted, verify
// offline, then show that an edited copy is caught.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "ingest the bundled CDISC pilot data into an embedded log, prove a subject's rows and verify them",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "folder with the pilot CSVs", Value: filepath.Join("testdata", "cdiscpilot01")},
			&cli.StringFlag{Name: "dir", Usage: "where to create the log (default: a new temporary folder)"},
			&cli.StringFlag{Name: "subject", Usage: "USUBJID to disclose", Value: "01-701-1015"},
		},
		Action: func(c *cli.Context) error {
			ctx := c.Context
			dir := c.String("dir")
			if dir == "" {
				var err error
				if dir, err = os.MkdirTemp("", "trialog-demo-"); err != nil {
					return err
				}
			}
			const trial = "CDISCPILOT01"
			fmt.Printf("== init: trial %s in %s (embedded log)\n", trial, dir)
			t, err := workspace.Init(ctx, dir, trial, workspace.Options{})
			if err != nil {
				return err
			}
			defer t.Close()
			vkey := workspace.VerifierKeyPath(dir, trial)
			type ds struct{ name, file string }
			sets := []ds{{"DM", "dm.csv"}, {"AE", "ae.csv"}}
			for _, d := range sets {
				f, err := readers.Open(ctx, filepath.Join(c.String("data"), d.file), source.Options{})
				if err != nil {
					return err
				}
				res, err := pipeline.Ingest(ctx, t, f, pipeline.IngestOptions{Dataset: d.name, Operator: "demo"})
				if err != nil {
					return err
				}
				m := res.Record.Manifest
				fmt.Printf("== ingest %s: %d rows → leaves %d–%d, manifest at %d, tree size %d\n", d.name, m.Rows, m.FirstIndex, m.FirstIndex+m.Rows-1, res.Record.ManifestIndex, res.Root.Size)
			}
			subject := c.String("subject")
			if err := demoConsent(ctx, t, subject); err != nil {
				return err
			}
			for _, d := range sets {
				f, err := readers.Open(ctx, filepath.Join(c.String("data"), d.file), source.Options{})
				if err != nil {
					return err
				}
				out := filepath.Join(dir, strings.ToLower(d.name)+"-"+subject+".arrow")
				var redact []string
				if d.name == "DM" {
					redact = []string{"BRTHDTC"}
				}
				rule, err := demoRule(ctx, t, "main")
				if err != nil {
					return err
				}
				// The withdrawn participant is asked for too: consent keeps
				// their rows out of the package.
				res, err := pipeline.Prove(ctx, t, f, out, pipeline.ProveOptions{Dataset: d.name, Redact: redact, Consent: rule, Purpose: "main", Recipient: "demo sponsor",
					Where: []pipeline.Condition{{Column: "USUBJID", Value: subject}, {Column: "USUBJID", Value: demoWithdrawn}}})
				if err != nil {
					return err
				}
				fmt.Printf("== prove %s USUBJID=%s,%s purpose=main redact=%v: %d rows → %s\n", d.name, subject, demoWithdrawn, redact, res.Rows, out)
				printWithheld(res)
				key, err := os.ReadFile(vkey)
				if err != nil {
					return err
				}
				rep, err := verify.Package(ctx, out, verify.Options{VerifierKey: strings.TrimSpace(string(key))})
				if err != nil {
					return err
				}
				fmt.Printf("== verify (offline, key %s):\n", vkey)
				rep.WriteText(os.Stdout)
				if !rep.OK {
					return fmt.Errorf("demo package did not verify: %w", errVerification)
				}
			}
			// A sponsor's copy of DM with one edited cell, checked against a
			// detached package: the report names the row and the column.
			dmPath := filepath.Join(c.String("data"), "dm.csv")
			raw, err := os.ReadFile(dmPath)
			if err != nil {
				return err
			}
			edited := filepath.Join(dir, "dm-sponsor-copy.csv")
			if err := os.WriteFile(edited, []byte(strings.Replace(string(raw), `"01-701-1023","1023","2012-08-05"`, `"01-701-1023","1023","2012-08-06"`, 1)), 0o644); err != nil {
				return err
			}
			f, err := readers.Open(ctx, dmPath, source.Options{})
			if err != nil {
				return err
			}
			proof := filepath.Join(dir, "dm.proof.arrow")
			// The sponsor already holds DM: a detached package proves their
			// copy, so consent is not what decides (logged as not checked).
			if _, err := pipeline.Prove(ctx, t, f, proof, pipeline.ProveOptions{Dataset: "DM", Detached: true, Purpose: "main", Recipient: "demo sponsor"}); err != nil {
				return err
			}
			rec, err := t.Version("DM", 0)
			if err != nil {
				return err
			}
			copyFile, err := readers.Open(ctx, edited, disclosure.ReadOptions(&rec.Manifest))
			if err != nil {
				return err
			}
			key, err := os.ReadFile(vkey)
			if err != nil {
				return err
			}
			rep, err := verify.Package(ctx, proof, verify.Options{VerifierKey: strings.TrimSpace(string(key)), Data: copyFile})
			if err != nil {
				return err
			}
			st, err := os.Stat(proof)
			if err != nil {
				return err
			}
			fmt.Printf("== verify a sponsor's copy of DM with one edited date against a whole-dataset package (%d bytes: the salt key and a tag per row; expected to fail):\n", st.Size())
			rep.WriteText(os.Stdout)
			if rep.OK || rep.BadRowCount != 1 {
				return fmt.Errorf("demo: the edited copy was not caught")
			}
			// The whole-dataset package names the row; a follow-up package
			// of that row carries its commitments and names the column.
			bad := rep.BadRows[0].Row
			followUp := filepath.Join(dir, fmt.Sprintf("dm-row-%d.proof.arrow", bad))
			if _, err := pipeline.Prove(ctx, t, f, followUp, pipeline.ProveOptions{Dataset: "DM", Detached: true, Rows: [][2]uint64{{bad, bad + 1}}, Purpose: "main", Recipient: "demo sponsor"}); err != nil {
				return err
			}
			if rep, err = verify.Package(ctx, followUp, verify.Options{VerifierKey: strings.TrimSpace(string(key)), Data: copyFile}); err != nil {
				return err
			}
			fmt.Printf("== the follow-up package of row %d names the column (expected to fail):\n", bad)
			rep.WriteText(os.Stdout)
			if rep.OK || rep.BadRowCount != 1 || len(rep.BadRows[0].Columns) == 0 {
				return fmt.Errorf("demo: the follow-up package did not name the column")
			}
			recs, err := t.Disclosures()
			if err != nil {
				return err
			}
			fmt.Printf("== disclosure log: %d packages issued, each logged before it was delivered (trialog disclosures --log %s --trial %s)\n", len(recs), dir, trial)
			fmt.Printf("\nTry it yourself:\n  go run ./cmd/trialog verify --key %s %s\n  go run ./cmd/trialog verify --key %s %s %s\n  go run ./cmd/trialog verify --key %s %s %s\n",
				vkey, filepath.Join(dir, "dm-"+subject+".arrow"), vkey, proof, edited, vkey, followUp, edited)
			return nil
		},
	}
}

// demoWithdrawn is a pilot participant the demo records as withdrawn.
const demoWithdrawn = "01-701-1028"

// demoConsent registers an illustrative consent form and records that the
// demo subject consented to its main scope and demoWithdrawn consented
// and later withdrew (the pilot data carries no consent records).
func demoConsent(ctx context.Context, t *workspace.Trial, subject string) error {
	reg, err := registry.Open(ctx, t, true)
	if err != nil {
		return err
	}
	defer reg.Close()
	form := consent.Form{ID: "DEMO-ICF", Version: "1.0", IRBRef: "DEMO-IRB-1", IRBApproved: "2012-06-01", Effective: "2012-07-01",
		DocumentSHA256: strings.Repeat("0", 64), Scopes: []string{"main", "future-research"}}
	if _, err := reg.AddForm(ctx, form); err != nil {
		return err
	}
	event := func(s string, typ consent.EventType, at string, scopes ...string) *consent.Record {
		return &consent.Record{Event: &consent.Event{Subject: s, Form: form.Ref(), Type: typ, Time: at, Scopes: scopes, RecordedBy: "demo"}}
	}
	recs := []*consent.Record{
		event(subject, consent.Consented, "2012-07-02", "main"),
		event(demoWithdrawn, consent.Consented, "2012-07-03"),
		event(demoWithdrawn, consent.Withdrawn, "2013-01-10"),
	}
	if _, err := reg.Append(ctx, recs); err != nil {
		return err
	}
	fmt.Printf("== consent: form %s (scopes main, future-research); %s consented to main; %s consented, then withdrew (illustrative, not pilot facts)\n", form.Ref(), subject, demoWithdrawn)
	return nil
}

// demoRule is the consent rule of a disclosure for purpose, now.
func demoRule(ctx context.Context, t *workspace.Trial, purpose string) (func(string) string, error) {
	reg, err := registry.Open(ctx, t, false)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	book, err := reg.Book()
	if err != nil {
		return nil, err
	}
	return book.DisclosureRule(purpose, time.Now())
}
