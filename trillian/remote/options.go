package remote

import (
	"time"

	"google.golang.org/grpc"
)

// Limits of one AddSequencedLeaves request. Trillian's servers accept gRPC
// messages up to 4 MiB (grpc-go's default, unless --max_msg_size_bytes is
// raised); requests stay below that with room for protobuf framing.
const (
	DefaultBatchLeaves = 2000
	DefaultBatchBytes  = 4<<20 - 256<<10
	// leafOverhead is an upper bound of the protobuf bytes one LogLeaf adds
	// besides its value: identity hash, index, tags and lengths.
	leafOverhead = 64
)

// Option tunes a Client.
type Option func(*config)

type config struct {
	batchLeaves  int
	batchBytes   int
	inFlight     int
	stallTimeout time.Duration
	rpcTimeout   time.Duration
	pollMin      time.Duration
	pollMax      time.Duration
	readPage     int
	dialTimeout  time.Duration
	dialOptions  []grpc.DialOption
}

func defaultConfig() config {
	return config{
		batchLeaves:  DefaultBatchLeaves,
		batchBytes:   DefaultBatchBytes,
		inFlight:     4,
		stallTimeout: 2 * time.Minute,
		rpcTimeout:   time.Minute,
		pollMin:      10 * time.Millisecond,
		pollMax:      500 * time.Millisecond,
		readPage:     1024,
		dialTimeout:  30 * time.Second,
	}
}

// WithBatchLeaves caps the leaves per AddSequencedLeaves request.
func WithBatchLeaves(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.batchLeaves = n
		}
	}
}

// WithBatchBytes caps the approximate encoded size of one AddSequencedLeaves
// request; keep it below the server's gRPC receive limit.
func WithBatchBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.batchBytes = n
		}
	}
}

// WithInFlight sets how many AddSequencedLeaves requests of one append run
// at once. Trillian's PostgreSQL storage serialises the inserts themselves
// (add_sequenced_leaves locks the leaf tables), so a few in flight are
// enough to overlap transfer and encoding with the database's work.
func WithInFlight(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.inFlight = n
		}
	}
}

// WithStallTimeout sets how long an append waits without progress — the
// signer integrating no new leaf, or the log server unreachable — before it
// fails with ErrStalled. It must outlast a server restart.
func WithStallTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.stallTimeout = d
		}
	}
}

// WithRPCTimeout bounds each single RPC attempt, so a hung server turns
// into a retry rather than a hang.
func WithRPCTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.rpcTimeout = d
		}
	}
}

// WithPollInterval sets the backoff bounds of polling for integration.
func WithPollInterval(min, max time.Duration) Option {
	return func(c *config) {
		if min > 0 && max >= min {
			c.pollMin, c.pollMax = min, max
		}
	}
}

// WithReadPage sets how many leaves one GetLeavesByRange asks for; it is
// halved automatically when a page exceeds the message limit.
func WithReadPage(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readPage = n
		}
	}
}

// WithDialTimeout bounds how long Dial waits for the connection when its
// context has no deadline.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.dialTimeout = d
		}
	}
}

// WithDialOptions adds gRPC dial options, e.g. TLS transport credentials
// (the default is an insecure connection, for a log server on a private
// network or loopback).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = append(c.dialOptions, opts...) }
}
