// Command prebuild builds (or finds in the cache) the witnesses the tests
// run (litewitness and witnessctl; omniwitness and its generate_keys), so
// that `go test` does not spend its timeout on a build. .ci/witness.sh
// runs it; it prints the binaries' directories.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/trialog/trialog/internal/toolbuild"
	"github.com/trialog/trialog/witness/witnesstest"
)

func main() {
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := witnesstest.EnsureBinaries(ctx, toolbuild.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dir)
	omni, err := witnesstest.EnsureOmniBinaries(ctx, toolbuild.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(omni)
}
