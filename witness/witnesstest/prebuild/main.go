// Command prebuild builds (or finds in the cache) the witnesses the tests
// run (litewitness and witnessctl; omniwitness and its generate_keys), so
// that `go test` does not spend its timeout on a build. .ci/witness.sh
// runs it; it prints the binaries' directories.
package main

import (
	"time"

	"github.com/trialog/trialog/internal/toolbuild"
	"github.com/trialog/trialog/witness/witnesstest"
)

func main() {
	toolbuild.Prebuild(15*time.Minute, witnesstest.EnsureBinaries, witnesstest.EnsureOmniBinaries)
}
