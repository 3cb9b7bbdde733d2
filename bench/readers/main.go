// Command readers measures how fast trialog reads each input format: on
// the largest shared real file of each format, and on a generated ~1M-row
// table in every format (the real LB domain of the CDISC MSG sample,
// repeated: XPT by repeating its fixed-length observation records,
// Dataset-JSON by repeating its rows, CSV, Parquet and Arrow IPC written
// from the XPT's Arrow batches). Reading = source.Open + every batch, as
// ingest's passes do (CSV includes its type-inference scan).
//
//	go run ./bench/readers [-rows 1000000] [-dir bench/out/readers]
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/csv"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows of the generated tables (rounded up to whole copies of LB)")
	dir := flag.String("dir", "bench/out/readers", "where to write the generated files")
	shared := flag.String("shared", "../shared/data", "the shared real data")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	msg := filepath.Join(*shared, "datasetjson-msg")
	real := []string{
		filepath.Join(*shared, "cdiscpilot01/xpt/cm.xpt"), filepath.Join(msg, "lb.xpt"),
		filepath.Join(msg, "lb.json"), filepath.Join(msg, "lb.ndjson"), filepath.Join(msg, "lb.dsjc"),
		filepath.Join(*shared, "cdiscpilot01/csv/cm.csv"),
	}
	generated, err := generate(ctx, msg, *dir, *rows)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("| file | format | MB | rows | seconds | MB/s | rows/s |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, p := range append(real, generated...) {
		if err := measure(ctx, p); err != nil {
			log.Fatal(err)
		}
	}
}

func measure(ctx context.Context, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	start := time.Now()
	f, err := readers.Open(ctx, path, source.Options{})
	if err != nil {
		return err
	}
	b, err := f.Batches(ctx)
	if err != nil {
		return err
	}
	var rows int64
	for b.Next() {
		rows += b.Record().NumRows()
	}
	if err := b.Err(); err != nil {
		return err
	}
	b.Close()
	sec := time.Since(start).Seconds()
	mb := float64(st.Size()) / 1e6
	fmt.Printf("| %s | %s | %.1f | %d | %.2f | %.0f | %.0f |\n", filepath.Base(path), f.Format, mb, rows, sec, mb/sec, float64(rows)/sec)
	return nil
}

// generate writes lb-1m.{xpt,ndjson,json,dsjc,csv,parquet,arrow}.
func generate(ctx context.Context, msg, dir string, want int) ([]string, error) {
	// XPT: headers, then the observation records repeated.
	raw, err := os.ReadFile(filepath.Join(msg, "lb.xpt"))
	if err != nil {
		return nil, err
	}
	const obsHeader = "HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
	at := bytes.Index(raw, []byte(obsHeader))
	if at < 0 {
		return nil, fmt.Errorf("lb.xpt: no OBS header")
	}
	head, data := raw[:at+80], raw[at+80:]
	const realRows = 3488
	obsLen := len(data) / realRows
	data = data[:realRows*obsLen]
	copies := (want + realRows - 1) / realRows
	out := map[string]string{}
	xptPath := filepath.Join(dir, "lb-1m.xpt")
	var buf bytes.Buffer
	buf.Write(head)
	for i := 0; i < copies; i++ {
		buf.Write(data)
	}
	if pad := buf.Len() % 80; pad != 0 {
		buf.Write(bytes.Repeat([]byte(" "), 80-pad))
	}
	if err := os.WriteFile(xptPath, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	out["xpt"] = xptPath
	// Dataset-JSON: metadata line, rows repeated.
	nd, err := os.ReadFile(filepath.Join(msg, "lb.ndjson"))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(nd), "\n"), "\n")
	meta := strings.Replace(lines[0], fmt.Sprintf(`"records": %d`, realRows), fmt.Sprintf(`"records": %d`, copies*realRows), 1)
	rowsText := lines[1:]
	var ndb, jb bytes.Buffer
	ndb.WriteString(meta + "\n")
	jb.WriteString(strings.TrimSuffix(meta, "}") + `, "rows": [`)
	for i := 0; i < copies; i++ {
		for k, r := range rowsText {
			ndb.WriteString(r + "\n")
			if i > 0 || k > 0 {
				jb.WriteString(",")
			}
			jb.WriteString(r)
		}
	}
	jb.WriteString("]}")
	out["ndjson"] = filepath.Join(dir, "lb-1m.ndjson")
	out["json"] = filepath.Join(dir, "lb-1m.json")
	if err := os.WriteFile(out["ndjson"], ndb.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(out["json"], jb.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ndb.Bytes())
	zw.Close()
	out["dsjc"] = filepath.Join(dir, "lb-1m.dsjc")
	if err := os.WriteFile(out["dsjc"], gz.Bytes(), 0o644); err != nil {
		return nil, err
	}
	// CSV, Parquet, IPC from the generated XPT's batches.
	f, err := readers.Open(ctx, xptPath, source.Options{})
	if err != nil {
		return nil, err
	}
	schema := f.Schema()
	plain := arrow.NewSchema(schema.Fields(), nil)
	csvF, _ := os.Create(filepath.Join(dir, "lb-1m.csv"))
	pqF, _ := os.Create(filepath.Join(dir, "lb-1m.parquet"))
	ipcF, _ := os.Create(filepath.Join(dir, "lb-1m.arrow"))
	cw := csv.NewWriter(csvF, plain, csv.WithHeader(true), csv.WithNullWriter("NA"))
	pw, err := pqarrow.NewFileWriter(plain, pqF, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, err
	}
	iw, err := ipc.NewFileWriter(ipcF, ipc.WithSchema(plain))
	if err != nil {
		return nil, err
	}
	b, err := f.Batches(ctx)
	if err != nil {
		return nil, err
	}
	for b.Next() {
		for _, w := range []interface{ Write(arrow.Record) error }{cw, pw, iw} {
			if err := w.Write(b.Record()); err != nil {
				return nil, err
			}
		}
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	b.Close()
	cw.Flush()
	pw.Close()
	iw.Close()
	csvF.Close()
	ipcF.Close()
	out["csv"], out["parquet"], out["arrow"] = csvF.Name(), pqF.Name(), ipcF.Name()
	var paths []string
	for _, k := range []string{"xpt", "json", "ndjson", "dsjc", "csv", "parquet", "arrow"} {
		paths = append(paths, out[k])
	}
	return paths, nil
}
