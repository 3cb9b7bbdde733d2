package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadKeyAndForkAreOneLine: a garbage --key is bad input (exit 2,
// naming the key file), not a failed verification; a consistency check
// between two forks of a log fails with one line, not a dump of hashes.
func TestBadKeyAndForkAreOneLine(t *testing.T) {
	dir, a := ingestedDM(t)
	pkg := filepath.Join(dir, "dm.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--log", a, "--trial", "T1", "--dataset", "DM", "--out", pkg, filepath.Join(pilot, "dm.csv"))

	garbage := filepath.Join(dir, "garbage.vkey")
	os.WriteFile(garbage, []byte("this is not a key\n"), 0o644)
	for _, args := range [][]string{
		{"verify", "--key", garbage, pkg},
		{"consent", "verify", "--key", garbage, pkg},
	} {
		code, _, errOut := trialog(t, args...)
		if code != 2 || !strings.Contains(errOut, "garbage.vkey") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2, one line naming the key file", args, code, errOut)
		}
	}

	// Fork: copy the log before the AE ingest, ingest different data into
	// each copy: two checkpoints of the same key that do not extend each
	// other.
	b := filepath.Join(dir, "b")
	if err := os.CopyFS(b, os.DirFS(a)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, "ingest", "--log", a, "--trial", "T1", "--dataset", "AE", filepath.Join(pilot, "ae.csv"))
	mustRun(t, 0, "ingest", "--log", b, "--trial", "T1", "--dataset", "SV", filepath.Join(pilot, "sv.csv"))
	cpA, cpB := filepath.Join(dir, "a.cp"), filepath.Join(dir, "b.cp")
	copyFile(t, filepath.Join(a, "trials", "T1", "checkpoint"), cpA)
	copyFile(t, filepath.Join(b, "trials", "T1", "checkpoint"), cpB)
	for _, pair := range [][3]string{{a, cpB, cpA}, {b, cpA, cpB}} {
		code, _, errOut := trialog(t, "consistency", "--log", pair[0], "--trial", "T1", pair[1], pair[2])
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "does not extend") && !strings.Contains(errOut, "rolled back") {
			t.Errorf("consistency %s %s: exit %d, stderr %q; want exit 1 and one line", filepath.Base(pair[1]), filepath.Base(pair[2]), code, errOut)
		}
	}
}

// ingestedDM makes a log in DIR/a (DIR a fresh temporary directory)
// with the trial T1, holding the pilot DM; it returns DIR and the log.
func ingestedDM(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "a")
	mustRun(t, 0, "init", "--log", log, "--trial", "T1")
	mustRun(t, 0, "ingest", "--log", log, "--trial", "T1", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	return dir, log
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWitnessFlagsRefuseNonsense: the log's own key is not a witness, and
// a policy file's quorum of 0 is bad input (adversarial review).
func TestWitnessFlagsRefuseNonsense(t *testing.T) {
	dir, a := ingestedDM(t)
	pkg := filepath.Join(dir, "dm.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", a, "--trial", "T1", "--dataset", "DM", "--rows", "0", "--out", pkg, filepath.Join(pilot, "dm.csv"))
	vkey := filepath.Join(a, "trials", "T1", "checkpoint.vkey")
	code, _, errOut := trialog(t, "verify", "--key", vkey, "--witness", vkey, "--quorum", "1", pkg)
	if code != 2 || !strings.Contains(errOut, "log's own key") {
		t.Errorf("log key as a witness: exit %d, %q", code, errOut)
	}
}

// TestTrustRemembersOnlyVerifiedPackages: a package that fails on its
// rows leaves the verifier's memory untouched; one that verifies is
// remembered (adversarial review: the decision was taken in the first of
// verify's two passes).
func TestTrustRemembersOnlyVerifiedPackages(t *testing.T) {
	dir, a := ingestedDM(t)
	dm := filepath.Join(pilot, "dm.csv")
	pkg := filepath.Join(dir, "dm.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", a, "--trial", "T1", "--dataset", "DM", "--detached", "--form", "full", "--out", pkg, dm)
	vkey := filepath.Join(a, "trials", "T1", "checkpoint.vkey")
	raw, _ := os.ReadFile(dm)
	edited := filepath.Join(dir, "dm-edited.csv")
	os.WriteFile(edited, []byte(strings.Replace(string(raw), `"01-701-1023","1023","2012-08-05"`, `"01-701-1023","1023","2012-08-06"`, 1)), 0o644)
	trustDir := filepath.Join(dir, "trust")
	remembered := func() bool {
		found := false
		filepath.WalkDir(trustDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "latest" {
				found = true
			}
			return nil
		})
		return found
	}
	mustRun(t, 1, "verify", "--key", vkey, "--trust", trustDir, pkg, edited)
	if remembered() {
		t.Fatal("a package that failed verification was remembered")
	}
	mustRun(t, 0, "verify", "--key", vkey, "--trust", trustDir, pkg, dm)
	if !remembered() {
		t.Fatal("a verified package was not remembered")
	}
}
