// Command tiles benchmarks publishing, monitoring and serving a trial log
// as C2SP tlog-tiles (bench/tiles.sh runs it under /usr/bin/time -v, one
// step per process, so each step's peak RSS is its own).
//
//	tiles mklog   -log DIR -n N          an embedded log of N ~100-byte leaves and a signed checkpoint
//	tiles read    -log DIR               read every leaf in publish-sized ranges (the baseline)
//	tiles evict   -log DIR               drop DIR's files from the page cache (the next read is cold)
//	tiles publish -log DIR -out PUB      tlogtiles.Publish into PUB
//	tiles monitor -out PUB -state S      monitor.Check from the directory (or -url)
//	tiles serve   -out PUB -requests N [-raw]  loopback HTTP server + Go load generator over tile paths
//	                                     (-raw: a minimal keep-alive HTTP/1.1 client instead of net/http's)
//	tiles server  -out PUB -addr A -max-time D   only the server (its CPU time is then its own)
//	tiles load    -out PUB -url U -requests N [-raw]  only the load generator, against a server
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"

	"github.com/trialog/trialog/monitor"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: tiles mklog|read|publish|monitor|serve [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("log", "", "benchmark log directory")
	n := fs.Uint64("n", 1_000_000, "leaves (mklog)")
	out := fs.String("out", "", "published directory")
	state := fs.String("state", "", "monitor state directory")
	url := fs.String("url", "", "monitor: log URL instead of -out")
	requests := fs.Int("requests", 200_000, "serve: requests to send")
	conc := fs.Int("conc", 32, "serve: concurrent clients")
	maxTime := fs.Duration("max-time", 60*time.Second, "serve: stop after this long")
	raw := fs.Bool("raw", false, "serve, load: a minimal keep-alive HTTP/1.1 client instead of net/http's")
	addr := fs.String("addr", "127.0.0.1:18181", "server: listen address")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile")
	fs.Parse(os.Args[2:])
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	start := time.Now()
	var what string
	var count uint64
	switch os.Args[1] {
	case "mklog":
		count, what = mklog(ctx, *dir, *n), "leaves appended"
	case "read":
		count, what = read(ctx, *dir), "leaves read"
	case "evict":
		count, what = evict(*dir), "files evicted"
	case "publish":
		count, what = publish(ctx, *dir, *out), "leaves published"
	case "monitor":
		count, what = mon(ctx, *dir, *out, *url, *state), "leaves monitored"
	case "serve":
		count, what = serve(*out, *requests, *conc, *maxTime, *raw), "tile requests served"
		start = serveStart
	case "server":
		count, what = server(*out, *addr, *maxTime), "tile requests served"
	case "load":
		count, what = load(*out, *url, *requests, *conc, *maxTime, *raw), "tile requests sent"
		start = serveStart
	default:
		log.Fatalf("unknown step %q", os.Args[1])
	}
	el := time.Since(start)
	fmt.Printf("%s: %d %s in %.2fs: %.0f/s\n", os.Args[1], count, what, el.Seconds(), float64(count)/el.Seconds())
}

func keys(dir string) (skey, vkey string) {
	s, err := os.ReadFile(filepath.Join(dir, "checkpoint.key"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := os.ReadFile(filepath.Join(dir, "checkpoint.vkey"))
	if err != nil {
		log.Fatal(err)
	}
	return strings.TrimSpace(string(s)), strings.TrimSpace(string(v))
}

// mklog appends n leaves shaped like row leaves (kind 0x01, format 0x02,
// 98 random bytes) and writes the signed checkpoint.
func mklog(ctx context.Context, dir string, n uint64) uint64 {
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin("BENCH"))
	if err != nil {
		log.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "checkpoint.key"), []byte(skey), 0o600)
	os.WriteFile(filepath.Join(dir, "checkpoint.vkey"), []byte(vkey), 0o644)
	l, err := embedded.Open(ctx, filepath.Join(dir, "tree"), embedded.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	root, err := l.LatestRoot(ctx)
	if err != nil {
		log.Fatal(err)
	}
	const batch = 65536
	buf := make([]byte, batch*100)
	for root.Size < n {
		k := min(batch, n-root.Size)
		rand.Read(buf)
		leaves := make([][]byte, k)
		for i := range leaves {
			b := buf[i*100 : (i+1)*100 : (i+1)*100]
			b[0], b[1] = 0x01, 0x02
			leaves[i] = b
		}
		if root, err = l.AppendLeaves(ctx, root.Size, leaves); err != nil {
			log.Fatal(err)
		}
	}
	cp, err := checkpoint.Sign(skey, root)
	if err != nil {
		log.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "checkpoint"), cp, 0o644)
	return n
}

func openLog(ctx context.Context, dir string) *embedded.Log {
	l, err := embedded.Open(ctx, filepath.Join(dir, "tree"), embedded.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	return l
}

// read reads every leaf in the ranges Publish uses (64 bundles at a time).
func read(ctx context.Context, dir string) uint64 {
	l := openLog(ctx, dir)
	defer l.Close()
	root, err := l.LatestRoot(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var bytes int
	for pos := uint64(0); pos < root.Size; {
		k := min(64*256, root.Size-pos)
		leaves, err := l.Leaves(ctx, pos, k)
		if err != nil {
			log.Fatal(err)
		}
		for _, lf := range leaves {
			bytes += len(lf)
		}
		pos += k
	}
	return root.Size
}

// evict writes back and drops every file under dir from the page cache
// (posix_fadvise DONTNEED on clean pages), so that the next read of the
// log comes from the disk: the cold baseline.
func evict(dir string) uint64 {
	var n uint64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
		n++
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		log.Fatal(err)
	}
	return n
}

func publish(ctx context.Context, dir, out string) uint64 {
	l := openLog(ctx, dir)
	defer l.Close()
	_, vkey := keys(dir)
	cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		log.Fatal(err)
	}
	res, err := tlogtiles.Publish(ctx, l, vkey, cp, out)
	if err != nil {
		log.Fatal(err)
	}
	return res.NewSize - res.OldSize
}

