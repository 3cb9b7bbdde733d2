package trilliantest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trialog/trialog/internal/loopback"
)

// PostgresBinEnv overrides where the PostgreSQL 15 server binaries are.
const PostgresBinEnv = "TRIALOG_PG_BIN"

// DefaultPostgresBin is Debian's location of PostgreSQL 15 (package
// postgresql-15, which .ci/trillian.sh installs).
const DefaultPostgresBin = "/usr/lib/postgresql/15/bin"

// Database and role the harness creates; docker-compose.yml uses the same.
const (
	PostgresUser     = "trillian"
	PostgresDatabase = "trillian"
)

// postgres is a throw-away PostgreSQL cluster in a temporary directory.
type postgres struct {
	bin  string
	dir  string // owned by the postgres user when we run as root
	port int
	cred *syscall.Credential
	proc *proc
}

func postgresBin() (string, error) {
	bin := os.Getenv(PostgresBinEnv)
	if bin == "" {
		bin = DefaultPostgresBin
	}
	for _, name := range []string{"initdb", "postgres", "psql", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return "", fmt.Errorf("PostgreSQL 15 is not installed (%s missing): install Debian's postgresql-15 "+
				"(bash .ci/trillian.sh does), or point %s at its bin directory", filepath.Join(bin, name), PostgresBinEnv)
		}
	}
	return bin, nil
}

// postgresCredential: PostgreSQL refuses to run as root, so when we are
// root the cluster runs as the "postgres" user that Debian's package
// creates (the same as `runuser -u postgres --`, minus the extra process
// between us and the server).
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// startPostgres creates a cluster under a new directory in base and starts
// it on a free loopback port. durable=false turns fsync off: tests do not
// survive power loss and run several times faster.
func startPostgres(ctx context.Context, base string, durable bool) (*postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(base, "pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s to postgres: %w", dir, err)
		}
	}
	pg := &postgres{bin: bin, dir: dir, cred: cred}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", filepath.Join(dir, "data"), "-U", PostgresUser, "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := loopback.FreePort()
	if err != nil {
		return nil, err
	}
	pg.port = port
	args := []string{
		"-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + dir,
		"-c", "max_connections=200",
		"-c", "shared_buffers=256MB",
	}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	if pg.proc, err = startProc("postgres", filepath.Join(bin, "postgres"), args, filepath.Join(base, "postgres.log"), cred); err != nil {
		return nil, err
	}
	if err := pg.waitReady(ctx); err != nil {
		pg.stop()
		return nil, err
	}
	if err := pg.psql(ctx, "postgres", "-c", "CREATE DATABASE "+PostgresDatabase); err != nil {
		pg.stop()
		return nil, err
	}
	return pg, nil
}

func (pg *postgres) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if done, err := pg.proc.exited(); done {
			return fmt.Errorf("postgres: %w (%v):\n%s", errExited, err, pg.proc.logTail())
		}
		cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port))
		if cmd.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready on port %d after 30s:\n%s", pg.port, pg.proc.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// psql runs the psql client against database with args, stopping at the
// first SQL error.
func (pg *postgres) psql(ctx context.Context, database string, args ...string) error {
	base := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", PostgresUser, "-d", database}
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "psql"), append(base, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// loadSchema loads Trillian's PostgreSQL schema into the database.
func (pg *postgres) loadSchema(ctx context.Context, schema string) error {
	if _, err := os.Stat(schema); err != nil {
		return fmt.Errorf("trillian schema: %w", err)
	}
	return pg.psql(ctx, PostgresDatabase, "-f", schema)
}

func (pg *postgres) uri(poolMaxConns int) string {
	return PostgresURI("127.0.0.1", pg.port, PostgresUser, "", PostgresDatabase, poolMaxConns)
}

// stop shuts the cluster down (SIGINT is PostgreSQL's fast shutdown).
func (pg *postgres) stop() {
	if pg.proc != nil {
		pg.proc.stop(syscall.SIGINT, 10*time.Second)
	}
}
