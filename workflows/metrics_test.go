package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
)

// counters is a metrics handler that keeps counter totals by name and tags.
type counters struct {
	tags map[string]string
	sums map[string]int64 // shared by every handler derived from the first
}

func newCounters() *counters { return &counters{sums: map[string]int64{}} }

func (c *counters) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(c.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return &counters{tags: merged, sums: c.sums}
}

func (c *counters) key(name string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.tags)) {
		if k == "outcome" || k == "currency" {
			parts = append(parts, k+"="+c.tags[k])
		}
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

var countersMu sync.Mutex

func (c *counters) Counter(name string) client.MetricsCounter {
	key := c.key(name)
	return counterFunc(func(n int64) {
		countersMu.Lock()
		defer countersMu.Unlock()
		c.sums[key] += n
	})
}

func (c *counters) get(key string) int64 {
	countersMu.Lock()
	defer countersMu.Unlock()
	return c.sums[key]
}

func (c *counters) Gauge(string) client.MetricsGauge { return gaugeFunc(func(float64) {}) }
func (c *counters) Timer(string) client.MetricsTimer { return timerFunc(func(time.Duration) {}) }

type counterFunc func(int64)

func (f counterFunc) Inc(n int64) { f(n) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

func TestBusinessMetrics(t *testing.T) {
	// Declined five times (suspended), then paid with a new card (restored),
	// then withdrawn within 14 days (refunded).
	m := newCounters()
	fake := newFake()
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake, m)
	h.update(day(9), api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"})
	h.update(day(10), api.UpdateWithdraw, api.WithdrawRequest{})
	_, _ = h.run(input(noOffer, declined), day(11))
	want := map[string]int64{
		"subscriptions_charges_total{currency=EUR,outcome=declined}":        5,
		"subscriptions_charged_minor_total{currency=EUR,outcome=declined}":  5 * 995,
		"subscriptions_charges_total{currency=EUR,outcome=succeeded}":       1,
		"subscriptions_charged_minor_total{currency=EUR,outcome=succeeded}": 995,
		"subscriptions_suspensions_total{}":                                 1,
		"subscriptions_restorations_total{}":                                1,
		"subscriptions_refunds_total{currency=EUR}":                         1,
		"subscriptions_refunded_minor_total{currency=EUR}":                  995,
	}
	for k, v := range want {
		if got := m.get(k); got != v {
			t.Errorf("%s = %d, want %d", k, got, v)
		}
	}
	if t.Failed() {
		t.Log(fmt.Sprint(m.sums))
	}
}