func mon(ctx context.Context, dir, out, url, state string) uint64 {
	_, vkey := keys(dir)
	loc := out
	if url != "" {
		loc = url
	}
	r, err := tlogtiles.OpenReader(loc)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := monitor.Check(ctx, r, monitor.Options{VerifierKey: vkey, StateDir: state})
	if err != nil {
		log.Fatal(err)
	}
	return rep.NewSize - rep.OldSize
}

// serve starts the read-only handler on loopback and sends requests for
// random level-0 tiles and entry bundles (and the checkpoint) from conc
// keep-alive clients, until requests are sent or maxTime passes.
func serve(out string, requests, conc int, maxTime time.Duration, raw bool) uint64 {
	h, err := tlogtiles.NewHandler(map[string]string{"BENCH": out})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	n := load(out, "http://"+ln.Addr().String()+"/BENCH/", requests, conc, maxTime, raw)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("serve: %d clients, heap in use %d MiB (client and server in one process)\n", conc, ms.HeapInuse>>20)
	return n
}

// counting counts the requests a handler answered.
type counting struct {
	h http.Handler
	n atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.n.Add(1); c.h.ServeHTTP(w, r) }

// server serves out under /BENCH/ at addr for maxTime, then reports how
// many requests it answered (run it under /usr/bin/time -v beside load).
func server(out, addr string, maxTime time.Duration) uint64 {
	h, err := tlogtiles.NewHandler(map[string]string{"BENCH": out})
	if err != nil {
		log.Fatal(err)
	}
	c := &counting{h: h}
	srv := &http.Server{Addr: addr, Handler: c, ReadHeaderTimeout: 5 * time.Second}
	go srv.ListenAndServe()
	time.Sleep(maxTime)
	srv.Close()
	return uint64(c.n.Load())
}

var serveStart time.Time

// load sends requests for random full level-0 tiles and entry bundles of
// the publication in out (1% checkpoints) to base from conc keep-alive
// clients, until requests are sent or maxTime passes.
func load(out, base string, requests, conc int, maxTime time.Duration, raw bool) uint64 {
	data, err := os.ReadFile(filepath.Join(out, "checkpoint"))
	if err != nil {
		log.Fatal(err)
	}
	var size int64
	fmt.Sscanf(strings.Split(string(data), "\n")[1], "%d", &size)
	full := size / 256
	if full == 0 {
		log.Fatal("need at least one full tile")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(url string) error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
	var sent, failed atomic.Int64
	deadline := time.Now().Add(maxTime)
	serveStart = time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fetch := get
			if raw {
				rc, err := dialRaw(base)
				if err != nil {
					log.Fatal(err)
				}
				defer rc.conn.Close()
				fetch = rc.get
			}
			for time.Now().Before(deadline) {
				i := sent.Add(1)
				if i > int64(requests) {
					return
				}
				// math/rand/v2: no getrandom(2) per request in the load generator.
				t := tlog.Tile{H: 8, L: int(i % 2), N: mrand.Int64N(full), W: 256}
				if t.L == 1 {
					t.L = -1
				}
				p := tlogtiles.TilePathOf(t)
				if i%100 == 0 {
					p = tlogtiles.CheckpointPath
				}
				if err := fetch(base + p); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	n := min(sent.Load(), int64(requests))
	if f := failed.Load(); f > 0 {
		log.Fatalf("%d of %d requests failed", f, n)
	}
	return uint64(n)
}

// rawClient is a minimal HTTP/1.1 keep-alive client on one connection (the
// -raw load generator): it writes a GET, reads the status line and the
// headers, and discards Content-Length bytes of body. It costs far less
// CPU per request than net/http's client, leaving more of a shared box to
// the server under test.
type rawClient struct {
	conn   net.Conn
	br     *bufio.Reader
	host   string
	prefix string // URL path prefix, e.g. /BENCH/
	req    []byte
}

func dialRaw(base string) (*rawClient, error) {
	u, err := neturl.Parse(base)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return &rawClient{conn: conn, br: bufio.NewReaderSize(conn, 64<<10), host: u.Host, prefix: u.Path}, nil
}

// get fetches url (base + path; only the path after the base is sent).
func (c *rawClient) get(url string) error {
	_, p, _ := strings.Cut(url, c.host)
	c.req = append(append(append(append(c.req[:0], "GET "...), p...), " HTTP/1.1\r\nHost: "...), c.host...)
	c.req = append(c.req, "\r\n\r\n"...)
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	status, err := c.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	ok := bytes.HasPrefix(status, []byte("HTTP/1.1 200 "))
	length := -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, found := bytes.Cut(line, []byte(":")); found && strings.EqualFold(string(k), "Content-Length") {
			length, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return fmt.Errorf("%s: no Content-Length", p)
	}
	if _, err := c.br.Discard(length); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %q", p, bytes.TrimSpace(status))
	}
	return nil
}
