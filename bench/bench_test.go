package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain runs the test binary as the floor worker when the bench runs it
// again with -floor-worker, as it runs its own binary.
func TestMain(m *testing.M) {
	if slices.Contains(os.Args[1:], "-floor-worker") {
		if err := floorWorker(); err != nil {
			os.Stderr.WriteString("floor worker: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func skipUnlessIntegration(t *testing.T) {
	t.Helper()
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	if testing.Short() {
		t.Skip("a dev server and the worker command: not in -short mode")
	}
}

func tinyOptions(t *testing.T, args ...string) options {
	t.Helper()
	var errs strings.Builder
	o, err := parseFlags(args, &errs)
	if err != nil {
		t.Fatalf("flags %q: %v\n%s", args, err, errs.String())
	}
	o.progress = testWriter{t}
	return o
}

// runTiny runs the bench with args (parsed as the command's flags) on a
// dev server of its own, logs its table, and fails the test on an error.
func runTiny(t *testing.T, args ...string) *report {
	t.Helper()
	skipUnlessIntegration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run(ctx, tinyOptions(t, args...))
	if rep != nil {
		var out strings.Builder
		rep.print(&out, true)
		t.Log("\n" + out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestCyclesTiny runs the cycles mode at a tiny size end to end: both
// phases pay every cycle once at the stand-in, and the figures are sane.
func TestCyclesTiny(t *testing.T) {
	const n, cycles = 5, 2
	rep := runTiny(t, "-n", "5", "-cycles", "2", "-json")
	if rep.Floor == nil || rep.Subscription == nil {
		t.Fatalf("phases missing: %+v", rep)
	}
	for _, p := range []*phaseResult{rep.Floor, rep.Subscription} {
		switch {
		case p.TimedOut || p.PaidInWindow != n*cycles || p.Latencies != n*cycles:
			t.Errorf("%s: %d cycles paid in the window (%d latencies), want %d", p.Name, p.PaidInWindow, p.Latencies, n*cycles)
		case p.Duplicates != 0 || p.Gaps != 0 || p.Failed != 0:
			t.Errorf("%s: the stand-in holds %d cycles charged twice, %d skipped, %d failed", p.Name, p.Duplicates, p.Gaps, p.Failed)
		case p.Succeeded < n*cycles || p.PaidInHistory < n*cycles-n:
			// A charge answered as the window closed may not have reached its
			// history before the workflow was terminated: one a workflow.
			t.Errorf("%s: %d succeeded at the stand-in, %d Charges completed in the histories, want at least %d and %d",
				p.Name, p.Succeeded, p.PaidInHistory, n*cycles, n*cycles-n)
		case !(p.CyclesPerSecond > 0) || !(p.EventsPerCycle > 0) || !(p.RSSPeakMiB > 0) || !(p.RSSEndMiB > 0) || p.RSSEndMiB > p.RSSPeakMiB:
			t.Errorf("%s: figures not sane: %.2f cycles/s, %.1f events per cycle, RSS %.1f MiB peak, %.1f at the end",
				p.Name, p.CyclesPerSecond, p.EventsPerCycle, p.RSSPeakMiB, p.RSSEndMiB)
		case p.LatencyMinMs < 0 || p.LatencyP50Ms > p.LatencyP99Ms || p.LatencyP99Ms > 30_000:
			t.Errorf("%s: latencies not sane: min %.0f, p50 %.0f, p99 %.0f ms", p.Name, p.LatencyMinMs, p.LatencyP50Ms, p.LatencyP99Ms)
		case p.RequestsPerCycle < 1:
			t.Errorf("%s: %.2f Stripe requests per paid cycle: fewer than one charge each", p.Name, p.RequestsPerCycle)
		case p.TimerLateP99Ms < 0 || p.TimerLateP99Ms > p.TimerLateMaxMs || p.TimerLateMaxMs > 60_000:
			t.Errorf("%s: timer lateness not sane: p99 %.0f ms, max %.0f ms", p.Name, p.TimerLateP99Ms, p.TimerLateMaxMs)
		}
	}
	if !(rep.Ratio > 0) || rep.CostRatio*rep.Ratio < 0.99 || rep.CostRatio*rep.Ratio > 1.01 {
		t.Errorf("ratio %.3f and cost ratio %.3f are not each other's inverse", rep.Ratio, rep.CostRatio)
	}
}

// TestSleepingTiny runs the sleeping mode at a tiny size end to end: every
// subscription opens, and the figures are sane.
func TestSleepingTiny(t *testing.T) {
	const n = 20
	rep := runTiny(t, "-sleeping", "20", "-settle", "1s", "-timeout", "90s")
	s := rep.Sleeping
	switch {
	case s == nil:
		t.Fatalf("no sleeping figures: %+v", rep)
	case s.TimedOut || s.Opened != n:
		t.Errorf("%d of %d opened (timed out: %t)", s.Opened, n, s.TimedOut)
	case !(s.StartsPerSecond > 0) || !(s.OpenedPerSecond > 0) || s.OpenedPerSecond > s.StartsPerSecond:
		t.Errorf("rates not sane: %.1f starts/s, %.1f opened/s", s.StartsPerSecond, s.OpenedPerSecond)
	case !(s.RSSBeforeMiB > 0) || !(s.RSSAsleepMiB > 0) || s.RSSPeakMiB < s.RSSAsleepMiB || s.RSSPeakMiB < s.RSSBeforeMiB:
		t.Errorf("RSS not sane: %.1f MiB before, %.1f asleep, %.1f peak", s.RSSBeforeMiB, s.RSSAsleepMiB, s.RSSPeakMiB)
	case s.OpenP50Ms < 0 || s.OpenP50Ms > s.OpenP99Ms:
		t.Errorf("opening times not sane: p50 %.0f ms, p99 %.0f ms", s.OpenP50Ms, s.OpenP99Ms)
	}
}
