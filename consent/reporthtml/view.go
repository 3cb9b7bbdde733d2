package reporthtml

import (
	"cmp"
	"slices"
	"strings"

	"github.com/trialog/trialog/consent"
)

// Severity orders finding kinds worst first, for people reading a report:
// data collected after a participant withdrew, then with no consent at
// all, before consent, under a superseded form, and the kinds that say
// only that a date could not decide.
var Severity = []string{consent.AfterWithdrawal, consent.NoConsent, consent.BeforeConsent, consent.SupersededForm, consent.BadDate, consent.Undated, consent.Undetermined}

func severity(kind string) int {
	if i := slices.Index(Severity, kind); i >= 0 {
		return i
	}
	return len(Severity)
}

// auditView is an audit arranged for an IRB member: by finding, by site
// and by participant, worst first; the rows behind each participant stay
// one click away in the HTML (<details>), and all of them are in the JSON.
type auditView struct {
	*consent.AuditResult
	ByKind         []kindCount
	BySite         []siteCount
	SiteFromID     bool // sites were read from the subject IDs (STUDY-SITE-SUBJECT)
	Participants   []participantFindings
	RowsPerSubject int // rows listed per participant in the HTML
}

type kindCount struct {
	Kind     string
	Rows     uint64
	Subjects int
}

type siteCount struct {
	Site     string
	Subjects int
	Rows     int
	Worst    string
}

type participantFindings struct {
	Subject  string
	Site     string
	Worst    string
	Counts   []kindCount       // kinds present, worst first
	Findings []consent.Finding // worst first, then by row
	More     int               // findings beyond RowsPerSubject
	Total    int
}

// siteOf reads the site from a CDISC USUBJID of the form
// STUDYID-SITEID-SUBJID (as in the pilot study, 01-701-1015); "" when the
// ID has another shape.
func siteOf(subject string) string {
	parts := strings.Split(subject, "-")
	if len(parts) == 3 && parts[1] != "" {
		return parts[1]
	}
	return ""
}

func newAuditView(a *consent.AuditResult, rowsPerSubject int) auditView {
	v := auditView{AuditResult: a, RowsPerSubject: rowsPerSubject, SiteFromID: true}
	bySubject := map[string]*participantFindings{}
	kindSubjects := map[string]map[string]bool{}
	for _, f := range a.Findings {
		p := bySubject[f.Subject]
		if p == nil {
			p = &participantFindings{Subject: f.Subject, Site: siteOf(f.Subject)}
			bySubject[f.Subject] = p
		}
		p.Findings = append(p.Findings, f)
		if kindSubjects[f.Kind] == nil {
			kindSubjects[f.Kind] = map[string]bool{}
		}
		kindSubjects[f.Kind][f.Subject] = true
	}
	for _, k := range Severity {
		if n := a.Counts[k]; n > 0 {
			v.ByKind = append(v.ByKind, kindCount{Kind: k, Rows: n, Subjects: len(kindSubjects[k])})
		}
	}
	sites := map[string]*siteCount{}
	for _, p := range bySubject {
		slices.SortStableFunc(p.Findings, func(x, y consent.Finding) int {
			return cmp.Or(cmp.Compare(severity(x.Kind), severity(y.Kind)), cmp.Compare(x.Row, y.Row))
		})
		p.Worst, p.Total = p.Findings[0].Kind, len(p.Findings)
		counts := map[string]uint64{}
		for _, f := range p.Findings {
			counts[f.Kind]++
		}
		for _, k := range Severity {
			if counts[k] > 0 {
				p.Counts = append(p.Counts, kindCount{Kind: k, Rows: counts[k]})
			}
		}
		if len(p.Findings) > rowsPerSubject {
			p.More = len(p.Findings) - rowsPerSubject
			p.Findings = p.Findings[:rowsPerSubject]
		}
		v.Participants = append(v.Participants, *p)
		if p.Site == "" {
			v.SiteFromID = false
			continue
		}
		s := sites[p.Site]
		if s == nil {
			s = &siteCount{Site: p.Site, Worst: p.Worst}
			sites[p.Site] = s
		}
		s.Subjects++
		s.Rows += p.Total
		if severity(p.Worst) < severity(s.Worst) {
			s.Worst = p.Worst
		}
	}
	slices.SortFunc(v.Participants, func(x, y participantFindings) int {
		return cmp.Or(cmp.Compare(severity(x.Worst), severity(y.Worst)), cmp.Compare(y.Total, x.Total), cmp.Compare(x.Subject, y.Subject))
	})
	if v.SiteFromID {
		for _, s := range sites {
			v.BySite = append(v.BySite, *s)
		}
		slices.SortFunc(v.BySite, func(x, y siteCount) int {
			return cmp.Or(cmp.Compare(severity(x.Worst), severity(y.Worst)), cmp.Compare(y.Rows, x.Rows), cmp.Compare(x.Site, y.Site))
		})
	}
	return v
}
