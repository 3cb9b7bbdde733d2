package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// progress is a row-count progress bar on stderr for long work (ingest,
// prove, verify). It draws only when stderr is a terminal and the output
// is not --json; otherwise its methods do nothing, so scripts and logs
// see exactly what they saw before.
type progress struct {
	w    io.Writer
	desc string
	bar  *progressbar.ProgressBar
}

// newProgress returns a progress bar for the command, or nil (a valid,
// silent receiver) when stderr is not a terminal or --json is set.
func newProgress(c *cli.Context, desc string) *progress {
	if !isTerminal() || c.Bool("json") {
		return nil
	}
	return &progress{w: os.Stderr, desc: desc}
}

// total starts a bar of n rows (again, for a second pass).
func (p *progress) total(n uint64) {
	if p == nil {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
	}
	p.bar = progressbar.NewOptions64(int64(n), progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.desc), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"), progressbar.OptionClearOnFinish())
	p.bar.RenderBlank() // show at once that work started, even before the first batch
}

// set moves the bar to n rows done.
func (p *progress) set(n uint64) {
	if p != nil && p.bar != nil {
		p.bar.Set64(int64(n))
	}
}

// finish clears the bar.
func (p *progress) finish() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}

// callbacks returns the Total and Progress callbacks of the pipeline and
// verify options: nil when there is no bar, so no work is done per batch.
func (p *progress) callbacks() (total, set func(uint64)) {
	if p == nil {
		return nil, nil
	}
	return p.total, p.set
}
