// Package trilliantest runs a real Trillian deployment (PostgreSQL 15,
// trillian_log_server and trillian_log_signer built from the Trillian
// version pinned in go.mod) for the tests of trillian/remote and for the
// benchmark in bench/trillian.
//
// The command lines of the servers are built here, and only here: the test
// harness runs them and the compose test checks that docker-compose.yml
// runs the same flags, so the two deployments cannot drift apart.
package trilliantest

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// TrillianModule is the module the servers and the schema come from; its
// version is whatever go.mod pins.
const TrillianModule = "github.com/google/trillian"

// Server and signer command packages inside TrillianModule.
const (
	LogServerPackage = TrillianModule + "/cmd/trillian_log_server"
	LogSignerPackage = TrillianModule + "/cmd/trillian_log_signer"
	LogServerBinary  = "trillian_log_server"
	LogSignerBinary  = "trillian_log_signer"
)

// BuildTags are the tags the servers are built with. PostgreSQL is already
// the default storage of v1.8.0 when no other tag is set; naming it keeps the
// build explicit should the default ever change.
const BuildTags = "postgresql"

// SchemaPath is Trillian's PostgreSQL schema, relative to the module root.
const SchemaPath = "storage/postgresql/schema/storage.sql"

// SignerTuning is how fast the signer integrates sequenced leaves. The
// signer integrates at most BatchSize leaves per tree every
// SequencerInterval, so BatchSize/SequencerInterval bounds one tree's
// append throughput.
type SignerTuning struct {
	BatchSize         int
	SequencerInterval time.Duration
	NumSequencers     int
}

// DefaultSignerTuning is what the harness and docker-compose.yml run: big
// batches at a short interval, because trialog appends whole datasets (tens
// of thousands of leaves) and waits for them to be integrated.
func DefaultSignerTuning() SignerTuning {
	return SignerTuning{
		BatchSize:         5000,
		SequencerInterval: 50 * time.Millisecond,
		NumSequencers:     4,
	}
}

// Pool sizes of the servers' pgx pools (pool_max_conns in the URI). The log
// server serves concurrent AddSequencedLeaves batches plus readers; the
// signer needs one connection per sequencer worker and a spare.
const (
	LogServerPoolConns = 16
	LogSignerPoolConns = 8
)

// PostgresURI is the --postgresql_uri the servers are given. password may
// be empty (the harness uses trust authentication on loopback).
func PostgresURI(host string, port int, user, password, database string, poolMaxConns int) string {
	u := url.URL{
		Scheme: "postgresql",
		Host:   host + ":" + strconv.Itoa(port),
		Path:   "/" + database,
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	q := url.Values{}
	q.Set("sslmode", "disable")
	q.Set("pool_max_conns", strconv.Itoa(poolMaxConns))
	u.RawQuery = q.Encode()
	return u.String()
}

// storageFlags are shared by both servers: PostgreSQL storage and no quota
// system (trialog is the only writer and sizes its own batches).
func storageFlags(postgresURI string) []string {
	return []string{
		"--storage_system=postgresql",
		"--quota_system=noop",
		"--postgresql_uri=" + postgresURI,
	}
}

// LogServerArgs is the command line (without the program name) of
// trillian_log_server serving gRPC on rpcAddr and /healthz on httpAddr.
func LogServerArgs(rpcAddr, httpAddr, postgresURI string) []string {
	args := []string{
		"--rpc_endpoint=" + rpcAddr,
		"--http_endpoint=" + httpAddr,
	}
	return append(args, storageFlags(postgresURI)...)
}

// LogSignerArgs is the command line of trillian_log_signer. --force_master
// makes this signer the master for every tree without an election, so no
// etcd is needed; run exactly one signer per deployment.
func LogSignerArgs(rpcAddr, httpAddr, postgresURI string, tuning SignerTuning) []string {
	args := []string{
		"--rpc_endpoint=" + rpcAddr,
		"--http_endpoint=" + httpAddr,
		"--force_master",
		fmt.Sprintf("--batch_size=%d", tuning.BatchSize),
		"--sequencer_interval=" + tuning.SequencerInterval.String(),
		fmt.Sprintf("--num_sequencers=%d", tuning.NumSequencers),
	}
	return append(args, storageFlags(postgresURI)...)
}
