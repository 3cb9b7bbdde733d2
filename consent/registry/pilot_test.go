package registry_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/consent/sdtm"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/shareddata"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/workspace"
)

// pilotFile is a CSV domain of the real CDISC pilot study.
func pilotFile(t *testing.T, name string) string {
	t.Helper()
	return shareddata.Path(t, filepath.Join("cdiscpilot01", "csv", name))
}

type pilotAudit struct {
	dataset, dateCol, file string
}

var pilotAudits = []pilotAudit{{"AE", "AESTDTC", "ae.csv"}, {"CM", "CMSTDTC", "cm.csv"}, {"SV", "SVSTDTC", "sv.csv"}}

func pilotTrial(t *testing.T) (*workspace.Trial, *registry.Registry) {
	t.Helper()
	ctx := context.Background()
	tr, err := workspace.Init(ctx, t.TempDir(), "CDISCPILOT01", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := openRegistry(t, tr)
	t.Cleanup(func() { reg.Close(); tr.Close() })
	// The pilot data does not say which form its subjects signed; the
	// test registers one so SDTM consents have a version to be under.
	if _, err := reg.AddForm(ctx, consent.Form{ID: "PILOT-ICF", Version: "1", IRBRef: "PILOT-IRB", IRBApproved: "2012-01-01",
		Effective: "2012-01-01", DocumentSHA256: strings.Repeat("ab", 32), Scopes: []string{"main"}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range pilotAudits {
		f, err := readers.Open(ctx, pilotFile(t, a.file), source.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipeline.Ingest(ctx, tr, f, pipeline.IngestOptions{Dataset: a.dataset, Operator: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return tr, reg
}

func importSDTM(t *testing.T, reg *registry.Registry, ds, dm string, withdrawals []string) *sdtm.Result {
	t.Helper()
	ctx := context.Background()
	book, err := reg.Book()
	if err != nil {
		t.Fatal(err)
	}
	res, err := sdtm.Import(ctx, book.Scratch(), ds, dm, sdtm.Options{Form: "PILOT-ICF@1", RecordedBy: "test", WithdrawalDecods: withdrawals})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*consent.Record, len(res.Events))
	for i, e := range res.Events {
		recs[i] = &consent.Record{Event: e}
	}
	if _, err := reg.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return res
}

func auditPilot(t *testing.T, tr *workspace.Trial, reg *registry.Registry) map[string]*consent.AuditResult {
	t.Helper()
	ctx := context.Background()
	book, err := reg.Book()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*consent.AuditResult{}
	for _, a := range pilotAudits {
		rec, err := tr.Version(a.dataset, 0)
		if err != nil {
			t.Fatal(err)
		}
		f, err := readers.Open(ctx, pilotFile(t, a.file), source.Options{TypeHints: disclosure.SchemaHints(&rec.Manifest)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := registry.Audit(ctx, tr, book, f, consent.AuditOptions{Dataset: a.dataset, SubjectColumn: "USUBJID", DateColumn: a.dateCol, GraceDays: 30})
		if err != nil {
			t.Fatal(err)
		}
		out[a.dataset] = res
	}
	return out
}

type auditWant struct {
	rows, compliant, partial uint64
	subjects, flagged        int
	counts                   map[string]uint64
}

func checkAudit(t *testing.T, name string, got *consent.AuditResult, want auditWant) {
	t.Helper()
	if got.Rows != want.rows || got.Compliant != want.compliant || got.PartialDates != want.partial || got.Subjects != want.subjects || got.Flagged != want.flagged {
		t.Errorf("%s: rows %d compliant %d partial %d subjects %d flagged %d; want %+v", name, got.Rows, got.Compliant, got.PartialDates, got.Subjects, got.Flagged, want)
	}
	for _, k := range consent.FindingKinds {
		if got.Counts[k] != want.counts[k] {
			t.Errorf("%s: %d %s, want %d", name, got.Counts[k], k, want.counts[k])
		}
	}
}

// TestPilotAsIs imports consent from the real pilot DS and DM and audits
// AE, CM and SV against it. What the data shows: no DS record (850 in the
// CSV re-release) is INFORMED CONSENT OBTAINED, and DM.RFICDTC is missing
// for all 306 subjects, so the pilot carries no consent date at all and
// every AE, CM and SV row is from a subject without recorded consent.
func TestPilotAsIs(t *testing.T) {
	tr, reg := pilotTrial(t)
	res := importSDTM(t, reg, pilotFile(t, "ds.csv"), pilotFile(t, "dm.csv"), nil)
	if len(res.Events) != 0 || res.DSRows != 850 || res.DSConsents != 0 || res.DMSubjects != 306 || res.DMMissingRFIC != 306 {
		t.Errorf("pilot import: %d events, DS %d rows %d consents, DM %d subjects %d without RFICDTC",
			len(res.Events), res.DSRows, res.DSConsents, res.DMSubjects, res.DMMissingRFIC)
	}
	audits := auditPilot(t, tr, reg)
	checkAudit(t, "AE", audits["AE"], auditWant{1191, 0, 26, 225, 225, map[string]uint64{consent.NoConsent: 1191}})
	checkAudit(t, "CM", audits["CM"], auditWant{7510, 0, 5454, 229, 229, map[string]uint64{consent.NoConsent: 7510}})
	checkAudit(t, "SV", audits["SV"], auditWant{3559, 0, 0, 306, 306, map[string]uint64{consent.NoConsent: 3559}})
}

// TestPilotScreeningConsent is a what-if on the real rows, not a fact of
// the data: it writes a DS file with an INFORMED CONSENT OBTAINED record
// per subject dated DM.DMDTC (the demographics collection date, at
// screening) plus the real DS records, imports it through the SDTM path
// with WITHDRAWAL BY SUBJECT logged as withdrawal, and audits the real AE,
// CM and SV rows. It shows what the audit finds when consent is at
// screening: CM start dates before it are prior medications (5931 rows),
// 163 partial CM dates in the screening month are undetermined, 12 SV
// visits predate the demographics date, and 3 SV and 2 CM rows fall after
// a subject's withdrawal.
func TestPilotScreeningConsent(t *testing.T) {
	tr, reg := pilotTrial(t)
	ds := filepath.Join(t.TempDir(), "ds-screening-consent.csv")
	writeScreeningDS(t, ds)
	res := importSDTM(t, reg, ds, "", []string{"WITHDRAWAL BY SUBJECT"})
	if res.DSConsents != 306 || res.DSWithdrawals != 27 || len(res.Events) != 333 {
		t.Errorf("import: %d consents, %d withdrawals, %d events", res.DSConsents, res.DSWithdrawals, len(res.Events))
	}
	// Importing it again adds nothing.
	if again := importSDTM(t, reg, ds, "", []string{"WITHDRAWAL BY SUBJECT"}); len(again.Events) != 0 || again.AlreadyImported != 333 {
		t.Errorf("re-import: %d events, %d already imported", len(again.Events), again.AlreadyImported)
	}
	audits := auditPilot(t, tr, reg)
	checkAudit(t, "AE", audits["AE"], auditWant{1191, 1163, 26, 225, 20, map[string]uint64{consent.BeforeConsent: 28}})
	checkAudit(t, "CM", audits["CM"], auditWant{7510, 1393, 5454, 229, 202, map[string]uint64{
		consent.BeforeConsent: 5931, consent.Undetermined: 163, consent.Undated: 21, consent.AfterWithdrawal: 2}})
	checkAudit(t, "SV", audits["SV"], auditWant{3559, 3544, 0, 306, 13, map[string]uint64{consent.BeforeConsent: 12, consent.AfterWithdrawal: 3}})

	rep, err := reg.Check(context.Background())
	if err != nil || !rep.OK || rep.Events != 333 {
		t.Errorf("check: %+v, %v", rep, err)
	}
}

func writeScreeningDS(t *testing.T, path string) {
	t.Helper()
	read := func(name string) []map[string]string {
		fh, err := os.Open(pilotFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		all, err := csv.NewReader(fh).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]string
		for _, rec := range all[1:] {
			m := map[string]string{}
			for i, h := range all[0] {
				m[h] = rec[i]
			}
			out = append(out, m)
		}
		return out
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := csv.NewWriter(fh)
	w.Write([]string{"USUBJID", "DSSEQ", "DSDECOD", "DSSTDTC"})
	for _, r := range read("dm.csv") {
		w.Write([]string{r["USUBJID"], "0", sdtm.ConsentDecod, r["DMDTC"]})
	}
	for _, r := range read("ds.csv") {
		date := r["DSSTDTC"]
		if date == "NA" {
			date = ""
		}
		w.Write([]string{r["USUBJID"], r["DSSEQ"], r["DSDECOD"], date})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
}

// TestSDTMBadInput: a consent record with a bad date or subject is one
// error naming the file, row and column.
func TestSDTMBadInput(t *testing.T) {
	_, reg := pilotTrial(t)
	dir := t.TempDir()
	for name, c := range map[string]struct{ csv, want string }{
		"bad date":    {`"01-701-1015",1,"INFORMED CONSENT OBTAINED","2013-12-32"` + "\n", `ds.csv row 0 column DSSTDTC: no such day in that month`},
		"no date":     {`"01-701-1015",1,"INFORMED CONSENT OBTAINED",NA` + "\n", `ds.csv row 0 column DSSTDTC: date is missing`},
		"bad subject": {`"01 701 1015",1,"INFORMED CONSENT OBTAINED","2013-12-01"` + "\n", `ds.csv row 0 column USUBJID: subject ID: want letters`},
	} {
		path := filepath.Join(dir, "ds.csv")
		os.WriteFile(path, []byte(`"USUBJID","DSSEQ","DSDECOD","DSSTDTC"`+"\n"+c.csv), 0o644)
		book, _ := reg.Book()
		_, err := sdtm.Import(context.Background(), book, path, "", sdtm.Options{Form: "PILOT-ICF@1", RecordedBy: "t"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
