// Command prebuild builds (or finds in the cache) the litewitness and
// witnessctl binaries the witness tests run, so that `go test` does not
// spend its timeout on a build. .ci/witness.sh runs it; it prints the
// binaries' directory.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/trialog/trialog/witness/witnesstest"
)

func main() {
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := witnesstest.EnsureBinaries(ctx, func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dir)
}
