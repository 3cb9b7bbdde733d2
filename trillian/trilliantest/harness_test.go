package trilliantest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func healthy(t *testing.T, addr string) bool {
	t.Helper()
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestDeploymentLifecycle starts the servers, kills and restarts each one
// on the same ports, and checks that Close leaves nothing running.
func TestDeploymentLifecycle(t *testing.T) {
	d := StartT(t, Options{})
	ctx := context.Background()
	if !healthy(t, d.logHTTP) || !healthy(t, d.signerHTTP) {
		t.Fatal("servers not healthy after Start")
	}
	d.StopLogServer()
	if healthy(t, d.logHTTP) {
		t.Fatal("log server still answers after StopLogServer")
	}
	if err := d.StartLogServer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.RestartSigner(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if !healthy(t, d.logHTTP) || !healthy(t, d.signerHTTP) {
		t.Fatal("servers not healthy after restarts")
	}
	server, signer, pg := d.server, d.signer, d.pg.proc
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*proc{server, signer, pg} {
		if done, _ := p.exited(); !done {
			t.Errorf("%s still running after Close", p.name)
		}
	}
}
