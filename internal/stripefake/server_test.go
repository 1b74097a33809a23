package stripefake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

type fixture struct {
	t   *testing.T
	fk  *Server
	url string
}

func newFixture(t *testing.T) *fixture {
	fk := New()
	srv := httptest.NewServer(fk)
	t.Cleanup(srv.Close)
	return &fixture{t: t, fk: fk, url: srv.URL}
}

// do sends a request and returns status, decoded JSON body and headers.
func (f *fixture) do(method, path, key, auth string, form url.Values) (int, map[string]any, http.Header) {
	f.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		path += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		f.t.Fatalf("decode %s %s: %v", method, path, err)
	}
	return res.StatusCode, m, res.Header
}

func (f *fixture) post(path, key string, form url.Values) (int, map[string]any, http.Header) {
	return f.do(http.MethodPost, path, key, "Bearer sk_test_123", form)
}

func charge(pm string, extra ...string) url.Values {
	v := url.Values{"amount": {"995"}, "currency": {"eur"}, "customer": {"cus_1"}, "payment_method": {pm},
		"confirm": {"true"}, "off_session": {"true"}, "metadata[subscription_id]": {"subscription-a1"}, "metadata[cycle]": {"1"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

func errField(m map[string]any, k string) any {
	e, _ := m["error"].(map[string]any)
	return e[k]
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	for _, auth := range []string{"", "Bearer ", "Bearer pk_test_1", "Basic xyz"} {
		if st, m, _ := f.do(http.MethodPost, "/v1/payment_intents", "", auth, charge("pm_card_visa")); st != 401 || errField(m, "type") != "invalid_request_error" {
			t.Errorf("auth %q: status %d %v", auth, st, m)
		}
	}
	if n := len(f.fk.PaymentIntents()); n != 0 {
		t.Errorf("unauthorized requests created %d payment intents", n)
	}
}

func TestChargeSucceeds(t *testing.T) {
	f := newFixture(t)
	for _, pm := range []string{"pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_discover", "pm_1Abc"} {
		st, m, _ := f.post("/v1/payment_intents", "", charge(pm, "currency", "EUR"))
		if st != 200 || m["status"] != "succeeded" || m["object"] != "payment_intent" || m["currency"] != "eur" ||
			m["amount"] != 995.0 || m["customer"] != "cus_1" || m["payment_method"] != pm ||
			!strings.HasPrefix(m["id"].(string), "pi_") || !strings.HasPrefix(m["latest_charge"].(string), "ch_") {
			t.Errorf("%s: %d %v", pm, st, m)
		}
		if md := m["metadata"].(map[string]any); md["subscription_id"] != "subscription-a1" || md["cycle"] != "1" {
			t.Errorf("%s: metadata %v", pm, md)
		}
	}
}

func TestChargeDeclines(t *testing.T) {
	tests := []struct{ pm, code, decline string }{
		{"pm_card_chargeDeclined", "card_declined", "generic_decline"},
		{"pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"},
		{"pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"},
		{"pm_card_chargeDeclinedFraudulent", "card_declined", "fraudulent"},
		{"pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"},
		{"pm_card_authenticationRequired", "authentication_required", "authentication_required"},
	}
	for _, tt := range tests {
		t.Run(tt.pm, func(t *testing.T) {
			f := newFixture(t)
			st, m, _ := f.post("/v1/payment_intents", "k1", charge(tt.pm))
			if st != 402 || errField(m, "type") != "card_error" || errField(m, "code") != tt.code || errField(m, "decline_code") != tt.decline {
				t.Fatalf("got %d %v", st, m)
			}
			pi, _ := errField(m, "payment_intent").(map[string]any)
			if pi["status"] != "requires_payment_method" || !strings.HasPrefix(pi["id"].(string), "pi_") {
				t.Errorf("error.payment_intent = %v", pi)
			}
			pis := f.fk.PaymentIntents()
			if len(pis) != 1 || pis[0].ID != pi["id"] || pis[0].LastPaymentError == nil || pis[0].LastPaymentError.DeclineCode != tt.decline {
				t.Errorf("recorded %+v", pis)
			}
		})
	}
}

func TestAuthenticationRequiredOnSession(t *testing.T) {
	f := newFixture(t)
	st, m, _ := f.post("/v1/payment_intents", "", charge("pm_card_authenticationRequired", "off_session", ""))
	if st != 200 || m["status"] != "requires_action" {
		t.Errorf("got %d %v", st, m)
	}
}

func TestChargeInvalid(t *testing.T) {
	tests := []struct {
		name   string
		form   url.Values
		status int
		param  string
	}{
		{"no amount", charge("pm_card_visa", "amount", ""), 400, "amount"},
		{"zero amount", charge("pm_card_visa", "amount", "0"), 400, "amount"},
		{"negative amount", charge("pm_card_visa", "amount", "-5"), 400, "amount"},
		{"no currency", charge("pm_card_visa", "currency", ""), 400, "currency"},
		{"no customer", charge("pm_card_visa", "customer", ""), 400, "customer"},
		{"no payment method", charge("", "payment_method", ""), 400, "payment_method"},
		{"not confirmed", charge("pm_card_visa", "confirm", "false"), 400, "confirm"},
		{"missing pm", charge("pm_missing_1"), 400, "payment_method"},
		{"sepa pm", charge("pm_sepa_debit_1"), 400, "payment_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			st, m, _ := f.post("/v1/payment_intents", "k", tt.form)
			if st != tt.status || errField(m, "type") != "invalid_request_error" || errField(m, "param") != tt.param {
				t.Errorf("got %d %v", st, m)
			}
			// Validation errors are not stored: the key can be reused once fixed.
			if st, _, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != 200 {
				t.Errorf("fixed retry: %d", st)
			}
		})
	}
}

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	_, first, _ := f.post("/v1/payment_intents", "key-1", charge("pm_card_visa"))
	st, again, h := f.post("/v1/payment_intents", "key-1", charge("pm_card_visa"))
	if st != 200 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %v %v", st, again["id"], h)
	}
	st, m, _ := f.post("/v1/payment_intents", "key-1", charge("pm_card_visa", "amount", "1000"))
	if st != 400 || errField(m, "type") != "idempotency_error" {
		t.Errorf("reuse with other params: %d %v", st, m)
	}
	// A decline is stored too.
	_, d1, _ := f.post("/v1/payment_intents", "key-2", charge("pm_card_chargeDeclined"))
	st, d2, _ := f.post("/v1/payment_intents", "key-2", charge("pm_card_chargeDeclined"))
	if st != 402 || errField(d1, "payment_intent").(map[string]any)["id"] != errField(d2, "payment_intent").(map[string]any)["id"] {
		t.Errorf("decline replay: %d %v", st, d2)
	}
	if n := len(f.fk.PaymentIntents()); n != 2 {
		t.Errorf("%d payment intents, want 2", n)
	}
	reqs := f.fk.Requests()
	if len(reqs) != 5 || reqs[0].Replayed || !reqs[1].Replayed || reqs[2].Replayed || !reqs[4].Replayed || reqs[1].IdempotencyKey != "key-1" {
		t.Errorf("requests %+v", reqs)
	}
	if reqs[0].Form.Get("metadata[cycle]") != "1" || reqs[0].Method != "POST" || reqs[0].Path != "/v1/payment_intents" {
		t.Errorf("request 0 = %+v", reqs[0])
	}
}

