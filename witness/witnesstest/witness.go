package witnesstest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/loopback"
)

// Witness is one running litewitness with its ssh-agent.
type Witness struct {
	// Name is the witness's key name (it appears in cosignature lines),
	// e.g. "sponsor.example/witness".
	Name string
	// Key is its cosignature/v1 verifier key, as litewitness prints it.
	Key string
	// Addr is 127.0.0.1:PORT; URL is http://Addr.
	Addr, URL string
	// Dir holds its key, agent socket, database and log.
	Dir string

	bin         string
	omni        bool // an omniwitness (omni.go), not a litewitness
	fingerprint string
	agent       *exec.Cmd
	agentDone   chan struct{}
	server      *exec.Cmd
	serverDone  chan struct{}
}

// Start starts a witness named name in dir: a fresh Ed25519 key
// (ssh-keygen), a dedicated ssh-agent holding it, and litewitness
// listening on a free port of 127.0.0.1 only.
func Start(ctx context.Context, binDir, dir, name string) (*Witness, error) {
	for _, tool := range []string{"ssh-keygen", "ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("witnesstest: %s not found (install openssh-client; .ci/witness.sh does): %w", tool, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &Witness{Name: name, Dir: dir, bin: binDir}
	key := filepath.Join(dir, "witness.key")
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("witnesstest: ssh-keygen: %v: %s", err, out)
	}
	out, err := exec.CommandContext(ctx, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
	if err != nil {
		return nil, fmt.Errorf("witnesstest: ssh-keygen -l: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || !strings.HasPrefix(f[1], "SHA256:") {
		return nil, fmt.Errorf("witnesstest: ssh-keygen -l printed %q", out)
	}
	w.fingerprint = f[1]
	if err := w.startAgent(ctx); err != nil {
		return nil, err
	}
	add := exec.CommandContext(ctx, "ssh-add", "-q", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+w.agentSock())
	if out, err := add.CombinedOutput(); err != nil {
		w.Close()
		return nil, fmt.Errorf("witnesstest: ssh-add: %v: %s", err, out)
	}
	port, err := loopback.FreePort()
	if err != nil {
		w.Close()
		return nil, err
	}
	w.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	w.URL = "http://" + w.Addr
	if err := w.StartServer(ctx); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Witness) agentSock() string { return filepath.Join(w.Dir, "agent.sock") }
func (w *Witness) dbPath() string    { return filepath.Join(w.Dir, "litewitness.db") }

// LogPath is the file litewitness's output is appended to.
func (w *Witness) LogPath() string { return filepath.Join(w.Dir, "litewitness.log") }

func (w *Witness) startAgent(ctx context.Context) error {
	os.Remove(w.agentSock())
	cmd := exec.Command("ssh-agent", "-D", "-a", w.agentSock())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("witnesstest: ssh-agent: %w", err)
	}
	w.agent, w.agentDone = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(w.agentDone) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", w.agentSock()); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-w.agentDone:
			return errors.New("witnesstest: ssh-agent exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("witnesstest: ssh-agent socket did not appear")
		}
	}
}

// StartServer starts (or restarts, after Kill or Stop) litewitness on the
// witness's address, and waits until it prints its verifier key and
// accepts connections.
func (w *Witness) StartServer(ctx context.Context) error {
	if w.omni {
		return w.startOmni(ctx)
	}
	return w.runServer(ctx, LiteWitnessBinary, []string{
		"-db", w.dbPath(), "-name", w.Name, "-key", w.fingerprint,
		"-ssh-agent", w.agentSock(), "-listen", w.Addr,
	}, func(logStart int64) bool {
		if w.Key == "" {
			w.Key = scanVKey(w.LogPath(), logStart)
		}
		return w.Key != ""
	})
}

// runServer starts binary (litewitness or omniwitness) from the witness's
// binaries directory with args, its output appended to LogPath, and waits
// up to 20 s until ready (if not nil; told where this run's output starts)
// reports true and the server accepts connections on Addr.
func (w *Witness) runServer(ctx context.Context, binary string, args []string, ready func(logStart int64) bool) error {
	logFile, err := os.OpenFile(w.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	logStart, _ := logFile.Seek(0, 2)
	cmd := exec.Command(filepath.Join(w.bin, binary), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		return fmt.Errorf("witnesstest: start %s: %w", binary, err)
	}
	w.server, w.serverDone = cmd, make(chan struct{})
	done := w.serverDone
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ready == nil || ready(logStart) {
			if c, err := net.Dial("tcp", w.Addr); err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("witnesstest: %s %s exited: %s", binary, w.Name, tail(w.LogPath()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("witnesstest: %s %s did not come up: %s", binary, w.Name, tail(w.LogPath()))
		}
	}
}

// scanVKey finds litewitness's `msg="verifier key" vkey=…` line.
func scanVKey(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	f.Seek(from, 0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="verifier key"`) {
			continue
		}
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "vkey="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// AddLog tells the witness about a log (litewitness: witnessctl add-log
// and add-key; omniwitness: its logs file, then a restart): from now on it
// cosigns checkpoints of origin signed by logKey.
func (w *Witness) AddLog(ctx context.Context, origin, logKey string) error {
	if w.omni {
		return w.addOmniLog(ctx, origin, logKey)
	}
	ctl := filepath.Join(w.bin, WitnessCtlBinary)
	for _, args := range [][]string{
		{"add-log", "-db", w.dbPath(), "-origin", origin},
		{"add-key", "-db", w.dbPath(), "-origin", origin, "-key", strings.TrimSpace(logKey)},
	} {
		if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("witnesstest: witnessctl %s: %v: %s", args[0], err, out)
		}
	}
	return nil
}

// ListLogs returns witnessctl list-logs output (JSON lines: origin, size,
// root hash, keys).
func (w *Witness) ListLogs(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(w.bin, WitnessCtlBinary), "list-logs", "-db", w.dbPath()).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("witnesstest: witnessctl list-logs: %v: %s", err, out)
	}
	return string(out), nil
}

// Kill kills litewitness at once (SIGKILL), as a crash would; the agent
// and database stay for StartServer.
func (w *Witness) Kill() {
	if w.server == nil {
		return
	}
	syscall.Kill(-w.server.Process.Pid, syscall.SIGKILL)
	<-w.serverDone
	w.server = nil
}

// Close stops litewitness and the agent.
func (w *Witness) Close() {
	w.Kill()
	if w.agent != nil {
		syscall.Kill(-w.agent.Process.Pid, syscall.SIGKILL)
		<-w.agentDone
		w.agent = nil
	}
}

// StartT starts one witness per name under t.TempDir(), stopped when the
// test ends. It skips only when TRIALOG_WITNESS_TESTS=off.
func StartT(t testing.TB, names ...string) []*Witness {
	t.Helper()
	var ws []*Witness
	withBinaries(t, 10*time.Minute, EnsureBinaries, func(ctx context.Context, bin string) {
		base := t.TempDir()
		for i, name := range names {
			w, err := Start(ctx, bin, filepath.Join(base, fmt.Sprintf("w%d", i)), name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			ws = append(ws, w)
		}
	})
	return ws
}

// withBinaries calls start with a context bounded by timeout and the
// directory ensure returns, skipping the test when TRIALOG_WITNESS_TESTS
// is off.
func withBinaries(t testing.TB, timeout time.Duration, ensure func(context.Context, func(string, ...any)) (string, error), start func(ctx context.Context, bin string)) {
	t.Helper()
	if os.Getenv(TestsEnv) == "off" {
		t.Skipf("%s=off", TestsEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bin, err := ensure(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	start(ctx, bin)
}
