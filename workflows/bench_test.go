package workflows

import "testing"

// BenchmarkWorkflowTwoYears runs a monthly subscription through its 24
// cycles up to continue-as-new in the time-skipping environment: the cost of
// the workflow code and its history per run.
func BenchmarkWorkflowTwoYears(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h := newHarness(b, date("2026-01-31T09:00:00Z"), newFake())
		if _, err := h.run(input(noOffer), day(3*365)); err == nil {
			b.Fatal("expected continue-as-new")
		}
	}
}
