package workspace

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
)

// Record is a catalog entry: a finished dataset version.
type Record struct {
	Manifest      leaf.Manifest `json:"manifest"`
	ManifestIndex uint64        `json:"manifest_index"`
	Checkpoint    string        `json:"checkpoint"` // signed, right after the ingest
	Salting
}

// Salting is how a dataset version's salts derive (commit.Salting).
type Salting = commit.Salting

func (t *Trial) datasetDir(name string) string { return filepath.Join(t.Dir, "datasets", name) }

// Versions lists a dataset's finished versions, oldest first.
func (t *Trial) Versions(dataset string) ([]*Record, error) {
	entries, err := readDirIfAny(t.datasetDir(dataset))
	if err != nil || entries == nil {
		return nil, err
	}
	var out []*Record
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "v") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(t.datasetDir(dataset), e.Name()))
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, &r)
	}
	slices.SortFunc(out, func(a, b *Record) int { return int(a.Manifest.Version) - int(b.Manifest.Version) })
	return out, nil
}

// Datasets lists the names of the trial's ingested datasets.
func (t *Trial) Datasets() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(t.Dir, "datasets"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Version returns one finished version; version 0 means the latest.
func (t *Trial) Version(dataset string, version uint64) (*Record, error) {
	all, err := t.Versions(dataset)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("trial %s has no dataset %s: %w", t.ID, dataset, ErrUsage)
	}
	if version == 0 {
		return all[len(all)-1], nil
	}
	for _, r := range all {
		if r.Manifest.Version == version {
			return r, nil
		}
	}
	return nil, fmt.Errorf("trial %s has no version %d of dataset %s: %w", t.ID, version, dataset, ErrUsage)
}

// SaveRecord writes a finished version's catalog record.
func (t *Trial) SaveRecord(r *Record) error {
	if err := os.MkdirAll(t.datasetDir(r.Manifest.Dataset), 0o700); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	return durable.WriteFile(filepath.Join(t.datasetDir(r.Manifest.Dataset), fmt.Sprintf("v%d.json", r.Manifest.Version)), append(data, '\n'), 0o644)
}

// VersionWithContent returns the newest dataset version, of any dataset,
// whose source file had this SHA-256 (how prove and the consent audit find
// what a file is without being told).
func (t *Trial) VersionWithContent(digest string) (*Record, error) {
	names, err := t.Datasets()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		versions, err := t.Versions(n)
		if err != nil {
			return nil, err
		}
		for i := len(versions) - 1; i >= 0; i-- {
			if versions[i].Manifest.Source.SHA256 == digest {
				return versions[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no dataset version of trial %s has this content: %w", t.ID, ErrNotIngested)
}
