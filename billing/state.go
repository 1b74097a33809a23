package billing

import (
	"slices"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// State is the contract's view of the subscription at now.
func (s *Subscription) State(now time.Time) api.State {
	st := api.State{
		SubscriptionID:        s.ID,
		AccountID:             s.AccountID,
		Status:                s.Status(),
		EndReason:             s.EndReason,
		AccessActive:          s.AccessActive(),
		Plan:                  s.Plan,
		Currency:              s.Currency,
		PriceMinor:            s.PriceAt(s.Plan, now),
		Offer:                 s.Offer,
		TrialGranted:          s.TrialGranted,
		TrialIneligibleReason: s.TrialIneligibleReason,
		ContractStartAt:       s.ContractStart,
		OutstandingMinor:      s.Outstanding(),
		Cycle:                 s.Cycle,
		Payments:              slices.Clone(s.Payments),
		Rejected:              slices.Clone(s.Rejected),
		Now:                   now.UTC(),
		PaymentMethodID:       s.PaymentMethodID,
		PendingPlan:           s.PendingPlan,
		PriceChanges:          slices.Clone(s.PriceChanges),
		WithdrawalEndsOn:      WithdrawalLastDay(s.ContractStart).Format(time.DateOnly),
		DunningDays:           slices.Clone(s.Dunning),
		CancelReason:          s.CancelReason,
		TerminateReason:       s.TerminateReason,
	}
	if st.Payments == nil {
		st.Payments = []api.Payment{}
	}
	if st.Rejected == nil {
		st.Rejected = []api.Rejected{}
	}
	if s.TrialGranted {
		st.TrialEndsAt = ptr(s.TrialEnd)
	}
	if at, ok := s.NextChargeAt(); ok {
		st.NextChargeAt = ptr(at)
	}
	if s.PendingPlan != "" {
		st.PendingPlanAt = ptr(s.NextDue())
	}
	switch {
	case s.Ended || s.Canceled:
		st.AccessUntil = ptr(s.AccessUntil)
	case s.Suspended():
	case s.InTrial():
		st.AccessUntil = ptr(s.TrialEnd)
	default:
		st.AccessUntil = ptr(s.NextDue())
	}
	if s.Ended {
		st.EndedAt = ptr(s.EndedAt)
	}
	st.Settlement, st.PendingRefundMinor = s.Settlement(), s.PendingRefund()
	if s.Rules >= 2 {
		st.ChargeIssue = s.ChargeIssue(now)
	}
	for _, d := range s.Open {
		st.OutstandingCycles = append(st.OutstandingCycles, d.Cycle)
	}
	return st
}

func ptr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}
