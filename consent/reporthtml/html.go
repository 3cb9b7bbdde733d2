// Package reporthtml renders the IRB consent report (consent.Report) as
// one self-contained HTML page for people: the picture by finding, site
// and participant first, worst first, the rows behind each participant one
// click away (<details>, no scripts), every record's verification status,
// printable (docs/consent.md). It is apart from package consent so that
// the report's offline verifier, which the browser verifier page links,
// does not carry html/template.
package reporthtml

import (
	"bytes"
	_ "embed"
	"html/template"
	"io"
	"strings"

	"github.com/trialog/trialog/consent"
)

//go:embed report.html.tmpl
var reportTemplate string

// WriteHTML renders the report as one self-contained HTML file: inline
// CSS, no scripts, no network assets; readable on screen and printable.
// maxFindings bounds the rows listed per participant (the JSON has them
// all).
func WriteHTML(w io.Writer, rep *consent.Report, maxFindings int) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"short": func(s string) string {
			if len(s) > 16 {
				return s[:16] + "…"
			}
			return s
		},
		"join": strings.Join,
		"ok":   func(s string) bool { return strings.HasPrefix(s, "verified") },
		"view": func(a *consent.AuditResult) auditView { return newAuditView(a, maxFindings) },
		"count": func(a *consent.AuditResult, k string) uint64 {
			return a.Counts[k]
		},
		"kinds": func() []string { return consent.FindingKinds },
	}).Parse(reportTemplate)
	if err != nil {
		return err
	}
	verified, total := 0, 0
	count := func(prs []consent.ProvenRecord) {
		for _, p := range prs {
			total++
			if strings.HasPrefix(p.Verified, "verified") {
				verified++
			}
		}
	}
	count(rep.Forms)
	for _, p := range rep.Participants {
		count(p.Events)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{"R": rep, "Verified": verified, "Total": total}); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}
