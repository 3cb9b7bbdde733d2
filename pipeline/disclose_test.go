package pipeline_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/workspace"
)

// TestDisclosureProof: every package carries its disclosure record and
// the record's inclusion proof; the verifier checks both and the logged
// digest, so a package altered after it was issued, a record moved to
// another leaf, or a record of another package is reported.
func TestDisclosureProof(t *testing.T) {
	tr, _ := newTrial(t)
	dm := pilotFile(t, "dm.csv")
	ingest(t, tr, dm, "DM")
	pkg := prove(t, tr, dm, pipeline.ProveOptions{Dataset: "DM", Where: []pipeline.Condition{{Column: "SEX", Value: "F"}}, Redact: []string{"BRTHDTC"},
		Recipient: "Partner Hospital", Purpose: "main", Operator: "cro-1"})
	rep := verifyPackage(t, tr, pkg, nil)
	if !rep.OK || rep.Logged == nil {
		t.Fatalf("fresh package: %+v", rep)
	}
	d := rep.Logged
	if d.Recipient != "Partner Hospital" || d.Purpose != "main" || d.Consent != pipeline.ConsentNotChecked || d.LeafIndex != 307 {
		t.Errorf("disclosure: %+v", d)
	}
	recs, err := tr.Disclosures()
	if err != nil || len(recs) != 1 || recs[0].Leaf.PackageSHA256 != d.PackageSHA256 || recs[0].Package != pkg || recs[0].Leaf.Rows != rep.Rows {
		t.Fatalf("kept records: %v %+v", err, recs)
	}
	// The operator is the CRO's record; the leaf (which may be published)
	// holds only its commitment.
	if recs[0].Operator != "cro-1" || strings.Contains(string(must(recs[0].Bytes())), "cro-1") {
		t.Errorf("operator: kept %q, leaf %s", recs[0].Operator, recs[0].Leaf.Operator)
	}
	if len(recs[0].Subjects) == 0 || recs[0].Open() != nil {
		t.Errorf("kept record's participants: %d, %v", len(recs[0].Subjects), recs[0].Open())
	}

	// Altered after issue: one salt byte.
	tb := readTable(t, pkg)
	tb.flipBytes(t, "_trialog_salt.SEX", 0)
	if rep := verifyPackage(t, tr, tb.write(t), nil); rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "altered after it was issued") {
		t.Errorf("altered package: %v", rep.Problems)
	}
	// The disclosure value edited (its leaf index moved).
	tb = readTable(t, pkg)
	tb.setMeta(t, "trialog.logged", func(v string) string { return strings.Replace(v, `"leaf_index":307`, `"leaf_index":306`, 1) })
	if rep := verifyPackage(t, tr, tb.write(t), nil); rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "predates the package") {
		t.Errorf("moved record: %v", rep.Problems)
	}
	// A hash of the record's inclusion proof altered.
	tb = readTable(t, pkg)
	tb.setMeta(t, "trialog.logged", func(v string) string {
		i := strings.Index(v, `"inclusion_proof":["`) + len(`"inclusion_proof":["`)
		c := byte('A')
		if v[i] == 'A' {
			c = 'B'
		}
		return v[:i] + string(c) + v[i+1:]
	})
	if rep := verifyPackage(t, tr, tb.write(t), nil); rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "not in the checkpointed tree") {
		t.Errorf("altered proof: %v", rep.Problems)
	}
	// Another package's record.
	other := prove(t, tr, dm, pipeline.ProveOptions{Dataset: "DM", Where: []pipeline.Condition{{Column: "SEX", Value: "M"}}, Recipient: "X", Purpose: "main"})
	tb = readTable(t, pkg)
	otherValue := readTable(t, other).meta(t, "trialog.logged")
	tb.setMeta(t, "trialog.logged", func(v string) string { return otherValue })
	if rep := verifyPackage(t, tr, tb.write(t), nil); rep.OK {
		t.Errorf("a package with another package's disclosure record verified")
	}
	// Disclosure leaf bytes in the record must not carry a participant.
	for _, r := range recs {
		l, _ := r.Bytes()
		for _, s := range r.Subjects {
			if strings.Contains(string(l), s) || strings.Contains(base64.StdEncoding.EncodeToString(l), s) {
				t.Fatalf("participant %s in the disclosure leaf", s)
			}
		}
	}
	// Every prove is listed and proved against the latest checkpoint.
	list, problems, err := tr.ProveDisclosures(context.Background(), latestCheckpoint(t, tr))
	if err != nil || len(problems) != 0 || len(list) != 2 || !list[0].OK || !list[1].OK {
		t.Fatalf("ProveDisclosures: %v %v %+v", err, problems, list)
	}
}

