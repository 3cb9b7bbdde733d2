package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness"
	"github.com/trialog/trialog/witness/client"
)

// TestRetryAndConflict exercises the submitter's retry logic against an
// in-process stand-in (the brief allows one only for retry logic; the
// protocol itself is tested against real litewitness in fork_test.go):
// two 503s then a 409 naming size 3, then success with a proof from 3.
func TestRetryAndConflict(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, err := torchwood.NewCosignatureSigner("standin.example/w", priv)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var mu sync.Mutex
	var gotOld []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		first, _, _ := strings.Cut(string(body), "\n")
		mu.Lock()
		gotOld = append(gotOld, first)
		mu.Unlock()
		switch calls.Add(1) {
		case 1, 2:
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		case 3:
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintln(w, 3)
			return
		}
		_, noteText, _ := strings.Cut(string(body), "\n\n")
		text := noteText[:strings.Index(noteText, "\n\n")+1]
		signed, err := note.Sign(&note.Note{Text: text}, cs)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(signed[strings.Index(string(signed), "\n\n")+2:])
	}))
	defer srv.Close()

	pw, err := witness.NewWitness("standin", cs.Verifier().String(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := witness.NewPolicy([]*witness.Witness{pw}, 1)
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("R"))
	signed, _ := checkpoint.Sign(skey, trillian.Root{Size: 9, Hash: make([]byte, 32)})
	lv, _ := note.NewVerifier(vkey)
	var proved []string
	s := &client.Submitter{
		Policy: p, LogVerifier: lv, Backoff: time.Millisecond,
		Prove: func(ctx context.Context, a, b uint64) ([][]byte, error) {
			proved = append(proved, fmt.Sprintf("%d-%d", a, b))
			return [][]byte{make([]byte, 32)}, nil
		},
	}
	out, err := s.Submit(context.Background(), signed, 9, map[string]uint64{"standin": 1})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Report.OK() || !out.Results[0].Cosigned || out.Results[0].Size != 9 {
		t.Fatalf("outcome %+v %v", out.Results, out.Report)
	}
	mu.Lock()
	got := strings.Join(gotOld, ",")
	mu.Unlock()
	if got != "old 1,old 1,old 1,old 3" {
		t.Errorf("requests %s", got)
	}
	if got := strings.Join(proved, ","); got != "1-9,1-9,1-9,3-9" {
		t.Errorf("proofs %s", got)
	}
	// A witness that is down: the submission ends at the deadline with an
	// error and no cosignature, and Submit still returns the checkpoint.
	srv.Close()
	s.Timeout = 300 * time.Millisecond
	out, err = s.Submit(context.Background(), signed, 9, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].Cosigned || out.Results[0].Err == nil || out.Report.OK() || string(out.Checkpoint) != string(signed) {
		t.Errorf("down witness: %+v", out.Results[0])
	}
}

// TestForgedConflictDoesNotWedge: a stored size larger than the
// checkpoint (from a forged or buggy 409) is only a hint: the submitter
// asks again from zero and the witness's real answer decides; and a 409
// naming a size beyond the checkpoint is never remembered as such.
func TestForgedConflictDoesNotWedge(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, _ := torchwood.NewCosignatureSigner("standin.example/w", priv)
	var mu sync.Mutex
	var gotOld []string
	lie := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		first, _, _ := strings.Cut(string(body), "\n")
		mu.Lock()
		gotOld = append(gotOld, first)
		l := lie
		lie = false
		mu.Unlock()
		if l || first != "old 4" {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			if l {
				fmt.Fprintln(w, 999999999)
			} else {
				fmt.Fprintln(w, 4)
			}
			return
		}
		_, noteText, _ := strings.Cut(string(body), "\n\n")
		text := noteText[:strings.Index(noteText, "\n\n")+1]
		signed, _ := note.Sign(&note.Note{Text: text}, cs)
		w.Write(signed[strings.Index(string(signed), "\n\n")+2:])
	}))
	defer srv.Close()
	pw, _ := witness.NewWitness("standin", cs.Verifier().String(), srv.URL)
	p, _ := witness.NewPolicy([]*witness.Witness{pw}, 1)
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("R"))
	signed, _ := checkpoint.Sign(skey, trillian.Root{Size: 9, Hash: make([]byte, 32)})
	lv, _ := note.NewVerifier(vkey)
	s := &client.Submitter{Policy: p, LogVerifier: lv, Backoff: time.Millisecond,
		Prove: func(ctx context.Context, a, b uint64) ([][]byte, error) { return [][]byte{make([]byte, 32)}, nil }}
	// The lie: a 409 naming a huge size. Not cosigned, and not remembered
	// beyond the checkpoint's own size.
	out, err := s.Submit(context.Background(), signed, 9, map[string]uint64{"standin": 2})
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].Cosigned || out.Results[0].Size > 9 {
		t.Fatalf("after a forged 409: %+v", out.Results[0])
	}
	// Even with the huge size stored, the next submission reaches the
	// witness, which answers honestly (409: 4), and is cosigned.
	out, err = s.Submit(context.Background(), signed, 9, map[string]uint64{"standin": 999999999})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Results[0].Cosigned {
		t.Fatalf("wedged by a stored forged size: %+v (requests %v)", out.Results[0], gotOld)
	}
}
