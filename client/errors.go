package client

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
)

// Kind says why a request failed, for a caller to decide what to do next.
type Kind int

const (
	// KindOther is anything else: the message says what happened.
	KindOther Kind = iota
	// KindNotFound: the account has no subscription (no workflow
	// subscription-<accountId> in the namespace).
	KindNotFound
	// KindRefused: refused by the rules, nothing changed. An invalid input
	// or argument (refused by the client before anything is sent), an
	// update the subscription rejected, a start while the account's
	// subscription runs, a request to a subscription that has ended.
	KindRefused
	// KindUnavailable: Temporal could not be reached, or no answer came in
	// time (no worker running, or the subscription still opening). An
	// update that timed out may still be applied: read the state before
	// sending it again.
	KindUnavailable
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindRefused:
		return "refused"
	case KindUnavailable:
		return "unavailable"
	}
	return "other"
}

// Error is the error of every Client method: what failed, in the words of
// the business rather than the SDK's (no error type suffixes, no run IDs),
// and what to do about it. Unwrap gives the underlying error, so that
// errors.As still finds the SDK's (*serviceerror.WorkflowExecutionAlreadyStarted,
// …), the workflow's (*temporal.ApplicationError) and the client's own
// (*api.InputError, *api.ArgumentError).
type Error struct {
	Kind      Kind
	Op        string // what was asked: start, cancel, withdraw, state, list, …
	AccountID string // empty for a list
	Message   string // what went wrong
	Hint      string // what to do about it; may be empty
	Err       error
}

// Error is the message, then what to do.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "; " + e.Hint
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is the Kind of the *Error in err's chain; KindOther without one.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// stillOpening is the state query's refusal while the workflow has not yet
// decided how the subscription opens (its eligibility look-up).
const stillOpening = api.StillOpening

// opLabels name each request as a person would.
var opLabels = map[string]string{
	api.UpdateCancel:              "cancellation",
	api.UpdateWithdraw:            "withdrawal",
	api.UpdatePaymentMethod:       "payment method update",
	api.UpdateChangePlan:          "plan change",
	api.UpdateSchedulePriceChange: "price change",
	api.UpdateTerminate:           "termination",
}

func opLabel(op string) string {
	if l, ok := opLabels[op]; ok {
		return l
	}
	return op
}

