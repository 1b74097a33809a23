package billing

import (
	"slices"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// Charge attempts whose outcome is not known yet (rules 2).
//
// Stripe leaves the outcome of a charge unknown in three ways, and none of
// them is the customer's decline:
//   - no answer at all (Stripe unreachable, a timeout): the attempt is made
//     again under the same key (Unanswered), which Stripe answers with the
//     outcome it saved;
//   - an answer that says nothing of the outcome and that Stripe saved under
//     the key (an HTTP 500 once the charge had started): every retry under
//     that key gets the same 500, so the attempt is held for a recheck;
//   - a refusal that is a mistake of ours (a key of the wrong account or
//     mode, a bad request): the attempt is held for a recheck with an issue
//     for ops.
//
// A held attempt is looked up at Stripe when it falls due again: what Stripe
// holds of it is adopted, whatever its status, and only when Stripe holds
// nothing is it made again, under a new key (RenewKey), so that it is never
// charged twice. While an attempt is held or unanswered the customer keeps
// access, the subscription keeps its status, and nothing is owed.

// Issues published for ops (ChargeIssue, the ChargeIssue search attribute).
const (
	// IssueStripeRefused: Stripe refused a charge as a mistake of ours (a
	// key of another account or mode, an invalid request). Charging is held
	// until ops fix it; it resumes by itself at the next hourly recheck.
	IssueStripeRefused = "stripe_refused"
	// IssueUnknownOutcome: a charge's outcome has been unknown for longer
	// than UnknownOutcomeLimit. It keeps being looked up and made again.
	IssueUnknownOutcome = "unknown_outcome"
)

// UnknownOutcomeLimit is how long a charge's outcome may stay unknown (on
// the subscription's clock) before ops are told (IssueUnknownOutcome).
const UnknownOutcomeLimit = 24 * time.Hour

// Hold records an attempt sent at sentAt whose outcome is unknown and that
// cannot be made again under its key: it is looked up at Stripe at
// recheckAt, then made again under a new key if Stripe holds nothing of it.
// issue is "" (an indeterminate answer) or IssueStripeRefused.
func (s *Subscription) Hold(c Charge, sentAt, recheckAt time.Time, issue string) {
	i := s.openIndex(c.Cycle)
	if i < 0 {
		return
	}
	c.Recheck = true
	s.Unanswered(c, sentAt, recheckAt)
	if d := &s.Open[i]; d.RetryErrorAt != nil {
		d.Recheck, d.Issue = true, issue
	}
}

// RenewKey returns the held attempt c, which Stripe holds nothing of, to be
// made again at once under a new key: a first sending, with the card the
// subscription has now. again is false when nothing is owed any more: after
// a withdrawal the cycle is dropped (the contract is undone, and Stripe
// took nothing).
func (s *Subscription) RenewKey(c Charge) (_ Charge, again bool) {
	i := s.openIndex(c.Cycle)
	if i < 0 {
		return c, false
	}
	if s.Ended && s.EndReason == api.EndWithdrawn {
		s.Open = slices.Delete(s.Open, i, i+1)
		return c, false
	}
	s.Open[i].Keys = c.Key + 1
	c.Key++
	c.Recheck, c.Resend, c.SentAt = false, false, time.Time{}
	c.PaymentMethodID = s.PaymentMethodID
	return c, true
}

// RecheckDelay is how long after an indeterminate answer the attempt is
// looked up at Stripe: 5 minutes, doubling with each key renewed, at most
// an hour, so that a Stripe answering 500 for long is not hammered.
func RecheckDelay(c Charge) time.Duration {
	d := 5 * time.Minute
	for k := 0; k < c.Key && d < time.Hour; k++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// ChargeIssue is what ops must know of the subscription's charges at now:
// IssueStripeRefused, IssueUnknownOutcome, or "" (nothing).
func (s *Subscription) ChargeIssue(now time.Time) string {
	issue := ""
	for _, d := range s.Open {
		if d.RetryErrorAt == nil {
			continue
		}
		if d.Issue != "" {
			return d.Issue
		}
		if d.UnknownSince != nil && !now.Before(d.UnknownSince.Add(UnknownOutcomeLimit)) {
			issue = IssueUnknownOutcome
		}
	}
	return issue
}

func (d *Due) clearHold() {
	d.Recheck, d.Keys, d.Issue, d.UnknownSince = false, 0, "", nil
}
