package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEExample runs the README's "Example, end to end" as written,
// on the pilot's files: ingest and prove from dm.xpt (keys from its
// Define-XML), verify the CSV re-release dm.csv. It passes with the CSV's
// extra columns reported as not covered, and fails with --strict.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "Example, end to end:\n\n")
	if !ok {
		t.Fatal("README has no \"Example, end to end:\" block")
	}
	block, _, _ = strings.Cut(block, "\n\n")
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	files := map[string]string{
		"./trialog":      filepath.Join(dir, "trialog"),
		"dm.xpt":         abs(filepath.Join(pilot, "..", "xpt", "dm.xpt")),
		"define.xml":     abs(filepath.Join(pilot, "..", "xpt", "define.xml")),
		"dm.csv":         abs(filepath.Join(pilot, "dm.csv")),
		"dm.proof.arrow": filepath.Join(dir, "dm.proof.arrow"),
	}
	var commands [][]string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(strings.TrimSpace(line), "#")
		args := strings.Fields(line)
		if len(args) == 0 || args[0] != "trialog" {
			t.Fatalf("README example line %q is not a trialog command", line)
		}
		for i, a := range args {
			for name, path := range files {
				if a == name {
					args[i] = path
				} else if strings.HasPrefix(a, name+"/") {
					args[i] = path + strings.TrimPrefix(a, name)
				}
			}
		}
		commands = append(commands, args[1:])
	}
	if len(commands) != 4 || commands[3][0] != "verify" {
		t.Fatalf("README example: %d commands, want init, ingest, prove, verify", len(commands))
	}
	var out string
	for _, args := range commands {
		out = mustRun(t, 0, args...)
	}
	if !strings.Contains(out, ": OK") || !strings.Contains(out, "not covered by the package (not logged, so not verified): BRTHDTC, ARMNRS, ACTARMUD") {
		t.Errorf("README's verify:\n%s", out)
	}
	strict := append([]string{"verify", "--strict"}, commands[3][1:]...)
	if code, out, _ := trialog(t, strict...); code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "BRTHDTC") {
		t.Errorf("verify --strict: exit %d\n%s", code, out)
	}
}
