//go:build race

package buildinfo_test

const raceEnabled = true