func TestFailNext(t *testing.T) {
	f := newFixture(t)
	f.fk.FailNext(2, 500)
	for i, want := range []int{500, 500, 200} {
		if st, m, _ := f.post("/v1/payment_intents", "k", charge("pm_card_visa")); st != want {
			t.Errorf("request %d: %d %v", i, st, m)
		}
	}
	f.fk.FailNext(1, 429)
	if st, m, _ := f.post("/v1/payment_intents", "k2", charge("pm_card_visa")); st != 429 || errField(m, "code") != "rate_limit" {
		t.Errorf("429: %d %v", st, m)
	}
	if n := len(f.fk.PaymentIntents()); n != 1 {
		t.Errorf("%d payment intents, want 1", n)
	}
}

func TestRefunds(t *testing.T) {
	f := newFixture(t)
	_, pi, _ := f.post("/v1/payment_intents", "c1", charge("pm_card_visa"))
	_, declined, _ := f.post("/v1/payment_intents", "c2", charge("pm_card_chargeDeclined"))
	piID := pi["id"].(string)
	st, re, _ := f.post("/v1/refunds", "r1", url.Values{"payment_intent": {piID}})
	if st != 200 || re["object"] != "refund" || re["amount"] != 995.0 || re["status"] != "succeeded" || re["payment_intent"] != piID || !strings.HasPrefix(re["id"].(string), "re_") {
		t.Fatalf("refund: %d %v", st, re)
	}
	if st, again, _ := f.post("/v1/refunds", "r1", url.Values{"payment_intent": {piID}}); st != 200 || again["id"] != re["id"] {
		t.Errorf("replay: %d %v", st, again)
	}
	if st, m, _ := f.post("/v1/refunds", "r2", url.Values{"payment_intent": {piID}}); st != 400 || errField(m, "code") != "charge_already_refunded" {
		t.Errorf("second refund: %d %v", st, m)
	}
	if st, m, _ := f.post("/v1/refunds", "r3", url.Values{"payment_intent": {"pi_nope"}}); st != 404 || errField(m, "code") != "resource_missing" {
		t.Errorf("unknown pi: %d %v", st, m)
	}
	dID := errField(declined, "payment_intent").(map[string]any)["id"].(string)
	if st, m, _ := f.post("/v1/refunds", "r4", url.Values{"payment_intent": {dID}}); st != 400 {
		t.Errorf("declined pi: %d %v", st, m)
	}
	if st, m, _ := f.post("/v1/refunds", "r5", url.Values{}); st != 400 || errField(m, "param") != "payment_intent" {
		t.Errorf("no pi: %d %v", st, m)
	}
	if rs := f.fk.Refunds(); len(rs) != 1 || rs[0].ID != re["id"] {
		t.Errorf("recorded refunds %+v", rs)
	}
	st, l, _ := f.do(http.MethodGet, "/v1/refunds", "", "Bearer sk_test_1", url.Values{"payment_intent": {piID}})
	if data, _ := l["data"].([]any); st != 200 || l["object"] != "list" || len(data) != 1 {
		t.Errorf("list: %d %v", st, l)
	}
	if st, got, _ := f.do(http.MethodGet, "/v1/payment_intents/"+piID, "", "Bearer sk_test_1", nil); st != 200 || got["id"] != piID {
		t.Errorf("get pi: %d %v", st, got)
	}
}

