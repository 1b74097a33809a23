package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// report is what a run prints.
type report struct {
	Command    string   `json:"command"`
	Mode       string   `json:"mode"` // cycles or sleeping
	Server     string   `json:"server"`
	Env        []string `json:"env"` // the tuning variables the worker got from this environment
	CPUs       int      `json:"cpus"`
	LoadBefore float64  `json:"loadBefore"` // the machine's 1-minute load average
	LoadAfter  float64  `json:"loadAfter"`
	Seconds    float64  `json:"seconds"` // the whole run

	// The cycles mode.
	Workflows        int          `json:"workflows,omitempty"`
	Cycles           int          `json:"cycles,omitempty"`
	PeriodSeconds    float64      `json:"periodSeconds,omitempty"`
	Speedup          float64      `json:"speedup,omitempty"`
	OfferedPerSecond float64      `json:"offeredPerSecond,omitempty"` // workflows / period
	Floor            *phaseResult `json:"floor,omitempty"`
	Subscription     *phaseResult `json:"subscription,omitempty"`
	Ratio            float64      `json:"ratio,omitempty"`     // subscription ÷ floor paid cycles/s
	CostRatio        float64      `json:"costRatio,omitempty"` // floor ÷ subscription; goal ≤ 1.10

	// The sleeping mode.
	Sleeping *sleepResult `json:"sleeping,omitempty"`
}

// phaseResult is what a phase of the cycles mode measured.
type phaseResult struct {
	Name            string  `json:"name"`
	Workflows       int     `json:"workflows"`
	MinCycles       int     `json:"minCycles"`    // the fewest cycles a workflow paid
	MaxCycles       int     `json:"maxCycles"`    // the most
	StartSeconds    float64 `json:"startSeconds"` // to start them all
	Seconds         float64 `json:"seconds"`      // from the first start to the last cycle paid
	PaidInWindow    int     `json:"paidInWindow"` // the first workflows × cycles charges, or those paid by the timeout
	WindowSeconds   float64 `json:"windowSeconds"`
	CyclesPerSecond float64 `json:"cyclesPerSecond"`
	Latencies       int     `json:"latencies"` // charges of the window measured
	LatencyP50Ms    float64 `json:"latencyP50Ms"`
	LatencyP99Ms    float64 `json:"latencyP99Ms"`
	LatencyMinMs    float64 `json:"latencyMinMs"`
	LatencyMaxMs    float64 `json:"latencyMaxMs"`
	Events          int     `json:"events"`
	PaidInHistory   int     `json:"paidInHistory"` // Charge activities completed in the histories
	EventsPerCycle  float64 `json:"eventsPerCycle"`
	RSSPeakMiB      float64 `json:"rssPeakMiB"`
	RSSEndMiB       float64 `json:"rssEndMiB"`
	// The worker's CPU time (user + system) from its start-up done to the
	// window's end, and per cycle paid meanwhile; the machine's CPU busy
	// meanwhile (the server's, the bench's and anything else's too).
	WorkerCPUSeconds    float64 `json:"workerCpuSeconds"`
	WorkerCPUMsPerCycle float64 `json:"workerCpuMsPerCycle"`
	MachineBusyPercent  float64 `json:"machineBusyPercent"`
	ChargeRequests      int     `json:"chargeRequests"` // POST /v1/payment_intents at the stand-in
	LookUps             int     `json:"lookUps"`        // GET /v1/payment_intents…
	Succeeded           int     `json:"succeeded"`      // PaymentIntents succeeded, once the workflows were stopped
	// RequestsPerCycle is (ChargeRequests + LookUps) over the cycles paid
	// meanwhile (the window's, and any paid while the last was).
	RequestsPerCycle float64 `json:"requestsPerCycle"`
	Duplicates       int     `json:"duplicates"` // cycles charged more than once
	Gaps             int     `json:"gaps"`       // cycles skipped below a workflow's last charged, not owed by it
	// Outstanding: cycles below a subscription's last charged that it
	// still owed (its state's outstanding cycles: a charge unanswered, to
	// be made again) when the phase ended.
	Outstanding  int `json:"outstanding"`
	StatesUnread int `json:"statesUnread"` // subscriptions whose state could not be read for the audit
	Unaudited    int `json:"unaudited"`    // cycles below the last charged of those subscriptions, not charged
	Failed       int `json:"failed"`       // PaymentIntents not succeeded
	// TimerLateP99Ms and TimerLateMaxMs: how late the server fired the
	// phase's timers (history event times), over all of them.
	TimerLateP99Ms float64 `json:"timerLateP99Ms"`
	TimerLateMaxMs float64 `json:"timerLateMaxMs"`
	TimedOut       bool    `json:"timedOut"` // -timeout ran out before the cycles wanted were paid
}

