//go:build race

package race

// Enabled: the race detector is on. sync.Pool then drops what it is given
// at random, so code that pools its buffers allocates now and then, and a
// test that counts allocations has nothing to count.
const Enabled = true
