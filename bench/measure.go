package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// memory is a process's resident set, from /proc/<pid>/status: VmRSS now
// and VmHWM, the kernel's high-water mark of it since the process started.
type memory struct {
	RSS, Peak int64 // bytes
}

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status: %s: %q", pid, name, value)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Peak = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, err
	}
	if m.RSS == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status: no VmRSS (not running?)", pid)
	}
	return m, nil
}

// cpuTime is the CPU time a process has used (user and system), from
// /proc/<pid>/stat, in clock ticks of 10 ms (Linux's USER_HZ).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields follow its ")".
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// machineCPU is the machine's busy and total CPU time, from /proc/stat,
// in clock ticks.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

func mib(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }

// loadAverage is the machine's load average over the last minute.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// history is what the bench reads of a workflow's runs.
type history struct {
	events  int       // all events of all runs, the bench's termination left out
	charges int       // Charge activities completed
	origin  time.Time // the first run's first WorkflowTaskStarted: its clock's origin
	opened  time.Time // the first UpsertWorkflowSearchAttributes (a subscription open)
	runs    int
	// timersLate is, for each timer, how long after its due time the
	// server fired it (0 if on time); a timer still pending when the bench
	// terminated the workflow counts if it was due by then.
	timersLate []time.Duration
}

// readHistory reads the runs of workflow id from runID on, following
// continue-as-new. With untilOpened it stops at the first search-attribute
// upsert (the opening of a subscription).
func readHistory(ctx context.Context, tc client.Client, id, runID string, untilOpened bool) (history, error) {
	var h history
	for runID != "" {
		h.runs++
		it := tc.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		activity := map[int64]string{} // scheduled event ID → activity type
		timers := timerWatch{due: map[int64]time.Time{}}
		next := ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return h, fmt.Errorf("history of %s: %w", id, err)
			}
			timers.observe(ev)
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
				continue
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				if h.origin.IsZero() {
					h.origin = ev.GetEventTime().AsTime()
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				activity[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				if activity[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] == "Charge" {
					h.charges++
				}
			case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
				if h.opened.IsZero() {
					h.opened = ev.GetEventTime().AsTime()
				}
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
				next = ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
			}
			h.events++
			if untilOpened && !h.opened.IsZero() {
				return h, nil
			}
		}
		h.timersLate = append(h.timersLate, timers.late...)
		runID = next
	}
	return h, nil
}

// timerWatch measures how late the server fires the timers of one run,
// from its history events.
type timerWatch struct {
	due  map[int64]time.Time // TimerStarted event ID → when it is due
	late []time.Duration     // per timer: fired after its due time by (0: on time)
}

func (w *timerWatch) observe(ev *historypb.HistoryEvent) {
	at := ev.GetEventTime().AsTime()
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		w.due[ev.GetEventId()] = at.Add(ev.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration())
	case enumspb.EVENT_TYPE_TIMER_FIRED:
		id := ev.GetTimerFiredEventAttributes().GetStartedEventId()
		if due, ok := w.due[id]; ok {
			w.late = append(w.late, max(at.Sub(due), 0))
			delete(w.due, id)
		}
	case enumspb.EVENT_TYPE_TIMER_CANCELED:
		delete(w.due, ev.GetTimerCanceledEventAttributes().GetStartedEventId())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		// Still pending when the bench stopped it: late if it was due.
		for _, due := range w.due {
			if late := at.Sub(due); late > 0 {
				w.late = append(w.late, late)
			}
		}
		clear(w.due)
	}
}

// forEach calls f(i) for i in [0, n) on `workers` goroutines, and returns
// the first error.
func forEach(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}

// percentile is the nearest-rank percentile p (0 < p ≤ 1) of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedDurations(d []time.Duration) []time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}
