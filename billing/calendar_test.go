package billing_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// at parses an RFC 3339 time; test tables use it for readability.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// isLeap and monthDays are an independent reference for the calendar
// (Gregorian rules written out, no time package normalisation).
func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func monthDays(y int, m time.Month) int {
	switch m {
	case time.February:
		if isLeap(y) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	default:
		return 31
	}
}

func TestAddMonths(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		months int
		want   string
	}{
		{"zero months", "2026-05-17T08:09:10Z", 0, "2026-05-17T08:09:10Z"},
		{"plain day", "2026-01-15T10:00:00Z", 1, "2026-02-15T10:00:00Z"},
		{"Jan 31 clamps to Feb 28", "2026-01-31T10:00:00Z", 1, "2026-02-28T10:00:00Z"},
		{"Jan 31 to Mar 31 (not Mar 28)", "2026-01-31T10:00:00Z", 2, "2026-03-31T10:00:00Z"},
		{"Jan 31 to Apr 30", "2026-01-31T10:00:00Z", 3, "2026-04-30T10:00:00Z"},
		{"leap year Jan 31 to Feb 29", "2028-01-31T10:00:00Z", 1, "2028-02-29T10:00:00Z"},
		{"Jan 30 to Feb 28", "2026-01-30T00:00:00Z", 1, "2026-02-28T00:00:00Z"},
		{"Jan 29 to Feb 28 in a common year", "2027-01-29T00:00:00Z", 1, "2027-02-28T00:00:00Z"},
		{"Jan 29 to Feb 29 in a leap year", "2028-01-29T00:00:00Z", 1, "2028-02-29T00:00:00Z"},
		{"Mar 31 to Jun 30", "2026-03-31T12:00:00Z", 3, "2026-06-30T12:00:00Z"},
		{"Aug 31 to Sep 30", "2026-08-31T12:00:00Z", 1, "2026-09-30T12:00:00Z"},
		{"year rollover Dec 31 to Jan 31", "2026-12-31T23:00:00Z", 1, "2027-01-31T23:00:00Z"},
		{"year rollover Dec 31 to Feb 28", "2026-12-31T23:00:00Z", 2, "2027-02-28T23:00:00Z"},
		{"Nov 30 + 3 to Feb 29 2028", "2027-11-30T06:00:00Z", 3, "2028-02-29T06:00:00Z"},
		{"Feb 29 + 12 to Feb 28", "2028-02-29T09:00:00Z", 12, "2029-02-28T09:00:00Z"},
		{"Feb 29 + 48 to Feb 29", "2028-02-29T09:00:00Z", 48, "2032-02-29T09:00:00Z"},
		{"Feb 28 + 12 stays Feb 28 in a leap year", "2027-02-28T09:00:00Z", 12, "2028-02-28T09:00:00Z"},
		{"century non-leap 2100", "2099-02-28T00:00:00Z", 12, "2100-02-28T00:00:00Z"},
		{"Jan 31 2100 to Feb 28 2100", "2100-01-31T00:00:00Z", 1, "2100-02-28T00:00:00Z"},
		{"400-year leap 2400", "2400-01-31T00:00:00Z", 1, "2400-02-29T00:00:00Z"},
		{"negative: Mar 31 - 1 to Feb 28", "2026-03-31T10:00:00Z", -1, "2026-02-28T10:00:00Z"},
		{"negative: Mar 31 - 1 to Feb 29 in 2028", "2028-03-31T10:00:00Z", -1, "2028-02-29T10:00:00Z"},
		{"negative across year: Jan 15 - 1", "2026-01-15T10:00:00Z", -1, "2025-12-15T10:00:00Z"},
		{"negative across years: Jan 31 - 13", "2026-01-31T10:00:00Z", -13, "2024-12-31T10:00:00Z"},
		{"negative: May 31 - 1 to Apr 30", "2026-05-31T10:00:00Z", -1, "2026-04-30T10:00:00Z"},
		{"many years: + 1200", "2026-01-31T10:00:00Z", 1200, "2126-01-31T10:00:00Z"},
		{"nanoseconds kept", "2026-01-31T23:59:59.999999999Z", 1, "2026-02-28T23:59:59.999999999Z"},
		{"midnight kept", "2026-10-31T00:00:00Z", 1, "2026-11-30T00:00:00Z"},
		// The calendar is the UTC one: 23:30 at UTC-5 on Jan 31 is Feb 1 04:30 UTC.
		{"non-UTC input is counted on the UTC date", "2026-01-31T23:30:00-05:00", 1, "2026-03-01T04:30:00Z"},
		{"positive offset crossing back a day", "2026-03-01T01:00:00+02:00", 1, "2026-03-28T23:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := billing.AddMonths(at(tc.from), tc.months)
			want := at(tc.want)
			if !got.Equal(want) {
				t.Fatalf("AddMonths(%s, %d) = %s, want %s", tc.from, tc.months, got.Format(time.RFC3339Nano), tc.want)
			}
			if got.Location() != time.UTC {
				t.Fatalf("AddMonths returned location %v, want UTC", got.Location())
			}
		})
	}
}

