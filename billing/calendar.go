// Package billing holds the business rules of a Withings+ subscription, in
// plain Go with no Temporal dependency: the billing calendar, prices, the
// dunning schedule, trial eligibility, the withdrawal window, price-change
// notice, and the state machine of one subscription (Subscription).
//
// All times are UTC and all money is integer minor units.
package billing

import (
	"fmt"
	"strings"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// TrialMonths is the length of a launch offer's free trial.
const TrialMonths = 3

// AddMonths moves t by months calendar months, keeping the day of month
// clamped to the target month's last day (Jan 31 + 1 month = Feb 28 or 29)
// and the time of day.
func AddMonths(t time.Time, months int) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	if last := daysIn(first.Year(), first.Month()); d > last {
		d = last
	}
	return first.AddDate(0, 0, d-1)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// PeriodMonths is the length of a plan's billing period in months.
func PeriodMonths(plan string) int {
	if plan == api.PlanAnnual {
		return 12
	}
	return 1
}

// BillingDate is the n-th billing date of plan counted from anchor (n = 0 is
// the anchor itself). It is always computed from the anchor, never from the
// previous clamped date, so Jan 31 gives Feb 28 then Mar 31.
func BillingDate(anchor time.Time, plan string, n int) time.Time {
	return AddMonths(anchor, n*PeriodMonths(plan))
}

// TrialEnd is when a launch offer's free months end for a product installed at installedAt.
func TrialEnd(installedAt time.Time) time.Time {
	return AddMonths(installedAt, TrialMonths)
}

// TrialEndingNotice is when the trial_ending email goes out: 7 days before the trial ends.
func TrialEndingNotice(trialEnd time.Time) time.Time {
	return trialEnd.AddDate(0, 0, -7)
}

// ListPrice is a plan's price in minor units, the same number in every currency.
func ListPrice(plan string) int64 {
	if plan == api.PlanAnnual {
		return 9950
	}
	return 995
}

// DefaultDunningDays is the retry schedule after a declined charge: days after the due date.
func DefaultDunningDays() []int { return []int{1, 3, 5, 7} }

// RetryAt is when dunning retry number retry (1-based) of a charge due at due
// takes place, and false when the schedule holds no such retry.
func RetryAt(due time.Time, days []int, retry int) (time.Time, bool) {
	if retry < 1 || retry > len(days) {
		return time.Time{}, false
	}
	return due.AddDate(0, 0, days[retry-1]), true
}

// RetryAfter is when dunning retry number retry (1-based) takes place when
// the attempt before it was declined at declined: the schedule's gap between
// the two (days[retry-1] - days[retry-2], or days[0] for the first retry),
// counted from the attempt actually made. On time, it falls where RetryAt
// puts it; after an outage or a late start, the retries keep their spacing
// instead of falling due all at once. False when the schedule holds no such
// retry.
func RetryAfter(declined time.Time, days []int, retry int) (time.Time, bool) {
	if retry < 1 || retry > len(days) {
		return time.Time{}, false
	}
	gap := days[retry-1]
	if retry > 1 {
		gap -= days[retry-2]
	}
	return declined.AddDate(0, 0, gap), true
}

// FormatMoney writes an amount of minor units for people: 9.95 EUR.
func FormatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, strings.ToUpper(currency))
}
