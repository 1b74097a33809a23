package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
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

// dialer connects to Temporal, returning the client and what closes it;
// tests replace it.
type dialer func() (tclient.Client, func(), error)

func dial() (tclient.Client, func(), error) {
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
	return tc, tc.Close, nil
}

// clientOptions are the typed client's options for the deployment that
// lookup (os.LookupEnv) describes: client.LiveStripe when it charges with a
// live Stripe key (config.StripeLiveMode: STRIPE_MODE, or the prefix of
// STRIPE_SECRET_KEY), so that start refuses test clocks.
func clientOptions(lookup func(string) (string, bool)) ([]client.Option, error) {
	live, err := config.StripeLiveMode(lookup)
	if err != nil {
		return nil, err
	}
	if live {
		return []client.Option{client.LiveStripe()}, nil
	}
	return nil, nil
}

// command is one subcommand: it declares its flags, then prepares what it
// sends from them (a usage error sends nothing and needs no server).
type command struct {
	summary string
	flags   func(fs *flag.FlagSet) prepare
	// offline: the command needs no connection to Temporal.
	offline bool
}

// prepare reads the parsed flags (and standard input) into what to send.
type prepare func(stdin io.Reader) (send, error)

// send sends it; c is nil for an offline command.
type send func(ctx context.Context, c *client.Client) (any, error)

var errUsage = errors.New("usage")

// Exit codes, as exitCodesHelp documents them.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitRefused     = 4
	exitUnavailable = 5
)

const exitCodesHelp = `exit codes:
  0  done: the result is printed as JSON on standard output
  1  any other failure: standard error says what happened, e.g. a wrong
     setting in the environment (TEMPORAL_*, STRIPE_MODE; nothing was sent)
  2  usage: unknown command, unknown, missing or malformed flag (nothing was sent)
  3  not found: the account has no subscription (check --account and
     TEMPORAL_NAMESPACE, or start it first)
  4  refused by the rules, nothing changed: an invalid input or argument, an
     update the subscription rejected (the message says why), a start while
     the account's subscription runs, a request to a subscription that has
     ended
  5  unavailable: Temporal cannot be reached or gave no answer in time (check
     TEMPORAL_ADDRESS and that a worker runs); a request that timed out may
     still be applied: read the state before sending it again
`

func commands() map[string]command {
	return map[string]command{
		"start":                 {"start a subscription", startFlags, false},
		"cancel":                {"cancel at the end of the paid period", cancelFlags, false},
		"withdraw":              {"withdraw within 14 days, refunding every payment", withdrawFlags, false},
		"update-payment-method": {"replace the card and collect what is outstanding", paymentMethodFlags, false},
		"change-plan":           {"switch plan at the next billing date", changePlanFlags, false},
		"price-change":          {"schedule a new price with at least 30 days' notice", priceChangeFlags, false},
		"terminate":             {"end at once for a breach of the terms of use", terminateFlags, false},
		"state":                 {"print the subscription's state", stateFlags, false},
		"list":                  {"list subscriptions through Temporal visibility, each once", listFlags, false},
		"queries":               {"print the saved visibility queries, for the Temporal UI and CLI", queriesFlags, true},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: starter <command> [flags]   (starter <command> --help for its flags)")
	fmt.Fprintln(w)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-22s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Temporal is reached through TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE")
	fmt.Fprintln(w, "(default default) and the SDK's TLS and API key variables.")
	fmt.Fprintln(w, "STRIPE_MODE=live (or a live STRIPE_SECRET_KEY, sk_live_… or rk_live_…) refuses test clocks.")
	fmt.Fprintln(w)
	fmt.Fprint(w, exitCodesHelp)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, connect dialer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return exitOK
	}
	name := args[0]
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("starter "+name, flag.ContinueOnError)
	var parseOut strings.Builder
	fs.SetOutput(&parseOut)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: starter %s [flags]\n  %s\n\nflags:\n", name, cmd.summary)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output())
		fmt.Fprint(fs.Output(), exitCodesHelp)
	}
	prep := cmd.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, parseOut.String())
			return exitOK
		}
		fmt.Fprint(stderr, parseOut.String())
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "starter %s: unexpected argument %q; starter %s --help lists its flags\n", name, fs.Arg(0), name)
		return exitUsage
	}
	act, err := prep(stdin)
	if err != nil {
		return fail(stderr, name, err)
	}
	var c *client.Client
	if !cmd.offline {
		opts, err := clientOptions(os.LookupEnv)
		if err != nil {
			fmt.Fprintf(stderr, "starter %s: %v\n", name, err)
			return exitFailed
		}
		tc, closeFn, err := connect()
		if err != nil {
			// The connection's settings are wrong (dial says which): the
			// lazy client reaches no server before the first call.
			fmt.Fprintf(stderr, "starter %s: cannot set up the Temporal client: %v\n", name, err)
			return exitFailed
		}
		defer closeFn()
		c = client.New(tc, opts...)
	}
	out, err := act(ctx, c)
	if err != nil {
		return fail(stderr, name, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "starter %s: write output: %v\n", name, err)
		return exitFailed
	}
	return exitOK
}