// classify turns what a Temporal call (or the client's own validation)
// returned into an *Error. ctx is the call's context, to tell a deadline
// from an interruption.
func classify(ctx context.Context, op, accountID string, err error) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	e := &Error{Op: op, AccountID: accountID, Err: err}
	what := opLabel(op)
	if accountID != "" {
		what += " of account " + accountID
	}
	var (
		inErr     *api.InputError
		argErr    *api.ArgumentError
		started   *serviceerror.WorkflowExecutionAlreadyStarted
		notFound  *serviceerror.NotFound
		nsMissing *serviceerror.NamespaceNotFound
		denied    *serviceerror.PermissionDenied
		queryErr  *serviceerror.QueryFailed
		notReady  *serviceerror.WorkflowNotReady
		updateTO  *tclient.WorkflowUpdateServiceTimeoutOrCanceledError
		appErr    *temporal.ApplicationError
	)
	switch {
	case errors.As(err, &inErr), errors.As(err, &argErr):
		e.Kind = KindRefused
		e.Message = fmt.Sprintf("%s refused: %s", what, err.Error())
		e.Hint = "nothing was sent; correct it and try again"
	case errors.As(err, &started):
		e.Kind = KindRefused
		e.Message = fmt.Sprintf("account %s already has a running subscription", accountID)
		e.Hint = "read it with state: a new one can start once it has ended"
	case errors.As(err, &nsMissing):
		e.Kind = KindUnavailable
		e.Message = "Temporal: " + strings.TrimSuffix(nsMissing.Message, ".")
		e.Hint = "check TEMPORAL_NAMESPACE"
	case errors.As(err, &notFound):
		if strings.Contains(notFound.Message, "already completed") {
			e.Kind = KindRefused
			e.Message = fmt.Sprintf("%s refused: the subscription has ended", what)
			e.Hint = "read it with state, or start a new subscription to subscribe again"
		} else {
			e.Kind = KindNotFound
			e.Message = fmt.Sprintf("no subscription for account %s", accountID)
			e.Hint = "check the account ID and TEMPORAL_NAMESPACE, or start the subscription first"
		}
	case errors.As(err, &queryErr) && strings.Contains(queryErr.Message, "unknown queryType"):
		// The account's latest run failed before it was a subscription
		// (an invalid input started without the client's check).
		e.Kind = KindNotFound
		e.Message = fmt.Sprintf("no subscription for account %s: its last start was refused", accountID)
		e.Hint = "start the subscription again with a valid input"
	case errors.As(err, &queryErr) && strings.Contains(queryErr.Message, stillOpening),
		errors.As(err, &notReady):
		e.Kind = KindUnavailable
		e.Message = fmt.Sprintf("the subscription of account %s is still opening", accountID)
		e.Hint = "ask again in a moment; if it lasts, check that a worker runs on task queue " + api.TaskQueue
	case errors.Is(err, context.Canceled) || (ctx != nil && errors.Is(ctx.Err(), context.Canceled)):
		e.Kind = KindOther
		e.Message = what + ": interrupted"
		if isRequest(op) {
			e.Hint = "it may still be applied: read the state before sending it again"
		}
	case errors.As(err, &updateTO), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		e.Kind = KindUnavailable
		e.Message = what + ": no answer in time"
		e.Hint = "check that a worker runs on task queue " + api.TaskQueue + " and that Temporal is reachable (TEMPORAL_ADDRESS)"
		if isRequest(op) {
			e.Hint += "; the request may still be applied: read the state before sending it again"
		}
	case errors.As(err, &denied):
		e.Kind = KindUnavailable
		e.Message = "Temporal refused the connection (" + strings.TrimSuffix(denied.Message, ".") + ")"
		e.Hint = "check the API key and TLS settings (TEMPORAL_API_KEY, TEMPORAL_TLS_*) and TEMPORAL_NAMESPACE"
	case isUnreachable(err):
		e.Kind = KindUnavailable
		e.Message = "cannot reach Temporal" + dialDetail(err)
		e.Hint = "check TEMPORAL_ADDRESS and that the Temporal server runs"
	case errors.As(err, &appErr):
		// The workflow's answer to an update: a rule refused it, unless an
		// activity it needed failed (Stripe unreachable, …).
		if appErr.Type() == activityFailed {
			e.Kind = KindOther
			e.Message = fmt.Sprintf("%s failed: %s", what, plain(err))
			e.Hint = "nothing was changed; try again later"
		} else {
			e.Kind = KindRefused
			e.Message = fmt.Sprintf("%s refused: %s", what, plain(err))
		}
	default:
		e.Kind = KindOther
		e.Message = fmt.Sprintf("%s: %s", what, plain(err))
	}
	return e
}

// activityFailed is the error type the workflow gives an update whose
// activity failed for a reason that is no rule (see workflows.requestError).
const activityFailed = "ActivityFailed"

// isRequest reports whether op changes a subscription (an update or a signal).
func isRequest(op string) bool {
	return op != "state" && op != "list"
}

func isTimeout(err error) bool {
	var de *serviceerror.DeadlineExceeded
	return errors.As(err, &de)
}

func isUnreachable(err error) bool {
	var un *serviceerror.Unavailable
	var ns *serviceerror.NamespaceUnavailable
	var re *serviceerror.ResourceExhausted
	return errors.As(err, &un) || errors.As(err, &ns) || errors.As(err, &re)
}

var dialPattern = regexp.MustCompile(`dial tcp [^"]*`)

// dialDetail is the address and the reason of a failed connection, as
// " (dial tcp 127.0.0.1:7233: connect: connection refused)", or "".
func dialDetail(err error) string {
	if m := dialPattern.FindString(err.Error()); m != "" {
		return " (" + strings.TrimSpace(m) + ")"
	}
	return ""
}

var (
	typeSuffix = regexp.MustCompile(`\s*\(type: [^,()]*, retryable: (?:true|false)\)`)
	runID      = regexp.MustCompile(`(?i),?\s*run ?id:? ?[0-9a-f]{8}-[0-9a-f-]{27,}\.?`)
)

// plain is an error's message without the SDK's envelope: an application
// error's own message and its causes', no "(type: …, retryable: …)", no
// run ID.
func plain(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		msg := appErr.Message()
		if cause := errors.Unwrap(appErr); cause != nil {
			if c := plain(cause); c != "" && !strings.Contains(msg, c) {
				msg += ": " + c
			}
		}
		return msg
	}
	msg := typeSuffix.ReplaceAllString(err.Error(), "")
	return strings.TrimSpace(runID.ReplaceAllString(msg, ""))
}
