package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/witness"
)

// Prover returns the RFC 6962 consistency proof between two sizes of the
// log (oldSize <= newSize); the log's owner supplies it.
type Prover func(ctx context.Context, oldSize, newSize uint64) ([][]byte, error)

// Submitter sends one log's checkpoints to the witnesses of a policy.
type Submitter struct {
	Policy *witness.Policy
	// LogVerifier checks the checkpoint before it leaves (a witness would
	// refuse a bad one anyway).
	LogVerifier note.Verifier
	Prove       Prover
	// HTTP is the client used (default: http.DefaultClient's transport).
	HTTP *http.Client
	// Timeout bounds each witness's whole submission, retries included
	// (default 10s); RequestTimeout each request (default 5s).
	Timeout, RequestTimeout time.Duration
	// Backoff is the first retry delay after a network error or 5xx,
	// doubled on each retry (default 200ms).
	Backoff time.Duration
}

// Result is the outcome for one witness.
type Result struct {
	Witness string `json:"witness"`
	// Size is the tree size the witness is now known to have cosigned
	// (the checkpoint's on success; on failure what it last reported, or
	// the size passed in when it did not answer).
	Size uint64 `json:"size"`
	// Cosigned is true when the witness cosigned the checkpoint.
	Cosigned bool `json:"cosigned"`
	// Err says why not.
	Err error `json:"-"`
}

// Outcome is what Submit returns.
type Outcome struct {
	// Checkpoint is the checkpoint with every cosignature obtained added.
	Checkpoint []byte
	Results    []Result
	Report     *witness.Report
}

// Submit sends the signed checkpoint of size newSize to every witness of
// the policy in parallel. lastSizes maps a witness name to the size it is
// believed to have last cosigned (0 when unknown: its 409 answer then
// tells). Witnesses that already cosigned this checkpoint (their
// signature is in signed) are not asked again. Submit never fails as a
// whole: each witness's failure is in its Result, and the quorum in the
// Report.
func (s *Submitter) Submit(ctx context.Context, signed []byte, newSize uint64, lastSizes map[string]uint64) (*Outcome, error) {
	have, err := witness.Check(s.LogVerifier, signed, s.Policy)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, c := range have.Valid {
		done[c.Witness] = true
	}
	results := make([]Result, len(s.Policy.Witnesses))
	lines := make([][]byte, len(s.Policy.Witnesses))
	var wg sync.WaitGroup
	for i, w := range s.Policy.Witnesses {
		results[i] = Result{Witness: w.Name, Size: lastSizes[w.Name]}
		if done[w.Name] {
			results[i].Size, results[i].Cosigned = newSize, true
			continue
		}
		if w.URL == "" {
			results[i].Err = fmt.Errorf("witness %s has no URL in the policy", w.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines[i], results[i] = s.submitOne(ctx, w, signed, newSize, lastSizes[w.Name])
		}()
	}
	wg.Wait()
	out := signed
	for i, w := range s.Policy.Witnesses {
		if lines[i] == nil {
			continue
		}
		merged, err := witness.AddCosignature(out, lines[i], w.Verifier())
		if err != nil {
			results[i].Cosigned, results[i].Err = false, err
			continue
		}
		out = merged
	}
	rep, err := witness.Check(s.LogVerifier, out, s.Policy)
	if err != nil {
		return nil, err
	}
	return &Outcome{Checkpoint: out, Results: results, Report: rep}, nil
}

func (s *Submitter) submitOne(ctx context.Context, w *witness.Witness, signed []byte, newSize, oldSize uint64) ([]byte, Result) {
	res := Result{Witness: w.Name, Size: oldSize}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	reqTimeout := s.RequestTimeout
	if reqTimeout <= 0 {
		reqTimeout = 5 * time.Second
	}
	backoff := s.Backoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conflicts := 0
	if oldSize > newSize {
		// The stored size is only a hint (a 409 may have been forged on
		// the way): ask afresh from zero and let the witness's own 409
		// say where it is.
		oldSize = 0
	}
	for {
		if oldSize > newSize {
			res.Size = newSize // never remember more than we can prove from
			res.Err = fmt.Errorf("witness %s: %w (it has %d, checkpoint has %d)", w.Name, ErrAhead, oldSize, newSize)
			return nil, res
		}
		var proof [][]byte
		if oldSize > 0 && oldSize < newSize {
			p, err := s.Prove(ctx, oldSize, newSize)
			if err != nil {
				res.Err = fmt.Errorf("witness %s: consistency proof %d→%d: %w", w.Name, oldSize, newSize, err)
				return nil, res
			}
			proof = p
		}
		rctx, rcancel := context.WithTimeout(ctx, reqTimeout)
		lines, err := AddCheckpoint(rctx, hc, w, oldSize, proof, signed)
		rcancel()
		if err == nil {
			res.Size, res.Cosigned = newSize, true
			return lines, res
		}
		var conflict *ConflictError
		if errors.As(err, &conflict) {
			// The witness tells the size it has: prove from there. Two
			// conflicts in a row mean someone else is feeding it too;
			// a few rounds settle that, more is a loop.
			res.Size = min(conflict.Size, newSize)
			if conflicts++; conflicts > 3 {
				res.Err = fmt.Errorf("witness %s: %w", w.Name, err)
				return nil, res
			}
			oldSize = conflict.Size
			continue
		}
		if !retryable(err) {
			res.Err = fmt.Errorf("witness %s: %w", w.Name, err)
			return nil, res
		}
		select {
		case <-ctx.Done():
			res.Err = fmt.Errorf("witness %s: %w (last error: %v)", w.Name, ctx.Err(), err)
			return nil, res
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// retryable reports whether err is worth another try: the network, a
// timeout of one request, or a server error.
func retryable(err error) bool {
	var st *StatusError
	if errors.As(err, &st) {
		return st.Code >= 500 || st.Code == http.StatusTooManyRequests
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded)
}
