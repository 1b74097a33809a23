package billing_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/billing"
)

func TestClockRealTime(t *testing.T) {
	origin := at("2026-03-01T10:00:00Z")
	for _, speedup := range []float64{0, 1, 0.5} { // anything below 1 is real time
		c := billing.Clock{Origin: origin, StartsAt: origin, Speedup: speedup}
		t.Run(fmt.Sprint("speedup ", speedup), func(t *testing.T) {
			for _, elapsed := range []time.Duration{0, time.Nanosecond, time.Second, 36 * time.Hour,
				200*24*time.Hour + 123456789, 3 * 365 * 24 * time.Hour, 10*365*24*time.Hour + 7} {
				real := origin.Add(elapsed)
				if got := c.Now(real); !got.Equal(real) {
					t.Errorf("Now(origin+%s) = %s, want %s (off by %s)", elapsed, got.Format(time.RFC3339Nano), real.Format(time.RFC3339Nano), got.Sub(real))
				}
				for _, ahead := range []time.Duration{time.Nanosecond, time.Hour, 400*24*time.Hour + 3} {
					if got := c.Delay(real, real.Add(ahead)); got != ahead {
						t.Errorf("Delay(origin+%s, +%s) = %s, want %s", elapsed, ahead, got, ahead)
					}
				}
			}
		})
	}
	// A clock that starts elsewhere runs at the same pace.
	c := billing.Clock{Origin: origin, StartsAt: at("2030-01-01T00:00:00Z")}
	if got := c.Now(origin.Add(90 * time.Minute)); !got.Equal(at("2030-01-01T01:30:00Z")) {
		t.Fatalf("Now = %s, want 2030-01-01T01:30:00Z", got)
	}
}

func TestClockSpeedup(t *testing.T) {
	origin := at("2026-03-01T10:00:00+02:00")
	starts := at("2026-01-31T00:00:00Z")
	tests := []struct {
		speedup float64
		real    time.Duration // elapsed real time
		want    string        // clock reading
	}{
		{1440, 0, "2026-01-31T00:00:00Z"},
		{1440, time.Minute, "2026-02-01T00:00:00Z"},
		{1440, time.Second, "2026-01-31T00:24:00Z"},
		{1440, 30 * time.Minute, "2026-03-02T00:00:00Z"},
		{1440, 24 * time.Hour, "2030-01-10T00:00:00Z"}, // 1440 days
		{86400, time.Second, "2026-02-01T00:00:00Z"},
		{86400, 28 * time.Second, "2026-02-28T00:00:00Z"},
		{86400, time.Hour, "2035-12-10T00:00:00Z"}, // 3600 days
		{86400, time.Millisecond, "2026-01-31T00:01:26.4Z"},
		{60, time.Minute, "2026-01-31T01:00:00Z"},
		{1.5, 2 * time.Hour, "2026-01-31T03:00:00Z"},
		{1440, -time.Minute, "2026-01-30T00:00:00Z"}, // before the origin: counts back
		{1.5, -2 * time.Hour, "2026-01-30T21:00:00Z"},
		{1 << 40, 10 * 24 * time.Hour, "2026-01-31T00:00:00Z"}, // computed below: far, not wrapped
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%gx after %s", tc.speedup, tc.real), func(t *testing.T) {
			c := billing.Clock{Origin: origin, StartsAt: starts, Speedup: tc.speedup}
			got := c.Now(origin.Add(tc.real))
			if tc.speedup == 1<<40 {
				if got.Year() < 1_000_000 {
					t.Fatalf("Now = %s: a huge advance must move the clock far ahead", got)
				}
				return
			}
			if !got.Equal(at(tc.want)) {
				t.Fatalf("Now = %s, want %s", got.Format(time.RFC3339Nano), tc.want)
			}
			if got.Location() != time.UTC {
				t.Fatalf("Now is in %v, want UTC", got.Location())
			}
		})
	}
}

func TestClockDelay(t *testing.T) {
	origin := at("2026-03-01T10:00:00Z")
	starts := at("2026-01-31T00:00:00Z")
	tests := []struct {
		speedup float64
		elapsed time.Duration
		target  string
		want    time.Duration
	}{
		{1440, 0, "2026-02-01T00:00:00Z", time.Minute},
		{1440, 0, "2026-02-28T00:00:00Z", 28 * time.Minute},
		{1440, 0, "2026-01-31T00:00:00.000000001Z", time.Nanosecond}, // ceil, not 0
		{1440, 0, "2026-01-31T00:00:01Z", 694445},                    // 1e9/1440 = 694444.4… → 694445
		{1440, time.Minute, "2026-02-01T00:00:00Z", 0},               // reached
		{1440, time.Minute, "2026-01-31T12:00:00Z", 0},               // past
		{86400, 0, "2026-02-01T00:00:00Z", time.Second},
		{86400, 0, "2027-01-31T00:00:00Z", 365 * time.Second},
		{86400, 10 * time.Second, "2026-02-01T00:00:00Z", 0},
		{86400, 0, "2026-01-31T00:00:00.5Z", 5788}, // 5e8/86400 = 5787.03… → 5788
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%gx at +%s to %s", tc.speedup, tc.elapsed, tc.target), func(t *testing.T) {
			c := billing.Clock{Origin: origin, StartsAt: starts, Speedup: tc.speedup}
			real := origin.Add(tc.elapsed)
			got := c.Delay(real, at(tc.target))
			if got != tc.want {
				t.Fatalf("Delay = %s (%d ns), want %s", got, got, tc.want)
			}
		})
	}
}

