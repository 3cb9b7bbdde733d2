package datasetjson_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/datasetjson"
)

// TestRowLimit streams a 100 MB NDJSON line (generated, never stored) and
// a 100 MB row of a .json file: each is rejected once the row passes the
// limit, with one line naming the row, in memory bounded by the limit and
// not the line, as measured (peak heap) here.
func TestRowLimit(t *testing.T) {
	const meta = `{"columns":[{"name":"S","dataType":"string"}]}` + "\n"
	bigRow := func(prefix, suffix string) *testutil.Repeat {
		return &testutil.Repeat{Prefix: prefix + `["`, Unit: strings.Repeat("y", 1000), N: 100_000, Suffix: `"]` + suffix}
	}
	for _, tc := range []struct {
		name  string
		file  string
		r     *testutil.Repeat
		limit int
		want  string
	}{
		{"NDJSON line, default limit", "big.ndjson", bigRow(meta+`["a"]`+"\n", "\n"), 0,
			"big.ndjson: row 1 (line 3): longer than 16777216 bytes (a limit: raise it with --max-record-bytes): malformed input"},
		{"NDJSON line, 1 MiB limit", "big.ndjson", bigRow(meta, "\n"), 1 << 20,
			"big.ndjson: row 0 (line 2): longer than 1048576 bytes (a limit: raise it with --max-record-bytes): malformed input"},
		{"JSON row", "big.json", bigRow(`{"columns":[{"name":"S","dataType":"string"}],"rows":[`, "]}"), 1 << 20,
			"big.json: row 0: longer than 1048576 bytes (a limit: raise it with --max-record-bytes): malformed input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			alloc, peak := testutil.Measure(func() {
				var x *datasetjson.Reader
				if x, err = datasetjson.NewReaderFor(tc.r, tc.file, datasetjson.WithMaxRowBytes(tc.limit)); err != nil {
					return
				}
				defer x.Release()
				for x.Next() {
				}
				err = x.Err()
			})
			if !errors.Is(err, datasetjson.ErrMalformed) || err.Error() != tc.want {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
			limit := uint64(tc.limit)
			if limit == 0 {
				limit = datasetjson.DefaultMaxRowBytes
			}
			t.Logf("peak heap %.1f MiB (allocated %.1f MiB in all), read %.1f MB of the 100 MB line", float64(peak)/(1<<20), float64(alloc)/(1<<20), float64(tc.r.Consumed)/1e6)
			if peak > 4*limit+8<<20 {
				t.Errorf("peak heap %d bytes for a row limit of %d: not bounded", peak, limit)
			}
			if uint64(tc.r.Consumed) > limit+2<<20 {
				t.Errorf("read %d bytes of input before rejecting the row", tc.r.Consumed)
			}
		})
	}
}
