package trilliantest

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/mod/modfile"
)

// What docker-compose.yml wires together: service names, the database
// credentials of the postgres service, and the in-container addresses.
const (
	composePostgresHost = "postgres"
	composePostgresPass = "trillian"
	composeRPC          = "0.0.0.0:8090"
	composeHTTP         = "0.0.0.0:8091"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

// loadCompose loads docker-compose.yml with the compose-spec loader, which
// validates it against the Compose schema, interpolates and normalises it
// as `docker compose` would. The "cli" profile is enabled so the trialog
// service is included.
func loadCompose(t *testing.T, root string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithProfiles([]string{"cli"}), cli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// dockerStages returns the named stages of the Dockerfile and the text of
// each stage's instructions.
func dockerStages(t *testing.T, root string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	from := regexp.MustCompile(`(?i)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)
	stages := make(map[string]string)
	var current string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := from.FindStringSubmatch(line); m != nil {
			current = m[2]
		}
		if current != "" {
			stages[current] += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func TestComposeMatchesHarness(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, root)
	stages := dockerStages(t, root)

	tuning := DefaultSignerTuning()
	uri := func(conns int) string {
		return PostgresURI(composePostgresHost, 5432, PostgresUser, composePostgresPass, PostgresDatabase, conns)
	}
	want := map[string][]string{
		"trillian-log-server": LogServerArgs(composeRPC, composeHTTP, uri(LogServerPoolConns)),
		"trillian-log-signer": LogSignerArgs(composeRPC, composeHTTP, uri(LogSignerPoolConns), tuning),
	}
	for name, args := range want {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if !slices.Equal([]string(s.Command), args) {
			t.Errorf("service %s runs\n  %q\nthe harness runs\n  %q", name, []string(s.Command), args)
		}
		if s.DependsOn["postgres"].Condition != types.ServiceConditionHealthy {
			t.Errorf("service %s does not wait for a healthy postgres", name)
		}
		if s.HealthCheck == nil || !slices.Contains(s.HealthCheck.Test, "http://127.0.0.1:8091/healthz") {
			t.Errorf("service %s: health check must GET /healthz on its HTTP endpoint, got %v", name, s.HealthCheck)
		}
	}

	for name, target := range map[string]string{
		"postgres":            "trillian-postgres",
		"trillian-log-server": "trillian-log-server",
		"trillian-log-signer": "trillian-log-signer",
		"trialog":             "trialog",
	} {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if s.Build == nil || s.Build.Target != target {
			t.Errorf("service %s: want build target %s, got %+v", name, target, s.Build)
		} else if _, ok := stages[target]; !ok {
			t.Errorf("service %s builds Dockerfile stage %s, which does not exist", name, target)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s:%s on %q: publish on 127.0.0.1 only", name, port.Published, strconv.FormatUint(uint64(port.Target), 10), port.HostIP)
			}
		}
	}

	pg := p.Services["postgres"]
	env := func(k string) string {
		if v := pg.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env("POSTGRES_USER") != PostgresUser || env("POSTGRES_DB") != PostgresDatabase || env("POSTGRES_PASSWORD") != composePostgresPass {
		t.Errorf("postgres credentials %v do not match the servers' URI", pg.Environment)
	}
	if pg.HealthCheck == nil || !slices.Contains(pg.HealthCheck.Test, "pg_isready") {
		t.Errorf("postgres has no pg_isready health check")
	}

	published := map[string][]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			published[name] = append(published[name], port.Published+"->"+strconv.FormatUint(uint64(port.Target), 10))
		}
	}
	for name, ports := range map[string][]string{
		"trillian-log-server": {"8090->8090", "8091->8091"},
		"trillian-log-signer": {"8092->8091"},
	} {
		if !slices.Equal(published[name], ports) {
			t.Errorf("service %s publishes %v, docs say %v", name, published[name], ports)
		}
	}
}

// TestDockerfileBuildsPinnedTrillian checks that the images build the same
// packages with the same tags as EnsureBinaries, load the schema from the
// same module path, and use the Go release go.mod asks for.
func TestDockerfileBuildsPinnedTrillian(t *testing.T) {
	root := repoRoot(t)
	stages := dockerStages(t, root)
	build := stages["trillian-build"]
	for _, want := range []string{"-tags=" + BuildTags, LogServerPackage, LogSignerPackage, "go list -m -f '{{.Dir}}' " + TrillianModule, SchemaPath} {
		if !strings.Contains(build, want) {
			t.Errorf("Dockerfile stage trillian-build lacks %q", want)
		}
	}
	if !strings.Contains(stages["trillian-postgres"], "FROM postgres:15") ||
		!strings.Contains(stages["trillian-postgres"], "/docker-entrypoint-initdb.d/") {
		t.Error("stage trillian-postgres must be PostgreSQL 15 loading the schema at init")
	}
	if !strings.Contains(stages["trialog-build"], "./cmd/trialog") {
		t.Error("stage trialog-build must build ./cmd/trialog")
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	goVersion := mf.Go.Version
	if parts := strings.Split(goVersion, "."); len(parts) > 2 {
		goVersion = strings.Join(parts[:2], ".")
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "ARG GO_VERSION="+goVersion+"\n") {
		t.Errorf("Dockerfile GO_VERSION must be go.mod's go %s", goVersion)
	}
	tools := map[string]bool{}
	for _, tool := range mf.Tool {
		tools[tool.Path] = true
	}
	if !tools[LogServerPackage] || !tools[LogSignerPackage] {
		t.Errorf("go.mod must list %s and %s as tools (the images build them from go.mod alone)", LogServerPackage, LogSignerPackage)
	}
}
