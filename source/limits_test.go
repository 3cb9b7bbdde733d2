package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trialog/trialog/internal/testutil"
)

// TestCSVLimits: a CSV line of 20 million fields (generated, streamed) is
// rejected as a header over --max-fields, and as a data line the moment it
// passes the header's count, each with one line naming the line and the
// bound, in memory measured to be a few MiB; records and cells over their
// bounds likewise.
func TestCSVLimits(t *testing.T) {
	const fields = 20_000_000 // 40 MB of "x,"
	for _, tc := range []struct {
		name   string
		r      *testutil.Repeat
		limits Limits
		want   string
	}{
		{"header of 20M fields", &testutil.Repeat{Unit: "x,", N: fields, Suffix: "x\n"}, Limits{}, "line 1: more than 100000 fields (a limit: raise it with --max-fields)"},
		{"row of 20M fields", &testutil.Repeat{Prefix: "A,B\n1,2\n", Unit: "x,", N: fields, Suffix: "x\n"}, Limits{}, "line 3: more fields than the header's 2"},
		{"100 MB cell", &testutil.Repeat{Prefix: "A,B\n1,\"", Unit: strings.Repeat("y", 1000), N: 100_000, Suffix: "\"\n"}, Limits{}, "line 2: field 2 is longer than 4194304 bytes (a limit: raise it with --max-cell-bytes)"},
		{"record over the limit", &testutil.Repeat{Prefix: "A,B\n1,", Unit: strings.Repeat("y", 1000), N: 100_000, Suffix: "\n"}, Limits{MaxRecordBytes: 1 << 20}, "line 2: record is longer than 1048576 bytes (a limit: raise it with --max-record-bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			alloc, peak := testutil.Measure(func() {
				sc := newCSVScanner(tc.r, tc.limits)
				for err == nil {
					_, err = sc.next()
					if err == nil && sc.line == 1 {
						sc.maxFields, sc.afterHeader = 2, true // as csvSchema does after the header
					}
				}
			})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			t.Logf("peak heap %.1f MiB (allocated %.1f MiB in all), read %.1f MB of the input", float64(peak)/(1<<20), float64(alloc)/(1<<20), float64(tc.r.Consumed)/1e6)
			// A record is held once, with room to grow: bounded by the
			// limit it broke, never by the input's size.
			if bound := 5*uint64(min(tc.limits.withDefaults().MaxCellBytes, tc.limits.withDefaults().MaxRecordBytes)) + 16<<20; peak > bound {
				t.Errorf("peak heap %d bytes, over %d: not bounded", peak, bound)
			}
			if tc.r.Consumed > int64(tc.limits.withDefaults().MaxRecordBytes)+1<<20 {
				t.Errorf("read %d bytes of input before rejecting it", tc.r.Consumed)
			}
		})
	}
}

// TestCSVLimitsThroughOpen streams a 20M-field line through a named pipe
// into Open, as the CLI reads a file: one clear error, bounded memory.
func TestCSVLimitsThroughOpen(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "hostile.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		io.Copy(w, &testutil.Repeat{Prefix: "USUBJID,AGE\n", Unit: "x,", N: 20_000_000, Suffix: "x\n"})
	}()
	var err error
	alloc, peak := testutil.Measure(func() { _, err = Open(context.Background(), fifo, Options{Format: CSV}) })
	if !errors.Is(err, ErrInput) || err.Error() != "hostile.csv: line 2: more fields than the header's 2: bad input" {
		t.Errorf("Open: %v", err)
	}
	t.Logf("Open of a 20M-field line: peak heap %.1f MiB, allocated %.1f MiB", float64(peak)/(1<<20), float64(alloc)/(1<<20))
	if alloc > 8<<20 {
		t.Errorf("allocated %d bytes", alloc)
	}
}

// TestUTF16CSV: a UTF-16 file is named as such, not misread as UTF-8.
func TestUTF16CSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dm.csv")
	os.WriteFile(path, []byte("\xff\xfeU\x00S\x00,\x00A\x00\n\x00"), 0o644)
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "dm.csv: the file is UTF-16LE text") || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("UTF-16 CSV: %v", err)
	}
}
