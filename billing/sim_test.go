package billing_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// outcome is what Stripe answers to a charge attempt in a simulation.
type outcome int

const (
	paid       outcome = iota
	declined           // HTTP 402 card_error
	unanswered         // Stripe unreachable: no answer
)

func (o outcome) String() string { return [...]string{"paid", "declined", "unanswered"}[o] }

// step is one event the simulated workflow handled.
type step struct {
	Kind    billing.EventKind
	At      time.Time
	Charge  billing.Charge // for EventCharge and EventRetry
	Key     string         // the charge's idempotency key
	Outcome outcome
	Status  string // after the event
	Access  bool   // after the event
}

// sim drives a Subscription the way the workflow does: it waits for the next
// event, performs what the event asks for, and reports back.
type sim struct {
	t *testing.T
	s *billing.Subscription
	// answer decides each charge attempt; nil pays everything. calls counts
	// the times the same charge attempt (same key) was made before.
	answer func(c billing.Charge, calls int) outcome
	// unansweredRetry is when an unanswered attempt is made again (default 1h).
	unansweredRetry time.Duration
	steps           []step
	now             time.Time
	// downUntil is the end of an outage: what falls due before it is
	// handled only then, as a worker fleet coming back does.
	downUntil time.Time
	calls     map[string]int
	pi        int
}

func newSim(t *testing.T, s *billing.Subscription) *sim {
	return &sim{t: t, s: s, now: s.ContractStart, calls: map[string]int{}}
}

// runUntil handles every event falling at or before until.
func (m *sim) runUntil(until time.Time) *sim {
	m.t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			m.t.Fatalf("simulation does not converge: %d events before %s", i, until)
		}
		ev, ok := m.s.NextEvent()
		if !ok || ev.At.After(until) {
			if until.After(m.now) {
				m.now = until
			}
			return m
		}
		handled := ev.At
		if handled.Before(m.downUntil) {
			handled = m.downUntil
		}
		if handled.Before(m.now) && len(m.steps) > 0 {
			m.t.Fatalf("event %v at %s comes after %s: time went back", ev.Kind, handled, m.now)
		}
		m.now = handled
		st := step{Kind: ev.Kind, At: handled}
		switch ev.Kind {
		case billing.EventCharge:
			c := m.s.StartCycle()
			if !c.DueAt.Equal(ev.At) {
				m.t.Fatalf("StartCycle at %s returned a charge due at %s", ev.At, c.DueAt)
			}
			m.settle(&st, c)
		case billing.EventRetry:
			c, ok := m.s.RetryCharge(ev.Cycle)
			if !ok {
				m.t.Fatalf("RetryCharge(%d) found no open cycle for the event at %s", ev.Cycle, ev.At)
			}
			m.settle(&st, c)
		case billing.EventTrialEnding:
			m.s.TrialEndingSent = true
		case billing.EventEnd:
			m.s.Expire(handled)
			if !m.s.Ended {
				m.t.Fatalf("Expire at the end event %s did not end the subscription", handled)
			}
		default:
			m.t.Fatalf("unknown event kind %v", ev.Kind)
		}
		st.Status, st.Access = m.s.Status(), m.s.AccessActive()
		m.steps = append(m.steps, st)
	}
}

func (m *sim) settle(st *step, c billing.Charge) {
	st.Charge, st.Key = c, m.s.IdempotencyKey(c)
	o := paid
	if m.answer != nil {
		o = m.answer(c, m.calls[st.Key])
	}
	m.calls[st.Key]++
	st.Outcome = o
	switch o {
	case paid:
		m.pi++
		m.s.Paid(c, fmt.Sprintf("pi_%d", m.pi), st.At)
	case declined:
		m.pi++
		m.s.Declined(c, fmt.Sprintf("pi_%d", m.pi), "card_declined", st.At)
	case unanswered:
		after := m.unansweredRetry
		if after == 0 {
			after = time.Hour
		}
		m.s.Unanswered(c, st.At, st.At.Add(after))
	}
}

// charges are the steps that asked for money.
func (m *sim) charges() []step {
	var out []step
	for _, s := range m.steps {
		if s.Kind == billing.EventCharge || s.Kind == billing.EventRetry {
			out = append(out, s)
		}
	}
	return out
}

func (m *sim) kinds(k billing.EventKind) []step {
	var out []step
	for _, s := range m.steps {
		if s.Kind == k {
			out = append(out, s)
		}
	}
	return out
}

// Answer scripts.

// declineCycles declines every attempt of the given cycles.
func declineCycles(cycles ...int) func(billing.Charge, int) outcome {
	return func(c billing.Charge, _ int) outcome {
		for _, n := range cycles {
			if c.Cycle == n {
				return declined
			}
		}
		return paid
	}
}

// script answers attempt a of cycle c from answers["c/a"], one answer per
// call of the same attempt; anything unscripted is paid.
func script(answers map[string][]outcome) func(billing.Charge, int) outcome {
	return func(c billing.Charge, calls int) outcome {
		list := answers[fmt.Sprintf("%d/%d", c.Cycle, c.Attempt)]
		if calls < len(list) {
			return list[calls]
		}
		return paid
	}
}

// newSub opens a subscription with the project's defaults.
func newSub(plan, offer string, installedAt time.Time, prior ...billing.Period) *billing.Subscription {
	return billing.New(billing.Start{
		ID: "subscription-acc1", KeyPrefix: "subscription-acc1/run-1", AccountID: "acc1",
		Plan: plan, Currency: api.CurrencyEUR, Offer: offer, PMID: "pm_card_visa",
		InstalledAt: installedAt, Prior: prior,
	})
}

func dates(steps []step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.At.Format(time.RFC3339)
	}
	return out
}

func ptrEq(p *time.Time, want time.Time) bool { return p != nil && p.Equal(want) }

func fmtPtr(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.Format(time.RFC3339)
}
