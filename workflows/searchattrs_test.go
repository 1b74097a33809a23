package workflows

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
)

// publishedAttributes applies the search attributes h's run upserts, as
// the server would, and counts the upserts.
type publishedAttributes struct {
	mu      sync.Mutex
	values  map[string]any
	upserts int
}

func watchSearchAttributes(h *harness) *publishedAttributes {
	p := &publishedAttributes{values: map[string]any{}}
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.upserts++
		for k, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			if v == nil {
				delete(p.values, k.GetName())
			} else {
				p.values[k.GetName()] = v
			}
		}
	})
	return p
}

func (p *publishedAttributes) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upserts
}

// check fails unless what was published says what st says.
func (p *publishedAttributes) check(t *testing.T, when string, st api.State) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]any{
		api.SASubscriptionStatus: st.Status,
		api.SAAccountID:          st.AccountID,
		api.SAPlan:               st.Plan,
		api.SAAccessActive:       st.AccessActive,
		api.SAOutstandingMinor:   st.OutstandingMinor,
	}
	if st.NextChargeAt != nil {
		want[api.SANextChargeAt] = *st.NextChargeAt
	}
	for k, v := range want {
		got, ok := p.values[k]
		if at, isTime := v.(time.Time); isTime {
			if gotAt, _ := got.(time.Time); !ok || !gotAt.Equal(at) {
				t.Errorf("%s: %s is %v, the state says %v", when, k, got, v)
			}
			continue
		}
		if !ok || got != v {
			t.Errorf("%s: %s is %v, the state says %v", when, k, got, v)
		}
	}
	if _, ok := p.values[api.SANextChargeAt]; ok && st.NextChargeAt == nil {
		t.Errorf("%s: %s is %v, the state has no next charge", when, api.SANextChargeAt, p.values[api.SANextChargeAt])
	}
}

// TestCatchingUpPublishesOnceIdle: a run that starts three months late (a
// worker down that long, the next run of a continue-as-new scheduled
// late) pays the three cycles due one after the other. Under rules 3 it
// publishes their next charge dates, past as soon as they are paid, once
// it is idle again: one upsert rather than one per cycle. Whenever the run
// waits, the search attributes say what its state says.
func TestCatchingUpPublishesOnceIdle(t *testing.T) {
	first := newHarness(t, date("2026-01-31T09:00:00Z"), newFake())
	_, err := first.run(input(noOffer), day(3*365))
	next := continued(t, err)
	last := date("2026-01-31T09:00:00Z").AddDate(0, MaxCyclesPerRun-1, 0) // Dec 31, 2027: cycle 24
	late := last.AddDate(0, 3, 5)                                         // Apr 5, 2028: Jan 31, Feb 29, Mar 31 due

	fake := newFake()
	h := newHarness(t, late, fake)
	h.env.SetContinuedExecutionRunID("first-run")
	published := watchSearchAttributes(h)
	var caughtUp, aWeekOn api.State
	var upsertsCatchingUp int
	h.at(time.Hour, func() {
		caughtUp = h.state()
		upsertsCatchingUp = published.count()
		published.check(t, "caught up", caughtUp)
	})
	h.at(day(7), func() {
		aWeekOn = h.state()
		published.check(t, "a week on", aWeekOn)
	})
	h.at(day(27), func() { published.check(t, "the next cycle paid", h.state()) })
	_, _ = h.run(next, day(60))

	if got := len(fake.calls); got < 4 {
		t.Fatalf("%d charges, want the 3 cycles due and the next ones", got)
	}
	if caughtUp.Cycle != MaxCyclesPerRun+3 || caughtUp.OutstandingMinor != 0 || caughtUp.Status != api.StatusActive {
		t.Fatalf("after catching up: cycle %d, outstanding %d, %s", caughtUp.Cycle, caughtUp.OutstandingMinor, caughtUp.Status)
	}
	// The run's opening publish, then one once the three cycles are paid.
	if upsertsCatchingUp != 2 {
		t.Errorf("%d upserts to open and catch up three cycles, want 2", upsertsCatchingUp)
	}
}