// TestAddMonthsReference checks AddMonths against plain calendar arithmetic
// for every day of eleven years, moved by -25..25 months.
func TestAddMonthsReference(t *testing.T) {
	start := time.Date(2023, 1, 1, 13, 45, 7, 500, time.UTC)
	for day := start; day.Year() < 2034; day = day.AddDate(0, 0, 1) {
		y, m, d := day.Date()
		for k := -25; k <= 25; k++ {
			total := y*12 + int(m) - 1 + k
			ty, tm := total/12, time.Month(total%12+1)
			td := min(d, monthDays(ty, tm))
			got := billing.AddMonths(day, k)
			gy, gm, gd := got.Date()
			if gy != ty || gm != tm || gd != td {
				t.Fatalf("AddMonths(%s, %d) = %s, want %04d-%02d-%02d", day.Format(time.DateOnly), k, got.Format(time.DateOnly), ty, tm, td)
			}
			if got.Hour() != 13 || got.Minute() != 45 || got.Second() != 7 || got.Nanosecond() != 500 {
				t.Fatalf("AddMonths(%s, %d) = %s: time of day not kept", day, k, got.Format(time.RFC3339Nano))
			}
		}
	}
}

func TestPeriodMonths(t *testing.T) {
	if got := billing.PeriodMonths(api.PlanMonthly); got != 1 {
		t.Errorf("PeriodMonths(monthly) = %d, want 1", got)
	}
	if got := billing.PeriodMonths(api.PlanAnnual); got != 12 {
		t.Errorf("PeriodMonths(annual) = %d, want 12", got)
	}
}

func TestBillingDate(t *testing.T) {
	tests := []struct {
		name   string
		anchor string
		plan   string
		want   []string // BillingDate(anchor, plan, 0), 1, 2, ...
	}{
		{"monthly from the 31st, 2028 (leap)", "2028-01-31T10:15:00Z", api.PlanMonthly, []string{
			"2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31", "2028-06-30", "2028-07-31",
			"2028-08-31", "2028-09-30", "2028-10-31", "2028-11-30", "2028-12-31", "2029-01-31", "2029-02-28", "2029-03-31",
		}},
		{"monthly from the 31st, 2026", "2026-01-31T10:15:00Z", api.PlanMonthly, []string{
			"2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30",
		}},
		{"monthly from the 30th", "2027-11-30T10:15:00Z", api.PlanMonthly, []string{
			"2027-11-30", "2027-12-30", "2028-01-30", "2028-02-29", "2028-03-30", "2028-04-30", "2028-05-30",
		}},
		{"monthly from the 29th, common year", "2027-01-29T10:15:00Z", api.PlanMonthly, []string{
			"2027-01-29", "2027-02-28", "2027-03-29", "2027-04-29",
		}},
		{"monthly from the 29th, leap year", "2028-01-29T10:15:00Z", api.PlanMonthly, []string{
			"2028-01-29", "2028-02-29", "2028-03-29",
		}},
		{"monthly from Feb 28 stays on the 28th", "2027-02-28T10:15:00Z", api.PlanMonthly, []string{
			"2027-02-28", "2027-03-28", "2027-04-28",
		}},
		{"monthly across the year end", "2026-11-30T10:15:00Z", api.PlanMonthly, []string{
			"2026-11-30", "2026-12-30", "2027-01-30", "2027-02-28", "2027-03-30",
		}},
		{"annual from Feb 29", "2028-02-29T10:15:00Z", api.PlanAnnual, []string{
			"2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29", "2033-02-28",
		}},
		{"annual from Mar 31", "2026-03-31T10:15:00Z", api.PlanAnnual, []string{
			"2026-03-31", "2027-03-31", "2028-03-31",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			anchor := at(tc.anchor)
			for n, w := range tc.want {
				got := billing.BillingDate(anchor, tc.plan, n)
				want := at(w + "T10:15:00Z")
				if !got.Equal(want) {
					t.Errorf("BillingDate(%s, %s, %d) = %s, want %s", tc.anchor, tc.plan, n, got.Format(time.RFC3339), want.Format(time.RFC3339))
				}
			}
		})
	}
}

