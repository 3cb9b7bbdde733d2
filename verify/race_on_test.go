//go:build race

package verify_test

// raceEnabled: the race detector multiplies memory use, so memory
// bounds are measured without it.
const raceEnabled = true
