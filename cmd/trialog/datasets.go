package main

import (
	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/workspace"
)

// interrupted describes an ingest that stopped before its manifest was
// logged: it blocks every other ingest of the trial until it is rerun.
type interrupted struct {
	Dataset    string `json:"dataset"`
	Version    uint64 `json:"version"`
	Source     string `json:"source"`
	SHA256     string `json:"sha256"`
	Rows       uint64 `json:"rows"`
	FirstIndex uint64 `json:"first_index"`
	LoggedRows uint64 `json:"logged_rows"`
}

// interruptedIngest returns the trial's interrupted ingest, or nil.
func interruptedIngest(c *cli.Context, t *workspace.Trial) (*interrupted, error) {
	p, err := t.Pending()
	if err != nil || p == nil {
		return nil, err
	}
	m := p.Manifest
	root, err := t.Log.LatestRoot(c.Context)
	if err != nil {
		return nil, err
	}
	var logged uint64
	if root.Size > m.FirstIndex {
		logged = min(root.Size-m.FirstIndex, m.Rows)
	}
	return &interrupted{Dataset: m.Dataset, Version: m.Version, Source: m.Source.Name, SHA256: m.Source.SHA256,
		Rows: m.Rows, FirstIndex: m.FirstIndex, LoggedRows: logged}, nil
}
