//go:build !unix

package trust

import "errors"

// lock refuses where no file lock exists (the browser verifier, built for
// js/wasm, has no trust directory): a trust store shared without a lock
// could let two forks in.
func lock(string) (func(), error) {
	return nil, errors.New("trust directory: no file locking on this platform")
}
