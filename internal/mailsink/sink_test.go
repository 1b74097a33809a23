package mailsink

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func send(t *testing.T, url, auth string, body any) (int, string) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v3/mail/send", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

type obj = map[string]any

func valid() obj {
	return obj{
		"from":             obj{"email": "no-reply@withings.example", "name": "Withings+"},
		"subject":          "Your receipt",
		"personalizations": []any{obj{"to": []any{obj{"email": "ada@example.com", "name": "Ada"}}, "custom_args": obj{"cycle": "1"}}},
		"content":          []any{obj{"type": "text/plain", "value": "Paid."}, obj{"type": "text/html", "value": "<p>Paid.</p>"}},
		"categories":       []string{"payment_receipt"},
		"custom_args":      obj{"subscription_id": "subscription-a1"},
	}
}

func with(k string, v any) obj {
	b := valid()
	if v == nil {
		delete(b, k)
	} else {
		b[k] = v
	}
	return b
}

func TestAcceptsAndRecords(t *testing.T) {
	var out bytes.Buffer
	sink := New(Printer(&out))
	srv := httptest.NewServer(sink)
	defer srv.Close()
	if st, body := send(t, srv.URL, "Bearer SG.key", valid()); st != 202 {
		t.Fatalf("status %d %s", st, body)
	}
	tpl := with("template_id", "d-123")
	delete(tpl, "subject")
	delete(tpl, "content")
	tpl["personalizations"] = []any{obj{"to": []any{obj{"email": "bob@example.com"}}, "dynamic_template_data": obj{"amount": "9.95 EUR"}}}
	if st, body := send(t, srv.URL, "Bearer SG.key", tpl); st != 202 {
		t.Fatalf("template: status %d %s", st, body)
	}
	msgs := sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "no-reply@withings.example" || m.To[0] != "ada@example.com" || m.Subject != "Your receipt" || m.Text != "Paid." ||
		m.HTML != "<p>Paid.</p>" || m.Categories[0] != "payment_receipt" || m.CustomArgs["subscription_id"] != "subscription-a1" || m.CustomArgs["cycle"] != "1" {
		t.Errorf("message %+v", m)
	}
	if m := msgs[1]; m.TemplateID != "d-123" || m.DynamicData["amount"] != "9.95 EUR" || m.To[0] != "bob@example.com" {
		t.Errorf("template message %+v", m)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 2 || !strings.Contains(out.String(), "payment_receipt to=ada@example.com") {
		t.Errorf("printed %q", out.String())
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name   string
		auth   string
		body   any
		status int
		field  string
	}{
		{"no auth", "", valid(), 401, ""},
		{"empty bearer", "Bearer ", valid(), 401, ""},
		{"no from", "Bearer k", with("from", nil), 400, "from.email"},
		{"bad from", "Bearer k", with("from", obj{"email": "nope"}), 400, "from.email"},
		{"no personalizations", "Bearer k", with("personalizations", nil), 400, "personalizations"},
		{"no to", "Bearer k", with("personalizations", []any{obj{}}), 400, "personalizations.0.to"},
		{"bad to", "Bearer k", with("personalizations", []any{obj{"to": []any{obj{"email": "x"}}}}), 400, "personalizations.0.to"},
		{"no subject", "Bearer k", with("subject", nil), 400, "subject"},
		{"no content", "Bearer k", with("content", nil), 400, "content"},
		{"html before text", "Bearer k", with("content", []any{obj{"type": "text/html", "value": "<p>a</p>"}, obj{"type": "text/plain", "value": "a"}}), 400, "content"},
		{"custom arg not a string", "Bearer k", with("custom_args", obj{"subscription_id": 5}), 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := New()
			srv := httptest.NewServer(sink)
			defer srv.Close()
			st, body := send(t, srv.URL, tt.auth, tt.body)
			var e struct {
				Errors []struct {
					Message string  `json:"message"`
					Field   *string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || len(e.Errors) == 0 {
				t.Fatalf("body %q is not SendGrid-shaped: %v", body, err)
			}
			if st != tt.status {
				t.Errorf("status %d, want %d: %s", st, tt.status, body)
			}
			if tt.field != "" && (e.Errors[0].Field == nil || *e.Errors[0].Field != tt.field) {
				t.Errorf("field of %s, want %s", body, tt.field)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Errorf("recorded %d messages", n)
			}
		})
	}
}

func TestFailNextTo(t *testing.T) {
	sink := New()
	srv := httptest.NewServer(sink)
	defer srv.Close()
	sink.FailNextTo("ada@example.com", 2, 503)
	other := valid()
	other["personalizations"] = []any{obj{"to": []any{obj{"email": "bob@example.com"}}}}
	for i, tt := range []struct {
		body obj
		want int
	}{{valid(), 503}, {other, 202}, {valid(), 503}, {valid(), 202}, {other, 202}} {
		if st, body := send(t, srv.URL, "Bearer k", tt.body); st != tt.want {
			t.Errorf("request %d: %d %s, want %d", i, st, body, tt.want)
		}
	}
	if n := len(sink.Messages()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

func TestFailNext(t *testing.T) {
	sink := New()
	srv := httptest.NewServer(sink)
	defer srv.Close()
	sink.FailNext(2, 500)
	for i, want := range []int{500, 500, 202} {
		if st, body := send(t, srv.URL, "Bearer k", valid()); st != want {
			t.Errorf("request %d: %d %s", i, st, body)
		}
	}
	sink.FailNext(1, 429)
	if st, _ := send(t, srv.URL, "Bearer k", valid()); st != 429 {
		t.Errorf("429: %d", st)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}
