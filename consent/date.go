package consent

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Precision is how much of an ISO 8601 date/time is known. SDTM --DTC
// values and FHIR dateTime are often partial ("2014-01"); trialog keeps
// the precision instead of guessing the missing part.
type Precision int

// Precisions, coarse to fine.
const (
	Year Precision = iota + 1
	Month
	Day
	Hour
	Minute
	Second
)

func (p Precision) String() string {
	switch p {
	case Year:
		return "year"
	case Month:
		return "month"
	case Day:
		return "day"
	case Hour:
		return "hour"
	case Minute:
		return "minute"
	case Second:
		return "second"
	}
	return "unknown"
}

// Date is a possibly partial ISO 8601 date or date-time. T is the first
// instant it can denote; a value with a UTC offset is converted to UTC, a
// value without one is taken as written (SDTM dates carry no zone: they are
// compared as the study's own clock, which is what every --DTC of a trial
// shares).
type Date struct {
	Text string // normalised: as written, or in UTC with Z when an offset was given
	Prec Precision
	T    time.Time
}

// Partial reports whether the day is not known.
func (d Date) Partial() bool { return d.Prec < Day }

var isoDate = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// ParseDate parses YYYY, YYYY-MM, YYYY-MM-DD and YYYY-MM-DDThh[:mm[:ss[.f]]]
// with an optional Z or ±hh:mm offset. Anything else (including SDTM's
// "2014---15" with a missing month) is an error: a date the audit cannot
// place is reported, never guessed.
func ParseDate(s string) (Date, error) {
	m := isoDate.FindStringSubmatch(s)
	if m == nil {
		return Date{}, fmt.Errorf("not an ISO 8601 date or time (YYYY[-MM[-DD[Thh[:mm[:ss]]]]])")
	}
	num := func(i, def int) int {
		if m[i] == "" {
			return def
		}
		n, _ := strconv.Atoi(m[i])
		return n
	}
	d := Date{Prec: Year}
	for i, p := range []Precision{Month, Day, Hour, Minute, Second} {
		if m[i+2] != "" {
			d.Prec = p
		}
	}
	y, mo, dd, hh, mm, ss := num(1, 0), num(2, 1), num(3, 1), num(4, 0), num(5, 0), num(6, 0)
	nanos := 0
	if m[7] != "" {
		frac := m[7][1:]
		for len(frac) < 9 {
			frac += "0"
		}
		nanos, _ = strconv.Atoi(frac)
	}
	if mo < 1 || mo > 12 || hh > 23 || mm > 59 || ss > 59 {
		return Date{}, fmt.Errorf("month, hour, minute or second out of range")
	}
	t := time.Date(y, time.Month(mo), dd, hh, mm, ss, nanos, time.UTC)
	if t.Day() != dd {
		return Date{}, fmt.Errorf("no such day in that month")
	}
	d.T, d.Text = t, s
	if zone := m[8]; zone != "" && zone != "Z" {
		sign := 1
		if zone[0] == '-' {
			sign = -1
		}
		oh, _ := strconv.Atoi(zone[1:3])
		om, _ := strconv.Atoi(zone[4:6])
		d.T = t.Add(-time.Duration(sign) * (time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute))
		d.Text = d.format() + "Z"
	}
	return d, nil
}

// format writes T at the date's precision, without a zone.
func (d Date) format() string {
	layout := map[Precision]string{Year: "2006", Month: "2006-01", Day: "2006-01-02",
		Hour: "2006-01-02T15", Minute: "2006-01-02T15:04", Second: "2006-01-02T15:04:05.999999999"}[d.Prec]
	return d.T.Format(layout)
}

// AddDays returns the day-precision date n days after d's day.
func (d Date) AddDays(n int) Date {
	out := Date{Prec: Day, T: d.truncate(Day).AddDate(0, 0, n)}
	out.Text = out.format()
	return out
}

func (d Date) truncate(p Precision) time.Time {
	t := d.T
	switch p {
	case Year:
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case Hour:
		return t.Truncate(time.Hour)
	case Minute:
		return t.Truncate(time.Minute)
	}
	return t
}

// Compare orders two dates at the coarser of their precisions. Two dates
// on the same day are equal (0) when either is known only to the day: a
// record of the consent day covers data of that day, and data of a
// withdrawal day is still covered, which is how sites document a consent
// visit. When they agree at a precision coarser than a day (2014-01 vs
// 2014-01-15) the order is unknown and determined is false.
func Compare(a, b Date) (c int, determined bool) {
	p := min(a.Prec, b.Prec)
	c = a.truncate(p).Compare(b.truncate(p))
	if c == 0 && p < Day {
		return 0, false
	}
	return c, true
}
