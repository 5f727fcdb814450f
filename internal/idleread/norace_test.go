//go:build !race

package idleread

const raceDetector = false
