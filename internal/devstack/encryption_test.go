package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/testkeys"
	"github.com/withings-plus/subscriptions/workflows"
)

// encryptedDir holds the encrypted histories the workflows package replays,
// and the test keys they are encrypted with.
var encryptedDir = testkeys.Dir()

// testKeys reads the committed test key ring: replay-2 (current), replay-1.
func testKeys(t *testing.T) []codec.Key {
	t.Helper()
	keys, err := testkeys.Keys()
	if err != nil || len(keys) != 2 {
		t.Fatalf("test keys: %v", err)
	}
	return keys
}

// TestPayloadsEncryptedAtRestAndKeyRotation runs a subscription on a dev
// server under key replay-1, rotates to replay-2 (replay-1 kept) across a
// worker restart, and withdraws it. Then, reading the history as stored:
// no personal data appears in it, the input does not decode without the
// keys, every payload decodes through the codec server holding both keys
// (and not through one holding only the new key), the search attributes
// are in clear, and the history replays with the rotated ring. With
// SUBSCRIPTIONS_RECORD=1 it saves the history for the replay test.
func TestPayloadsEncryptedAtRestAndKeyRotation(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keys := testKeys(t)
	before := config.Payload{Keys: keys[1:]} // replay-1 only
	after := config.Payload{Keys: keys}      // replay-2 encrypts, replay-1 still decrypts
	s, err := StartStackWith(ctx, os.Stderr, StackOptions{NoWorker: true, Payload: after})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	dial := func(p config.Payload) tclient.Client {
		t.Helper()
		tc, err := DialWorkerClient(s.Server.Address, s.Server.Namespace, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tc.Close)
		return tc
	}

	acc := fmt.Sprintf("enc-%d", time.Now().UnixNano())
	const email, name, customer, card = "ada.lovelace@example.com", "Ada Lovelace", "cus_AdaLovelace", "pm_card_visa"
	in := api.Input{AccountID: acc, Email: email, Name: name, StripeCustomerID: customer, PaymentMethodID: card,
		Plan: api.PlanMonthly, Currency: api.CurrencyEUR, TestClock: &api.TestClock{StartsAt: "2026-03-01T09:00:00Z", Speedup: 86400}}

	// Under replay-1: started and charged.
	oldTC := dial(before)
	w, err := StartWorker(oldTC, s.WorkerConfig)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(oldTC)
	if _, err := c.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the first cycle paid", func() (bool, string) {
		st, err := c.State(ctx, acc)
		return err == nil && st.Cycle >= 1 && len(st.Payments) >= 1 && st.OutstandingMinor == 0, fmt.Sprint(st.Status, err)
	})
	w.Stop()

	// Rotated: a worker and a client holding replay-2 first withdraw it.
	newTC := dial(after)
	w, err = StartWorker(newTC, s.WorkerConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := client.New(newTC).Withdraw(ctx, acc); err != nil {
		t.Fatal(err)
	}
	id := api.WorkflowID(acc)
	if err := newTC.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
		t.Fatalf("the run did not complete: %v", err)
	}

	// The history as stored, read without any key.
	plain := dial(config.Payload{Off: true})
	h := &historypb.History{}
	it := plain.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, personal := range []string{email, "example.com", name, customer, card} {
		if bytes.Contains(raw, []byte(personal)) {
			t.Errorf("the stored history holds %q in clear", personal)
		}
	}
	for _, k := range keys {
		if !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString([]byte(k.ID)))) {
			t.Errorf("no payload of the history is under key %s", k.ID)
		}
	}
	input := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	var got api.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(input, &got); err == nil || got.Email != "" {
		t.Errorf("the input decodes without the key: %+v, %v", got, err)
	}
	if k := string(input.GetPayloads()[0].GetMetadata()[codec.MetadataKeyID]); k != "replay-1" {
		t.Errorf("the input is under key %q, want replay-1", k)
	}

	// Every payload of the history, through the codec server.
	var payloads []*commonpb.Payload
	if err := proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			payloads = append(payloads, p...)
			return p, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	decoded, status := decodeThroughServer(t, after, payloads)
	if status != http.StatusOK {
		t.Fatalf("the codec server with both keys answered %d", status)
	}
	var clear []byte
	for _, p := range decoded {
		clear = append(clear, p.GetData()...)
	}
	for _, personal := range []string{email, name, customer, card} {
		if !bytes.Contains(clear, []byte(personal)) {
			t.Errorf("%q not found in the decoded payloads", personal)
		}
	}
	decodedInput, status := decodeThroughServer(t, after, input.GetPayloads())
	got = api.Input{}
	if err := converter.GetDefaultDataConverter().FromPayloads(&commonpb.Payloads{Payloads: decodedInput}, &got); status != http.StatusOK ||
		err != nil || got.Email != email || got.Name != name || got.StripeCustomerID != customer || got.PaymentMethodID != card {
		t.Errorf("the input through the codec server: %d %+v, %v", status, got, err)
	}
	if _, status := decodeThroughServer(t, config.Payload{Keys: keys[:1]}, payloads); status != http.StatusBadRequest {
		t.Errorf("a codec server without the rotated-out key answered %d, want 400", status)
	}

	// Search attributes stay in clear: visibility reads them without a key.
	d, err := plain.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var account, subStatus string
	fields := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	if err := converter.GetDefaultDataConverter().FromPayload(fields[api.SAAccountID], &account); err != nil || account != acc {
		t.Errorf("search attribute %s = %q, %v", api.SAAccountID, account, err)
	}
	if err := converter.GetDefaultDataConverter().FromPayload(fields[api.SASubscriptionStatus], &subStatus); err != nil || subStatus != api.StatusEnded {
		t.Errorf("search attribute %s = %q, %v", api.SASubscriptionStatus, subStatus, err)
	}

	// The history replays with the rotated ring, not with the new key alone.
	rotated, _ := after.Codec()
	if err := workflows.Replay(h, codec.NewDataConverter(rotated), nil); err != nil {
		t.Errorf("the history does not replay with the rotated ring: %v", err)
	}
	newOnly, _ := codec.New(keys[0])
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.NewDataConverter(newOnly)})
	if err != nil {
		t.Fatal(err)
	}
	r.RegisterWorkflowWithOptions(workflows.WithWallClock(time.Now), workflow.RegisterOptions{Name: api.WorkflowType})
	if err := r.ReplayWorkflowHistory(QuietLogger{}, h); err == nil {
		t.Error("the history replays without the key its input is encrypted with")
	}

	if os.Getenv("SUBSCRIPTIONS_RECORD") != "" {
		file := filepath.Join(encryptedDir, "withdrawal-rotated.json")
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d events in %s", len(h.Events), file)
	}
}

// decodeThroughServer posts payloads to a codec server holding p's keys,
// as the Temporal UI does, and returns what it answered.
func decodeThroughServer(t *testing.T, p config.Payload, payloads []*commonpb.Payload) ([]*commonpb.Payload, int) {
	t.Helper()
	c, err := p.Codec()
	if err != nil {
		t.Fatal(err)
	}
	h, err := codec.NewHTTPHandler(c, codec.HandlerOptions{Token: "devstack-test-token"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer devstack-test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	var out commonpb.Payloads
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Payloads) != len(payloads) {
		t.Fatalf("%d payloads decoded of %d", len(out.Payloads), len(payloads))
	}
	return out.Payloads, resp.StatusCode
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if ctx.Err() != nil {
			t.Fatalf("%s: not reached; last: %s (%v)", what, last, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
