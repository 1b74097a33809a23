package billing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

func TestEligibility(t *testing.T) {
	installed := at("2026-03-15T10:00:00Z") // the month before starts 2026-02-15T10:00:00Z
	period := func(start, end string) billing.Period { return billing.Period{Start: at(start), End: at(end)} }
	tests := []struct {
		name        string
		offer       string
		installedAt time.Time
		prior       []billing.Period
		granted     bool
		reasonHas   string // a date the reason must name; "" means the reason must be empty
	}{
		{"no offer, no history", "", installed, nil, false, ""},
		{"no offer, recent history: no trial and no reason", "", installed,
			[]billing.Period{period("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")}, false, ""},
		{"offer, new subscriber", api.OfferBodyScan, installed, nil, true, ""},
		{"offer, empty history", api.OfferScanwatch2, installed, []billing.Period{}, true, ""},
		{"ended exactly one month before", api.OfferBodyScan, installed,
			[]billing.Period{period("2025-06-01T00:00:00Z", "2026-02-15T10:00:00Z")}, false, "2026-02-15"},
		{"ended the day after one month before", api.OfferBodyScan, installed,
			[]billing.Period{period("2025-06-01T00:00:00Z", "2026-02-16T10:00:00Z")}, false, "2026-02-16"},
		{"ended the day before installation", api.OfferBodySegment, installed,
			[]billing.Period{period("2025-06-01T00:00:00Z", "2026-03-14T10:00:00Z")}, false, "2026-03-14"},
		{"ended a second more than a month before", api.OfferBodyScan, installed,
			[]billing.Period{period("2025-06-01T00:00:00Z", "2026-02-15T09:59:59Z")}, true, ""},
		{"ended two months before", api.OfferBodyScan, installed,
			[]billing.Period{period("2025-06-01T00:00:00Z", "2026-01-10T00:00:00Z")}, true, ""},
		{"still running at installation", api.OfferScanwatchNova, installed,
			[]billing.Period{period("2025-06-01T00:00:00Z", "2026-06-01T00:00:00Z")}, false, "2026-06-01"},
		{"starting after installation is ignored", api.OfferBodyScan, installed,
			[]billing.Period{period("2026-03-16T00:00:00Z", "2026-04-16T00:00:00Z")}, true, ""},
		{"an old and a recent one", api.OfferBodyScan, installed, []billing.Period{
			period("2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"),
			period("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
		}, false, "2026-03-01"},
		// installed on Mar 31: the month before starts on Feb 28 (clamped).
		{"clamped month before: ended Feb 28", api.OfferBodyScan, at("2026-03-31T08:00:00Z"),
			[]billing.Period{period("2025-01-01T00:00:00Z", "2026-02-28T08:00:00Z")}, false, "2026-02-28"},
		{"clamped month before: ended Feb 27", api.OfferBodyScan, at("2026-03-31T08:00:00Z"),
			[]billing.Period{period("2025-01-01T00:00:00Z", "2026-02-27T08:00:00Z")}, true, ""},
		{"installed Jan 10: the month before is in the previous year", api.OfferBodyScan, at("2026-01-10T08:00:00Z"),
			[]billing.Period{period("2025-01-01T00:00:00Z", "2025-12-10T08:00:00Z")}, false, "2025-12-10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			granted, reason := billing.Eligibility(tc.offer, tc.installedAt, tc.prior)
			if granted != tc.granted {
				t.Fatalf("granted = %v, want %v (reason %q)", granted, tc.granted, reason)
			}
			if tc.reasonHas == "" {
				if reason != "" {
					t.Fatalf("reason = %q, want empty", reason)
				}
				return
			}
			if !strings.Contains(reason, tc.reasonHas) {
				t.Fatalf("reason %q does not name %s", reason, tc.reasonHas)
			}
		})
	}
}

func TestWithdrawalLastDay(t *testing.T) {
	tests := []struct{ start, want string }{
		{"2026-03-01T10:00:00Z", "2026-03-15"},
		{"2026-03-01T23:59:59Z", "2026-03-15"},
		{"2026-03-01T00:00:00Z", "2026-03-15"},
		{"2026-02-20T10:00:00Z", "2026-03-06"}, // Feb 2026 has 28 days
		{"2028-02-20T10:00:00Z", "2028-03-05"}, // Feb 2028 has 29 days
		{"2026-12-25T10:00:00Z", "2027-01-08"},
		// 23:30 at UTC-5 on Mar 1 is Mar 2 04:30 UTC: days are UTC days.
		{"2026-03-01T23:30:00-05:00", "2026-03-16"},
	}
	for _, tc := range tests {
		t.Run(tc.start, func(t *testing.T) {
			got := billing.WithdrawalLastDay(at(tc.start))
			want := at(tc.want + "T00:00:00Z")
			if !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("WithdrawalLastDay(%s) = %s, want %s at midnight UTC", tc.start, got, want)
			}
		})
	}
}

