package api

import "time"

// CancelRequest is the argument of the cancel update and signal.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// CancelResult is the result of the cancel update.
type CancelResult struct {
	Status      string    `json:"status"`
	AccessUntil time.Time `json:"accessUntil"`
}

// WithdrawRequest is the argument of the withdraw update and signal.
type WithdrawRequest struct{}

// WithdrawResult is the result of the withdraw update.
type WithdrawResult struct {
	RefundedMinor int64    `json:"refundedMinor"`
	Currency      string   `json:"currency"`
	RefundIDs     []string `json:"refundIds"`
	// PendingRefundMinor (an addition) is what is still to be refunded when a
	// refund failed or a charge's answer is awaited: the workflow keeps
	// trying until it is done.
	PendingRefundMinor int64 `json:"pendingRefundMinor"`
}

// UpdatePaymentMethodRequest is the argument of the updatePaymentMethod update.
type UpdatePaymentMethodRequest struct {
	PaymentMethodID string `json:"paymentMethodId"`
}

// UpdatePaymentMethodResult is the result of the updatePaymentMethod update.
type UpdatePaymentMethodResult struct {
	Status           string `json:"status"`
	OutstandingMinor int64  `json:"outstandingMinor"`
}

// ChangePlanRequest is the argument of the changePlan update.
type ChangePlanRequest struct {
	Plan string `json:"plan"`
}

// ChangePlanResult is the result of the changePlan update.
type ChangePlanResult struct {
	EffectiveAt time.Time `json:"effectiveAt"`
}

// PriceChangeRequest is the argument of the schedulePriceChange update.
type PriceChangeRequest struct {
	PriceMinor  int64     `json:"priceMinor"`
	EffectiveAt time.Time `json:"effectiveAt"`
}

// PriceChangeResult is the result of the schedulePriceChange update.
type PriceChangeResult struct {
	AppliesFrom time.Time `json:"appliesFrom"`
}

// TerminateRequest is the argument of the terminate update.
type TerminateRequest struct {
	Reason string `json:"reason"`
}

// TerminateResult is the result of the terminate update.
type TerminateResult struct {
	Status string `json:"status"`
}
