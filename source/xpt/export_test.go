package xpt

// ToIBM is toIBM for the external tests, which build XPT fixtures.
var ToIBM = toIBM