func TestPaymentMethods(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ id, typ, brand string }{
		{"pm_card_visa", "card", "visa"},
		{"pm_card_mastercard", "card", "mastercard"},
		{"pm_card_chargeDeclined", "card", "visa"},
		{"pm_1Other", "card", "visa"},
		{"pm_sepa_debit_de", "sepa_debit", ""},
		{"pm_us_bank_account_1", "us_bank_account", ""},
		{"pm_bacs_1", "bacs_debit", ""},
		{"pm_paypal_1", "paypal", ""},
	}
	for _, tt := range tests {
		st, m, _ := f.do(http.MethodGet, "/v1/payment_methods/"+tt.id, "", "Bearer sk_test_1", nil)
		card, _ := m["card"].(map[string]any)
		if st != 200 || m["type"] != tt.typ || m["object"] != "payment_method" || (tt.brand != "" && card["brand"] != tt.brand) {
			t.Errorf("%s: %d %v", tt.id, st, m)
		}
	}
	if st, m, _ := f.do(http.MethodGet, "/v1/payment_methods/pm_missing", "", "Bearer sk_test_1", nil); st != 404 || errField(m, "code") != "resource_missing" {
		t.Errorf("missing: %d %v", st, m)
	}
	if st, _, _ := f.do(http.MethodGet, "/v1/customers", "", "Bearer sk_test_1", nil); st != 404 {
		t.Errorf("unknown route: %d", st)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/payment_intents", strings.NewReader(charge("pm_card_visa").Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer sk_test_1")
			req.Header.Set("Idempotency-Key", "same")
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
			_ = f.fk.Requests()
			_ = f.fk.PaymentIntents()
		}()
	}
	wg.Wait()
	if n := len(f.fk.PaymentIntents()); n != 1 {
		t.Errorf("%d payment intents under one key, want 1", n)
	}
}

