package verify_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/disclosure"
)

// TestMinimalPartnerPackage (issue 12, point 6): a one-participant
// package with minimal disclosure verifies, and carries neither the
// dataset's total row count, nor the source file's name, size or SHA-256,
// nor the range root, nor the operator; its header cannot be altered, and
// a full package cannot be passed off as minimal.
func TestMinimalPartnerPackage(t *testing.T) {
	p := pilotTrial(t)
	rec, err := p.trial.Version("AE", 0)
	if err != nil {
		t.Fatal(err)
	}
	m := rec.Manifest
	rep, err := verifyFile(p, p.minimalAE, nil)
	if err != nil || !rep.OK || rep.Disclosure != disclosure.DisclosureMinimal || rep.Rows == 0 || rep.IngestedAt != m.CreatedAt {
		t.Fatalf("minimal package: err=%v report=%+v", err, rep)
	}
	b := readFile(t, p.minimalAE)
	for what, secret := range map[string]string{
		"source SHA-256": m.Source.SHA256, "source name": m.Source.Name, "operator": operator, "range root": m.RangeRoot,
		"row count": `"rows":` + strconv.FormatUint(m.Rows, 10), "source size": strconv.FormatInt(m.Source.Bytes, 10),
		"manifest index": strconv.FormatUint(rec.ManifestIndex, 10),
	} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("minimal package discloses the %s (%q)", what, secret)
		}
	}
	for _, key := range []string{"trialog.manifest_leaf", "trialog.manifest_proof", "trialog.manifest_index"} {
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("minimal package has %s", key)
		}
	}
	// The full package of the same rows does carry them (the test can fail).
	if full := readFile(t, p.subjectAE); !bytes.Contains(full, []byte("trialog.manifest_leaf")) {
		t.Fatal("full package without its manifest")
	}
	// An altered header (a later ingest time, as a middleman hiding a
	// correction would want) no longer matches the signed statement.
	altered := rewriteMeta(t, p.minimalAE, func(md map[string]string) {
		md["trialog.dataset_header"] = strings.Replace(md["trialog.dataset_header"], `"created_at":"`, `"created_at":"2099`, 1)
	})
	rep, err = verifyFile(p, altered, nil)
	if err == nil && rep.OK {
		t.Fatal("altered dataset header accepted")
	}
	// A full package relabelled minimal, with a header that is exactly
	// the manifest's: the statement says full.
	relabelled := rewriteMeta(t, p.subjectAE, func(md map[string]string) {
		h, _ := disclosure.HeaderOf(&m).Encode()
		md["trialog.disclosure"], md["trialog.dataset_header"] = disclosure.DisclosureMinimal, string(h)
		delete(md, "trialog.manifest_leaf")
	})
	if rep, err := verifyFile(p, relabelled, nil); err != nil || rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "disclosure full") {
		t.Fatalf("relabelled package: err=%v report=%+v", err, rep)
	}
	// A minimal whole-dataset package is not a thing.
	whole := rewriteMeta(t, p.rangeDM, func(md map[string]string) { md["trialog.disclosure"] = disclosure.DisclosureMinimal })
	if _, err := verifyFile(p, whole, nil); !errors.Is(err, disclosure.ErrPackage) {
		t.Fatalf("minimal range package: %v, want ErrPackage", err)
	}
}

// rewriteMeta rewrites pkg with its schema metadata edited.
func rewriteMeta(t *testing.T, pkg string, edit func(map[string]string)) string {
	t.Helper()
	return rewrite(t, pkg, func(s *arrow.Schema) *arrow.Schema {
		md := s.Metadata()
		kv := map[string]string{}
		for i, k := range md.Keys() {
			kv[k] = md.Values()[i]
		}
		edit(kv)
		newMD := arrow.MetadataFrom(kv)
		return arrow.NewSchema(s.Fields(), &newMD)
	}, func(rec arrow.Record, s *arrow.Schema) arrow.Record {
		return array.NewRecord(s, rec.Columns(), rec.NumRows())
	})
}
