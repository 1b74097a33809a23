package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/config"
)

// dialer connects to Temporal; tests replace it.
type dialer func() (*client.Client, func(), error)

func dial() (*client.Client, func(), error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("temporal client options: %w", err)
	}
	// Payloads are encrypted as the worker encrypts them (config.PayloadKeysVar):
	// without keys, only an explicit SUBSCRIPTIONS_PAYLOAD_ENCRYPTION=off dials.
	payload, err := config.PayloadFromEnv(os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	if opts, err = payload.ClientOptions(opts); err != nil {
		return nil, nil, err
	}
	tc, err := tclient.NewLazyClient(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to temporal: %w", err)
	}
	return client.New(tc), tc.Close, nil
}

// command is one subcommand: it declares its flags, then acts.
type command struct {
	summary string
	flags   func(fs *flag.FlagSet) func(ctx context.Context, c *client.Client, stdin io.Reader) (any, error)
}

var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"start":                 {"start a subscription", startFlags},
		"cancel":                {"cancel at the end of the paid period", cancelFlags},
		"withdraw":              {"withdraw within 14 days, refunding every payment", withdrawFlags},
		"update-payment-method": {"replace the card and collect what is outstanding", paymentMethodFlags},
		"change-plan":           {"switch plan at the next billing date", changePlanFlags},
		"price-change":          {"schedule a new price with at least 30 days' notice", priceChangeFlags},
		"terminate":             {"end at once for a breach of the terms of use", terminateFlags},
		"state":                 {"print the subscription's state", stateFlags},
		"list":                  {"list subscriptions through Temporal visibility", listFlags},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: starter <command> [flags]   (starter <command> --help for its flags)")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-22s %s\n", n, cmds[n].summary)
	}
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, connect dialer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "starter: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("starter "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	act := cmd.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "starter %s: unexpected argument %q\n", args[0], fs.Arg(0))
		return 2
	}
	c, closeFn, err := connect()
	if err != nil {
		fmt.Fprintf(stderr, "starter %s: %v\n", args[0], err)
		return 1
	}
	defer closeFn()
	out, err := act(ctx, c, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "starter %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "starter %s: write output: %v\n", args[0], err)
		return 1
	}
	return 0
}

func required(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return fmt.Errorf("%w: --%s is required", errUsage, name)
	}
	return nil
}

func startFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	var in api.Input
	var inputFile, clockStart, dunning string
	var speedup float64
	fs.StringVar(&inputFile, "input", "", "read the whole input as JSON from this file (- for standard input); other flags are then ignored")
	fs.StringVar(&in.AccountID, "account", "", "account ID (required)")
	fs.StringVar(&in.Email, "email", "", "customer email (required)")
	fs.StringVar(&in.Name, "name", "", "customer name")
	fs.StringVar(&in.Locale, "locale", "", "BCP 47 locale (default en)")
	fs.StringVar(&in.StripeCustomerID, "customer", "", "Stripe customer ID, cus_… (required)")
	fs.StringVar(&in.PaymentMethodID, "payment-method", "", "Stripe payment method ID, pm_… (required)")
	fs.StringVar(&in.Plan, "plan", api.PlanMonthly, "monthly or annual")
	fs.StringVar(&in.Currency, "currency", api.CurrencyEUR, "EUR, USD or GBP")
	fs.StringVar(&in.Offer, "offer", "", "launch offer code: "+strings.Join(api.Offers(), ", "))
	fs.StringVar(&in.InstalledAt, "installed-at", "", "product installation time, RFC 3339 (default now)")
	fs.StringVar(&clockStart, "test-clock-start", "", "run on a test clock starting at this RFC 3339 time")
	fs.Float64Var(&speedup, "speedup", 1, "test clock speed-up (with --test-clock-start)")
	fs.StringVar(&dunning, "dunning-days", "", "retry schedule after a decline, days after the due date (default 1,3,5,7)")
	return func(ctx context.Context, c *client.Client, stdin io.Reader) (any, error) {
		if inputFile != "" {
			if err := readInput(inputFile, stdin, &in); err != nil {
				return nil, err
			}
		} else {
			if clockStart != "" {
				in.TestClock = &api.TestClock{StartsAt: clockStart, Speedup: speedup}
			}
			days, err := parseDays(dunning)
			if err != nil {
				return nil, err
			}
			in.DunningDays = days
		}
		return c.Start(ctx, in)
	}
}

