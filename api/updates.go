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
	Decoding
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly; what it finds wrong is kept
// for ArgumentErr (see Decoding).
func (r *CancelRequest) UnmarshalJSON(b []byte) error {
	type plain CancelRequest
	return decodeRequest(UpdateCancel, b, r, (*plain)(r), &r.Decoding)
}

// CancelResult is the result of the cancel update.
type CancelResult struct {
	Status      string    `json:"status"`
	AccessUntil time.Time `json:"accessUntil"`
}

// WithdrawRequest is the argument of the withdraw update and signal.
type WithdrawRequest struct {
	Decoding
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly; what it finds wrong is kept
// for ArgumentErr (see Decoding).
func (r *WithdrawRequest) UnmarshalJSON(b []byte) error {
	type plain WithdrawRequest
	return decodeRequest(UpdateWithdraw, b, r, (*plain)(r), &r.Decoding)
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
	Decoding
	PaymentMethodID string    `json:"paymentMethodId"`
	RequestedAt     time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly; what it finds wrong is kept
// for ArgumentErr (see Decoding).
func (r *UpdatePaymentMethodRequest) UnmarshalJSON(b []byte) error {
	type plain UpdatePaymentMethodRequest
	return decodeRequest(UpdatePaymentMethod, b, r, (*plain)(r), &r.Decoding)
}

// UpdatePaymentMethodResult is the result of the updatePaymentMethod update.
type UpdatePaymentMethodResult struct {
	Status           string `json:"status"`
	OutstandingMinor int64  `json:"outstandingMinor"`
}

// ChangePlanRequest is the argument of the changePlan update.
type ChangePlanRequest struct {
	Decoding
	Plan        string    `json:"plan"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly; what it finds wrong is kept
// for ArgumentErr (see Decoding).
func (r *ChangePlanRequest) UnmarshalJSON(b []byte) error {
	type plain ChangePlanRequest
	return decodeRequest(UpdateChangePlan, b, r, (*plain)(r), &r.Decoding)
}

// ChangePlanResult is the result of the changePlan update.
type ChangePlanResult struct {
	EffectiveAt time.Time `json:"effectiveAt"`
}

// PriceChangeRequest is the argument of the schedulePriceChange update.
type PriceChangeRequest struct {
	Decoding
	PriceMinor  int64     `json:"priceMinor"`
	EffectiveAt time.Time `json:"effectiveAt"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly; what it finds wrong is kept
// for ArgumentErr (see Decoding).
func (r *PriceChangeRequest) UnmarshalJSON(b []byte) error {
	type plain PriceChangeRequest
	return decodeRequest(UpdateSchedulePriceChange, b, r, (*plain)(r), &r.Decoding)
}

// PriceChangeResult is the result of the schedulePriceChange update.
type PriceChangeResult struct {
	AppliesFrom time.Time `json:"appliesFrom"`
}

// TerminateRequest is the argument of the terminate update.
type TerminateRequest struct {
	Decoding
	Reason      string    `json:"reason"`
	RequestedAt time.Time `json:"requestedAt,omitzero"`
}

// UnmarshalJSON decodes the argument strictly; what it finds wrong is kept
// for ArgumentErr (see Decoding).
func (r *TerminateRequest) UnmarshalJSON(b []byte) error {
	type plain TerminateRequest
	return decodeRequest(UpdateTerminate, b, r, (*plain)(r), &r.Decoding)
}

// TerminateResult is the result of the terminate update.
type TerminateResult struct {
	Status string `json:"status"`
}
