package billing

import (
	"math"
	"math/bits"
	"time"
)

// Clock is a subscription's clock. Without a speedup it is real time. With a
// test clock it reads StartsAt + Speedup × (real time elapsed since Origin),
// like Stripe's test clocks.
type Clock struct {
	Origin   time.Time `json:"origin"`   // real time the clock started
	StartsAt time.Time `json:"startsAt"` // its reading at Origin
	Speedup  float64   `json:"speedup"`  // 0 or 1: real time
}

const (
	day = 24 * time.Hour
	// maxDays bounds how far the clock moves from StartsAt (about 2.9
	// million years), so that no speedup can overflow the calendar.
	maxDays = 1 << 30
	// maxExact is the largest whole speedup computed in integers.
	maxExact = 1 << 53
)

func (c Clock) speed() float64 {
	if c.Speedup < 1 {
		return 1
	}
	return c.Speedup
}

// whole reports the speedup as an integer when it is one (real time included):
// the clock is then computed exactly, to the nanosecond.
func (c Clock) whole() (uint64, bool) {
	s := c.speed()
	if s <= maxExact && s == math.Trunc(s) {
		return uint64(s), true
	}
	return 0, false
}

// Now is the clock's reading at real time real. It keeps counting past
// time.Duration's range (292 years), which a fast test clock left running
// reaches: in under two real days at 86400×.
func (c Clock) Now(real time.Time) time.Time {
	elapsed := real.Sub(c.Origin)
	mag := uint64(elapsed)
	if elapsed < 0 {
		mag = -mag
	}
	// The clock's advance, mag × speedup, as whole days and a remainder.
	var days uint64
	var rest time.Duration
	if n, ok := c.whole(); ok {
		hi, lo := bits.Mul64(mag, n)
		if hi >= uint64(day) {
			days = maxDays
		} else {
			q, r := bits.Div64(hi, lo, uint64(day))
			days, rest = q, time.Duration(r)
		}
	} else {
		adv := float64(mag) * c.speed()
		if q := math.Floor(adv / float64(day)); q >= maxDays {
			days = maxDays
		} else {
			days, rest = uint64(q), time.Duration(adv-q*float64(day))
		}
	}
	if days >= maxDays {
		days, rest = maxDays, 0 // the clock stops there
	}
	t := c.StartsAt.UTC()
	if elapsed < 0 {
		return t.AddDate(0, 0, -int(days)).Add(-rest)
	}
	return t.AddDate(0, 0, int(days)).Add(rest)
}

// Delay is the real time to wait from real until the clock reads at. It is
// rounded up so that the clock has reached at when the wait is over.
func (c Clock) Delay(real, at time.Time) time.Duration {
	d := at.Sub(c.Now(real))
	if d <= 0 {
		return 0
	}
	if n, ok := c.whole(); ok {
		wait := d / time.Duration(n)
		if d%time.Duration(n) != 0 {
			wait++
		}
		return wait
	}
	wait := time.Duration(math.Ceil(float64(d) / c.speed()))
	// Floating-point rounding may leave the clock a few nanoseconds short.
	for step := time.Duration(1); step < 1<<40 && c.Now(real.Add(wait)).Before(at); step *= 2 {
		wait += step
	}
	return wait
}