// sleepResult is what the sleeping mode measured.
type sleepResult struct {
	Subscriptions         int     `json:"subscriptions"`
	Concurrency           int     `json:"concurrency"`
	StartSeconds          float64 `json:"startSeconds"`
	StartsPerSecond       float64 `json:"startsPerSecond"`
	Opened                int     `json:"opened"`
	OpenSeconds           float64 `json:"openSeconds"` // from the first start to the last opening
	OpenedPerSecond       float64 `json:"openedPerSecond"`
	OpenP50Ms             float64 `json:"openP50Ms"` // from a start accepted to its opening
	OpenP99Ms             float64 `json:"openP99Ms"`
	TimedOut              bool    `json:"timedOut"`
	RSSBeforeMiB          float64 `json:"rssBeforeMiB"`
	RSSOpenMiB            float64 `json:"rssOpenMiB"`   // when all were open
	RSSAsleepMiB          float64 `json:"rssAsleepMiB"` // after the settle pause
	RSSPeakMiB            float64 `json:"rssPeakMiB"`
	RSSPerSubscriptionKiB float64 `json:"rssPerSubscriptionKiB"` // (asleep − before) / subscriptions
	// The worker's CPU time from the first start to all open, and the
	// machine's CPU busy meanwhile.
	WorkerCPUSeconds   float64 `json:"workerCpuSeconds"`
	MachineBusyPercent float64 `json:"machineBusyPercent"`
}

