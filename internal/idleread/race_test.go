//go:build race

package idleread

// raceDetector: pooled buffers are dropped at random, so reads allocate.
const raceDetector = true