func TestCheckWithdrawal(t *testing.T) {
	tests := []struct {
		name      string
		start     string
		now       string
		endedOn   string // "" for accepted
		startedOn string
	}{
		{"day 0, at the contract start", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", "", ""},
		{"day 0, later that day", "2026-03-01T10:00:00Z", "2026-03-01T22:00:00Z", "", ""},
		{"day 1", "2026-03-01T10:00:00Z", "2026-03-02T09:00:00Z", "", ""},
		{"day 14 at midnight", "2026-03-01T10:00:00Z", "2026-03-15T00:00:00Z", "", ""},
		{"day 14 after 14×24h", "2026-03-01T10:00:00Z", "2026-03-15T10:00:01Z", "", ""},
		{"day 14 at 23:59:59", "2026-03-01T10:00:00Z", "2026-03-15T23:59:59Z", "", ""},
		{"day 14 at the last nanosecond", "2026-03-01T10:00:00Z", "2026-03-15T23:59:59.999999999Z", "", ""},
		{"day 15 at midnight", "2026-03-01T10:00:00Z", "2026-03-16T00:00:00Z", "2026-03-15", "2026-03-01"},
		{"day 15 at noon", "2026-03-01T10:00:00Z", "2026-03-16T12:00:00Z", "2026-03-15", "2026-03-01"},
		{"months later", "2026-03-01T10:00:00Z", "2026-07-01T12:00:00Z", "2026-03-15", "2026-03-01"},
		{"late start: day 14 at 23:45 (more than 14×24h)", "2026-03-01T23:30:00Z", "2026-03-15T23:45:00Z", "", ""},
		{"late start: day 15", "2026-03-01T23:30:00Z", "2026-03-16T00:00:00Z", "2026-03-15", "2026-03-01"},
		{"across February", "2026-02-20T10:00:00Z", "2026-03-06T23:00:00Z", "", ""},
		{"across February, day 15", "2026-02-20T10:00:00Z", "2026-03-07T00:00:00Z", "2026-03-06", "2026-02-20"},
		{"now given in another zone", "2026-03-01T10:00:00Z", "2026-03-15T20:59:59-03:00", "", ""},
		{"now given in another zone, day 15", "2026-03-01T10:00:00Z", "2026-03-15T21:00:00-03:00", "2026-03-15", "2026-03-01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := billing.CheckWithdrawal(at(tc.start), at(tc.now))
			if tc.endedOn == "" {
				if err != nil {
					t.Fatalf("CheckWithdrawal(%s, %s) = %v, want accepted", tc.start, tc.now, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckWithdrawal(%s, %s) accepted, want rejected", tc.start, tc.now)
			}
			if msg := err.Error(); !strings.Contains(msg, "ended on "+tc.endedOn) || !strings.Contains(msg, tc.startedOn) {
				t.Fatalf("error %q must name the day the period ended (%s) and the contract start (%s)", msg, tc.endedOn, tc.startedOn)
			}
		})
	}
}

func TestCheckPriceChange(t *testing.T) {
	now := at("2026-03-01T10:00:00Z")
	day := 24 * time.Hour
	tests := []struct {
		name      string
		price     int64
		effective time.Time
		errHas    string // "" for accepted
	}{
		{"29 days of notice", 1295, now.Add(29 * day), "earliest allowed is 2026-03-31T10:00:00Z"},
		{"a second short of 30 days", 1295, now.Add(30*day - time.Second), "2026-03-31T10:00:00Z"},
		{"in the past", 1295, now.Add(-day), "2026-03-31T10:00:00Z"},
		{"exactly 30 days", 1295, now.Add(30 * day), ""},
		{"31 days", 1295, now.Add(31 * day), ""},
		{"a year", 1295, now.AddDate(1, 0, 0), ""},
		{"a lower price too needs notice", 500, now.Add(29 * day), "earliest"},
		{"price 0", 0, now.Add(31 * day), "priceMinor"},
		{"negative price", -995, now.Add(31 * day), "priceMinor"},
		{"price below the minimum", billing.MinPriceMinor - 1, now.Add(31 * day), "priceMinor"},
		{"price at the minimum", billing.MinPriceMinor, now.Add(31 * day), ""},
		{"price at the maximum", billing.MaxPriceMinor, now.Add(31 * day), ""},
		{"price above the maximum", billing.MaxPriceMinor + 1, now.Add(31 * day), "priceMinor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := billing.CheckPriceChange(now, tc.price, tc.effective)
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("CheckPriceChange = %v, want accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("CheckPriceChange = %v, want an error containing %q", err, tc.errHas)
			}
		})
	}
	if billing.PriceNotice != 30*day {
		t.Fatalf("PriceNotice = %s, want 30 days", billing.PriceNotice)
	}
}
