//go:build race

package outbox

// raceDetector: pooled buffers are dropped at random, so writes allocate.
const raceDetector = true
