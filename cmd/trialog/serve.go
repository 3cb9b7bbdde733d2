package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/verify/browser"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve every trial's log read-only over HTTP as C2SP tlog-tiles, under /<trial ID>/, and the browser verifier page at / and /verifier.html",
		Flags: []cli.Flag{logFlag(), stateFlag(),
			&cli.StringFlag{Name: "addr", Usage: "HOST:PORT to listen on", Value: "127.0.0.1:8080"},
			&cli.DurationFlag{Name: "refresh", Usage: "how often to publish new checkpoints", Value: 10 * time.Second},
			&cli.IntFlag{Name: "max-inflight", Usage: "requests served at once (more get 503)", Value: 512},
		},
		Action: func(c *cli.Context) error {
			// Messages while serving go where stderr was at start (the
			// writer is read once, not from the os.Stderr variable later).
			logw := c.App.ErrWriter
			if logw == nil {
				logw = os.Stderr
			}
			loc, err := logLocation(c)
			if err != nil {
				return err
			}
			trials, err := listTrials(loc)
			if err != nil {
				return err
			}
			dirs := map[string]string{}
			for _, id := range trials {
				if _, err := publishTrial(c.Context, loc, id, publicDir(loc, id)); err != nil {
					// Serve the last good publication; the refresh retries.
					fmt.Fprintln(logw, "trialog: serve:", err)
					if err := os.MkdirAll(publicDir(loc, id), 0o755); err != nil {
						return err
					}
				}
				dirs[id] = publicDir(loc, id)
			}
			h, err := tlogtiles.NewHandler(dirs)
			if err != nil {
				return err
			}
			defer h.Close()
			site, err := withVerifierPage(h)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", c.String("addr"))
			if err != nil {
				return err
			}
			srv := &http.Server{
				Handler:           limitInflight(site, c.Int("max-inflight")),
				ReadHeaderTimeout: 5 * time.Second,
				ReadTimeout:       10 * time.Second,
				WriteTimeout:      30 * time.Second,
				IdleTimeout:       60 * time.Second,
				MaxHeaderBytes:    8 << 10,
			}
			fmt.Fprintf(logw, "trialog: serving %d trials read-only on http://%s/ (%v)\n", len(dirs), ln.Addr(), trials)
			go refreshLoop(c.Context, loc, h, c.Duration("refresh"), logw)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-c.Context.Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return err
			}
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
}

// listTrials lists the trials under a log location.
func listTrials(loc backend.Location) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(loc.Dir, "trials", "*", "trial.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Base(filepath.Dir(m)))
	}
	if len(out) == 0 {
		return nil, usageErr("no trials in %s", loc.Dir)
	}
	return out, nil
}

// refreshLoop publishes each trial's newest checkpoint periodically, and
// starts serving trials created since; a failure is reported and retried,
// and the last good publication stays served.
func refreshLoop(ctx context.Context, loc backend.Location, h *tlogtiles.Handler, every time.Duration, logw io.Writer) {
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		trials, err := listTrials(loc)
		if err != nil {
			fmt.Fprintln(logw, "trialog: serve:", err)
			continue
		}
		for _, id := range trials {
			_, err := publishTrial(ctx, loc, id, publicDir(loc, id))
			if err == nil {
				err = h.Add(id, publicDir(loc, id))
			}
			if err != nil && ctx.Err() == nil {
				fmt.Fprintln(logw, "trialog: serve:", err)
			}
		}
	}
}

// limitInflight answers 503 beyond n concurrent requests, so a flood
// cannot pile up goroutines and open files.
func limitInflight(h http.Handler, n int) http.Handler {
	sem := make(chan struct{}, max(1, n))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	})
}

// isVerifierPath reports whether serve answers p with the browser
// verifier page.
func isVerifierPath(p string) bool { return p == "/" || p == "/verifier.html" }

// withVerifierPage answers GET and HEAD of / and /verifier.html with the
// browser verifier page (the one `trialog verifier-page` writes, built
// once, in memory: its size does not depend on the log), and passes every
// other request to h. The page is public code, no data; it verifies
// packages offline in the browser (its Content-Security-Policy allows no
// network), so serving it next to the tiles gives sponsors one address
// for both.
func withVerifierPage(h http.Handler) (http.Handler, error) {
	var page bytes.Buffer
	if err := browser.WritePage(&page); err != nil {
		return nil, err
	}
	body := page.Bytes()
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isVerifierPath(r.URL.Path) || r.URL.RawPath != "" || r.URL.RawQuery != "" {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only", http.StatusMethodNotAllowed)
			return
		}
		hdr := w.Header()
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		// It changes only with trialog's version: revalidated hourly.
		hdr.Set("Cache-Control", "public, max-age=3600")
		hdr.Set("ETag", etag)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}), nil
}
