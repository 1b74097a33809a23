package stripefake

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for SetClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(f *fixture) *clock {
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	f.fk.SetClock(c.now)
	return c
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestFaultBefore(t *testing.T) {
	f := newFixture(t)
	f.fk.SetFaults(Faults{Before: 1, Seed: 1})
	if st, m, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 500 || errField(m, "type") != "api_error" {
		t.Fatalf("got %d %v", st, m)
	}
	if n := len(f.fk.PaymentIntents()); n != 0 {
		t.Fatalf("%d payment intents after a Before fault", n)
	}
	// Refunds and look-ups are not charges: no fault.
	if st, _, _ := f.do(http.MethodGet, "/v1/payment_methods/pm_card_visa", "", "Bearer sk_test_1", nil); st != 200 {
		t.Errorf("payment method look-up: %d", st)
	}
	f.fk.SetFaults(Faults{})
	// The key was not stored: the retry executes the charge.
	st, m, h := f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
	if st != 200 || m["status"] != "succeeded" || h.Get("Idempotent-Replayed") != "" || len(f.fk.PaymentIntents()) != 1 {
		t.Errorf("retry: %d %v %v", st, m, h)
	}
	if reqs := f.fk.Requests(); reqs[0].Fault != FaultBefore || reqs[1].Fault != "" || reqs[2].Fault != "" {
		t.Errorf("faults recorded %+v", reqs)
	}
}

func TestFaultAfter(t *testing.T) {
	for _, pm := range []string{"pm_card_visa", "pm_card_chargeDeclined"} {
		t.Run(pm, func(t *testing.T) {
			f := newFixture(t)
			f.fk.SetFaults(Faults{After: 1, Seed: 7})
			if st, m, _ := f.post("/v1/payment_intents", "k", charge(pm)); st != 500 || errField(m, "type") != "api_error" {
				t.Fatalf("got %d %v", st, m)
			}
			pis := f.fk.PaymentIntents()
			if len(pis) != 1 {
				t.Fatalf("%d payment intents after an After fault, want 1", len(pis))
			}
			// Still faulty: the replay is answered 500 too, nothing new is made.
			if st, _, _ := f.post("/v1/payment_intents", "k", charge(pm)); st != 500 {
				t.Errorf("faulty replay: %d", st)
			}
			f.fk.SetFaults(Faults{})
			st, m, h := f.post("/v1/payment_intents", "k", charge(pm))
			id, _ := m["id"].(string)
			if pi, ok := errField(m, "payment_intent").(map[string]any); ok {
				id, _ = pi["id"].(string)
			}
			if (st != 200 && st != 402) || id != pis[0].ID || h.Get("Idempotent-Replayed") != "true" || len(f.fk.PaymentIntents()) != 1 {
				t.Errorf("retry under the key: %d %v %v", st, m, h)
			}
			reqs := f.fk.Requests()
			if reqs[0].Fault != FaultAfter || reqs[0].Replayed || reqs[1].Fault != FaultAfter || reqs[1].Replayed || !reqs[2].Replayed {
				t.Errorf("requests %+v", reqs)
			}
		})
	}
}

func TestFaultLate(t *testing.T) {
	f := newFixture(t)
	const lateBy = 150 * time.Millisecond
	f.fk.SetFaults(Faults{Late: 1, LateBy: lateBy, Seed: 3})
	start := time.Now()
	st, m, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
	if took := time.Since(start); took < lateBy {
		t.Errorf("answered after %v, want at least %v", took, lateBy)
	}
	if st != 200 || m["status"] != "succeeded" {
		t.Fatalf("got %d %v", st, m)
	}
	// The charge was stored before the late answer went out.
	f.fk.SetFaults(Faults{})
	if _, again, h := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); again["id"] != m["id"] || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay %v %v", again, h)
	}
}

// TestFaultLateClientGone: a client that stops waiting is not waited for.
func TestFaultLateClientGone(t *testing.T) {
	fk := New()
	srv := httptest.NewServer(fk)
	fk.SetFaults(Faults{Late: 1, LateBy: time.Minute})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/payment_intents", strings.NewReader(charge("pm_card_visa").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer sk_test_1")
	if res, err := client.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("answered %d, want a client timeout", res.StatusCode)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }() // waits for running handlers
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still waits for a client that left")
	}
	if n := len(fk.PaymentIntents()); n != 1 {
		t.Errorf("%d payment intents, want 1 (the charge is made)", n)
	}
}

