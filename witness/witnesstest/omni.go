package witnesstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/loopback"
	"github.com/trialog/trialog/internal/toolbuild"
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
	tool := toolbuild.Tool{Env: OmniBinaryEnv, Binaries: []string{OmniBinary, OmniKeygen}}
	if os.Getenv(OmniBinaryEnv) == "" {
		goVersion, err := toolbuild.GoOutput(ctx, "", "env", "GOVERSION")
		if err != nil {
			return "", fmt.Errorf("witnesstest: %w", err)
		}
		tool.What = fmt.Sprintf("%s %s (omniwitness)", OmniModule, OmniVersion)
		tool.Key = fmt.Sprintf("omniwitness-%s-%s", OmniVersion, goVersion)
		tool.Build = buildOmni
	}
	dir, err := toolbuild.Ensure(ctx, tool, logf)
	if err != nil {
		return "", fmt.Errorf("witnesstest: %w", err)
	}
	return dir, nil
}

// buildOmni builds omniwitness in a scratch module of its own (see
// OmniModule for why not in trialog's).
func buildOmni(ctx context.Context, out, scratch string) error {
	if err := os.WriteFile(filepath.Join(scratch, "go.mod"), []byte("module omniwitnessbuild\n\ngo 1.25.0\n"), 0o644); err != nil {
		return err
	}
	env := []string{"GOFLAGS=-mod=mod", "GOWORK=off"}
	if err := toolbuild.Go(ctx, scratch, env, "get", OmniModule+"/cmd/"+OmniBinary+"@"+OmniVersion); err != nil {
		return err
	}
	return toolbuild.Go(ctx, scratch, env, "build", "-o", out+string(filepath.Separator), OmniModule+"/cmd/"+OmniBinary, OmniModule+"/cmd/"+OmniKeygen)
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
	port, err := loopback.FreePort()
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
	return w.runServer(ctx, OmniBinary, []string{
		"--listen", w.Addr, "--metrics_listen", "", "--private_key_path", filepath.Join(w.Dir, "witness.sec"),
		"--db_file", filepath.Join(w.Dir, "omniwitness.db"), "--additional_logs", w.omniLogsPath(), "--logtostderr",
	}, nil)
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
	var w *Witness
	withBinaries(t, 15*time.Minute, EnsureOmniBinaries, func(ctx context.Context, bin string) {
		var err error
		if w, err = StartOmni(ctx, bin, filepath.Join(t.TempDir(), "omni"), name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
	})
	return w
}
