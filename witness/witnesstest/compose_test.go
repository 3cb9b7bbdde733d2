package witnesstest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/trialog/trialog/witness"
	. "github.com/trialog/trialog/witness/witnesstest"
)

// TestComposeWitnessService checks the deployment's witness: the compose
// service builds the Dockerfile's witness stage, publishes on the host's
// loopback only, the stage builds the same packages the harness builds,
// and the example three-institution policy parses (and, through
// formats/witness, as Tessera would parse it).
func TestComposeWitnessService(t *testing.T) {
	root := filepath.Join("..", "..")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, cli.WithOsEnv, cli.WithWorkingDirectory(root))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := p.Services["witness"]
	if !ok {
		t.Fatal("docker-compose.yml has no witness service")
	}
	if s.Build == nil || s.Build.Target != "witness" {
		t.Errorf("witness service builds %+v, want the Dockerfile's witness stage", s.Build)
	}
	if len(s.Ports) != 1 || s.Ports[0].HostIP != "127.0.0.1" || s.Ports[0].Published != "7380" {
		t.Errorf("witness service publishes %+v, want 127.0.0.1:7380", s.Ports)
	}
	docker, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AS witness\n", LiteWitnessPkg, WitnessCtlPkg, "openssh-client"} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	text, err := os.ReadFile(filepath.Join(root, "docs", "example-witness-policy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := witness.ParsePolicy(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(pol.Witnesses) != 3 || pol.Quorum != 2 {
		t.Errorf("example policy: %d witnesses, quorum %d", len(pol.Witnesses), pol.Quorum)
	}
}