// TestBillingDateNeverFromPreviousDate shows the difference between the
// contract's rule (always from the anchor) and chaining from the previous
// clamped date, which would drift to the 28th/29th.
func TestBillingDateNeverFromPreviousDate(t *testing.T) {
	for _, day := range []int{29, 30, 31} {
		for _, year := range []int{2026, 2027, 2028} {
			anchor := time.Date(year, time.January, day, 7, 0, 0, 0, time.UTC)
			t.Run(anchor.Format(time.DateOnly), func(t *testing.T) {
				chained := anchor
				drifted := false
				for n := 0; n <= 36; n++ {
					got := billing.BillingDate(anchor, api.PlanMonthly, n)
					ty, tm, _ := anchor.AddDate(0, n, 1-day).Date() // first of the target month
					wantDay := min(day, monthDays(ty, tm))
					if gy, gm, gd := got.Date(); gy != ty || gm != tm || gd != wantDay {
						t.Fatalf("n=%d: got %s, want %04d-%02d-%02d", n, got.Format(time.DateOnly), ty, tm, wantDay)
					}
					if n > 0 {
						chained = billing.AddMonths(chained, 1)
						if !chained.Equal(got) {
							drifted = true
						}
					}
				}
				// Sanity of the test itself: chaining does drift for these anchors
				// (Feb clamps), so equality above is not trivially satisfied.
				if !drifted {
					t.Fatalf("expected chained dates to drift for anchor %s", anchor.Format(time.DateOnly))
				}
			})
		}
	}
}

func TestTrialEnd(t *testing.T) {
	tests := []struct{ installed, want string }{
		{"2026-01-15T09:30:00Z", "2026-04-15T09:30:00Z"},
		{"2026-11-30T09:30:00Z", "2027-02-28T09:30:00Z"},
		{"2027-11-30T09:30:00Z", "2028-02-29T09:30:00Z"},
		{"2027-11-29T09:30:00Z", "2028-02-29T09:30:00Z"},
		{"2026-11-29T09:30:00Z", "2027-02-28T09:30:00Z"},
		{"2026-10-31T23:59:59Z", "2027-01-31T23:59:59Z"},
		{"2026-12-31T00:00:00Z", "2027-03-31T00:00:00Z"},
		{"2026-03-31T12:00:00Z", "2026-06-30T12:00:00Z"},
		{"2026-05-31T12:00:00Z", "2026-08-31T12:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.installed, func(t *testing.T) {
			if got := billing.TrialEnd(at(tc.installed)); !got.Equal(at(tc.want)) {
				t.Fatalf("TrialEnd(%s) = %s, want %s", tc.installed, got.Format(time.RFC3339), tc.want)
			}
		})
	}
	if billing.TrialMonths != 3 {
		t.Fatalf("TrialMonths = %d, the offers give 3 free months", billing.TrialMonths)
	}
}

func TestTrialEndingNotice(t *testing.T) {
	tests := []struct{ trialEnd, want string }{
		{"2027-02-28T09:30:00Z", "2027-02-21T09:30:00Z"},
		{"2028-03-03T09:30:00Z", "2028-02-25T09:30:00Z"}, // across Feb 29
		{"2027-03-03T09:30:00Z", "2027-02-24T09:30:00Z"},
		{"2027-01-05T00:00:00Z", "2026-12-29T00:00:00Z"}, // across the year end
	}
	for _, tc := range tests {
		t.Run(tc.trialEnd, func(t *testing.T) {
			got := billing.TrialEndingNotice(at(tc.trialEnd))
			if !got.Equal(at(tc.want)) {
				t.Fatalf("TrialEndingNotice(%s) = %s, want %s", tc.trialEnd, got.Format(time.RFC3339), tc.want)
			}
			if d := at(tc.trialEnd).Sub(got); d != 7*24*time.Hour {
				t.Fatalf("notice is %s before the trial end, want 7 days", d)
			}
		})
	}
}

func TestListPrice(t *testing.T) {
	if got := billing.ListPrice(api.PlanMonthly); got != 995 {
		t.Errorf("ListPrice(monthly) = %d, want 995", got)
	}
	if got := billing.ListPrice(api.PlanAnnual); got != 9950 {
		t.Errorf("ListPrice(annual) = %d, want 9950", got)
	}
}

func TestDefaultDunningDays(t *testing.T) {
	got := billing.DefaultDunningDays()
	if !slices.Equal(got, []int{1, 3, 5, 7}) {
		t.Fatalf("DefaultDunningDays() = %v, want [1 3 5 7]", got)
	}
	got[0] = 99 // a caller changing its copy must not change the default
	if again := billing.DefaultDunningDays(); again[0] != 1 {
		t.Fatalf("DefaultDunningDays shares its slice: %v", again)
	}
}

