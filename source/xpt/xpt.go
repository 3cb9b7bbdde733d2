// Package xpt reads SAS XPORT version 5 transport files (.xpt), the format
// FDA submissions use for SDTM and ADaM datasets, as a stream of Arrow record
// batches.
//
// The layout follows SAS technical note TS-140, "The Record Layout of a Data
// Set in SAS Transport (XPORT) Format": a file is a sequence of 80-byte
// records — a LIBRARY header and two library records, then per member a
// MEMBER and DSCRPTR header, two member records, a NAMESTR header, one
// 140-byte NAMESTR descriptor per variable (136 bytes on VAX/VMS, which is
// accepted too), padded to 80 bytes, an OBS header and finally the
// observations, packed back to back and blank-padded to a multiple of 80.
//
// Why a reader of our own: no maintained Go XPT reader is available, and the
// pipeline commits every value, so the conversion of IBM floating point
// must be exact and reproducible (see ibmToFloat64), and bad input must
// surface as an error, never as a silently different row.
//
// Mapping:
//   - character variable → arrow.BinaryTypes.String, trailing blanks removed
//     (an all-blank value becomes ""). XPORT carries no encoding: text is
//     read as UTF-8 unless WithEncoding names Latin-1 or Windows-1252, and
//     converted explicitly; a value that is not valid in that encoding is
//     an error naming observation and variable, never replaced.
//   - numeric variable → arrow.PrimitiveTypes.Float64, exact IBM → IEEE
//     conversion; SAS missing values (., .A-.Z, ._) → null. A numeric with
//     a date, datetime or time display format (DATE9., E8601DT., TIME8., …;
//     see FormatTemporal), from its NAMESTR or else from WithFormats, is a
//     calendar value instead: days since 1960 → date32, seconds since 1960
//     → timestamp[us] without zone (wall clock), seconds → time64[us]; a
//     non-whole date or a time outside 0–24 h is an error.
//   - every field is nullable; field metadata: "label", "format",
//     "informat" (when set), "sas.type" ("char"/"num"), "sas.length".
//   - schema metadata: "name", "label", "sas.type" (dataset type, when set),
//     "sas.version", "sas.os", "sas.created", "sas.modified".
//
// Limits: only files with a single member are read; a second MEMBER header
// is reported as an error. Blank padding at the end of the observations is
// ignored; as TS-140 itself notes, an all-blank last observation of a
// dataset with only character variables and an observation length under 80
// bytes cannot be told apart from that padding and is dropped too.
//
// Every error names the file and the place (header record, variable or
// observation) and wraps ErrMalformed when the input itself is bad.
package xpt

import (
	"errors"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/source/internal/rowbatch"
)

// ErrMalformed is wrapped by every error caused by the content of the input
// (bad headers, truncation, unsupported variants), as opposed to I/O errors of
// the underlying reader. Check it with errors.Is.
var ErrMalformed = errors.New("malformed input")

// DefaultBatchSize is the number of rows per record batch unless
// WithBatchSize says otherwise.
const DefaultBatchSize = rowbatch.DefaultBatchSize

// Option configures a Reader.
type Option = rowbatch.Option

// WithAllocator sets the allocator of the record batches
// (default memory.DefaultAllocator).
func WithAllocator(mem memory.Allocator) Option { return rowbatch.WithAllocator(mem) }

// WithEncoding names the character set of the file's text: "utf-8"
// (default), "latin1" (ISO 8859-1) or "windows-1252".
func WithEncoding(name string) Option { return rowbatch.WithEncoding(name) }

// WithFormats gives SAS display formats by variable name (from define.xml
// DisplayFormat) for numeric variables whose NAMESTR carries none.
func WithFormats(formats map[string]string) Option { return rowbatch.WithFormats(formats) }

// WithRawNumbers reads every numeric as its float64 value, ignoring date,
// datetime and time formats: for converters and diagnostics that do their
// own calendar arithmetic.
func WithRawNumbers() Option { return rowbatch.WithRawNumbers() }

// WithBatchSize sets the maximum number of rows per record batch
// (default DefaultBatchSize). Values below 1 are ignored.
func WithBatchSize(n int) Option { return rowbatch.WithBatchSize(n) }
