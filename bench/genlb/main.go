// Command genlb writes a synthetic LB-like (laboratory results) SDTM table
// as an Arrow IPC file for benchmarks: 16 columns of text, nullable floats,
// integers and ISO 8601 dates, deterministic for a given seed.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows to write")
	out := flag.String("out", "lb.arrow", "output Arrow IPC file")
	seed := flag.Uint64("seed", 1, "random seed")
	batch := flag.Int("batch", 65536, "rows per record batch")
	flag.Parse()
	if err := write(*out, *rows, *batch, *seed); err != nil {
		log.Fatal(err)
	}
}

type test struct{ code, name, unit string }

var tests = []test{
	{"ALB", "Albumin", "g/L"}, {"ALP", "Alkaline Phosphatase", "U/L"}, {"ALT", "Alanine Aminotransferase", "U/L"},
	{"AST", "Aspartate Aminotransferase", "U/L"}, {"BILI", "Bilirubin", "umol/L"}, {"CREAT", "Creatinine", "umol/L"},
	{"GLUC", "Glucose", "mmol/L"}, {"HGB", "Hemoglobin", "mmol/L"}, {"K", "Potassium", "mmol/L"}, {"SODIUM", "Sodium", "mmol/L"},
}

func write(path string, rows, batch int, seed uint64) error {
	fields := []arrow.Field{
		{Name: "STUDYID", Type: arrow.BinaryTypes.String}, {Name: "DOMAIN", Type: arrow.BinaryTypes.String},
		{Name: "USUBJID", Type: arrow.BinaryTypes.String}, {Name: "LBSEQ", Type: arrow.PrimitiveTypes.Int64},
		{Name: "LBTESTCD", Type: arrow.BinaryTypes.String}, {Name: "LBTEST", Type: arrow.BinaryTypes.String},
		{Name: "LBCAT", Type: arrow.BinaryTypes.String}, {Name: "LBORRES", Type: arrow.BinaryTypes.String},
		{Name: "LBORRESU", Type: arrow.BinaryTypes.String}, {Name: "LBSTRESN", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "LBSTRESU", Type: arrow.BinaryTypes.String}, {Name: "LBNRIND", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "LBBLFL", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "VISITNUM", Type: arrow.PrimitiveTypes.Float64},
		{Name: "LBDTC", Type: arrow.BinaryTypes.String}, {Name: "LBDY", Type: arrow.PrimitiveTypes.Int64},
	}
	schema := arrow.NewSchema(fields, nil)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(schema))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	start := time.Date(2014, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := 0; i < rows; i++ {
		subj := i / 200
		tst := tests[i%len(tests)]
		value := 1 + rng.Float64()*150
		b.Field(0).(*array.StringBuilder).Append("CDISCPILOT01")
		b.Field(1).(*array.StringBuilder).Append("LB")
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("01-%03d-%04d", 700+subj%20, subj))
		b.Field(3).(*array.Int64Builder).Append(int64(i%200 + 1))
		b.Field(4).(*array.StringBuilder).Append(tst.code)
		b.Field(5).(*array.StringBuilder).Append(tst.name)
		b.Field(6).(*array.StringBuilder).Append("CHEMISTRY")
		b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("%.1f", value))
		b.Field(8).(*array.StringBuilder).Append(tst.unit)
		if rng.IntN(20) == 0 {
			b.Field(9).AppendNull()
		} else {
			b.Field(9).(*array.Float64Builder).Append(float64(int(value*100)) / 100)
		}
		b.Field(10).(*array.StringBuilder).Append(tst.unit)
		switch rng.IntN(10) {
		case 0:
			b.Field(11).(*array.StringBuilder).Append("HIGH")
		case 1:
			b.Field(11).(*array.StringBuilder).Append("LOW")
		case 2:
			b.Field(11).AppendNull()
		default:
			b.Field(11).(*array.StringBuilder).Append("NORMAL")
		}
		if i%200 < 10 {
			b.Field(12).(*array.StringBuilder).Append("Y")
		} else {
			b.Field(12).AppendNull()
		}
		visit := i % 200 / 10
		b.Field(13).(*array.Float64Builder).Append(float64(visit) + 0.5*float64(visit%2))
		day := visit*14 + rng.IntN(3)
		b.Field(14).(*array.StringBuilder).Append(start.AddDate(0, 0, day+subj%300).Format("2006-01-02T15:04"))
		b.Field(15).(*array.Int64Builder).Append(int64(day + 1))
		if (i+1)%batch == 0 || i == rows-1 {
			rec := b.NewRecord()
			if err := w.Write(rec); err != nil {
				return err
			}
			rec.Release()
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}
