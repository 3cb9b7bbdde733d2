// Command witness measures what witnessing costs an ingest: the same
// `trialog ingest` of one file into a fresh trial, without witnesses and
// with three local litewitness processes (real ones, started by
// witness/witnesstest, each with its own ssh-agent), alternated -runs
// times so both see the same machine. Each ingest runs under
// /usr/bin/time -v; the output is TSV: run, mode, wall seconds, peak RSS
// MiB, cosignatures; with -checkpoints N also the mean wall time of one
// `trialog checkpoint` (sign, publish, witness) in each mode.
// bench/witness.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness/witnesstest"
)

func main() {
	trialog := flag.String("trialog", "bench/out/trialog", "trialog binary")
	data := flag.String("data", "", "file to ingest")
	runs := flag.Int("runs", 3, "alternated runs per mode")
	work := flag.String("dir", "bench/out/witness", "scratch directory")
	checkpoints := flag.Int("checkpoints", 0, "after each ingest, time this many `trialog checkpoint` calls (per-checkpoint cost)")
	flag.Parse()
	log.SetFlags(0)
	if *data == "" {
		log.Fatal("-data is required")
	}
	ctx := context.Background()
	bin, err := witnesstest.EnsureBinaries(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(*work)
	var ws []*witnesstest.Witness
	for i, name := range []string{"sponsor", "irb", "notary"} {
		w, err := witnesstest.Start(ctx, bin, filepath.Join(*work, fmt.Sprintf("w%d", i)), name+".example/witness")
		if err != nil {
			log.Fatal(err)
		}
		defer w.Close()
		if err := os.WriteFile(filepath.Join(*work, name+".vkey"), []byte(w.Key+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		ws = append(ws, w)
	}
	fmt.Println("run\tmode\twall_s\tpeak_rss_mib\tcosignatures")
	for run := 1; run <= *runs; run++ {
		for _, mode := range []string{"none", "3-witnesses"} {
			trial := fmt.Sprintf("BENCH%d%s", run, map[string]string{"none": "N", "3-witnesses": "W"}[mode])
			dir := filepath.Join(*work, "log-"+trial)
			must(*trialog, "init", "--log", dir, "--trial", trial)
			if mode != "none" {
				vkey, err := os.ReadFile(filepath.Join(dir, "trials", trial, "checkpoint.vkey"))
				if err != nil {
					log.Fatal(err)
				}
				for i, w := range ws {
					if err := w.AddLog(ctx, checkpoint.Origin(trial), string(vkey)); err != nil {
						log.Fatal(err)
					}
					name := []string{"sponsor", "irb", "notary"}[i]
					must(*trialog, "witness", "add", "--log", dir, "--trial", trial, "--name", name, "--url", w.URL, "--key", filepath.Join(*work, name+".vkey"))
				}
			}
			wall, rss, out := timed(*trialog, "ingest", "--log", dir, "--trial", trial, "--dataset", "LB", "--json", *data)
			cosigs := "-"
			if m := regexp.MustCompile(`"cosignatures": (\d+)`).FindStringSubmatch(out); m != nil {
				cosigs = m[1]
			}
			fmt.Printf("%d\t%s\t%.2f\t%d\t%s\n", run, mode, wall, rss, cosigs)
			if *checkpoints > 0 {
				// The constant per-checkpoint cost alone, through the CLI:
				// `trialog checkpoint` re-signs and (with witnesses) has all
				// three cosign again.
				start := time.Now()
				for i := 0; i < *checkpoints; i++ {
					must(*trialog, "checkpoint", "--log", dir, "--trial", trial)
				}
				fmt.Printf("%d\t%s-checkpoint\t%.4f\t-\t-\n", run, mode, time.Since(start).Seconds()/float64(*checkpoints))
			}
			os.RemoveAll(dir)
		}
	}
}

func must(name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// timed runs the command under /usr/bin/time -v and returns wall seconds,
// peak RSS (MiB) and stdout.
func timed(name string, args ...string) (float64, int, string) {
	cmd := exec.Command("/usr/bin/time", append([]string{"-v", name}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start).Seconds()
	if err != nil {
		log.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	rss := 0
	if m := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindStringSubmatch(stderr.String()); m != nil {
		kb, _ := strconv.Atoi(m[1])
		rss = kb / 1024
	}
	return wall, rss, string(out)
}
