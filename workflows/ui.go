package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/billing"
)

// What the Temporal UI shows of a subscription besides its payloads: the
// current details, and a summary on each activity and timer. None of it
// holds personal data (no email, name, Stripe customer or payment method).

// summary sets the UI summary of the activities started with ctx.
func summary(ctx workflow.Context, s string) workflow.Context {
	ao := workflow.GetActivityOptions(ctx)
	ao.Summary = s
	return workflow.WithActivityOptions(ctx, ao)
}

// timer is a wait of d whose timer the UI labels with s.
func timer(d time.Duration, s string) workflow.AwaitOptions {
	return workflow.AwaitOptions{Timeout: d, TimerOptions: workflow.TimerOptions{Summary: s}}
}

// eventSummary labels the wait for ev.
func eventSummary(ev billing.Event) string {
	on := ev.At.UTC().Format(time.DateOnly)
	switch ev.Kind {
	case billing.EventCharge:
		return "next charge " + on
	case billing.EventRetry:
		return fmt.Sprintf("retry cycle %d on %s", ev.Cycle, on)
	case billing.EventTrialEnding:
		return "trial_ending email " + on
	case billing.EventEnd:
		return "access ends " + on
	}
	return "next event " + on
}

// details is the subscription's current state for the UI (Markdown).
//
// workflowcheck flags its fmt.Fprintf calls as non-deterministic: deep in
// fmt and reflect an allocation may start the garbage collector's
// goroutines (runtime.gcBgMarkStartWorkers). A false positive: it only
// formats strings and numbers into a strings.Builder.
//
//workflowcheck:ignore
func (w *run) details() string {
	s := w.sub
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**", s.Status())
	if s.Ended {
		fmt.Fprintf(&b, " (%s on %s)", s.EndReason, s.EndedAt.UTC().Format(time.DateOnly))
	}
	access := "off"
	if s.AccessActive() {
		access = "on"
	}
	fmt.Fprintf(&b, ", access %s\n\n", access)
	if owed := s.Outstanding(); owed > 0 { // first: what ops act on
		fmt.Fprintf(&b, "- outstanding: %s (%s)\n", billing.FormatMoney(owed, s.Currency), openCycles(s))
	}
	fmt.Fprintf(&b, "- plan: %s, %s\n- cycle: %d\n", s.Plan, billing.FormatMoney(s.PriceAt(s.Plan, s.NextDue()), s.Currency), s.Cycle)
	if at, ok := s.NextChargeAt(); ok {
		fmt.Fprintf(&b, "- next charge: %s\n", at.UTC().Format(time.DateOnly))
	}
	if st := s.Settlement(); st != "" {
		fmt.Fprintf(&b, "- settlement: %s, %s still to refund\n", st, billing.FormatMoney(s.PendingRefund(), s.Currency))
	}
	return b.String()
}

// openCycles names the unpaid cycles: "cycle 1", "cycles 1, 2".
func openCycles(s *billing.Subscription) string {
	names := make([]string, 0, len(s.Open))
	for _, d := range s.Open {
		names = append(names, fmt.Sprint(d.Cycle))
	}
	if len(names) == 1 {
		return "cycle " + names[0]
	}
	return "cycles " + strings.Join(names, ", ")
}
