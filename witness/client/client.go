// Package client submits a log's checkpoints to its witnesses with the
// c2sp.org/tlog-witness add-checkpoint call and collects their
// c2sp.org/tlog-cosignature cosignatures.
//
// The request body is the spec's: "old N" (the size the witness last
// cosigned), one base64 line per hash of the consistency proof from N to
// the new size, an empty line, then the signed checkpoint. A witness that
// saw another size answers 409 with that size (text/x.tlog.size); the
// submitter then proves consistency from there and tries again. 422 means
// the proof does not verify: the checkpoint is not an extension of what
// the witness saw (a fork); 403 means the witness does not know the log or
// its key. Those are final; network errors and 5xx are retried with
// backoff until the per-witness deadline.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/witness"
)

// Errors a witness answers with. A ConflictError (409) is handled by the
// submitter; these end the submission to that witness.
var (
	// ErrInconsistent (422): the consistency proof does not verify against
	// what the witness saw: the checkpoint forks or rolls back the log.
	ErrInconsistent = errors.New("witness refused: checkpoint is not consistent with what it saw (422)")
	// ErrForbidden (403): the witness does not know this log or its key.
	ErrForbidden = errors.New("witness refused: unknown log or key (403)")
	// ErrBadRequest (400): the witness could not parse the request.
	ErrBadRequest = errors.New("witness refused: bad request (400)")
	// ErrAhead: the witness already cosigned a larger tree of this log
	// than the checkpoint offered, which a consistent log never causes.
	ErrAhead = errors.New("witness has seen a larger tree than this checkpoint (rollback?)")
)

// ConflictError is a 409 answer: the witness's latest size for the log is
// not the old size sent.
type ConflictError struct{ Size uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness's latest size is %d (409)", e.Size)
}

// StatusError is any other non-200 answer; 5xx ones are retried.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("witness answered HTTP %d: %s", e.Code, e.Body)
}

// maxResponse bounds what is read from a witness: a few signature lines.
const maxResponse = 64 << 10

// AddCheckpoint makes one add-checkpoint request and returns the
// cosignature lines of a 200 answer.
func AddCheckpoint(ctx context.Context, hc *http.Client, w *witness.Witness, oldSize uint64, proof [][]byte, signed []byte) ([]byte, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", oldSize)
	for _, h := range proof {
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("consistency proof hash of %d bytes", len(h))
		}
		body.WriteString(tlog.Hash(h).String())
		body.WriteByte('\n')
	}
	body.WriteByte('\n')
	body.Write(signed)
	url := strings.TrimSuffix(w.URL, "/") + "/add-checkpoint"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return data, nil
	case http.StatusConflict:
		n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("409 without a tree size: %w", &StatusError{resp.StatusCode, oneLine(data)})
		}
		return nil, &ConflictError{Size: n}
	case http.StatusUnprocessableEntity:
		return nil, ErrInconsistent
	case http.StatusForbidden:
		return nil, ErrForbidden
	case http.StatusBadRequest:
		return nil, ErrBadRequest
	default:
		return nil, &StatusError{resp.StatusCode, oneLine(data)}
	}
}

func oneLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
