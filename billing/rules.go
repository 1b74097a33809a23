package billing

import (
	"fmt"
	"time"
)

// Period is a time an earlier subscription of the account was in force.
type Period struct {
	Start, End time.Time
}

// Eligibility decides whether a launch offer's trial is granted. Only a new
// subscriber gets it: an account subscribed at any time in the calendar month
// before installedAt gets no trial, and reason says why.
func Eligibility(offer string, installedAt time.Time, prior []Period) (granted bool, reason string) {
	if offer == "" {
		return false, ""
	}
	monthBefore := AddMonths(installedAt, -1)
	for _, p := range prior {
		if !p.End.Before(monthBefore) && !p.Start.After(installedAt) {
			return false, fmt.Sprintf("not a new subscriber: an earlier subscription was in force until %s, within the month before installation on %s",
				p.End.UTC().Format(time.DateOnly), installedAt.UTC().Format(time.DateOnly))
		}
	}
	return true, ""
}

// WithdrawalDays is the length of the legal withdrawal period.
const WithdrawalDays = 14

// WithdrawalLastDay is the last day (UTC date, at midnight) on which a
// withdrawal is accepted: day 14 counted from the contract start's date.
func WithdrawalLastDay(contractStart time.Time) time.Time {
	y, m, d := contractStart.UTC().Date()
	return time.Date(y, m, d+WithdrawalDays, 0, 0, 0, 0, time.UTC)
}

// CheckWithdrawal accepts a withdrawal requested at now up to the end of day
// 14 after the contract start, and otherwise names the day the period ended.
func CheckWithdrawal(contractStart, now time.Time) error {
	last := WithdrawalLastDay(contractStart)
	if now.Before(last.AddDate(0, 0, 1)) {
		return nil
	}
	return fmt.Errorf("the withdrawal period ended on %s (14 days after the contract started on %s)",
		last.Format(time.DateOnly), contractStart.UTC().Format(time.DateOnly))
}

// PriceNotice is the least notice a price change needs.
const PriceNotice = 30 * 24 * time.Hour

// Bounds of a scheduled price: Stripe's smallest charge in EUR and USD
// (0.50), and 10 000.00.
const (
	MinPriceMinor = 50
	MaxPriceMinor = 1_000_000
)

// CheckPriceChange accepts a new price notified at now that takes effect at
// effectiveAt only with at least 30 days' notice.
func CheckPriceChange(now time.Time, priceMinor int64, effectiveAt time.Time) error {
	if priceMinor < MinPriceMinor || priceMinor > MaxPriceMinor {
		return fmt.Errorf("priceMinor %d must be from %d to %d minor units", priceMinor, MinPriceMinor, MaxPriceMinor)
	}
	if earliest := now.Add(PriceNotice); effectiveAt.Before(earliest) {
		return fmt.Errorf("effectiveAt %s gives less than 30 days' notice: the earliest allowed is %s",
			effectiveAt.UTC().Format(time.RFC3339), earliest.UTC().Format(time.RFC3339))
	}
	return nil
}