// TestClockDelayInverse checks Now and Delay against each other: after
// waiting Delay the clock has reached the target, and, with a whole speedup,
// a nanosecond less would not have been enough (the ceiling, not more).
func TestClockDelayInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	origin := at("2026-03-01T10:00:00Z")
	for _, speedup := range []float64{0, 1, 1440, 86400, 3600, 1.5, 7.25} {
		t.Run(fmt.Sprint(speedup), func(t *testing.T) {
			c := billing.Clock{Origin: origin, StartsAt: at("2026-01-31T23:59:59Z"), Speedup: speedup}
			whole := speedup == float64(int64(speedup))
			for i := 0; i < 3000; i++ {
				// real time elapsed: up to a year for real time, less with a speedup
				maxElapsed := int64(365 * 24 * time.Hour)
				if speedup > 1 {
					maxElapsed = int64(float64(50*365*24*time.Hour) / speedup)
				}
				real := origin.Add(time.Duration(rng.Int64N(maxElapsed)))
				now := c.Now(real)
				target := now.Add(time.Duration(rng.Int64N(int64(2*365*24*time.Hour))) + 1)
				if i%10 == 0 {
					target = now.Add(time.Duration(rng.Int64N(1000)) + 1) // a few ns ahead
				}
				d := c.Delay(real, target)
				if d <= 0 {
					t.Fatalf("Delay(%s → %s) = %s for a future target", now, target, d)
				}
				if got := c.Now(real.Add(d)); got.Before(target) {
					t.Fatalf("after Delay %s the clock reads %s, short of %s by %s", d, got.Format(time.RFC3339Nano), target.Format(time.RFC3339Nano), target.Sub(got))
				}
				if whole {
					if got := c.Now(real.Add(d - 1)); !got.Before(target) {
						t.Fatalf("Delay %s is not the least wait: a nanosecond less reaches %s ≥ %s", d, got.Format(time.RFC3339Nano), target.Format(time.RFC3339Nano))
					}
				} else if over := c.Now(real.Add(d)).Sub(target); over > 2*time.Microsecond {
					// a fractional speedup is computed in floating point: allow rounding, not more
					t.Fatalf("Delay %s overshoots the target by %s", d, over)
				}
				if past := c.Delay(real, now.Add(-time.Duration(rng.Int64N(int64(time.Hour))))); past != 0 {
					t.Fatalf("Delay to a past target = %s, want 0", past)
				}
				if zero := c.Delay(real, now); zero != 0 {
					t.Fatalf("Delay to now = %s, want 0", zero)
				}
			}
		})
	}
}

// TestClockLongRun: a test clock left running must keep moving forward, even
// when speedup × elapsed exceeds time.Duration's range (about 292 years).
func TestClockLongRun(t *testing.T) {
	origin := at("2026-03-01T10:00:00Z")
	starts := at("2026-01-01T00:00:00Z")
	c := billing.Clock{Origin: origin, StartsAt: starts, Speedup: 86400}
	prev := c.Now(origin)
	for days := 1; days <= 10; days++ {
		now := c.Now(origin.Add(time.Duration(days) * 24 * time.Hour))
		want := starts.AddDate(0, 0, 86400*days)
		if !now.Equal(want) {
			t.Fatalf("after %d real days at 86400x: Now = %s, want %s", days, now, want)
		}
		if !now.After(prev) {
			t.Fatalf("the clock went back from %s to %s", prev, now)
		}
		prev = now
	}
}

// TestClockAbsurdSpeedup: Validate accepts any speedup ≥ 1; the clock must
// move forward, not wrap, panic or hang.
func TestClockAbsurdSpeedup(t *testing.T) {
	origin := at("2026-03-01T10:00:00Z")
	starts := at("2026-01-01T00:00:00Z")
	for _, speedup := range []float64{1e12 + 0.5, 1 << 53, 1e300} {
		c := billing.Clock{Origin: origin, StartsAt: starts, Speedup: speedup}
		prev := c.Now(origin)
		if !prev.Equal(starts) {
			t.Fatalf("speedup %g: Now at the origin = %s", speedup, prev)
		}
		for _, d := range []time.Duration{time.Nanosecond, time.Second, time.Hour, 30 * 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
			now := c.Now(origin.Add(d))
			if now.Before(prev) {
				t.Fatalf("speedup %g: the clock went back from %s to %s", speedup, prev, now)
			}
			prev = now
		}
		if !prev.After(starts.AddDate(1000, 0, 0)) {
			t.Fatalf("speedup %g: after 10 real years the clock reads %s", speedup, prev)
		}
		if d := c.Delay(origin, starts.AddDate(1, 0, 0)); d < 0 || d > time.Second {
			t.Fatalf("speedup %g: Delay a year ahead = %s", speedup, d)
		}
	}
}