func (f *fixture) get(path string, query url.Values) (int, map[string]any) {
	f.t.Helper()
	st, m, _ := f.do(http.MethodGet, path, "", "Bearer sk_test_1", query)
	return st, m
}

func TestAttachPaymentMethod(t *testing.T) {
	f := newFixture(t)
	// A shortcut belongs to no customer.
	if st, m := f.get("/v1/payment_methods/pm_card_visa", nil); st != 200 || m["customer"] != nil {
		t.Fatalf("shortcut: %d %v", st, m)
	}
	// Attaching a shortcut copies it, over HTTP as with the Go method.
	st, m, _ := f.post("/v1/payment_methods/pm_card_chargeDeclined/attach", "", url.Values{"customer": {"cus_A"}})
	declinedA, _ := m["id"].(string)
	if st != 200 || m["customer"] != "cus_A" || !strings.HasPrefix(declinedA, "pm_") || declinedA == "pm_card_chargeDeclined" {
		t.Fatalf("attach over HTTP: %d %v", st, m)
	}
	visaA, err := f.fk.AttachPaymentMethod("pm_card_visa", "cus_A")
	if err != nil || visaA == "pm_card_visa" || visaA == declinedA {
		t.Fatalf("AttachPaymentMethod = %q, %v", visaA, err)
	}
	if st, m := f.get("/v1/payment_methods/"+visaA, nil); st != 200 || m["customer"] != "cus_A" || m["type"] != "card" ||
		m["card"].(map[string]any)["brand"] != "visa" {
		t.Errorf("attached copy: %d %v", st, m)
	}
	if st, m := f.get("/v1/payment_methods/pm_card_visa", nil); m["customer"] != nil {
		t.Errorf("the shortcut itself got attached: %d %v", st, m)
	}
	// Any other id is attached in place, once.
	if id, err := f.fk.AttachPaymentMethod("pm_1Other", "cus_B"); err != nil || id != "pm_1Other" {
		t.Errorf("attach in place = %q, %v", id, err)
	}
	if id, err := f.fk.AttachPaymentMethod("pm_1Other", "cus_B"); err != nil || id != "pm_1Other" {
		t.Errorf("attach again to the same customer = %q, %v", id, err)
	}

	refused := []struct {
		name, id, customer, want string
		status                   int
	}{
		{"belongs to another customer", visaA, "cus_B", "already been attached", 400},
		{"in place, to another customer", "pm_1Other", "cus_A", "already been attached", 400},
		{"no such payment method", "pm_missing_1", "cus_A", "No such PaymentMethod", 404},
		{"no such customer", "pm_card_visa", "acct_1", "No such customer", 400},
		{"no customer", "pm_card_visa", "", "Missing required param: customer", 400},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if id, err := f.fk.AttachPaymentMethod(tt.id, tt.customer); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("AttachPaymentMethod = %q, %v; want an error with %q", id, err, tt.want)
			}
			form := url.Values{}
			if tt.customer != "" {
				form.Set("customer", tt.customer)
			}
			if st, m, _ := f.post("/v1/payment_methods/"+tt.id+"/attach", "", form); st != tt.status || !strings.Contains(errField(m, "message").(string), tt.want) {
				t.Errorf("over HTTP: %d %v", st, m)
			}
		})
	}

	// Charges: the owner's charge goes through (declines and all), another
	// customer's is refused, a shortcut works for anyone.
	charges := []struct {
		pm, customer string
		status       int
		param        string
	}{
		{visaA, "cus_A", 200, ""},
		{declinedA, "cus_A", 402, ""},
		{visaA, "cus_B", 400, "payment_method"},
		{"pm_1Other", "cus_A", 400, "payment_method"},
		{"pm_card_visa", "cus_B", 200, ""},
	}
	for _, c := range charges {
		st, m, _ := f.post("/v1/payment_intents", "", charge(c.pm, "customer", c.customer))
		if st != c.status || (c.param != "" && errField(m, "param") != c.param) {
			t.Errorf("charge of %s for %s: %d %v", c.pm, c.customer, st, m)
		}
	}
}

