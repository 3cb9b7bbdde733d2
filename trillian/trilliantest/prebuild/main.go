// Command prebuild builds (or finds in the cache) the Trillian servers the
// live tests run, so that `go test` does not spend its timeout on a cold
// build. .ci/trillian.sh runs it; it prints the binaries' directory.
package main

import (
	"context"
	"time"

	"github.com/trialog/trialog/internal/toolbuild"
	"github.com/trialog/trialog/trillian/trilliantest"
)

func main() {
	toolbuild.Prebuild(30*time.Minute, func(ctx context.Context, logf func(format string, args ...any)) (string, error) {
		m, err := trilliantest.ResolveModule(ctx)
		if err != nil {
			return "", err
		}
		return trilliantest.EnsureBinaries(ctx, m, logf)
	})
}
