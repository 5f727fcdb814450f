//go:build !race

// Package race tells whether the binary was built with the race detector,
// for the tests that count allocations.
package race

// Enabled: the race detector is on (see race.go).
const Enabled = false