func TestRetryAt(t *testing.T) {
	due := at("2026-04-10T12:00:00Z")
	tests := []struct {
		name  string
		due   time.Time
		days  []int
		retry int
		want  string // "" for none
	}{
		{"default retry 1", due, billing.DefaultDunningDays(), 1, "2026-04-11T12:00:00Z"},
		{"default retry 2", due, billing.DefaultDunningDays(), 2, "2026-04-13T12:00:00Z"},
		{"default retry 3", due, billing.DefaultDunningDays(), 3, "2026-04-15T12:00:00Z"},
		{"default retry 4", due, billing.DefaultDunningDays(), 4, "2026-04-17T12:00:00Z"},
		{"default retry 5 does not exist", due, billing.DefaultDunningDays(), 5, ""},
		{"retry 0 does not exist", due, billing.DefaultDunningDays(), 0, ""},
		{"negative retry", due, billing.DefaultDunningDays(), -1, ""},
		{"empty schedule", due, []int{}, 1, ""},
		{"nil schedule", due, nil, 1, ""},
		{"custom 2,10,30: retry 1", due, []int{2, 10, 30}, 1, "2026-04-12T12:00:00Z"},
		{"custom 2,10,30: retry 3", due, []int{2, 10, 30}, 3, "2026-05-10T12:00:00Z"},
		{"custom 2,10,30: retry 4", due, []int{2, 10, 30}, 4, ""},
		{"across month end", at("2026-01-31T23:00:00Z"), []int{1}, 1, "2026-02-01T23:00:00Z"},
		{"across Feb 29", at("2028-02-28T08:00:00Z"), []int{1, 2}, 2, "2028-03-01T08:00:00Z"},
		{"across the year end", at("2026-12-30T08:00:00Z"), []int{3}, 1, "2027-01-02T08:00:00Z"},
		{"60 days", due, []int{60}, 1, "2026-06-09T12:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := billing.RetryAt(tc.due, tc.days, tc.retry)
			if tc.want == "" {
				if ok {
					t.Fatalf("RetryAt(%v, %d) = %s, true; want false", tc.days, tc.retry, got)
				}
				return
			}
			if !ok || !got.Equal(at(tc.want)) {
				t.Fatalf("RetryAt(%v, %d) = %s, %v; want %s, true", tc.days, tc.retry, got.Format(time.RFC3339), ok, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	declined := at("2026-04-20T15:30:00Z") // made late: the due date was long before
	tests := []struct {
		name  string
		days  []int
		retry int
		want  string // "" for none
	}{
		{"default retry 1: a day after the declined attempt", billing.DefaultDunningDays(), 1, "2026-04-21T15:30:00Z"},
		{"default retry 2: the gap 3-1", billing.DefaultDunningDays(), 2, "2026-04-22T15:30:00Z"},
		{"default retry 4: the gap 7-5", billing.DefaultDunningDays(), 4, "2026-04-22T15:30:00Z"},
		{"default retry 5 does not exist", billing.DefaultDunningDays(), 5, ""},
		{"retry 0 does not exist", billing.DefaultDunningDays(), 0, ""},
		{"empty schedule", []int{}, 1, ""},
		{"custom 2,10,30: retry 1", []int{2, 10, 30}, 1, "2026-04-22T15:30:00Z"},
		{"custom 2,10,30: retry 3, the gap 30-10", []int{2, 10, 30}, 3, "2026-05-10T15:30:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := billing.RetryAfter(declined, tc.days, tc.retry)
			if tc.want == "" {
				if ok {
					t.Fatalf("RetryAfter(%v, %d) = %s, true; want false", tc.days, tc.retry, got)
				}
				return
			}
			if !ok || !got.Equal(at(tc.want)) {
				t.Fatalf("RetryAfter(%v, %d) = %s, %v; want %s, true", tc.days, tc.retry, got.Format(time.RFC3339), ok, tc.want)
			}
		})
	}
	// On time, the spacing from real attempts is the schedule counted from the due date.
	due := at("2026-04-10T12:00:00Z")
	last := due
	for r := 1; r <= 4; r++ {
		next, _ := billing.RetryAfter(last, billing.DefaultDunningDays(), r)
		want, _ := billing.RetryAt(due, billing.DefaultDunningDays(), r)
		if !next.Equal(want) {
			t.Fatalf("retry %d on time: %s, want %s", r, next, want)
		}
		last = next
	}
}

func ExampleBillingDate() {
	anchor := time.Date(2028, time.January, 31, 9, 0, 0, 0, time.UTC)
	for n := range 4 {
		fmt.Println(billing.BillingDate(anchor, api.PlanMonthly, n).Format(time.DateOnly))
	}
	// Output:
	// 2028-01-31
	// 2028-02-29
	// 2028-03-31
	// 2028-04-30
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{995, "EUR", "9.95 EUR"},
		{9950, "usd", "99.50 USD"},
		{5, "GBP", "0.05 GBP"},
		{-1295, "EUR", "-12.95 EUR"},
		{0, "EUR", "0.00 EUR"},
	} {
		if got := billing.FormatMoney(tc.minor, tc.currency); got != tc.want {
			t.Errorf("FormatMoney(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}
