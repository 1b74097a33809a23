// Package api holds the public interface of the subscription service: the
// Temporal names, the workflow input with its validation, the update, signal
// and query payloads, and the search attributes. It is what a backend that
// starts and drives subscriptions imports, and it has no Temporal dependency.
package api

// Temporal names fixed by the contract.
const (
	TaskQueue        = "subscriptions"
	WorkflowType     = "Subscription"
	WorkflowIDPrefix = "subscription-"

	UpdateCancel              = "cancel"
	UpdateWithdraw            = "withdraw"
	UpdatePaymentMethod       = "updatePaymentMethod"
	UpdateChangePlan          = "changePlan"
	UpdateSchedulePriceChange = "schedulePriceChange"
	UpdateTerminate           = "terminate"

	SignalCancel   = "cancel"
	SignalWithdraw = "withdraw"
	// SignalUpgrade (an addition, for ops after a deploy) makes a running
	// subscription continue as new at its next idle point, so that it takes
	// the rules of the code now deployed. It carries no argument.
	SignalUpgrade = "upgrade"

	QueryState = "state"

	// StillOpening is the state query's error while the subscription opens
	// (deciding its trial): the typed client waits on it.
	StillOpening = "the subscription is still opening"

	// ErrTypeInvalidInput is the application error type of a workflow that
	// failed because its input was invalid.
	ErrTypeInvalidInput = "InvalidInput"
)

// Search attribute names kept current by the workflow.
const (
	SASubscriptionStatus = "SubscriptionStatus" // Keyword
	SAAccountID          = "AccountId"          // Keyword
	SAPlan               = "Plan"               // Keyword
	SAAccessActive       = "AccessActive"       // Bool
	SANextChargeAt       = "NextChargeAt"       // Datetime
	SAOutstandingMinor   = "OutstandingMinor"   // Int
	// SASettlementStatus (an addition) is set on an ended subscription that
	// still has something to settle: "pending", then "handed_to_ops" when ops
	// must take over (see State.Settlement).
	SASettlementStatus = "SettlementStatus" // Keyword
	// SAChargeIssue (an addition) is set while charging needs ops:
	// "stripe_refused" or "unknown_outcome" (see State.ChargeIssue).
	SAChargeIssue = "ChargeIssue" // Keyword
)

// SearchAttributeTypes maps each search attribute to its Temporal type name,
// as `temporal operator search-attribute create --type` takes it.
func SearchAttributeTypes() map[string]string {
	return map[string]string{
		SASubscriptionStatus: "Keyword",
		SAAccountID:          "Keyword",
		SAPlan:               "Keyword",
		SAAccessActive:       "Bool",
		SANextChargeAt:       "Datetime",
		SAOutstandingMinor:   "Int",
		SASettlementStatus:   "Keyword",
		SAChargeIssue:        "Keyword",
	}
}

// WorkflowID is the ID of the subscription workflow of an account.
func WorkflowID(accountID string) string { return WorkflowIDPrefix + accountID }