func parseDays(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var days []int
	for _, part := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%w: --dunning-days: %q is not a whole number of days", errUsage, part)
		}
		days = append(days, d)
	}
	return days, nil
}

func accountFlag(fs *flag.FlagSet) *string {
	return fs.String("account", "", "account ID (required)")
}

// requestedAtFlag declares --requested-at. The function it returns reads
// it: zero when absent, for the client to set to now.
func requestedAtFlag(fs *flag.FlagSet) func() (time.Time, error) {
	s := fs.String("requested-at", "", "when the request was made, RFC 3339 (default now)")
	return func() (time.Time, error) {
		if *s == "" {
			return time.Time{}, nil
		}
		return parseTimeFlag("requested-at", *s)
	}
}

// parseTimeFlag reads the RFC 3339 time of flag name; a bad one is a usage error.
func parseTimeFlag(name, value string) (time.Time, error) {
	t, err := api.ParseTime(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s: %v", errUsage, name, err)
	}
	return t, nil
}

func cancelFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	reason := fs.String("reason", "", "why the customer cancels")
	sig := fs.Bool("signal", false, "send the cancel signal (fire and forget) instead of the update")
	requestedAt := requestedAtFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := required("account", *account); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.CancelRequest{Reason: *reason, RequestedAt: at}
		if *sig {
			return map[string]string{"signaled": api.SignalCancel}, c.SignalCancel(ctx, *account, req)
		}
		return c.Cancel(ctx, *account, req)
	}
}

func withdrawFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	sig := fs.Bool("signal", false, "send the withdraw signal (fire and forget) instead of the update")
	requestedAt := requestedAtFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := required("account", *account); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.WithdrawRequest{RequestedAt: at}
		if *sig {
			return map[string]string{"signaled": api.SignalWithdraw}, c.SignalWithdrawWith(ctx, *account, req)
		}
		return c.WithdrawWith(ctx, *account, req)
	}
}

func paymentMethodFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	pm := fs.String("payment-method", "", "new card payment method, pm_… (required)")
	requestedAt := requestedAtFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := errors.Join(required("account", *account), required("payment-method", *pm)); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		return c.UpdatePaymentMethod(ctx, *account, api.UpdatePaymentMethodRequest{PaymentMethodID: *pm, RequestedAt: at})
	}
}

func changePlanFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	plan := fs.String("plan", "", "monthly or annual (required)")
	requestedAt := requestedAtFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := errors.Join(required("account", *account), required("plan", *plan)); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		return c.ChangePlan(ctx, *account, api.ChangePlanRequest{Plan: *plan, RequestedAt: at})
	}
}

func priceChangeFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	price := fs.Int64("price-minor", 0, "new price in minor units (required)")
	effective := fs.String("effective-at", "", "RFC 3339 time from which the price applies, at least 30 days ahead (required)")
	requestedAt := requestedAtFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := errors.Join(required("account", *account), required("effective-at", *effective)); err != nil {
			return nil, err
		}
		effectiveAt, err := parseTimeFlag("effective-at", *effective)
		if err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		return c.SchedulePriceChange(ctx, *account, api.PriceChangeRequest{PriceMinor: *price, EffectiveAt: effectiveAt, RequestedAt: at})
	}
}

func terminateFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	reason := fs.String("reason", "", "the breach of the terms of use (required)")
	requestedAt := requestedAtFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := errors.Join(required("account", *account), required("reason", *reason)); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		return c.Terminate(ctx, *account, api.TerminateRequest{Reason: *reason, RequestedAt: at})
	}
}

func stateFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	account := accountFlag(fs)
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if err := required("account", *account); err != nil {
			return nil, err
		}
		return c.State(ctx, *account)
	}
}

func listFlags(fs *flag.FlagSet) func(context.Context, *client.Client, io.Reader) (any, error) {
	status := fs.String("status", "", "only subscriptions with this status (trialing, active, past_due, suspended, canceling, ended)")
	limit := fs.Int("limit", 100, "at most this many (0: all)")
	return func(ctx context.Context, c *client.Client, _ io.Reader) (any, error) {
		if _, err := client.ListQuery(*status); err != nil {
			return nil, fmt.Errorf("%w: --status: %v", errUsage, err)
		}
		list, err := c.List(ctx, *status, *limit)
		if list == nil {
			list = []client.Summary{}
		}
		return list, err
	}
}