// fail prints why command name failed and returns its exit code.
func fail(stderr io.Writer, name string, err error) int {
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "starter %s: %v; starter %s --help lists its flags\n", name, err, name)
	} else {
		fmt.Fprintf(stderr, "starter %s: %v\n", name, err)
	}
	return code
}

// exitCode is the exit code of a command that failed with err.
func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return exitUsage
	}
	switch client.KindOf(err) {
	case client.KindNotFound:
		return exitNotFound
	case client.KindRefused:
		return exitRefused
	case client.KindUnavailable:
		return exitUnavailable
	}
	return exitFailed
}

// required is a usage error naming the flags, given as name and value
// pairs, whose value is empty.
func required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, "--"+pairs[i])
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w: %s is required", errUsage, missing[0])
	}
	return fmt.Errorf("%w: %s and %s are required", errUsage, strings.Join(missing[:len(missing)-1], ", "), missing[len(missing)-1])
}

func startFlags(fs *flag.FlagSet) prepare {
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
	return func(stdin io.Reader) (send, error) {
		if inputFile != "" {
			if err := readInput(inputFile, stdin, &in); err != nil {
				return nil, err
			}
		} else {
			if err := required("account", in.AccountID, "email", in.Email,
				"customer", in.StripeCustomerID, "payment-method", in.PaymentMethodID); err != nil {
				return nil, err
			}
			if clockStart != "" {
				in.TestClock = &api.TestClock{StartsAt: clockStart, Speedup: speedup}
			}
			days, err := parseDays(dunning)
			if err != nil {
				return nil, err
			}
			in.DunningDays = days
		}
		return func(ctx context.Context, c *client.Client) (any, error) { return c.Start(ctx, in) }, nil
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

func cancelFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	reason := fs.String("reason", "", "why the customer cancels")
	sig := fs.Bool("signal", false, "send the cancel signal (fire and forget) instead of the update")
	requestedAt := requestedAtFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.CancelRequest{Reason: *reason, RequestedAt: at}
		return func(ctx context.Context, c *client.Client) (any, error) {
			if *sig {
				return map[string]string{"signaled": api.SignalCancel}, c.SignalCancel(ctx, *account, req)
			}
			return c.Cancel(ctx, *account, req)
		}, nil
	}
}

func withdrawFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	sig := fs.Bool("signal", false, "send the withdraw signal (fire and forget) instead of the update")
	requestedAt := requestedAtFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.WithdrawRequest{RequestedAt: at}
		return func(ctx context.Context, c *client.Client) (any, error) {
			if *sig {
				return map[string]string{"signaled": api.SignalWithdraw}, c.SignalWithdrawWith(ctx, *account, req)
			}
			return c.WithdrawWith(ctx, *account, req)
		}, nil
	}
}

func paymentMethodFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	pm := fs.String("payment-method", "", "new card payment method, pm_… (required)")
	requestedAt := requestedAtFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account, "payment-method", *pm); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.UpdatePaymentMethodRequest{PaymentMethodID: *pm, RequestedAt: at}
		return func(ctx context.Context, c *client.Client) (any, error) {
			return c.UpdatePaymentMethod(ctx, *account, req)
		}, nil
	}
}

func changePlanFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	plan := fs.String("plan", "", "monthly or annual (required)")
	requestedAt := requestedAtFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account, "plan", *plan); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.ChangePlanRequest{Plan: *plan, RequestedAt: at}
		return func(ctx context.Context, c *client.Client) (any, error) { return c.ChangePlan(ctx, *account, req) }, nil
	}
}

func priceChangeFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	price := fs.Int64("price-minor", 0, "new price in minor units (required)")
	effective := fs.String("effective-at", "", "RFC 3339 time from which the price applies, at least 30 days ahead (required)")
	requestedAt := requestedAtFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account, "effective-at", *effective); err != nil {
			return nil, err
		}
		if *price == 0 {
			return nil, fmt.Errorf("%w: --price-minor is required", errUsage)
		}
		effectiveAt, err := parseTimeFlag("effective-at", *effective)
		if err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.PriceChangeRequest{PriceMinor: *price, EffectiveAt: effectiveAt, RequestedAt: at}
		return func(ctx context.Context, c *client.Client) (any, error) {
			return c.SchedulePriceChange(ctx, *account, req)
		}, nil
	}
}

func terminateFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	reason := fs.String("reason", "", "the breach of the terms of use (required)")
	requestedAt := requestedAtFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account, "reason", *reason); err != nil {
			return nil, err
		}
		at, err := requestedAt()
		if err != nil {
			return nil, err
		}
		req := api.TerminateRequest{Reason: *reason, RequestedAt: at}
		return func(ctx context.Context, c *client.Client) (any, error) { return c.Terminate(ctx, *account, req) }, nil
	}
}

func stateFlags(fs *flag.FlagSet) prepare {
	account := accountFlag(fs)
	return func(io.Reader) (send, error) {
		if err := required("account", *account); err != nil {
			return nil, err
		}
		return func(ctx context.Context, c *client.Client) (any, error) { return c.State(ctx, *account) }, nil
	}
}

func listFlags(fs *flag.FlagSet) prepare {
	status := fs.String("status", "", "only subscriptions with this status: trialing, active, past_due, suspended, canceling, ended")
	query := fs.String("query", "", "run this saved query (starter queries prints them): "+strings.Join(client.QueryNames(), ", "))
	limit := fs.Int("limit", 100, "at most this many (0: all)")
	return func(io.Reader) (send, error) {
		name := *query
		switch {
		case *status != "" && *query != "":
			return nil, fmt.Errorf("%w: give --status or --query, not both", errUsage)
		case *status != "":
			if !slices.Contains(statuses, *status) {
				return nil, fmt.Errorf("%w: --status: unknown status %q (%s)", errUsage, *status, strings.Join(statuses, ", "))
			}
			name = *status
		}
		if _, err := client.ListQuery(name); err != nil {
			return nil, fmt.Errorf("%w: --query: %v", errUsage, err)
		}
		if *limit < 0 {
			return nil, fmt.Errorf("%w: --limit must be 0 (all) or more", errUsage)
		}
		return func(ctx context.Context, c *client.Client) (any, error) { return c.List(ctx, name, *limit) }, nil
	}
}

// statuses are the values of --status.
var statuses = []string{api.StatusTrialing, api.StatusActive, api.StatusPastDue, api.StatusSuspended, api.StatusCanceling, api.StatusEnded}

func queriesFlags(*flag.FlagSet) prepare {
	return func(io.Reader) (send, error) {
		return func(context.Context, *client.Client) (any, error) { return client.Queries(), nil }, nil
	}
}
