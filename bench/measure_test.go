package main

import (
	"slices"
	"strconv"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/withings-plus/subscriptions/internal/stripefake"
)

func TestTimerWatch(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	started := func(id int64, when, timeout time.Duration) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventTime: at(when), EventType: enumspb.EVENT_TYPE_TIMER_STARTED,
			Attributes: &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{
				StartToFireTimeout: durationpb.New(timeout)}}}
	}
	fired := func(id int64, when time.Duration) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventTime: at(when), EventType: enumspb.EVENT_TYPE_TIMER_FIRED,
			Attributes: &historypb.HistoryEvent_TimerFiredEventAttributes{TimerFiredEventAttributes: &historypb.TimerFiredEventAttributes{StartedEventId: id}}}
	}
	canceled := func(id int64, when time.Duration) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventTime: at(when), EventType: enumspb.EVENT_TYPE_TIMER_CANCELED,
			Attributes: &historypb.HistoryEvent_TimerCanceledEventAttributes{TimerCanceledEventAttributes: &historypb.TimerCanceledEventAttributes{StartedEventId: id}}}
	}
	w := timerWatch{due: map[int64]time.Time{}}
	for _, ev := range []*historypb.HistoryEvent{
		started(1, 0, time.Second),
		fired(1, 1500*time.Millisecond), // half a second late
		started(3, 2*time.Second, time.Second),
		fired(3, 2900*time.Millisecond), // early (event times are the server's): on time
		started(5, 3*time.Second, time.Hour),
		canceled(5, 4*time.Second), // never due
		started(7, 4*time.Second, time.Second),
		started(8, 4*time.Second, time.Minute),
		{EventTime: at(9 * time.Second), EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED}, // 7 stalled 4 s, 8 not due
	} {
		w.observe(ev)
	}
	want := []time.Duration{500 * time.Millisecond, 0, 4 * time.Second}
	if !slices.Equal(w.late, want) {
		t.Errorf("late %v, want %v", w.late, want)
	}
}

func TestAuditStandIn(t *testing.T) {
	pi := func(id string, cycle int, status string) stripefake.PaymentIntent {
		return stripefake.PaymentIntent{Status: status, Metadata: map[string]string{"subscription_id": id, "cycle": strconv.Itoa(cycle)}}
	}
	pis := []stripefake.PaymentIntent{
		pi("s-read", 1, "succeeded"), pi("s-read", 4, "succeeded"), pi("s-read", 4, "succeeded"), // 2 owed, 3 skipped, 4 twice
		pi("s-unread", 1, "succeeded"), pi("s-unread", 3, "succeeded"), // 2 unknown
		pi("s-read", 5, "requires_payment_method"),
		pi("other", 1, "succeeded"), pi("other", 3, "succeeded"), // not this phase's
	}
	got := auditStandIn(pis, "s-", map[string][]int{"s-read": {2}})
	want := audit{duplicates: 1, gaps: 1, outstanding: 1, unaudited: 1, failed: 1, succeeded: 5}
	if got != want {
		t.Errorf("subscriptions: %+v, want %+v", got, want)
	}
	// The floor (no states): every uncharged cycle below the last is a gap.
	got = auditStandIn(pis, "s-", nil)
	want = audit{duplicates: 1, gaps: 3, failed: 1, succeeded: 5}
	if got != want {
		t.Errorf("floor: %+v, want %+v", got, want)
	}
}