func TestListPaymentIntents(t *testing.T) {
	f := newFixture(t)
	var ids []string // of cus_1, oldest first
	for i := range 5 {
		_, m, _ := f.post("/v1/payment_intents", "", charge("pm_card_visa", "metadata[cycle]", fmt.Sprint(i)))
		ids = append(ids, m["id"].(string))
		f.post("/v1/payment_intents", "", charge("pm_card_visa", "customer", "cus_2"))
	}
	_, m, _ := f.post("/v1/payment_intents", "", charge("pm_card_chargeDeclined"))
	declined := errField(m, "payment_intent").(map[string]any)["id"].(string)
	ids = append(ids, declined)

	page := func(q url.Values) ([]string, bool) {
		t.Helper()
		st, m := f.get("/v1/payment_intents", q)
		if st != 200 || m["object"] != "list" || m["url"] != "/v1/payment_intents" {
			t.Fatalf("list %v: %d %v", q, st, m)
		}
		var got []string
		for _, d := range m["data"].([]any) {
			pi := d.(map[string]any)
			if q.Get("customer") != "" && pi["customer"] != q.Get("customer") {
				t.Errorf("%v lists %v", q, pi)
			}
			got = append(got, pi["id"].(string))
		}
		return got, m["has_more"].(bool)
	}
	tests := []struct {
		name    string
		query   url.Values
		want    []string
		hasMore bool
	}{
		{"newest first, default limit", url.Values{"customer": {"cus_1"}}, []string{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}, false},
		{"first page", url.Values{"customer": {"cus_1"}, "limit": {"2"}}, []string{ids[5], ids[4]}, true},
		{"next page", url.Values{"customer": {"cus_1"}, "limit": {"2"}, "starting_after": {ids[4]}}, []string{ids[3], ids[2]}, true},
		{"last page", url.Values{"customer": {"cus_1"}, "limit": {"2"}, "starting_after": {ids[2]}}, []string{ids[1], ids[0]}, false},
		{"after the last", url.Values{"customer": {"cus_1"}, "starting_after": {ids[0]}}, nil, false},
		{"backwards", url.Values{"customer": {"cus_1"}, "limit": {"2"}, "ending_before": {ids[1]}}, []string{ids[3], ids[2]}, true},
		{"backwards to the newest", url.Values{"customer": {"cus_1"}, "limit": {"5"}, "ending_before": {ids[2]}}, []string{ids[5], ids[4], ids[3]}, false},
		{"every customer", url.Values{"limit": {"100"}}, nil, false},
		{"unknown customer", url.Values{"customer": {"cus_none"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more := page(tt.query)
			if tt.name == "every customer" {
				if len(got) != 11 {
					t.Errorf("%d payment intents, want 11", len(got))
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || more != tt.hasMore {
				t.Errorf("got %v has_more=%v, want %v has_more=%v", got, more, tt.want, tt.hasMore)
			}
		})
	}
	// The declined PaymentIntent is listed with its last payment error.
	st, l := f.get("/v1/payment_intents", url.Values{"customer": {"cus_1"}, "limit": {"1"}})
	if pi := l["data"].([]any)[0].(map[string]any); st != 200 || pi["status"] != "requires_payment_method" ||
		pi["last_payment_error"].(map[string]any)["decline_code"] != "generic_decline" || pi["metadata"].(map[string]any)["cycle"] != "1" {
		t.Errorf("declined in the list: %v", pi)
	}

	bad := []struct {
		name  string
		query url.Values
		param string
	}{
		{"limit 0", url.Values{"limit": {"0"}}, "limit"},
		{"limit 101", url.Values{"limit": {"101"}}, "limit"},
		{"limit x", url.Values{"limit": {"x"}}, "limit"},
		{"unknown cursor", url.Values{"starting_after": {"pi_nope"}}, "starting_after"},
		{"both cursors", url.Values{"starting_after": {ids[1]}, "ending_before": {ids[2]}}, "ending_before"},
	}
	for _, tt := range bad {
		if st, m := f.get("/v1/payment_intents", tt.query); st != 400 || errField(m, "param") != tt.param {
			t.Errorf("%s: %d %v", tt.name, st, m)
		}
	}
}