func TestFaultsAreSeeded(t *testing.T) {
	sequence := func(seed uint64) string {
		f := newFixture(t)
		f.fk.SetFaults(Faults{Before: 0.25, Late: 0.25, After: 0.25, LateBy: time.Millisecond, Seed: seed})
		var b strings.Builder
		for range 40 {
			f.post("/v1/payment_intents", "", charge("pm_card_visa"))
		}
		for _, r := range f.fk.Requests() {
			b.WriteString(r.Fault + ",")
		}
		return b.String()
	}
	a, b, c := sequence(42), sequence(42), sequence(43)
	if a != b {
		t.Errorf("seed 42 gave two sequences:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 42 and 43 gave the same sequence %s", a)
	}
	for _, kind := range []string{FaultBefore, FaultLate, FaultAfter} {
		if !strings.Contains(a, kind+",") {
			t.Errorf("no %s fault in 40 draws at 25%%: %s", kind, a)
		}
	}
	if !strings.Contains(a, ",,") && !strings.HasPrefix(a, ",") {
		t.Errorf("no charge without a fault in 40 draws at 25%%: %s", a)
	}
}

func TestSetFaultsRefusesBadProbabilities(t *testing.T) {
	for _, f := range []Faults{{Before: -0.1}, {Late: 1.5}, {Before: 0.5, Late: 0.3, After: 0.3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetFaults(%+v) did not panic", f)
				}
			}()
			New().SetFaults(f)
		}()
	}
}

func TestHoldChargeAnswersUntil(t *testing.T) {
	f := newFixture(t)
	c := newClock(f)
	f.fk.SetFaults(Faults{Before: 1}) // not drawn while answers are held
	f.fk.HoldChargeAnswersUntil(c.now().Add(time.Hour))
	if st, _, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 500 {
		t.Fatalf("held charge answered %d", st)
	}
	pis := f.fk.PaymentIntents()
	if len(pis) != 1 || pis[0].Status != "succeeded" {
		t.Fatalf("payment intents %+v", pis)
	}
	c.advance(59 * time.Minute)
	if st, _, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 500 {
		t.Errorf("replay before the hold ends answered %d", st)
	}
	// Not a charge: answered.
	if st, _, _ := f.post("/v1/refunds", "r", url.Values{"payment_intent": {pis[0].ID}}); st != 200 {
		t.Errorf("refund during the hold: %d", st)
	}
	f.fk.SetFaults(Faults{})
	c.advance(time.Minute)
	st, m, h := f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
	if st != 200 || m["id"] != pis[0].ID || h.Get("Idempotent-Replayed") != "true" || len(f.fk.PaymentIntents()) != 1 {
		t.Errorf("after the hold: %d %v %v", st, m, h)
	}
	reqs := f.fk.Requests()
	if reqs[0].Fault != FaultHeld || reqs[1].Fault != FaultHeld || reqs[2].Fault != "" || reqs[3].Fault != "" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestKeyRetention(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		after     time.Duration
		forgotten bool
	}{
		{"kept forever", 0, 1000 * time.Hour, false},
		{"within a day", 24 * time.Hour, 24*time.Hour - time.Second, false},
		{"a day old", 24 * time.Hour, 24 * time.Hour, true},
		{"older", 24 * time.Hour, 30 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := newClock(f)
			f.fk.SetKeyRetention(tt.retention)
			_, first, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
			c.advance(tt.after)
			// A forgotten key can even be used with other parameters.
			form := charge("pm_card_visa")
			if tt.forgotten {
				form.Set("amount", "1990")
			}
			st, again, h := f.post("/v1/payment_intents", "k", form)
			n := len(f.fk.PaymentIntents())
			if tt.forgotten && (st != 200 || again["id"] == first["id"] || h.Get("Idempotent-Replayed") != "" || n != 2) {
				t.Errorf("forgotten key: %d %v %v, %d payment intents", st, again, h, n)
			}
			if !tt.forgotten && (st != 200 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" || n != 1) {
				t.Errorf("kept key: %d %v %v, %d payment intents", st, again, h, n)
			}
			if pis := f.fk.PaymentIntents(); pis[0].Created != time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Unix() {
				t.Errorf("created %d is not read on the clock", pis[0].Created)
			}
		})
	}
}