func latestCheckpoint(t *testing.T, tr *workspace.Trial) checkpoint.Checkpoint {
	t.Helper()
	signed, err := tr.LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Open(tr.VerifierKey, signed)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestSubjectColumn: the subject column is the one named, else the
// natural key (Define-XML KeySequence or --keys) that is a subject ID,
// else USUBJID; a consent check on a dataset without it is refused.
func TestSubjectColumn(t *testing.T) {
	for _, c := range []struct {
		keys []string
		want string
	}{
		{nil, "USUBJID"},
		{[]string{"STUDYID", "USUBJID", "AESEQ"}, "USUBJID"},
		{[]string{"STUDYID", "SUBJID", "VISITNUM"}, "SUBJID"},
		{[]string{"STUDYID", "TSSEQ"}, "USUBJID"},
	} {
		if got := pipeline.SubjectColumnOf(c.keys); got != c.want {
			t.Errorf("SubjectColumnOf(%v) = %s, want %s", c.keys, got, c.want)
		}
	}
	tr, _ := newTrial(t)
	dm := pilotFile(t, "dm.csv")
	ingest(t, tr, dm, "DM")
	out := filepath.Join(t.TempDir(), "p.arrow")
	allow := func(string) string { return "" }
	_, err := pipeline.Prove(context.Background(), tr, openFile(t, dm, source.Options{}), out, pipeline.ProveOptions{Dataset: "DM",
		SubjectColumn: "PATIENT", Consent: allow, Recipient: "x", Purpose: "main"})
	if !errors.Is(err, workspace.ErrUsage) || !strings.Contains(err.Error(), "no subject column PATIENT") {
		t.Errorf("missing subject column: %v", err)
	}
	// SUBJID named explicitly: consent is asked by it.
	var asked []string
	res, err := pipeline.Prove(context.Background(), tr, openFile(t, dm, source.Options{}), out, pipeline.ProveOptions{Dataset: "DM",
		SubjectColumn: "SUBJID", Consent: func(s string) string { asked = append(asked, s); return "" }, Recipient: "x", Purpose: "main", Rows: [][2]uint64{{0, 1}}})
	if err != nil || res.Consent != pipeline.ConsentChecked || len(asked) != 1 || asked[0] != "1015" {
		t.Errorf("SUBJID: %v %+v %v", err, res, asked)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestFreeTextNamesNoParticipant (adversarial review): the recipient and
// the purpose are logged in clear (and published with the log), so prove
// refuses ones that name a participant; so does an erasure's reason.
func TestFreeTextNamesNoParticipant(t *testing.T) {
	tr, _ := newTrial(t)
	dm := pilotFile(t, "dm.csv")
	ingest(t, tr, dm, "DM")
	for _, opts := range []pipeline.ProveOptions{
		{Dataset: "DM", Rows: [][2]uint64{{0, 1}}, Recipient: "Dr Roe (mother of 01-701-1015)", Purpose: "main"},
		{Dataset: "DM", Rows: [][2]uint64{{0, 1}}, Recipient: "Sponsor", Purpose: "SAE narrative for 01-701-1028"},
	} {
		out := filepath.Join(t.TempDir(), "p.arrow")
		if _, err := pipeline.Prove(context.Background(), tr, openFile(t, dm, source.Options{}), out, opts); !errors.Is(err, workspace.ErrUsage) {
			t.Errorf("%q / %q: %v, want a usage error", opts.Recipient, opts.Purpose, err)
		}
	}
	if _, err := tr.Erase(context.Background(), "01-701-1015", "asked by 01-701-1028's family", "dpo", time.Now()); !errors.Is(err, workspace.ErrUsage) {
		t.Errorf("an erasure reason naming another participant: %v", err)
	}
}
