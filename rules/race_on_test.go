//go:build race

package rules

// raceEnabled is true when the tests run under the race detector, which
// slows the single-goroutine scanning loops tenfold; loops that only
// repeat one check over many inputs run a sample of them then.
const raceEnabled = true
