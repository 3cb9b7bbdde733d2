package verify

import (
	"slices"
	"strings"
)

// columnCoverage lists the data file's columns the package does not commit to
// (the manifest has no such column: a sponsor's copy with derived or
// extra variables, such as the pilot's dm.csv beside dm.xpt). Nothing
// proves or disproves their values, so they are reported as not covered:
// a note, or with Options.Strict a failure. Committed columns missing from
// the data file are always a failure (see the row checks).
func (v *verifier) columnCoverage() {
	var extra []string
	for _, fl := range v.opts.Data.Schema().Fields() {
		if !slices.Contains(v.names, fl.Name) {
			extra = append(extra, fl.Name)
		}
	}
	if len(extra) == 0 {
		return
	}
	v.rep.NotCovered = extra
	msg := "data file " + v.opts.Data.Name + ": columns not covered by the package (not logged, so not verified): " + strings.Join(extra, ", ")
	if v.opts.Strict {
		v.rep.fail("%s (--strict)", msg)
		return
	}
	v.rep.Notes = append(v.rep.Notes, msg)
}
