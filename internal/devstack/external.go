package devstack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/withings-plus/subscriptions/api"
)

// ExternalServerVar names the environment variable that points the stacks
// of the integration tests at a running Temporal server (host:port of its
// frontend, such as the one scripts/temporal-postgres.sh starts) instead of
// a dev server of their own.
const ExternalServerVar = "SUBSCRIPTIONS_TEMPORAL_ADDRESS"

// ExternalServer prepares a namespace of its own on the Temporal server at
// address, with the subscription search attributes, so that test suites
// sharing the server never see each other's workflows. The namespace is
// named after the test binary and a random suffix, and keeps closed runs a
// day. It waits until the namespace and its search attributes are served.
func ExternalServer(ctx context.Context, address string) (*Server, error) {
	ns := namespaceName()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: address, Logger: QuietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("connect to the Temporal server at %s: %w", address, err)
	}
	defer nc.Close()
	err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        ns,
		Description:                      "integration tests of the subscription engine",
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return nil, fmt.Errorf("register namespace %s at %s: %w", ns, address, err)
	}
	tc, err := client.Dial(client.Options{HostPort: address, Namespace: ns, Logger: QuietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("connect to the Temporal server at %s: %w", address, err)
	}
	defer tc.Close()
	attrs := map[string]enumspb.IndexedValueType{}
	for name, typ := range api.SearchAttributeTypes() {
		v, ok := enumspb.IndexedValueType_shorthandValue[typ]
		if !ok {
			return nil, fmt.Errorf("search attribute %s: unknown type %s", name, typ)
		}
		attrs[name] = enumspb.IndexedValueType(v)
	}
	// The namespace is served once every service's cache has it (the dynamic
	// config refreshes it every second); the search attributes once added.
	err = retry(ctx, time.Minute, func() error {
		if _, err := nc.Describe(ctx, ns); err != nil {
			return err
		}
		if _, err := tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: ns, SearchAttributes: attrs}); err != nil {
			var exists *serviceerror.AlreadyExists
			if !errors.As(err, &exists) {
				return err
			}
		}
		query := api.SASubscriptionStatus + " = 'ready' AND " + api.SAChargeIssue + " IS NULL"
		_, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns, Query: query})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s at %s not ready: %w", ns, address, err)
	}
	return &Server{Address: address, Namespace: ns, External: true}, nil
}

// namespaceName is a fresh namespace name for this test binary.
func namespaceName() string {
	base := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	base = regexp.MustCompile(`[^a-zA-Z0-9-]+`).ReplaceAllString(base, "-")
	return fmt.Sprintf("it-%s-%06d", strings.Trim(base, "-"), rand.IntN(1_000_000))
}

// retry calls f until it succeeds, for at most limit.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
