package registry_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/fhir"
	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/workspace"
)

const fixtures = "../../testdata/consent"

// fixture is a trial with the two MAIN-ICF versions, the hand-made AE
// dataset and the FHIR R4 and R5 fixtures imported (docs/consent.md,
// "Test scenario").
type fixture struct {
	dir string
	t   *workspace.Trial
	reg *registry.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tr, err := workspace.Init(ctx, dir, "TEST01", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{dir: dir, t: tr}
	fx.reg = openRegistry(t, tr)
	t.Cleanup(func() { fx.reg.Close(); fx.t.Close() })
	for _, f := range []consent.Form{
		{ID: "MAIN-ICF", Version: "1.0", IRBRef: "IRB-2013-101", IRBApproved: "2013-12-15", Effective: "2014-01-01",
			DocumentSHA256: strings.Repeat("1a", 32), Scopes: []string{"main", "samples", "future-research"}},
		{ID: "MAIN-ICF", Version: "2.0", Supersedes: "1.0", IRBRef: "IRB-2014-033", IRBApproved: "2014-05-20", Effective: "2014-06-01",
			DocumentSHA256: strings.Repeat("2b", 32), Scopes: []string{"main", "samples", "future-research"}},
	} {
		if _, err := fx.reg.AddForm(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	src, err := readers.Open(ctx, filepath.Join(fixtures, "ae.csv"), source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Ingest(ctx, tr, src, pipeline.IngestOptions{Dataset: "AE", Operator: "test"}); err != nil {
		t.Fatal(err)
	}
	fx.importFHIR(t, "r4-bundle.json", "r5.ndjson")
	return fx
}

func openRegistry(t *testing.T, tr *workspace.Trial) *registry.Registry {
	t.Helper()
	reg, err := registry.Open(context.Background(), tr, true)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func (fx *fixture) importFHIR(t *testing.T, names ...string) ([]*consent.Record, []string) {
	t.Helper()
	recs, skipped, err := fx.tryImport(names...)
	if err != nil {
		t.Fatal(err)
	}
	return recs, skipped
}

func (fx *fixture) tryImport(names ...string) ([]*consent.Record, []string, error) {
	book, err := fx.reg.Book()
	if err != nil {
		return nil, nil, err
	}
	book = book.Scratch()
	var recs []*consent.Record
	var skipped []string
	for _, n := range names {
		path := filepath.Join(fixtures, n)
		fh, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		raw, err := fhir.Parse(n, fh)
		fh.Close()
		if err != nil {
			return nil, nil, err
		}
		res, err := fhir.Import(book, n, raw, fhir.Options{RecordedBy: "site-coordinator"})
		if err != nil {
			return nil, nil, err
		}
		for _, e := range res.Events {
			recs = append(recs, &consent.Record{Event: e})
		}
		skipped = append(skipped, res.Skipped...)
	}
	recs, err = fx.reg.Append(context.Background(), recs)
	return recs, skipped, err
}

func (fx *fixture) book(t *testing.T) *consent.Book {
	t.Helper()
	b, err := fx.reg.Book()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (fx *fixture) audit(t *testing.T, scope string) *consent.AuditResult {
	t.Helper()
	ctx := context.Background()
	f, err := readers.Open(ctx, filepath.Join(fixtures, "ae.csv"), source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := registry.Audit(ctx, fx.t, fx.book(t), f, consent.AuditOptions{Dataset: "AE", SubjectColumn: "USUBJID", DateColumn: "AESTDTC", Scope: scope, GraceDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func byRow(res *consent.AuditResult) map[uint64]consent.Finding {
	out := map[uint64]consent.Finding{}
	for _, f := range res.Findings {
		out[f.Row] = f
	}
	return out
}

// TestFHIRImport checks how the R4 Bundle and R5 NDJSON fixtures map to
// events: offsets to UTC, a nested deny carving out a scope, a deny of one
// held scope as a withdrawal of that scope only, inactive as a full
// withdrawal, a new version of a resource as a correction, a consent to a
// new form version as a re-consent.
func TestFHIRImport(t *testing.T) {
	fx := newFixture(t)
	b := fx.book(t)
	type want struct {
		typ      consent.EventType
		form     string
		time     string
		scopes   string
		corrects bool
	}
	check := func(subject string, wants ...want) {
		t.Helper()
		h := b.History(subject)
		if len(h) != len(wants) {
			t.Fatalf("%s: %d events, want %d: %+v", subject, len(h), len(wants), h)
		}
		for i, w := range wants {
			e := h[i].Event
			if e.Type != w.typ || e.Form != w.form || e.Time != w.time || strings.Join(e.Scopes, ",") != w.scopes || (e.Corrects != 0) != w.corrects {
				t.Errorf("%s event %d: %+v, want %+v", subject, i, *e, w)
			}
		}
	}
	check("S-001", want{consent.Consented, "MAIN-ICF@1.0", "2014-01-10T08:30:00Z", "", false},
		want{consent.Reconsented, "MAIN-ICF@2.0", "2014-06-20", "", false})
	check("S-003", want{consent.Consented, "MAIN-ICF@1.0", "2014-01-05", "", false},
		want{consent.Withdrawn, "MAIN-ICF@1.0", "2014-03-01", "samples", false},
		want{consent.Withdrawn, "MAIN-ICF@1.0", "2014-05-01", "", false})
	check("S-004", want{consent.Declined, "MAIN-ICF@1.0", "2014-02-03", "", false})
	check("S-006", want{consent.Consented, "MAIN-ICF@1.0", "2014-01-20", "main,samples", false})
	check("S-007", want{consent.Consented, "MAIN-ICF@1.0", "2014-03-10", "", false},
		want{consent.Consented, "MAIN-ICF@1.0", "2014-02-10", "", true})
	if h := b.History("S-007"); h[0].CorrectedBy != h[1].Seq {
		t.Errorf("S-007's first event is not marked corrected by the second: %+v", h)
	}
	if got := b.History("S-001")[1].Event.SignedRef; got != "DocumentReference/icf-S-001-v2" {
		t.Errorf("S-001 re-consent signed ref %q", got)
	}
	// Status on a date: S-003 holds main but not samples in April, nothing in June.
	d, _ := consent.ParseDate("2014-04-01")
	st, _ := b.StatusAt("S-003", d)
	if st["main"].Status != "consented" || st["samples"].Status != "withdrawn" {
		t.Errorf("S-003 on 2014-04-01: %+v", st)
	}
	d, _ = consent.ParseDate("2014-07-01")
	if st, _ := b.StatusAt("S-001", d); st["main"].Form != "MAIN-ICF@2.0" {
		t.Errorf("S-001 on 2014-07-01 is under %q, want MAIN-ICF@2.0", st["main"].Form)
	}

	// Importing the same files again logs nothing.
	recs, skipped := fx.importFHIR(t, "r4-bundle.json", "r5.ndjson")
	if len(recs) != 0 || len(skipped) != 10 {
		t.Errorf("re-import logged %d records, skipped %d, want 0 and 10", len(recs), len(skipped))
	}
}

// TestAuditFindings covers every finding kind on the hand-made AE rows.
func TestAuditFindings(t *testing.T) {
	fx := newFixture(t)
	res := fx.audit(t, "main")
	if res.Rows != 15 || res.Compliant != 7 || res.PartialDates != 2 {
		t.Errorf("rows %d, compliant %d, partial %d; want 15, 7, 2", res.Rows, res.Compliant, res.PartialDates)
	}
	got := byRow(res)
	for row, kind := range map[uint64]string{
		3:  consent.BeforeConsent,   // S-002 2014-01-20, consent 2014-02-01
		5:  consent.SupersededForm,  // S-002 2014-07-15 under 1.0, 2.0 effective 2014-06-01 + 30 days
		6:  consent.Undetermined,    // S-002 "2014-02", consent 2014-02-01
		9:  consent.AfterWithdrawal, // S-003 2014-05-10, full withdrawal 2014-05-01
		10: consent.NoConsent,       // S-004 declined
		11: consent.NoConsent,       // S-005 no event
		12: consent.Undated,         // S-006 NA
		13: consent.BadDate,         // S-006 2014-13-01
	} {
		if got[row].Kind != kind {
			t.Errorf("row %d: %q (%s), want %s", row, got[row].Kind, got[row].Detail, kind)
		}
	}
	// Compliant: S-001 throughout (re-consented to 2.0 within the grace
	// period), S-002 "2014-03" (partial, but after consent whatever the
	// day), S-003 in April (only samples withdrawn), S-006 main, S-007
	// 2014-02-20 thanks to the correction of its consent date.
	for _, row := range []uint64{0, 1, 2, 4, 7, 8, 14} {
		if f, ok := got[row]; ok {
			t.Errorf("row %d: unexpected finding %s (%s)", row, f.Kind, f.Detail)
		}
	}
	if f := got[6]; !f.Partial || strings.Join(f.Possible, ",") != "before-consent,ok" {
		t.Errorf("partial row 6: %+v", f)
	}
	if res.Subjects != 7 || res.Flagged != 5 {
		t.Errorf("subjects %d flagged %d, want 7 and 5", res.Subjects, res.Flagged)
	}

	// Scope "samples": S-003 withdrew it alone on 2014-03-01.
	samples := byRow(fx.audit(t, "samples"))
	if samples[8].Kind != consent.AfterWithdrawal || samples[9].Kind != consent.AfterWithdrawal {
		t.Errorf("samples scope, S-003 rows: %+v / %+v", samples[8], samples[9])
	}
	// Scope "future-research": S-006 declined it inside its consent.
	if fr := byRow(fx.audit(t, "future-research")); fr[12].Kind != consent.NoConsent {
		t.Errorf("future-research scope, S-006: %+v", fr[12])
	}
}

// TestGracePeriod moves the re-consent deadline.
func TestGracePeriod(t *testing.T) {
	fx := newFixture(t)
	b := fx.book(t)
	for grace, want := range map[int]string{30: consent.SupersededForm, 60: "ok"} {
		if got := b.Classify("S-002", "main", "2014-07-15", grace).Kind; got != want {
			t.Errorf("grace %d: %s, want %s", grace, got, want)
		}
	}
	// The day of the deadline itself is still inside it.
	if got := b.Classify("S-002", "main", "2014-07-01", 30).Kind; got != "ok" {
		t.Errorf("deadline day: %s", got)
	}
}

// TestBadInput: malformed FHIR, an unknown subject format and a bad date
// are one error naming the file, record and field; nothing is logged.
func TestBadInput(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	before, _ := fx.t.Log.LatestRoot(ctx)
	for name, want := range map[string]string{
		"bad/malformed.json":       "bad/malformed.json: line 1 is not JSON",
		"bad/unknown-subject.json": `bad/unknown-subject.json: Consent/u1: patient: subject reference is not Patient/ID`,
		"bad/bad-date.ndjson":      `bad/bad-date.ndjson: Consent/d1: date: no such day in that month`,
	} {
		// r5.ndjson first: a bad file later in the batch must not let the
		// good one through either.
		_, _, err := fx.tryImport("r4-bundle.json", name)
		if err == nil || !errors.Is(err, consent.ErrInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
	after, _ := fx.t.Log.LatestRoot(ctx)
	if after.Size != before.Size {
		t.Errorf("bad input grew the log from %d to %d", before.Size, after.Size)
	}
	rec := &consent.Record{Event: &consent.Event{Subject: "S-009", Type: consent.Consented, Form: "MAIN-ICF@9.9", Time: "2014-01-01", RecordedBy: "x"}}
	if _, err := fx.reg.Append(ctx, []*consent.Record{rec}); err == nil || !strings.Contains(err.Error(), "MAIN-ICF@9.9 is not registered") {
		t.Errorf("unknown form: %v", err)
	}
}

// TestLeafRevealsNothing: no consent leaf contains a subject ID, a date,
// a form name or an event type in any form.
func TestLeafRevealsNothing(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	recs, err := fx.reg.Records()
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, r := range recs {
		if r.Event == nil {
			continue
		}
		e := r.Event
		d, _ := consent.ParseDate(e.Time)
		secrets = append(secrets, e.Subject, strings.TrimPrefix(e.Subject, "S-"), e.Time, d.T.Format("2006-01-02"), d.T.Format("20060102"),
			d.T.Format("2006"), e.Form, string(e.Type), e.RecordedBy)
		var days [4]byte
		binary.BigEndian.PutUint32(days[:], uint32(d.T.Unix()/86400))
		secrets = append(secrets, string(days[1:]))
	}
	for _, r := range recs {
		l, err := fx.t.Log.Leaves(ctx, r.LeafIndex, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(l[0], []byte(s)) {
				t.Errorf("leaf %d (record %d) contains %q", r.LeafIndex, r.Seq, s)
			}
		}
		h, err := leaf.ParseConsentLeaf(l[0])
		if err != nil || h.Seq != r.Seq || h.Trial != "TEST01" {
			t.Errorf("leaf %d header %+v, %v", r.LeafIndex, h, err)
		}
	}
}

func editRecord(t *testing.T, dir string, seq uint64, edit func(*consent.Record) bool) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "trials", "TEST01", registry.RegistryFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		key := binary.BigEndian.AppendUint64(nil, seq)
		var r consent.Record
		if err := json.Unmarshal(b.Get(key), &r); err != nil {
			return err
		}
		if !edit(&r) {
			return b.Delete(key)
		}
		v, _ := json.Marshal(&r)
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegistryTamper edits consent.db behind trialog's back: every edit
// fails the check.
func TestRegistryTamper(t *testing.T) {
	for name, c := range map[string]struct {
		seq  uint64
		edit func(*consent.Record) bool
		want string
	}{
		"backdate consent":  {4, func(r *consent.Record) bool { r.Event.Time = "2014-01-15"; return true }, "does not match the logged leaf"},
		"change subject":    {9, func(r *consent.Record) bool { r.Event.Subject = "S-099"; return true }, "does not match the logged leaf"},
		"drop withdrawal":   {11, func(r *consent.Record) bool { r.Event.Type = consent.Consented; return true }, "does not match the logged leaf"},
		"edit form scopes":  {1, func(r *consent.Record) bool { r.Form.Scopes = []string{"main"}; return true }, "does not match the logged leaf"},
		"delete last event": {12, func(*consent.Record) bool { return false }, "which the registry does not hold"},
		"delete an event":   {5, func(*consent.Record) bool { return false }, "missing from the registry"},
		"swap salts":        {6, func(r *consent.Record) bool { r.Salts[0] = strings.Repeat("00", 16); return true }, "not the one the trial secret derives"},
	} {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t)
			ctx := context.Background()
			rep, err := fx.reg.Check(ctx)
			if err != nil || !rep.OK || rep.Records != 12 || rep.ConsentLeaves != 12 {
				t.Fatalf("untouched registry: %+v, %v", rep, err)
			}
			fx.reg.Close()
			editRecord(t, fx.dir, c.seq, c.edit)
			fx.reg = openRegistry(t, fx.t)
			rep, err = fx.reg.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
				t.Errorf("check after edit: ok=%v problems %q, want %q", rep.OK, rep.Problems, c.want)
			}
			if _, err := registry.MakeReport(ctx, fx.t, fx.reg, nil, time.Now()); err == nil {
				t.Errorf("a report was made from an edited registry")
			}
		})
	}
}

// TestCrashBetweenLogAndRegistry: the leaves are logged, the registry
// write never happens; the next writable open finishes it.
func TestCrashBetweenLogAndRegistry(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	crash := errors.New("simulated crash")
	fx.reg.SetAfterAppend(func() error { return crash })
	rec := &consent.Record{Event: &consent.Event{Subject: "S-002", Type: consent.Reconsented, Form: "MAIN-ICF@2.0", Time: "2014-08-01", RecordedBy: "x"}}
	if _, err := fx.reg.Append(ctx, []*consent.Record{rec}); !errors.Is(err, crash) {
		t.Fatalf("append: %v", err)
	}
	rep, err := fx.reg.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "pending") {
		t.Errorf("check with a pending append: %+v", rep)
	}
	fx.reg.Close()
	fx.reg = openRegistry(t, fx.t) // recovers
	rep, err = fx.reg.Check(ctx)
	if err != nil || !rep.OK || rep.Records != 13 {
		t.Fatalf("after recovery: %+v, %v", rep, err)
	}
	if h := fx.book(t).History("S-002"); h[len(h)-1].Event.Time != "2014-08-01" {
		t.Errorf("recovered event missing: %+v", h)
	}
	// A crash before the append leaves nothing behind.
	fx.reg.SetAfterAppend(nil)
	if j, err := fx.t.Journal(); j != nil || err != nil {
		t.Errorf("write journal left: %+v, %v", j, err)
	}
}

// TestReportVerify makes the IRB report and verifies it offline; any
// edit of a record, a proof, the checkpoint or the findings fails.
func TestReportVerify(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	rep, err := registry.MakeReport(ctx, fx.t, fx.reg, []*consent.AuditResult{fx.audit(t, "main")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(rep)
	res, err := consent.Verify(bytes.NewReader(data), fx.t.VerifierKey)
	if err != nil || !res.OK || res.Records != 12 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	for _, p := range rep.Participants {
		for _, e := range p.Events {
			if !strings.HasPrefix(e.Verified, "verified: leaf") {
				t.Errorf("%s record %d: %s", p.Subject, e.Seq, e.Verified)
			}
		}
	}
	for name, edit := range map[string]func(r *consent.Report){
		"event date":   func(r *consent.Report) { r.Participants[0].Events[0].Event.Time = "2014-01-01" },
		"form version": func(r *consent.Report) { r.Forms[1].Form.Supersedes = "" },
		"proof":        func(r *consent.Report) { r.Participants[1].Events[0].Proof[0] = r.Participants[1].Events[0].Proof[1] },
		"drop event":   func(r *consent.Report) { r.Participants[2].Events = r.Participants[2].Events[1:] },
		"finding":      func(r *consent.Report) { r.Audits[0].Findings = r.Audits[0].Findings[1:] },
		"checkpoint":   func(r *consent.Report) { r.Checkpoint = strings.Replace(r.Checkpoint, "\n28\n", "\n27\n", 1) },
	} {
		var r consent.Report
		_ = json.Unmarshal(data, &r)
		edit(&r)
		b, _ := json.Marshal(&r)
		res, err := consent.Verify(bytes.NewReader(b), fx.t.VerifierKey)
		if err != nil || res.OK {
			t.Errorf("%s edited: verify ok=%v err=%v", name, res != nil && res.OK, err)
		}
	}
}

// TestNoConsentDuringPendingIngest: while a dataset ingest is unfinished,
// consent records are refused (their leaves would land inside the range
// the ingest resumes into), and accepted again once it is finished.
func TestNoConsentDuringPendingIngest(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	rec, err := fx.t.Version("AE", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.t.Begin(ctx, workspace.KindDataset, "ingest of dataset AE", &workspace.Pending{Manifest: rec.Manifest}); err != nil {
		t.Fatal(err)
	}
	form := consent.Form{ID: "SUB-ICF", Version: "1.0", IRBRef: "IRB-2014-050", IRBApproved: "2014-05-20", Effective: "2014-06-01",
		DocumentSHA256: strings.Repeat("3c", 32), Scopes: []string{"sub-study"}}
	before, _ := fx.t.Log.LatestRoot(ctx)
	if _, err := fx.reg.AddForm(ctx, form); !errors.Is(err, consent.ErrInput) || !strings.Contains(err.Error(), "unfinished") {
		t.Fatalf("consent append during a pending ingest: %v", err)
	}
	if after, _ := fx.t.Log.LatestRoot(ctx); after.Size != before.Size {
		t.Fatalf("a refused append wrote %d leaves", after.Size-before.Size)
	}
	if err := fx.t.Abandon(); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.AddForm(ctx, form); err != nil {
		t.Fatalf("after the ingest finished: %v", err)
	}
}