// TestSavedServerError: as Stripe does once an endpoint has started, a 500
// is saved under the key, with Stripe-Should-Retry: false, and replayed to
// every retry under it, whether the charge was made (Saved) or not
// (SavedEmpty); a 500 from before the endpoint ran (Before) says true and
// is not saved. Each is drawn at random by Faults or forced by
// FailNextCharges.
func TestSavedServerError(t *testing.T) {
	tests := []struct {
		fault       string
		shouldRetry string
		made        int // payment intents created
		saved       bool
	}{
		{FaultSaved, "false", 1, true},
		{FaultSavedEmpty, "false", 0, true},
		{FaultBefore, "true", 0, false},
	}
	for _, tt := range tests {
		for _, how := range []string{"forced", "drawn"} {
			t.Run(tt.fault+"/"+how, func(t *testing.T) {
				f := newFixture(t)
				if how == "forced" {
					f.fk.FailNextCharges(1, tt.fault)
				} else {
					f.fk.SetFaults(map[string]Faults{FaultSaved: {Saved: 1}, FaultSavedEmpty: {SavedEmpty: 1}, FaultBefore: {Before: 1}}[tt.fault])
				}
				st, m, h := f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
				if st != 500 || errField(m, "type") != "api_error" || h.Get("Stripe-Should-Retry") != tt.shouldRetry {
					t.Fatalf("got %d %v Stripe-Should-Retry %q", st, m, h.Get("Stripe-Should-Retry"))
				}
				if n := len(f.fk.PaymentIntents()); n != tt.made {
					t.Fatalf("%d payment intents, want %d", n, tt.made)
				}
				st, m, h = f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
				if tt.saved {
					if st != 500 || h.Get("Idempotent-Replayed") != "true" || h.Get("Stripe-Should-Retry") != "false" {
						t.Errorf("retry under the key: %d %v %v, want the saved 500 replayed", st, m, h)
					}
					if n := len(f.fk.PaymentIntents()); n != tt.made {
						t.Errorf("%d payment intents after the retry, want %d", n, tt.made)
					}
					return
				}
				if how == "drawn" { // Before keeps being drawn; off, the retry runs afresh
					f.fk.SetFaults(Faults{})
					st, m, h = f.post("/v1/payment_intents", "k", charge("pm_card_visa"))
				}
				if st != 200 || m["status"] != "succeeded" || h.Get("Idempotent-Replayed") != "" {
					t.Errorf("retry under the key: %d %v %v, want the charge made", st, m, h)
				}
			})
		}
	}
}

// TestSavedServerErrorForgotten: a saved 500 is forgotten with its key
// after the retention: the same request then runs as new.
func TestSavedServerErrorForgotten(t *testing.T) {
	f := newFixture(t)
	c := newClock(f)
	f.fk.SetKeyRetention(24 * time.Hour)
	f.fk.FailNextCharges(1, FaultSaved)
	if st, _, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 500 {
		t.Fatalf("got %d", st)
	}
	c.advance(23 * time.Hour)
	if st, _, h := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 500 || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("within the retention: %d %v", st, h)
	}
	c.advance(time.Hour)
	if st, m, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 200 || m["status"] != "succeeded" {
		t.Fatalf("after the retention: %d %v", st, m)
	}
	if n := len(f.fk.PaymentIntents()); n != 2 {
		t.Errorf("%d payment intents, want 2: the first charge and the forgotten key's", n)
	}
}

// TestAnotherAccountsKey: with SetAccountKey, a request made with another
// key finds nothing the account holds, as Stripe answers a key of another
// account or mode; the account's own key works.
func TestAnotherAccountsKey(t *testing.T) {
	f := newFixture(t)
	f.fk.SetAccountKey("sk_test_123")
	wrong := "Bearer sk_live_other"
	tests := []struct {
		method, path string
		form         url.Values
		status       int
		param, msg   string
	}{
		{http.MethodPost, "/v1/payment_intents", charge("pm_card_visa"), 400, "customer", "No such customer: 'cus_1'"},
		{http.MethodGet, "/v1/payment_intents", url.Values{"customer": {"cus_1"}}, 400, "customer", "No such customer: 'cus_1'"},
		{http.MethodGet, "/v1/payment_methods/pm_card_visa", nil, 404, "id", "No such PaymentMethod: 'pm_card_visa'"},
		{http.MethodPost, "/v1/refunds", url.Values{"payment_intent": {"pi_1"}}, 400, "payment_intent", "No such payment_intent: 'pi_1'"},
	}
	for _, tt := range tests {
		st, m, _ := f.do(tt.method, tt.path, "k-"+tt.path, wrong, tt.form)
		if st != tt.status || errField(m, "code") != "resource_missing" || errField(m, "param") != tt.param || errField(m, "message") != tt.msg {
			t.Errorf("%s %s: %d %v", tt.method, tt.path, st, m)
		}
	}
	if n := len(f.fk.PaymentIntents()); n != 0 {
		t.Fatalf("%d payment intents made with another account's key", n)
	}
	if st, m, _ := f.post("/v1/payment_intents", "k2", charge("pm_card_visa")); st != 200 || m["status"] != "succeeded" {
		t.Errorf("the account's own key: %d %v", st, m)
	}
}
