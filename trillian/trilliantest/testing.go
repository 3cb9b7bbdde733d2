package trilliantest

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestsEnv turns the live-Trillian tests off when set to "off". Any other
// value, or none, runs them, and then a harness that cannot start fails
// the test: a CI run must never skip them silently.
const TestsEnv = "TRIALOG_TRILLIAN_TESTS"

// Enabled reports whether live-Trillian tests should run.
func Enabled() bool { return os.Getenv(TestsEnv) != "off" }

// SkipIfDisabled skips t when TRIALOG_TRILLIAN_TESTS=off.
func SkipIfDisabled(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("%s=off: live Trillian tests disabled", TestsEnv)
	}
}

// StartTimeout bounds Start in tests. It includes a cold build of the
// servers (minutes on a 2-core machine; .ci/trillian.sh prebuilds them).
const StartTimeout = 15 * time.Minute

// StartT starts a deployment for one test (or is skipped when disabled)
// and stops it on cleanup. It fails the test if the deployment cannot
// start.
func StartT(t testing.TB, opts Options) *Deployment {
	t.Helper()
	SkipIfDisabled(t)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	d, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("cannot start a Trillian deployment (set %s=off to skip these tests): %v", TestsEnv, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
