package trilliantest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/trialog/trialog/internal/loopback"
)

// Options tune a Deployment.
type Options struct {
	// Signer is the signer's tuning; zero means DefaultSignerTuning.
	Signer SignerTuning
	// Durable keeps PostgreSQL's fsync on (benchmarks); tests turn it off.
	Durable bool
	// Logf, if set, receives progress messages (binary builds, log paths).
	Logf func(format string, args ...any)
}

// Deployment is a running PostgreSQL + trillian_log_server +
// trillian_log_signer, all on loopback ports chosen at start. Ports stay
// the same across restarts, so clients reconnect to the same target.
type Deployment struct {
	dir    string
	bin    string
	module Module
	tuning SignerTuning
	pg     *postgres

	logRPC, logHTTP       string
	signerRPC, signerHTTP string

	mu     sync.Mutex
	server *proc
	signer *proc
}

// Start brings a deployment up: it builds (or reuses) the servers, creates
// a PostgreSQL cluster with Trillian's schema, starts both servers and waits
// for their /healthz. Everything lives in one temporary directory, removed
// by Close.
func Start(ctx context.Context, opts Options) (d *Deployment, err error) {
	if opts.Signer == (SignerTuning{}) {
		opts.Signer = DefaultSignerTuning()
	}
	module, err := ResolveModule(ctx)
	if err != nil {
		return nil, err
	}
	bin, err := EnsureBinaries(ctx, module, opts.Logf)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "trialog-trillian-")
	if err != nil {
		return nil, err
	}
	// PostgreSQL runs as another user and must reach its directory inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	dep := &Deployment{dir: dir, bin: bin, module: module, tuning: opts.Signer}
	defer func() {
		if err != nil { // Stop whatever did start; leave no processes behind.
			dep.Close()
		}
	}()
	d = dep
	if opts.Logf != nil {
		opts.Logf("trilliantest: deployment in %s (server logs there)", dir)
	}
	if d.pg, err = startPostgres(ctx, dir, opts.Durable); err != nil {
		return nil, fmt.Errorf("trilliantest: %w", err)
	}
	if err := d.pg.loadSchema(ctx, module.Schema()); err != nil {
		return nil, fmt.Errorf("trilliantest: %w", err)
	}
	addrs := make([]string, 4)
	for i := range addrs {
		port, err := loopback.FreePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	d.logRPC, d.logHTTP, d.signerRPC, d.signerHTTP = addrs[0], addrs[1], addrs[2], addrs[3]
	if err := d.StartLogServer(ctx); err != nil {
		return nil, err
	}
	if err := d.StartSigner(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Target is the log server's gRPC address (host:port), which serves both
// TrillianLogClient and TrillianAdminClient.
func (d *Deployment) Target() string { return d.logRPC }

// URL is Target in the trillian://HOST:PORT form users type.
func (d *Deployment) URL() string { return "trillian://" + d.logRPC }

// Tuning is the signer's tuning.
func (d *Deployment) Tuning() SignerTuning { return d.tuning }

// Dir is the deployment's directory (server logs, the PostgreSQL cluster).
func (d *Deployment) Dir() string { return d.dir }

// ServerArgs and SignerArgs are the command lines the harness runs.
func (d *Deployment) ServerArgs() []string {
	return LogServerArgs(d.logRPC, d.logHTTP, d.pg.uri(LogServerPoolConns))
}

// SignerArgs: see ServerArgs.
func (d *Deployment) SignerArgs() []string {
	return LogSignerArgs(d.signerRPC, d.signerHTTP, d.pg.uri(LogSignerPoolConns), d.tuning)
}

// StartLogServer starts trillian_log_server (again) and waits for /healthz.
func (d *Deployment) StartLogServer(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server != nil {
		if done, _ := d.server.exited(); !done {
			return fmt.Errorf("trilliantest: log server already running")
		}
	}
	p, err := d.startServer(ctx, LogServerBinary, d.ServerArgs(), d.logHTTP)
	d.server = p
	return err
}

// StartSigner starts trillian_log_signer (again) and waits for /healthz.
func (d *Deployment) StartSigner(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signer != nil {
		if done, _ := d.signer.exited(); !done {
			return fmt.Errorf("trilliantest: signer already running")
		}
	}
	p, err := d.startServer(ctx, LogSignerBinary, d.SignerArgs(), d.signerHTTP)
	d.signer = p
	return err
}

// StopLogServer kills trillian_log_server at once (SIGKILL: a crash, not a
// graceful shutdown, which is what fault tests want).
func (d *Deployment) StopLogServer() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server != nil {
		d.server.stop(syscall.SIGKILL, 0)
	}
}

// StopSigner kills trillian_log_signer at once.
func (d *Deployment) StopSigner() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signer != nil {
		d.signer.stop(syscall.SIGKILL, 0)
	}
}

// RestartLogServer kills the log server and starts it again on the same
// ports, leaving it down for downtime in between.
func (d *Deployment) RestartLogServer(ctx context.Context, downtime time.Duration) error {
	d.StopLogServer()
	if err := sleep(ctx, downtime); err != nil {
		return err
	}
	return d.StartLogServer(ctx)
}

// RestartSigner kills the signer and starts it again after downtime.
func (d *Deployment) RestartSigner(ctx context.Context, downtime time.Duration) error {
	d.StopSigner()
	if err := sleep(ctx, downtime); err != nil {
		return err
	}
	return d.StartSigner(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// startServer starts one of the two binaries and waits until its /healthz
// answers 200, which for Trillian means its database is reachable.
func (d *Deployment) startServer(ctx context.Context, name string, args []string, httpAddr string) (*proc, error) {
	p, err := startProc(name, filepath.Join(d.bin, name), args, filepath.Join(d.dir, name+".log"), nil)
	if err != nil {
		return nil, fmt.Errorf("trilliantest: %w", err)
	}
	if err := waitHealthy(ctx, p, "http://"+httpAddr+"/healthz", 60*time.Second); err != nil {
		p.stop(syscall.SIGKILL, 0)
		return nil, fmt.Errorf("trilliantest: %w", err)
	}
	return p, nil
}

func waitHealthy(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if done, err := p.exited(); done {
			return fmt.Errorf("%s: %w (%v):\n%s", p.name, errExited, err, p.logTail())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy at %s after %s (last: %s):\n%s", p.name, url, timeout, last, p.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops every process and removes the deployment's directory. It is
// safe to call more than once.
func (d *Deployment) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// SIGKILL: a graceful stop buys nothing for a throw-away deployment
	// and the signer lingers 5s on SIGTERM.
	for _, p := range []*proc{d.signer, d.server} {
		if p != nil {
			p.stop(syscall.SIGKILL, 0)
		}
	}
	d.signer, d.server = nil, nil
	if d.pg != nil {
		d.pg.stop()
		d.pg = nil
	}
	if d.dir != "" && os.Getenv(KeepEnv) == "" {
		err := os.RemoveAll(d.dir)
		d.dir = ""
		return err
	}
	return nil
}

// KeepEnv, when set, keeps the deployment directory (server logs) after
// Close for debugging.
const KeepEnv = "TRIALOG_TRILLIAN_KEEP"
