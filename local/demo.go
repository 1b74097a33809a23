package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	stripeclient "github.com/stripe/stripe-go/v76/client"
	"go.temporal.io/api/serviceerror"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/client"
)

// demoStart is when every demo subscription's clock starts: a month end, so
// the billing dates show the clamping (Jan 31 → Feb 28 → Mar 31).
const demoStart = "2026-01-31T09:00:00Z"

// step is an action taken on a subscription when its clock reaches day.
type step struct {
	day  float64
	what string
	do   func(ctx context.Context, c *client.Client, s *scenario) (any, error)
}

// scenario is one demo subscription and what happens to it.
type scenario struct {
	acc   string
	story string
	in    api.Input
	steps []step
	done  []bool
	state *api.State
	cards map[string]string // Stripe test card → the customer's attached copy (real Stripe only)
}

// card is the payment method to send for a Stripe test card.
func (s *scenario) card(pm string) string {
	if attached, ok := s.cards[pm]; ok {
		return attached
	}
	return pm
}

func demoScenarios(speedup float64) []*scenario {
	in := func(acc, pm, plan, currency, offer string) api.Input {
		return api.Input{AccountID: acc, Email: acc + "@example.com", Name: "Demo " + acc,
			StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"), PaymentMethodID: pm,
			Plan: plan, Currency: currency, Offer: offer,
			TestClock: &api.TestClock{StartsAt: demoStart, Speedup: speedup}}
	}
	updatePM := func(pm string) func(context.Context, *client.Client, *scenario) (any, error) {
		return func(ctx context.Context, c *client.Client, s *scenario) (any, error) {
			return c.UpdatePaymentMethod(ctx, s.acc, api.UpdatePaymentMethodRequest{PaymentMethodID: s.card(pm)})
		}
	}
	list := []*scenario{
		{acc: "demo-renewal", story: "body-scan offer: 3 free months, then monthly renewals on the 30th (28th in February)",
			in: in("demo-renewal", "pm_card_visa", api.PlanMonthly, api.CurrencyEUR, api.OfferBodyScan)},
		{acc: "demo-annual", story: "annual in USD, no offer: charged at once, then every year",
			in: in("demo-annual", "pm_card_visa", api.PlanAnnual, api.CurrencyUSD, "")},
		{acc: "demo-dunning", story: "declined card: retries on days 1, 3, 5, 7, suspension, a non-card refused, then a new card collects everything",
			in: in("demo-dunning", "pm_card_chargeDeclinedInsufficientFunds", api.PlanMonthly, api.CurrencyEUR, ""),
			steps: []step{
				{day: 12, what: "update-payment-method pm_sepa_debit_demo", do: updatePM("pm_sepa_debit_demo")},
				{day: 12.5, what: "update-payment-method pm_card_visa", do: updatePM("pm_card_visa")},
			}},
		{acc: "demo-cancel", story: "scanwatch-2 offer, canceled in the trial: access to the trial end, nothing ever charged",
			in: in("demo-cancel", "pm_card_visa", api.PlanMonthly, api.CurrencyEUR, api.OfferScanwatch2),
			steps: []step{{day: 20, what: "cancel", do: func(ctx context.Context, c *client.Client, s *scenario) (any, error) {
				return c.Cancel(ctx, s.acc, api.CancelRequest{Reason: "demo"})
			}}}},
		{acc: "demo-withdraw", story: "GBP, withdrawn on day 3: the payment refunded in full, access ends at once",
			in: in("demo-withdraw", "pm_card_visa", api.PlanMonthly, api.CurrencyGBP, ""),
			steps: []step{{day: 3, what: "withdraw", do: func(ctx context.Context, c *client.Client, s *scenario) (any, error) {
				return c.Withdraw(ctx, s.acc)
			}}}},
		{acc: "demo-price", story: "price change to 11.95 notified on day 1, effective on day 40: applies from the next billing date after",
			in: in("demo-price", "pm_card_visa", api.PlanMonthly, api.CurrencyEUR, ""),
			steps: []step{{day: 1, what: "price-change 1195 from day 40", do: func(ctx context.Context, c *client.Client, s *scenario) (any, error) {
				start, _ := time.Parse(time.RFC3339, demoStart)
				return c.SchedulePriceChange(ctx, s.acc, api.PriceChangeRequest{PriceMinor: 1195, EffectiveAt: start.AddDate(0, 0, 40)})
			}}}},
		{acc: "demo-plan", story: "monthly, switched to annual on day 5: effective at the next billing date, the new anchor",
			in: in("demo-plan", "pm_card_visa", api.PlanMonthly, api.CurrencyEUR, ""),
			steps: []step{{day: 5, what: "change-plan annual", do: func(ctx context.Context, c *client.Client, s *scenario) (any, error) {
				return c.ChangePlan(ctx, s.acc, api.ChangePlanRequest{Plan: api.PlanAnnual})
			}}}},
	}
	for _, s := range list {
		s.done = make([]bool, len(s.steps))
	}
	return list
}

