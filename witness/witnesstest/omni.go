package witnesstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Omniwitness is the second, independent witness implementation the tests
// run: omniwitness from github.com/transparency-dev/witness (the
// transparency-dev witness network's), served by the module proxy as a
// pseudo-version only. It is built in a scratch module of its own rather
// than pinned in trialog's go.mod: it requires pre-release
// transparency-dev/formats and merkle versions, which would otherwise
// upgrade the ones trialog is built with.
const (
	OmniModule    = "github.com/transparency-dev/witness"
	OmniVersion   = "v0.0.0-20260720115447-2e1c6971d19e"
	OmniBinary    = "omniwitness"
	OmniKeygen    = "generate_keys"
	OmniBinaryEnv = "TRIALOG_OMNIWITNESS_BIN"
)

// EnsureOmniBinaries returns a directory holding omniwitness and
// generate_keys at OmniVersion, built on first use into
// $XDG_CACHE_HOME/trialog/omniwitness-VERSION-GOVERSION-GOOS-GOARCH.
func EnsureOmniBinaries(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	have := func(dir string) error {
		for _, n := range []string{OmniBinary, OmniKeygen} {
			if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Mode()&0o111 == 0 {
				return fmt.Errorf("missing %s", filepath.Join(dir, n))
			}
		}
		return nil
	}
	if dir := os.Getenv(OmniBinaryEnv); dir != "" {
		if err := have(dir); err != nil {
			return "", fmt.Errorf("witnesstest: %s=%s: %w", OmniBinaryEnv, dir, err)
		}
		return dir, nil
	}
	goVersion, err := goOutput(ctx, "", "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "trialog", fmt.Sprintf("omniwitness-%s-%s-%s-%s", OmniVersion, goVersion, runtime.GOOS, runtime.GOARCH))
	if have(dir) == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if have(dir) == nil {
		return dir, nil
	}
	if logf != nil {
		logf("witnesstest: building %s %s (omniwitness) into %s", OmniModule, OmniVersion, dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module omniwitnessbuild\n\ngo 1.25.0\n"), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(tmp, "bin") + string(filepath.Separator)
	for _, args := range [][]string{
		{"get", OmniModule + "/cmd/" + OmniBinary + "@" + OmniVersion},
		{"build", "-o", out, OmniModule + "/cmd/" + OmniBinary, OmniModule + "/cmd/" + OmniKeygen},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("witnesstest: go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	if err := have(out); err != nil {
		return "", fmt.Errorf("witnesstest: build finished but %w", err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(filepath.Join(tmp, "bin"), dir); err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	return dir, nil
}

// StartOmni starts an omniwitness named name in dir, listening on
// 127.0.0.1 only, with a fresh key (its generate_keys), an SQLite
// database, no metrics listener and no log but those AddLog configures.
func StartOmni(ctx context.Context, binDir, dir, name string) (*Witness, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &Witness{Name: name, Dir: dir, bin: binDir, omni: true}
	if out, err := exec.CommandContext(ctx, filepath.Join(binDir, OmniKeygen), "-origin", name,
		"-out_priv", filepath.Join(dir, "witness.sec"), "-out_pub", filepath.Join(dir, "witness.pub")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("witnesstest: generate_keys: %v: %s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "witness.pub"))
	if err != nil {
		return nil, err
	}
	w.Key = strings.TrimSpace(string(pub))
	if err := os.WriteFile(w.omniLogsPath(), []byte("Logs: []\n"), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	w.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	w.URL = "http://" + w.Addr
	if err := w.StartServer(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Witness) omniLogsPath() string { return filepath.Join(w.Dir, "logs.yaml") }

func (w *Witness) startOmni(ctx context.Context) error {
	logFile, err := os.OpenFile(w.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(w.bin, OmniBinary),
		"--listen", w.Addr, "--metrics_listen", "", "--private_key_path", filepath.Join(w.Dir, "witness.sec"),
		"--db_file", filepath.Join(w.Dir, "omniwitness.db"), "--additional_logs", w.omniLogsPath(), "--logtostderr")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		return fmt.Errorf("witnesstest: start omniwitness: %w", err)
	}
	w.server, w.serverDone = cmd, make(chan struct{})
	done := w.serverDone
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", w.Addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("witnesstest: omniwitness %s exited: %s", w.Name, tail(w.LogPath()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("witnesstest: omniwitness %s did not come up: %s", w.Name, tail(w.LogPath()))
		}
	}
}

// addOmniLog adds the log to the witness's logs file and restarts it:
// omniwitness reads its log list at start (and keeps what it witnessed
// in its database across restarts).
func (w *Witness) addOmniLog(ctx context.Context, origin, logKey string) error {
	b, err := os.ReadFile(w.omniLogsPath())
	if err != nil {
		return err
	}
	text := strings.TrimSuffix(string(b), "Logs: []\n")
	if text == "" {
		text = "Logs:\n"
	}
	text += fmt.Sprintf("  - Origin: %q\n    URL: %q\n    PublicKey: %q\n", origin, "http://127.0.0.1:1/unused", strings.TrimSpace(logKey))
	if err := os.WriteFile(w.omniLogsPath(), []byte(text), 0o644); err != nil {
		return err
	}
	w.Kill()
	return w.StartServer(ctx)
}

// StartOmniT starts one omniwitness under t.TempDir(), stopped when the
// test ends.
func StartOmniT(t testing.TB, name string) *Witness {
	t.Helper()
	if os.Getenv(TestsEnv) == "off" {
		t.Skipf("%s=off", TestsEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin, err := EnsureOmniBinaries(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	w, err := StartOmni(ctx, bin, filepath.Join(t.TempDir(), "omni"), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}
