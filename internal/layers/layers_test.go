// Package layers holds the test that keeps docs/architecture.md true:
// every import between trialog's packages goes down the floors listed
// there, never up or sideways across a floor.
package layers

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/trialog/trialog/"

// floors is docs/architecture.md's table: a package may import packages
// on lower floors and, within its own floor, only its own sub-packages.
// A package missing here fails the test, so a new one gets a floor.
var floors = map[string]int{
	// 0: foundations that know nothing of trialog's formats.
	"internal/durable": 0, "internal/loopback": 0, "internal/parallel": 0, "internal/shareddata": 0, "internal/testutil": 0,
	"source/internal/rowbatch": 0, "source/internal/sas": 0, "trillian/trilliantest": 1, "witness/witnesstest": 1,
	"internal/toolbuild": 0, // builds a pinned tool (Trillian, witnesses) once into the cache
	"disclosure/ipcfile": 0, // Arrow IPC file structure, checked before Arrow reads it
	"internal/hostile":   1, // test helpers that craft hostile packages
	"canonical":          0, // canonical cells import nothing of trialog, so every reader can use them
	// 1: specifications: the log and its proofs, canonical cells, readers.
	"trillian": 1, "source": 1, "source/xpt": 1, "source/datasetjson": 1,
	// 2: formats built on them.
	"trillian/checkpoint": 2, "leaf": 2, "source/definexml": 2, "source/readers": 2, "trillian/embedded": 2, "trillian/remote": 2,
	"trillian/trilliantest/prebuild": 2, "witness/witnesstest/prebuild": 2,
	"witness": 2, // witness policies and cosignatures (C2SP tlog-cosignature)
	// 3: row commitments from Arrow batches (writer and verifier alike);
	// a verifier's memory; the witness client.
	"commit": 3, "trust": 3, "witness/client": 3, "trillian/embedded/embeddedtest": 3, // the last: tests' signed embedded logs
	"tlogtiles": 3, // the log published as C2SP tlog-tiles: writer, read-only handler, reader
	"monitor":   4, // a third party following a published log
	// 4: the package format; 5: the sponsor's verifier.
	"disclosure":         4,
	"consent":            4, // consent model, IRB report format and its offline verifier: no storage, builds to WebAssembly
	"consent/reporthtml": 4, // the IRB report as HTML, apart so the browser verifier links no html/template
	"verify":             5, "verify/browser": 6, "verify/browser/wasm": 6,
	"freshness": 6, // verify.Versions over a published log (verify --log-url)
	// 6: the CRO's state; 7: its writers; 8-9: wiring; 10: the CLI.
	"workspace": 6,
	"pipeline":  7, "consent/registry": 7, "consent/fhir": 8, "consent/sdtm": 8,
	"backend": 8, "consent/imports": 9,
	"cmd/trialog": 10,
}

func TestImportsGoDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		if strings.HasPrefix(name, "bench/") || name == "internal/layers" {
			continue // benchmarks may use anything; they are not shipped
		}
		floor, ok := floors[name]
		if !ok {
			t.Errorf("%s has no floor in docs/architecture.md (and this test's table)", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			df, ok := floors[dep]
			switch {
			case !ok:
				// reported when dep itself is listed
			case df > floor:
				t.Errorf("%s (floor %d) imports %s (floor %d): an import upwards", name, floor, dep, df)
			case df == floor && !strings.HasPrefix(dep, name+"/") && !strings.HasPrefix(name, dep+"/"):
				t.Errorf("%s imports %s sideways on floor %d", name, dep, floor)
			}
		}
	}
}
