package api

import "time"

// Subscription statuses reported by the state query.
const (
	StatusTrialing  = "trialing"
	StatusActive    = "active"
	StatusPastDue   = "past_due"
	StatusSuspended = "suspended"
	StatusCanceling = "canceling"
	StatusEnded     = "ended"
)

// End reasons of an ended subscription.
const (
	EndCanceled   = "canceled"
	EndWithdrawn  = "withdrawn"
	EndTerminated = "terminated"
)

// Payment statuses.
const (
	PaymentSucceeded = "succeeded"
	PaymentFailed    = "failed"
	PaymentRefunded  = "refunded"
)

// State is the result of the state query and of the finished workflow.
// Times are on the subscription's clock; absent ones are null.
type State struct {
	SubscriptionID        string     `json:"subscriptionId"`
	AccountID             string     `json:"accountId"`
	Status                string     `json:"status"`
	EndReason             string     `json:"endReason"`
	AccessActive          bool       `json:"accessActive"`
	Plan                  string     `json:"plan"`
	Currency              string     `json:"currency"`
	PriceMinor            int64      `json:"priceMinor"`
	Offer                 string     `json:"offer"`
	TrialGranted          bool       `json:"trialGranted"`
	TrialIneligibleReason string     `json:"trialIneligibleReason"`
	ContractStartAt       time.Time  `json:"contractStartAt"`
	TrialEndsAt           *time.Time `json:"trialEndsAt"`
	NextChargeAt          *time.Time `json:"nextChargeAt"`
	AccessUntil           *time.Time `json:"accessUntil"`
	OutstandingMinor      int64      `json:"outstandingMinor"`
	Cycle                 int        `json:"cycle"`
	Payments              []Payment  `json:"payments"`
	Rejected              []Rejected `json:"rejected"`
	Now                   time.Time  `json:"now"`

	// Additions to the contract's fields.
	PaymentMethodID     string        `json:"paymentMethodId"`
	PendingPlan         string        `json:"pendingPlan,omitempty"`
	PendingPlanAt       *time.Time    `json:"pendingPlanAt,omitempty"`
	PriceChanges        []PriceChange `json:"priceChanges,omitempty"`
	WithdrawalEndsOn    string        `json:"withdrawalEndsOn"` // last day (UTC date) a withdrawal is accepted
	DunningDays         []int         `json:"dunningDays"`
	CancelReason        string        `json:"cancelReason,omitempty"`
	TerminateReason     string        `json:"terminateReason,omitempty"`
	EndedAt             *time.Time    `json:"endedAt"`
	OutstandingCycles   []int         `json:"outstandingCycles,omitempty"`
	ContinuedAsNewTimes int           `json:"continuedAsNewTimes"`
	// Settlement is where an ended subscription stands on what it still has
	// to settle (a refund, a charge never answered): "" (nothing),
	// "pending" (retried hourly), "handed_to_ops" (not settled within the
	// settlement window: ops take over). PendingRefundMinor is what a
	// withdrawal still has to refund.
	Settlement         string `json:"settlement,omitempty"`
	PendingRefundMinor int64  `json:"pendingRefundMinor,omitempty"`
	// ChargeIssue (an addition) tells ops that charging needs them:
	// "stripe_refused" (Stripe refuses our charges: a key of another account
	// or mode, an invalid request; charging is held, access kept, and it
	// resumes by itself once fixed) or "unknown_outcome" (a charge's outcome
	// has been unknown for more than 24 hours; it keeps being looked up).
	// Also the ChargeIssue search attribute.
	ChargeIssue string `json:"chargeIssue,omitempty"`
}

// Payment is one charge attempt or its refund.
type Payment struct {
	Cycle           int       `json:"cycle"`
	AmountMinor     int64     `json:"amountMinor"`
	Currency        string    `json:"currency"`
	Status          string    `json:"status"`
	PaymentIntentID string    `json:"paymentIntentId"`
	At              time.Time `json:"at"`
	// Additions: the attempt (0 on the due date, then one per retry), the
	// decline reason of a failed one, and the refund of a refunded one.
	Attempt     int    `json:"attempt"`
	DeclineCode string `json:"declineCode,omitempty"`
	RefundID    string `json:"refundId,omitempty"`
}

// Rejected records a signal that was refused.
type Rejected struct {
	At     time.Time `json:"at"`
	Signal string    `json:"signal"`
	Error  string    `json:"error"`
}

// PriceChange is a scheduled price for one plan.
type PriceChange struct {
	Plan        string    `json:"plan"`
	PriceMinor  int64     `json:"priceMinor"`
	AppliesFrom time.Time `json:"appliesFrom"`
	NotifiedAt  time.Time `json:"notifiedAt"`
}
