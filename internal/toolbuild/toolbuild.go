// Package toolbuild builds a pinned external tool (Trillian's servers,
// the witnesses) once into the per-user cache and finds it there on later
// runs: the test harnesses start real servers, and a cold build takes
// minutes, so it must happen once per version and toolchain, never twice
// at the same time, and never leave a half-built directory behind.
package toolbuild

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Tool is one pinned tool: the binaries it consists of and how to build
// them.
type Tool struct {
	// What names it in log lines, e.g. "Trillian v1.8.0 servers".
	What string
	// Key names its cache directory; CacheDir adds the platform.
	Key string
	// Binaries must all exist and be executable for a directory to count.
	Binaries []string
	// Env, if not empty, names an environment variable that points at a
	// directory of prebuilt binaries: when it is set, nothing is built.
	Env string
	// Build writes the binaries into out, an empty directory; scratch is
	// an empty directory for anything else it needs. Both go away after.
	Build func(ctx context.Context, out, scratch string) error
}

// CacheDir is where a tool keyed key is kept between runs:
// $XDG_CACHE_HOME/trialog/KEY-GOOS-GOARCH (or ~/.cache/…, or $TMPDIR/…
// without a home directory, as some CI environments have). Callers put
// the tool's version and the Go toolchain's in key, so that a bump of
// either rebuilds.
func CacheDir(key string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "trialog", fmt.Sprintf("%s-%s-%s", key, runtime.GOOS, runtime.GOARCH))
}

// Ensure returns a directory holding t's binaries: t.Env's when set,
// else CacheDir(t.Key), building into it on first use. Concurrent
// callers wait on a lock file beside the directory; a build goes to a
// temporary directory renamed into place only when complete. logf, if
// not nil, is told when a build starts and ends.
func Ensure(ctx context.Context, t Tool, logf func(format string, args ...any)) (string, error) {
	if t.Env != "" {
		if dir := os.Getenv(t.Env); dir != "" {
			if err := Have(dir, t.Binaries...); err != nil {
				return "", fmt.Errorf("%s=%s: %w", t.Env, dir, err)
			}
			return dir, nil
		}
	}
	dir := CacheDir(t.Key)
	if Have(dir, t.Binaries...) == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if Have(dir, t.Binaries...) == nil { // Built by whoever held the lock.
		return dir, nil
	}
	if logf != nil {
		logf("building %s into %s (cold builds can take minutes)", t.What, dir)
	}
	start := time.Now()
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out, scratch := filepath.Join(tmp, "bin"), filepath.Join(tmp, "scratch")
	for _, d := range []string{out, scratch} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := t.Build(ctx, out, scratch); err != nil {
		return "", err
	}
	if err := Have(out, t.Binaries...); err != nil {
		return "", fmt.Errorf("build finished but %w", err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(out, dir); err != nil {
		return "", err
	}
	if logf != nil {
		logf("built %s in %s", t.What, time.Since(start).Round(time.Second))
	}
	return dir, nil
}

// Have reports which of names is missing from dir or not executable.
func Have(dir string, names ...string) error {
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("missing %s: %w", name, err)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", filepath.Join(dir, name))
		}
	}
	return nil
}

// GoOutput runs the go command in dir and returns its trimmed standard
// output; an error carries the command line and its standard error.
func GoOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Go runs the go command in dir with env added to the environment; an
// error carries the command line and everything it printed.
func Go(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ModuleRoot is the directory of the go.mod the go command sees from the
// working directory: this repository's, when run by its tests and tools.
func ModuleRoot(ctx context.Context) (string, error) {
	gomod, err := GoOutput(ctx, "", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the trialog module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// Prebuild is the body of a prebuild command, which CI runs so that go
// test does not spend its timeout on a cold build: within timeout it
// calls each ensure (EnsureBinaries of a harness), telling standard error
// about builds, and prints the directory each returns; it exits 1 on the
// first error.
func Prebuild(timeout time.Duration, ensure ...func(ctx context.Context, logf func(format string, args ...any)) (string, error)) {
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, e := range ensure {
		dir, err := e(ctx, stderr)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(dir)
	}
}

func stderr(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
