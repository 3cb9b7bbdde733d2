// Package sas holds what SAS numerics mean as calendar values: which
// display formats show a date, datetime or time, and how days and seconds
// since 1960-01-01 become Arrow dates, timestamps and times. The XPT reader
// uses it for numerics with such formats, and the Dataset-JSON reader for
// numeric columns that carry one as displayFormat.
package sas

import (
	"errors"
	"math"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// Temporal is what a SAS numeric holds according to its display format.
type Temporal uint8

// Kinds of numeric variable.
const (
	Number   Temporal = iota // a plain number
	Date                     // days since 1960-01-01
	Datetime                 // seconds since 1960-01-01T00:00:00 (no zone)
	Time                     // seconds since midnight
)

// sasFormats maps SAS format names (without width and decimals) to the
// kind of value they display (SAS 9.4 Formats and Informats: Reference,
// "Dictionary of Formats", date, time and datetime categories). Formats that
// can also display a duration (HHMM., HOUR., MMSS.) are left out: their
// values stay numbers.
var sasFormats = func() map[string]Temporal {
	m := map[string]Temporal{}
	for _, f := range strings.Fields(`DATE DAY DDMMYY DDMMYYB DDMMYYC DDMMYYD DDMMYYN DDMMYYP DDMMYYS
		MMDDYY MMDDYYB MMDDYYC MMDDYYD MMDDYYN MMDDYYP MMDDYYS YYMMDD YYMMDDB YYMMDDC YYMMDDD
		YYMMDDN YYMMDDP YYMMDDS E8601DA B8601DA IS8601DA ND8601DA MONYY MONNAME MONTH YEAR YYMON
		YYMM YYMMC YYMMD YYMMN YYMMP YYMMS MMYY MMYYC MMYYD MMYYN MMYYP MMYYS YYQ YYQC YYQD YYQN
		YYQP YYQS QTR WEEKDATE WEEKDATX WORDDATE WORDDATX DOWNAME WEEKDAY JULIAN JULDAY NENGO
		MINGUO NLDATE EURDFDD EURDFDE EURDFMY EURDFWKX`) {
		m[f] = Date
	}
	for _, f := range strings.Fields(`DATETIME DATEAMPM E8601DT B8601DT IS8601DT E8601DN B8601DN
		NLDATM MDYAMPM DTDATE DTMONYY DTWKDATX DTYEAR DTYYQC`) {
		m[f] = Datetime
	}
	for _, f := range strings.Fields(`TIME TIMEAMPM TOD E8601TM B8601TM IS8601TM NLTIME`) {
		m[f] = Time
	}
	return m
}()

// FormatTemporal returns the kind of value a SAS display format such as
// "DATE9.", "E8601DT19." or "8.2" shows.
func FormatTemporal(format string) Temporal {
	name := strings.ToUpper(strings.TrimRight(strings.TrimSpace(format), "0123456789."))
	return sasFormats[name]
}

// ArrowType is the Arrow type a numeric variable of this kind is read as:
// its value as a calendar date, wall-clock datetime or time of day, which
// the canonical encoding writes as ISO 8601 text.
func (k Temporal) ArrowType() arrow.DataType {
	switch k {
	case Date:
		return arrow.FixedWidthTypes.Date32
	case Datetime:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	case Time:
		return arrow.FixedWidthTypes.Time64us
	}
	return arrow.PrimitiveTypes.Float64
}

// sasEpochDays is 1960-01-01 in days since 1970-01-01.
const sasEpochDays = -3653

var (
	errNotWholeDays = errors.New("date value is not a whole number of days")
	errOutOfRange   = errors.New("date or time value out of range")
	errTimeOfDay    = errors.New("time value is not a time of day (0 to 24 hours)")
)

// Days converts a SAS date to days since 1970-01-01 (date32).
func Days(f float64) (int32, error) {
	if f != math.Trunc(f) {
		return 0, errNotWholeDays
	}
	d := f + sasEpochDays
	if math.IsInf(d, 0) || d < math.MinInt32 || d > math.MaxInt32 {
		return 0, errOutOfRange
	}
	return int32(d), nil
}

// Micros converts SAS seconds (since 1960 for a datetime, since midnight
// for a time) to whole microseconds, the precision a double of that size
// still carries; a datetime is shifted to the Unix epoch.
func Micros(f float64, kind Temporal) (int64, error) {
	us := math.Round(f * 1e6)
	if kind == Datetime {
		us += sasEpochDays * 86400 * 1e6
	}
	if math.IsInf(us, 0) || math.Abs(us) > 1<<62 {
		return 0, errOutOfRange
	}
	if kind == Time && (us < 0 || us >= 86400*1e6) {
		return 0, errTimeOfDay
	}
	return int64(us), nil
}
