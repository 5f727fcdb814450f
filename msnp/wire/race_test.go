//go:build race

package wire

// raceDetector: pooled buffers are dropped at random, so reads allocate.
const raceDetector = true
