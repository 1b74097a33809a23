package billing

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// twentyYears drives a monthly subscription through 240 paid cycles, as the
// workflow does, and returns it.
func twentyYears() *Subscription {
	s := New(Start{ID: "subscription-bench", KeyPrefix: "subscription-bench/run", AccountID: "bench",
		Plan: api.PlanMonthly, Currency: api.CurrencyEUR, PMID: "pm_card_visa",
		InstalledAt: time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)})
	for s.Cycle < 240 {
		ev, _ := s.NextEvent()
		c := s.StartCycle()
		s.Paid(c, "pi_bench", ev.At)
	}
	return s
}

// BenchmarkTwentyYearsOfCycles measures the billing logic of 240 monthly cycles.
func BenchmarkTwentyYearsOfCycles(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		twentyYears()
	}
}

// BenchmarkStateQuery measures building the state query's answer of a
// subscription holding its maximum of payments.
func BenchmarkStateQuery(b *testing.B) {
	s := twentyYears()
	now := time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.State(now)
	}
}

// BenchmarkCarriedState measures encoding what continue-as-new carries, and
// reports its size: it travels in every new run's input.
func BenchmarkCarriedState(b *testing.B) {
	s := twentyYears()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/state")
}
