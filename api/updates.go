package api

import "time"

// Every request carries RequestedAt (an addition to the contract): the wall
// time at which the caller made it. The workflow judges the request as of
// that moment on the subscription's clock (a withdrawal sent on day 14 is in
// time even if a worker handles it on day 15), bounded so that no caller can
// reach before what the subscription has already handled, nor into the
// future. Absent, the request counts when a worker handles it. The typed
// client and the starter command set it.
//
// Every request decodes strictly: an unknown field (names are
// case-sensitive), a value of the wrong JSON type or a time that is not
// RFC 3339 (see ParseTime) is an *ArgumentError naming the field. The
// Temporal SDK rejects an update whose argument fails to decode, before it
// reaches history.

// CancelRequest is the argument of the cancel update and signal.
type CancelRequest struct {
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly: see ArgumentError.
func (r *CancelRequest) UnmarshalJSON(b []byte) error {
	return decodeRequest(UpdateCancel, b, r)
}

// CancelResult is the result of the cancel update.
type CancelResult struct {
	Status      string    `json:"status"`
	AccessUntil time.Time `json:"accessUntil"`
}

// WithdrawRequest is the argument of the withdraw update and signal.
type WithdrawRequest struct {
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly: see ArgumentError.
func (r *WithdrawRequest) UnmarshalJSON(b []byte) error {
	return decodeRequest(UpdateWithdraw, b, r)
}

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
	PaymentMethodID string    `json:"paymentMethodId"`
	RequestedAt     time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly: see ArgumentError.
func (r *UpdatePaymentMethodRequest) UnmarshalJSON(b []byte) error {
	return decodeRequest(UpdatePaymentMethod, b, r)
}

// UpdatePaymentMethodResult is the result of the updatePaymentMethod update.
type UpdatePaymentMethodResult struct {
	Status           string `json:"status"`
	OutstandingMinor int64  `json:"outstandingMinor"`
}

// ChangePlanRequest is the argument of the changePlan update.
type ChangePlanRequest struct {
	Plan        string    `json:"plan"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly: see ArgumentError.
func (r *ChangePlanRequest) UnmarshalJSON(b []byte) error {
	return decodeRequest(UpdateChangePlan, b, r)
}

// ChangePlanResult is the result of the changePlan update.
type ChangePlanResult struct {
	EffectiveAt time.Time `json:"effectiveAt"`
}

// PriceChangeRequest is the argument of the schedulePriceChange update.
type PriceChangeRequest struct {
	PriceMinor  int64     `json:"priceMinor"`
	EffectiveAt time.Time `json:"effectiveAt"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly: see ArgumentError.
func (r *PriceChangeRequest) UnmarshalJSON(b []byte) error {
	return decodeRequest(UpdateSchedulePriceChange, b, r)
}

// PriceChangeResult is the result of the schedulePriceChange update.
type PriceChangeResult struct {
	AppliesFrom time.Time `json:"appliesFrom"`
}

// TerminateRequest is the argument of the terminate update.
type TerminateRequest struct {
	Reason      string    `json:"reason"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly: see ArgumentError.
func (r *TerminateRequest) UnmarshalJSON(b []byte) error {
	return decodeRequest(UpdateTerminate, b, r)
}

// TerminateResult is the result of the terminate update.
type TerminateResult struct {
	Status string `json:"status"`
}