// runDemo starts the demo subscriptions and drives them, redrawing the table
// until ctx ends.
func runDemo(ctx context.Context, c *client.Client, stripeAPI *stripeclient.API, speedup float64, uiURL, metricsURL string, log *eventLog, out io.Writer) error {
	scenarios := demoScenarios(speedup)
	if stripeAPI != nil {
		if err := createCustomers(stripeAPI, scenarios, log); err != nil {
			return err
		}
	}
	for _, s := range scenarios {
		started, err := c.Start(ctx, s.in)
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		switch {
		case errors.As(err, &already):
			log.add("%s: already running, following it", s.acc)
		case err != nil:
			return err
		default:
			log.add("%s: started (%s) — %s", s.acc, started.WorkflowID, s.story)
		}
	}
	start := time.Now()
	tty := isTerminal(out)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastPrint := time.Time{}
	for {
		drive(ctx, c, scenarios, log)
		if tty || time.Since(lastPrint) >= 5*time.Second {
			render(out, scenarios, speedup, uiURL, metricsURL, time.Since(start), log, tty)
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			drive(context.Background(), c, scenarios, log)
			render(out, scenarios, speedup, uiURL, metricsURL, time.Since(start), log, tty)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// drive reads every state and takes the steps that fell due.
func drive(ctx context.Context, c *client.Client, scenarios []*scenario, log *eventLog) {
	start, _ := time.Parse(time.RFC3339, demoStart)
	for _, s := range scenarios {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		t0 := time.Now()
		st, err := c.State(qctx, s.acc)
		cancel()
		if d := time.Since(t0); d > time.Second {
			log.add("%s: state query took %s", s.acc, d.Truncate(time.Millisecond))
		}
		if err != nil {
			log.add("%s: state: %v", s.acc, err)
			continue
		}
		s.state = &st
		for i, step := range s.steps {
			due := start.Add(time.Duration(step.day * 24 * float64(time.Hour)))
			if s.done[i] || st.Now.Before(due) || st.Status == api.StatusEnded {
				continue
			}
			s.done[i] = true
			res, err := step.do(ctx, c, s)
			if err != nil {
				log.add("%s day %g: %s → refused: %v", s.acc, step.day, step.what, err)
				continue
			}
			b, _ := json.Marshal(res)
			log.add("%s day %g: %s → %s", s.acc, step.day, step.what, b)
		}
	}
}

func render(out io.Writer, scenarios []*scenario, speedup float64, uiURL, metricsURL string, elapsed time.Duration, log *eventLog, tty bool) {
	var b strings.Builder
	if tty {
		b.WriteString("\033[H\033[2J")
	}
	fmt.Fprintf(&b, "Withings+ local demo — subscription clocks run %.0f× (%.1f days a second), real time %s. Ctrl-C stops.\n\n",
		speedup, speedup/86400, elapsed.Truncate(time.Second))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNOW\tSTATUS\tACCESS\tPLAN\tPRICE\tCYCLE\tNEXT CHARGE\tOUTSTANDING\tPAID/FAILED/REFUNDED")
	for _, s := range scenarios {
		st := s.state
		if st == nil {
			fmt.Fprintf(tw, "%s\t…\t…\t\t\t\t\t\t\t\n", s.acc)
			continue
		}
		var paid, failed, refunded int
		for _, p := range st.Payments {
			switch p.Status {
			case api.PaymentSucceeded:
				paid++
			case api.PaymentFailed:
				failed++
			case api.PaymentRefunded:
				refunded++
			}
		}
		status := st.Status
		if st.EndReason != "" {
			status += " (" + st.EndReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d/%d/%d\n", s.acc, st.Now.Format(time.DateOnly), status,
			yesNo(st.AccessActive), st.Plan, billing.FormatMoney(st.PriceMinor, st.Currency), st.Cycle, day(st.NextChargeAt),
			billing.FormatMoney(st.OutstandingMinor, st.Currency), paid, failed, refunded)
	}
	tw.Flush()
	b.WriteString("\nInspect each in the Temporal UI:\n")
	for _, s := range scenarios {
		fmt.Fprintf(&b, "  %s/namespaces/default/workflows/%s\n", uiURL, api.WorkflowID(s.acc))
	}
	if metricsURL != "" {
		fmt.Fprintf(&b, "\nPrometheus metrics of the worker: %s\n", metricsURL)
	}
	if tty {
		b.WriteString("\nRecent events:\n")
		for _, l := range log.recent(14) {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("\n")
	log.print(out, b.String())
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func day(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.DateOnly)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// eventLog keeps the recent events of the demo; it is also the mail sink's
// printer, one line per message.
type eventLog struct {
	mu     sync.Mutex
	lines  []string
	start  time.Time
	stream io.Writer // not a terminal: every event is printed as it happens
}

func newEventLog(out io.Writer) *eventLog {
	l := &eventLog{start: time.Now()}
	if !isTerminal(out) {
		l.stream = out
	}
	return l
}

// print writes s to w under the log's lock, so that lines never interleave.
func (l *eventLog) print(w io.Writer, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(w, s)
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%6.1fs  ", time.Since(l.start).Seconds()) + fmt.Sprintf(format, args...)
	l.lines = append(l.lines, line)
	if l.stream != nil {
		fmt.Fprintln(l.stream, line)
	}
	if len(l.lines) > 200 {
		l.lines = l.lines[len(l.lines)-200:]
	}
}

// Write takes the mail sink's lines.
func (l *eventLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.add("%s", line)
	}
	return len(p), nil
}

func (l *eventLog) recent(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) > n {
		return append([]string(nil), l.lines[len(l.lines)-n:]...)
	}
	return append([]string(nil), l.lines...)
}
