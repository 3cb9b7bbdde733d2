// Command prebuild builds (or finds in the cache) the Trillian servers the
// live tests run, so that `go test` does not spend its timeout on a cold
// build. .ci/trillian.sh runs it; it prints the binaries' directory.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/trialog/trialog/internal/toolbuild"
	"github.com/trialog/trialog/trillian/trilliantest"
)

func main() {
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	m, err := trilliantest.ResolveModule(ctx)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := trilliantest.EnsureBinaries(ctx, m, toolbuild.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dir)
}
