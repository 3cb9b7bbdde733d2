package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// transient reports whether an RPC error may go away by itself: the server
// is restarting or unreachable, or one attempt timed out.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded:
		return true
	}
	return false
}

// maybeTransient errors are retried a few times only: Trillian reports
// some database hiccups (a connection dropped mid-transaction) as Unknown
// or Internal, but those codes also carry permanent faults.
func maybeTransient(err error) bool {
	switch status.Code(err) {
	case codes.Unknown, codes.Internal:
		return true
	}
	return false
}

const maxUncertainRetries = 3

// retry runs fn until it succeeds, fails permanently, or has failed
// transiently for longer than the stall timeout. Each attempt gets its own
// timeout so that a hung server turns into a retry. Every RPC that retry
// wraps must be idempotent: reads, InitLog, and AddSequencedLeaves (whose
// leaf identity hashes make a repeated batch a no-op).
func (c *Client) retry(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	var (
		start     = time.Now()
		delay     = 50 * time.Millisecond
		uncertain = 0
	)
	for {
		actx, cancel := context.WithTimeout(ctx, c.cfg.rpcTimeout)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		}
		switch {
		case transient(err):
		case maybeTransient(err) && uncertain < maxUncertainRetries:
			uncertain++
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		if time.Since(start) > c.cfg.stallTimeout {
			return fmt.Errorf("%s: still failing after %s: %w", what, c.cfg.stallTimeout.Round(time.Second), err)
		}
		if err := sleep(ctx, delay); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