func (r *report) print(w io.Writer, withJSON bool) {
	fmt.Fprintf(w, "command: %s\n", r.Command)
	fmt.Fprintf(w, "server:  %s\n", r.Server)
	env := "none"
	if len(r.Env) > 0 {
		env = strings.Join(r.Env, " ")
	}
	fmt.Fprintf(w, "worker tuning from the environment: %s\n", env)
	fmt.Fprintf(w, "machine: %d CPUs, load average %.2f before, %.2f after; %.0f s in all\n", r.CPUs, r.LoadBefore, r.LoadAfter, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch {
	case r.Sleeping != nil:
		s := r.Sleeping
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "sleeping: %d subscriptions in their trial (offer body-scan, real time), %d starts in flight\n", s.Subscriptions, s.Concurrency)
		row := func(name, format string, v ...any) {
			fmt.Fprintf(tw, "%s\t"+format+"\t\n", append([]any{name}, v...)...)
		}
		row("starts accepted/s", "%.1f  (%d in %.1f s)", s.StartsPerSecond, s.Subscriptions, s.StartSeconds)
		row("opened/s", "%.1f  (%d in %.1f s from the first start)", s.OpenedPerSecond, s.Opened, s.OpenSeconds)
		row("start → open p50 / p99", "%.0f / %.0f ms", s.OpenP50Ms, s.OpenP99Ms)
		row("worker RSS before the starts", "%.1f MiB", s.RSSBeforeMiB)
		row("worker RSS when all open", "%.1f MiB", s.RSSOpenMiB)
		row("worker RSS asleep (after settle)", "%.1f MiB", s.RSSAsleepMiB)
		row("worker RSS peak", "%.1f MiB", s.RSSPeakMiB)
		row("RSS per sleeping subscription", "%.2f KiB", s.RSSPerSubscriptionKiB)
		row("worker CPU, starts to all open", "%.1f s (machine %.0f%% busy)", s.WorkerCPUSeconds, s.MachineBusyPercent)
		tw.Flush()
		if s.TimedOut {
			fmt.Fprintf(w, "NOT ALL OPEN: timed out with %d/%d open\n", s.Opened, s.Subscriptions)
		}
	default:
		fmt.Fprintf(w, "cycles: %d workflows × %d cycles, monthly, a cycle every %.3g s of real time (speedup %.0f): offered %.1f cycles/s\n",
			r.Workflows, r.Cycles, r.PeriodSeconds, r.Speedup, r.OfferedPerSecond)
		phases := []*phaseResult{}
		for _, p := range []*phaseResult{r.Floor, r.Subscription} {
			if p != nil {
				phases = append(phases, p)
			}
		}
		head := "\t"
		for _, p := range phases {
			head += p.Name + "\t"
		}
		fmt.Fprintln(tw, head)
		row := func(name string, f func(p *phaseResult) string) {
			line := name + "\t"
			for _, p := range phases {
				line += f(p) + "\t"
			}
			fmt.Fprintln(tw, line)
		}
		row("paid cycles/s", func(p *phaseResult) string { return fmt.Sprintf("%.2f", p.CyclesPerSecond) })
		row("  charges in window / window", func(p *phaseResult) string { return fmt.Sprintf("%d / %.1f s", p.PaidInWindow, p.WindowSeconds) })
		row("charge latency p50", func(p *phaseResult) string { return fmt.Sprintf("%.0f ms", p.LatencyP50Ms) })
		row("charge latency p99", func(p *phaseResult) string { return fmt.Sprintf("%.0f ms", p.LatencyP99Ms) })
		row("timers fired late p99, max", func(p *phaseResult) string {
			return fmt.Sprintf("%.0f ms, %.0f ms", p.TimerLateP99Ms, p.TimerLateMaxMs)
		})
		row("events per paid cycle", func(p *phaseResult) string { return fmt.Sprintf("%.1f", p.EventsPerCycle) })
		row("  events / Charges completed", func(p *phaseResult) string { return fmt.Sprintf("%d / %d", p.Events, p.PaidInHistory) })
		row("worker RSS peak", func(p *phaseResult) string { return fmt.Sprintf("%.1f MiB", p.RSSPeakMiB) })
		row("worker RSS at the end", func(p *phaseResult) string { return fmt.Sprintf("%.1f MiB", p.RSSEndMiB) })
		row("worker CPU per paid cycle", func(p *phaseResult) string { return fmt.Sprintf("%.2f ms", p.WorkerCPUMsPerCycle) })
		row("machine CPU busy (server, bench, all)", func(p *phaseResult) string { return fmt.Sprintf("%.0f%%", p.MachineBusyPercent) })
		row("Stripe requests per paid cycle", func(p *phaseResult) string { return fmt.Sprintf("%.2f", p.RequestsPerCycle) })
		row("  charges + look-ups", func(p *phaseResult) string { return fmt.Sprintf("%d + %d", p.ChargeRequests, p.LookUps) })
		row("cycles paid by a workflow", func(p *phaseResult) string { return fmt.Sprintf("%d to %d", p.MinCycles, p.MaxCycles) })
		row("start all, then last cycle paid", func(p *phaseResult) string { return fmt.Sprintf("%.1f s, %.1f s", p.StartSeconds, p.Seconds) })
		row("audit: twice / skipped / failed", func(p *phaseResult) string { return fmt.Sprintf("%d / %d / %d", p.Duplicates, p.Gaps, p.Failed) })
		row("cycles still owed below the last paid", func(p *phaseResult) string {
			if p.Name == "floor" {
				return "-"
			}
			return fmt.Sprint(p.Outstanding)
		})
		if phases[len(phases)-1].StatesUnread > 0 {
			row("states unread: cycles not audited", func(p *phaseResult) string {
				if p.Name == "floor" {
					return "-"
				}
				return fmt.Sprintf("%d: %d", p.StatesUnread, p.Unaudited)
			})
		}
		tw.Flush()
		for _, p := range phases {
			if p.TimedOut {
				fmt.Fprintf(w, "NOT DONE: the %s phase timed out with %d of %d cycles paid\n", p.Name, p.PaidInWindow, r.Workflows*r.Cycles)
			}
		}
		if r.Ratio > 0 {
			verdict := "met"
			if r.CostRatio > 1.10 {
				verdict = "NOT met"
			}
			fmt.Fprintf(w, "ratio subscription/floor: %.3f; cost ratio floor/subscription: %.3f (goal ≤ 1.10: %s)\n", r.Ratio, r.CostRatio, verdict)
		}
		for _, p := range phases {
			if p.CyclesPerSecond > 0.8*r.OfferedPerSecond {
				fmt.Fprintf(w, "warning: the %s paid %.1f cycles/s of the %.1f offered: the worker may not have been saturated (lower -period)\n",
					p.Name, p.CyclesPerSecond, r.OfferedPerSecond)
			}
		}
	}
	if withJSON {
		b, err := json.Marshal(r)
		if err == nil {
			fmt.Fprintln(w, string(b))
		}
	}
}
