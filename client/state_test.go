package client

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/api"
)

// queries answers the state query with its errors in turn, then with state
// (as JSON); any other call panics on the nil embedded client.
type queries struct {
	tclient.Client
	errs  []error
	state string
	asked int
}

func (q *queries) QueryWorkflow(_ context.Context, id, _, name string, _ ...any) (converter.EncodedValue, error) {
	if id != "subscription-acc-1" || name != api.QueryState {
		panic("unexpected query " + id + " " + name)
	}
	q.asked++
	if q.asked <= len(q.errs) {
		return nil, q.errs[q.asked-1]
	}
	return jsonValue(q.state), nil
}

// jsonValue is a query result.
type jsonValue string

func (v jsonValue) HasValue() bool    { return v != "" }
func (v jsonValue) Get(ptr any) error { return json.Unmarshal([]byte(v), ptr) }
func (v jsonValue) String() string    { return string(v) }

var _ converter.EncodedValue = jsonValue("")

func stillOpeningErr() error { return serviceerror.NewQueryFailed("the subscription is still opening") }

func TestStateWaitsWhileOpening(t *testing.T) {
	q := &queries{errs: []error{stillOpeningErr(), serviceerror.NewWorkflowNotReady("not ready"), stillOpeningErr()},
		state: `{"status":"trialing","rejected":null,"payments":null}`}
	c := New(q)
	start := time.Now()
	st, err := c.State(context.Background(), "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != api.StatusTrialing || q.asked != 4 {
		t.Fatalf("state %+v after %d queries", st, q.asked)
	}
	// 50 + 100 + 200 ms of backing off.
	if d := time.Since(start); d < 350*time.Millisecond || d > 3*time.Second {
		t.Fatalf("answered after %s", d)
	}
	// The lists are [] as the contract shows them, never null.
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"rejected":[]`) || !strings.Contains(string(b), `"payments":[]`) {
		t.Fatalf("state JSON %s", b)
	}
}

func TestStateGivesUpOnASubscriptionStillOpening(t *testing.T) {
	q := &queries{errs: make([]error, 1000)}
	for i := range q.errs {
		q.errs[i] = stillOpeningErr()
	}
	c := New(q)
	c.openingWait = 300 * time.Millisecond
	start := time.Now()
	_, err := c.State(context.Background(), "acc-1")
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Fatalf("gave up after %s", d)
	}
	if KindOf(err) != KindUnavailable || !strings.Contains(err.Error(), "still opening after 300ms") || !strings.Contains(err.Error(), "ask again") {
		t.Fatalf("error %v (%s)", err, KindOf(err))
	}
}

func TestStateWaitHonoursTheContext(t *testing.T) {
	q := &queries{errs: make([]error, 1000)}
	for i := range q.errs {
		q.errs[i] = stillOpeningErr()
	}
	c := New(q)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.State(ctx, "acc-1")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("gave up after %s, past the context's deadline", d)
	}
	if KindOf(err) != KindUnavailable {
		t.Fatalf("error %v (%s)", err, KindOf(err))
	}
}

func TestStateDoesNotWaitForOtherErrors(t *testing.T) {
	q := &queries{errs: []error{serviceerror.NewNotFound("workflow not found for ID: subscription-acc-1")}}
	_, err := New(q).State(context.Background(), "acc-1")
	var nf *serviceerror.NotFound
	if q.asked != 1 || KindOf(err) != KindNotFound || !errors.As(err, &nf) {
		t.Fatalf("error %v after %d queries", err, q.asked)
	}
}
