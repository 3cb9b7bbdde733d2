// Package datasetjson reads CDISC Dataset-JSON v1.1 datasets as a stream of
// Arrow record batches, in its three framings:
//
//   - NewReader: a .json file, one JSON object whose "columns" must come
//     before "rows"; it is walked token by token with encoding/json's
//     Decoder so that a dataset of any size is never held in memory.
//   - NewNDJSONReader: a .ndjson file, the metadata object (with "columns")
//     on the first line, then one JSON array per row.
//   - NewCompressedReader: a .dsjc file, NDJSON compressed. The Compressed
//     Dataset-JSON 1.1 specification says zlib, but the official CDISC
//     example files are gzip (magic 1f 8b): both are recognised from the
//     first bytes. Raw deflate is not accepted.
//
// NewReaderFor picks one of the three from the file name extension.
//
// Type mapping of the column dataType (and targetDataType):
//
//	string, URI                           → arrow.BinaryTypes.String
//	date, datetime, time                  → arrow.BinaryTypes.String (ISO 8601 text as is,
//	                                         partial values such as "2014-03" included)
//	date, datetime, time with
//	  targetDataType "integer"            → date32, timestamp[us] (no zone), time64[us]:
//	                                         a SAS numeric date written as complete ISO
//	                                         text; it commits like the XPT numeric
//	integer, float, double, decimal with
//	  a SAS date/datetime/time
//	  displayFormat (DATE9., …)           → date32, timestamp[us], time64[us] from
//	                                         the SAS number (days or seconds since
//	                                         1960), as the XPT reader does
//	integer, float, double                → arrow.PrimitiveTypes.Float64
//	decimal                               → decimal128(38, 18) (DecimalType), exactly
//	boolean                               → arrow.FixedWidthTypes.Boolean
//
// Numbers are read by value: integer columns are float64 because SAS
// numerics are doubles (a whole number beyond 2^53 is an error, never
// rounded), and a column declared integer that holds 2.5 is accepted with
// one warning (WithWarn) naming the column and its first such row. A
// decimal is a JSON string in v1.1 (to keep its digits; a JSON number is
// accepted too) and is read exactly, not through float64. JSON null is an
// Arrow null; "" is an empty string. Strings must be valid UTF-8 (RFC 8259
// §8.1): invalid bytes or an unpaired surrogate escape are an error naming
// row and column, never replaced by U+FFFD. Every field is
// nullable; its metadata holds "itemOID", "label", "dataType",
// "targetDataType", "length", "displayFormat" and "keySequence" when
// present. The schema metadata holds the dataset "name", "label",
// "itemGroupOID", "studyOID" and "records" when present.
//
// Each row must hold exactly one value per column and, when "records" is
// given, the number of rows must equal it. Errors name the file and the row
// and column, e.g. "dm.json: row 3: column AGE: want integer, got \"x\"", and
// wrap ErrMalformed when the input itself is bad.
package datasetjson

import (
	"errors"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/source/internal/rowbatch"
)

// ErrMalformed is wrapped by every error caused by the content of the input
// (invalid JSON, wrong types, wrong counts, corrupt compression), as opposed
// to I/O errors of the underlying reader. Check it with errors.Is.
var ErrMalformed = errors.New("malformed input")

// DefaultBatchSize is the number of rows per record batch unless
// WithBatchSize says otherwise.
const DefaultBatchSize = rowbatch.DefaultBatchSize

// Option configures a Reader.
type Option = rowbatch.Option

// WithAllocator sets the allocator of the record batches
// (default memory.DefaultAllocator).
func WithAllocator(mem memory.Allocator) Option { return rowbatch.WithAllocator(mem) }

// WithBatchSize sets the maximum number of rows per record batch
// (default DefaultBatchSize). Values below 1 are ignored.
func WithBatchSize(n int) Option { return rowbatch.WithBatchSize(n) }

// WithWarn sets the receiver of warnings about accepted but suspicious
// values (a non-integer in a column declared integer: reported once per
// column, naming its first row). Nil drops them.
func WithWarn(warn func(msg string)) Option { return rowbatch.WithWarn(warn) }

// DefaultMaxRowBytes bounds one row (one NDJSON line) by default.
const DefaultMaxRowBytes = 16 << 20

// WithMaxRowBytes bounds the bytes of input one row (in NDJSON, one line;
// for the metadata, everything before the first row) may take; a longer
// one is rejected as malformed as soon as the bound is passed, without
// reading it whole. Default DefaultMaxRowBytes.
func WithMaxRowBytes(n int) Option {
	return func(c *rowbatch.Config) {
		if n > 0 {
			c.MaxRowBytes = n
		}
	}
}
