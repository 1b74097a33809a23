//go:build !race

package devstack

// raceEnabled reports whether this program was built with -race.
const raceEnabled = false
