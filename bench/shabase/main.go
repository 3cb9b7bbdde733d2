// Command shabase is the reference limit for ingest benchmarks: it reads a
// dataset file exactly as trialog does, builds every row's canonical bytes
// (docs/canonical-encoding.md, "Rows") and runs plain SHA-256 over them —
// no salts, no per-cell commitments, no leaves, no log. trialog's ingest
// rate is reported as a ratio of this one.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
)

func main() {
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: shabase FILE")
	}
	ctx := context.Background()
	start := time.Now()
	f, err := readers.Open(ctx, flag.Arg(0), source.Options{})
	if err != nil {
		log.Fatal(err)
	}
	cols, err := commit.ColumnsOf(f.Name, f.Schema())
	if err != nil {
		log.Fatal(err)
	}
	b, err := f.Batches(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	h := sha256.New()
	var rows, bytes uint64
	var buf []byte
	for b.Next() {
		rec := b.Record()
		encs := make([]canonical.CellEncoder, len(cols.Sorted))
		for j, idx := range cols.SourceIndex {
			if encs[j], err = canonical.Encoder(rec.Column(idx)); err != nil {
				log.Fatal(err)
			}
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			buf = buf[:0]
			for j, enc := range encs {
				name := cols.Sorted[j]
				buf = binary.AppendUvarint(buf, uint64(len(name)))
				buf = append(buf, name...)
				mark := len(buf)
				buf = append(buf, 0, 0) // room for a short uvarint length
				if buf, err = enc(buf, i); err != nil {
					log.Fatal(err)
				}
				cell := len(buf) - mark - 2
				if cell < 128 {
					buf[mark] = byte(cell)
					buf = append(buf[:mark+1], buf[mark+2:]...)
				} else {
					lenBuf := binary.AppendUvarint(nil, uint64(cell))
					buf = append(buf[:mark], append(lenBuf, buf[mark+2:]...)...)
				}
			}
			h.Write(buf)
			bytes += uint64(len(buf))
			rows++
		}
	}
	if err := b.Err(); err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rows": rows, "canonical_bytes": bytes, "seconds": elapsed.Seconds(),
		"rows_per_s": float64(rows) / elapsed.Seconds(), "sha256": hex.EncodeToString(h.Sum(nil)),
	})
	fmt.Fprintf(os.Stderr, "shabase: %d rows, %d canonical bytes in %v\n", rows, bytes, elapsed)
}
