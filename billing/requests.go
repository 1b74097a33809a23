package billing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// Cancel stops renewal. Access continues to the end of the current period,
// or of the trial (then nothing is ever charged). What was paid is never
// forfeited: a suspended subscription whose current period is paid (an
// older cycle is unpaid) keeps that period, with access while nothing is
// outstanding, so the customer can still pay and get access back. One whose
// current period is unpaid and suspended has no paid period left and ends
// at once. Cancelling again returns the same answer.
func (s *Subscription) Cancel(now time.Time, reason string) (api.CancelResult, error) {
	if s.Ended && s.EndReason != api.EndCanceled {
		return api.CancelResult{}, ErrEnded
	}
	if s.CancelAnswer != nil {
		return *s.CancelAnswer, nil
	}
	s.Canceled, s.CancelReason, s.PendingPlan = true, reason, ""
	if s.InTrial() {
		s.AccessUntil = s.TrialEnd
	} else {
		s.AccessUntil = s.NextDue()
	}
	forfeits := s.Suspended() && (s.Rules < 1 || s.currentPeriodUnpaid())
	if forfeits || !now.Before(s.AccessUntil) {
		s.end(now, api.EndCanceled)
	}
	s.CancelAnswer = &api.CancelResult{Status: s.Status(), AccessUntil: s.AccessUntil}
	return *s.CancelAnswer, nil
}

// CheckWithdraw tells whether a withdrawal is accepted at now.
func (s *Subscription) CheckWithdraw(now time.Time) error {
	if s.Ended {
		return ErrEnded
	}
	return CheckWithdrawal(s.ContractStart, now)
}

// Refundable lists the payments a withdrawal refunds: every one received.
func (s *Subscription) Refundable() []api.Payment {
	var out []api.Payment
	for _, p := range s.Payments {
		if p.Status == api.PaymentSucceeded {
			out = append(out, p)
		}
	}
	return out
}

// Refunded marks the payment as refunded.
func (s *Subscription) Refunded(paymentIntentID, refundID string) {
	for i := range s.Payments {
		if s.Payments[i].PaymentIntentID == paymentIntentID && s.Payments[i].Status == api.PaymentSucceeded {
			s.Payments[i].Status, s.Payments[i].RefundID = api.PaymentRefunded, refundID
		}
	}
}

// Withdrawn ends the subscription at once; its payments are then refunded
// (see Unsettled). Withdrawal undoes the contract, so nothing stays
// outstanding, but a charge Stripe never answered is kept: it may have gone
// through, and must be asked again and then refunded.
func (s *Subscription) Withdrawn(now time.Time) {
	s.Open = slices.DeleteFunc(s.Open, func(d Due) bool { return d.RetryErrorAt == nil })
	s.end(now, api.EndWithdrawn)
}

// UnansweredCharges lists the charges whose answer never came, to be made again,
// exactly as first sent.
func (s *Subscription) UnansweredCharges() []Charge {
	var out []Charge
	for _, d := range s.Open {
		if d.RetryErrorAt != nil {
			c, _ := s.RetryCharge(d.Cycle)
			out = append(out, c)
		}
	}
	return out
}

// Unsettled reports whether an ended subscription still has something to
// finish: a charge whose answer never came, or a withdrawal's refunds.
func (s *Subscription) Unsettled() bool {
	if len(s.UnansweredCharges()) > 0 {
		return true
	}
	return s.Ended && s.EndReason == api.EndWithdrawn && len(s.Refundable()) > 0
}

// SettlementWindow is how long an ended subscription keeps trying to settle
// what it still owes or is owed (a refund that fails, a charge never
// answered) before it hands the rest to ops and completes.
const SettlementWindow = 7 * 24 * time.Hour

// Settlement states reported in the state and in the SettlementStatus search attribute.
const (
	SettlementPending     = "pending"
	SettlementHandedToOps = "handed_to_ops"
)

// Settlement is where an ended subscription stands on what it still has to
// settle: "" (nothing, or not ended), SettlementPending, or SettlementHandedToOps.
func (s *Subscription) Settlement() string {
	switch {
	case !s.Ended || !s.Unsettled():
		return ""
	case s.HandedToOps:
		return SettlementHandedToOps
	}
	return SettlementPending
}

// SettleBy is when an ended subscription stops trying to settle by itself.
func (s *Subscription) SettleBy() time.Time { return s.EndedAt.Add(SettlementWindow) }

// HandOver gives up settling at now if the settlement window is over: what
// is left is for ops. It reports whether it did.
func (s *Subscription) HandOver(now time.Time) bool {
	if !s.Ended || !s.Unsettled() || now.Before(s.SettleBy()) {
		return false
	}
	s.HandedToOps = true
	return true
}

// PendingRefund is what a withdrawn subscription still has to refund: the
// payments not refunded yet and the charges whose answer never came.
func (s *Subscription) PendingRefund() int64 {
	if !s.Ended || s.EndReason != api.EndWithdrawn {
		return 0
	}
	var sum int64
	for _, p := range s.Refundable() {
		sum += p.AmountMinor
	}
	for _, c := range s.UnansweredCharges() {
		sum += c.AmountMinor
	}
	return sum
}

// Terminate ends the subscription at once for a breach of the terms of use, without refund.
func (s *Subscription) Terminate(now time.Time, reason string) error {
	if s.Ended {
		return ErrEnded
	}
	if err := checkTerminate(reason); err != nil {
		return err
	}
	s.TerminateReason = reason
	s.end(now, api.EndTerminated)
	return nil
}

