package billing

import (
	"math"
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

func (c Clock) speed() float64 {
	if c.Speedup < 1 {
		return 1
	}
	return c.Speedup
}

// Now is the clock's reading at real time real.
func (c Clock) Now(real time.Time) time.Time {
	elapsed := float64(real.Sub(c.Origin)) * c.speed()
	return c.StartsAt.Add(time.Duration(elapsed)).UTC()
}

// Delay is the real time to wait from real until the clock reads at. It is
// rounded up so that the clock has reached at when the wait is over.
func (c Clock) Delay(real, at time.Time) time.Duration {
	d := at.Sub(c.Now(real))
	if d <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(d) / c.speed()))
}