// UnpaidReason is the terminateReason of a subscription ended because it
// was suspended with a cycle unpaid for a year (rules 2). The terms let
// Withings suspend access until it is paid and keep charging the later
// cycles; after a year of neither, the subscription ends (terminated), what
// is owed stays recorded, and its state stops growing.
const UnpaidReason = "unpaid: access suspended and a cycle unpaid for a year"

// UnpaidTooLong reports whether, at the billing date at, the subscription
// is suspended with a cycle that fell due a year or more before (rules 2).
func (s *Subscription) UnpaidTooLong(at time.Time) bool {
	return s.Rules >= 2 && !s.Ended && s.Suspended() && len(s.Open) > 0 && !at.Before(s.Open[0].DueAt.AddDate(1, 0, 0))
}

// EndUnpaid ends a subscription unpaid for too long (see MaxUnpaid).
func (s *Subscription) EndUnpaid(now time.Time) {
	s.TerminateReason = UnpaidReason
	s.end(now, api.EndTerminated)
}

func checkTerminate(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return errors.New("reason is required to terminate a subscription")
	}
	return nil
}

// CheckTerminate tells whether a termination would be accepted.
func (s *Subscription) CheckTerminate(reason string) error {
	if s.Ended {
		return ErrEnded
	}
	return checkTerminate(reason)
}

func (s *Subscription) checkRenewing() error {
	if s.Ended {
		return ErrEnded
	}
	if s.Canceled {
		return fmt.Errorf("the subscription is canceled and ends on %s", s.AccessUntil.Format(time.RFC3339))
	}
	return nil
}

// ChangePlan switches between monthly and annual at the next billing date,
// which becomes the new anchor. Asking for the current plan withdraws a
// pending change.
func (s *Subscription) ChangePlan(plan string) (api.ChangePlanResult, error) {
	if err := s.CheckChangePlan(plan); err != nil {
		return api.ChangePlanResult{}, err
	}
	s.PendingPlan = plan
	if plan == s.Plan {
		s.PendingPlan = ""
	}
	return api.ChangePlanResult{EffectiveAt: s.NextDue()}, nil
}

// CheckChangePlan tells whether ChangePlan would be accepted.
func (s *Subscription) CheckChangePlan(plan string) error {
	if err := s.checkRenewing(); err != nil {
		return err
	}
	if err := api.ValidPlan(plan); err != nil {
		return err
	}
	if plan == s.Plan && s.PendingPlan == "" {
		return fmt.Errorf("the subscription is already on the %s plan", plan)
	}
	return nil
}

// SchedulePriceChange sets a new price, notified at now, for the plan in
// force at effectiveAt. It applies from the first billing date on or after
// effectiveAt, and needs at least 30 days' notice.
func (s *Subscription) SchedulePriceChange(now time.Time, req api.PriceChangeRequest) (api.PriceChangeResult, error) {
	return s.SchedulePriceChangeNotified(now, now, req)
}

// SchedulePriceChangeNotified is SchedulePriceChange for a change requested
// at requested and notified to the customer at notified (later, when the
// request was handled late): it is judged on its notice at requested, and
// never applies to a charge falling less than 30 days after the notice.
func (s *Subscription) SchedulePriceChangeNotified(requested, notified time.Time, req api.PriceChangeRequest) (api.PriceChangeResult, error) {
	if err := s.CheckPriceChange(requested, req); err != nil {
		return api.PriceChangeResult{}, err
	}
	plan, from := s.FirstBillingOnOrAfter(Later(req.EffectiveAt, notified.Add(PriceNotice)))
	c := api.PriceChange{Plan: plan, PriceMinor: req.PriceMinor, AppliesFrom: from, NotifiedAt: notified}
	kept := s.PriceChanges[:0]
	for _, p := range s.PriceChanges {
		if p.Plan != plan || !p.AppliesFrom.Equal(from) {
			kept = append(kept, p)
		}
	}
	s.PriceChanges = append(kept, c)
	return api.PriceChangeResult{AppliesFrom: from}, nil
}

// Later is the later of a and b.
func Later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// CheckPriceChange tells whether SchedulePriceChange would be accepted.
func (s *Subscription) CheckPriceChange(now time.Time, req api.PriceChangeRequest) error {
	if err := s.checkRenewing(); err != nil {
		return err
	}
	return CheckPriceChange(now, req.PriceMinor, req.EffectiveAt)
}

// FirstBillingOnOrAfter is the first billing date on or after t, and the
// plan charged then (a pending plan change included).
func (s *Subscription) FirstBillingOnOrAfter(t time.Time) (plan string, at time.Time) {
	plan, anchor, index := s.Plan, s.Anchor, s.Index
	if s.PendingPlan != "" {
		plan, anchor, index = s.PendingPlan, s.NextDue(), 0
	}
	for at = BillingDate(anchor, plan, index); at.Before(t); {
		index++
		at = BillingDate(anchor, plan, index)
	}
	return plan, at
}

// CheckPaymentMethodUpdate tells whether a new payment method would be accepted.
func (s *Subscription) CheckPaymentMethodUpdate(id string) error {
	if s.Ended {
		return ErrEnded
	}
	return api.ValidPaymentMethodID(id)
}

// Expire ends a canceled subscription once its access has run out.
func (s *Subscription) Expire(now time.Time) {
	if s.Canceled && !s.Ended && !now.Before(s.AccessUntil) {
		s.end(s.AccessUntil, api.EndCanceled)
	}
}
