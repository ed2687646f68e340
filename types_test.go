package shopwatch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"storefront": KindStorefront, " Product ": KindProduct, "LIVESTREAM": KindLivestream} {
		got, err := ParseKind(in)
		if err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "shop", "storefronts"} {
		if _, err := ParseKind(in); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseKind(%q): error %v, want one naming the input", in, err)
		}
	}
}

// The JSON names of a finding are part of the command-line contract.
func TestFindingJSONNames(t *testing.T) {
	b, err := json.Marshal(Finding{Rule: "r", Category: "c", Law: "l", Match: "m", Severity: SeverityReview, URL: "u"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"rule": "r", "category": "c", "law": "l", "match": "m", "severity": "review", "url": "u"} {
		if m[k] != want {
			t.Errorf("finding JSON %q = %v, want %q (in %s)", k, m[k], want, b)
		}
	}
}

func TestPageResponded(t *testing.T) {
	var none *Page
	cases := []struct {
		p    *Page
		want bool
	}{
		{none, false},
		{&Page{}, false},
		{&Page{Exchanges: []Exchange{{Err: "connection refused"}}}, false},
		{&Page{Exchanges: []Exchange{{Status: 302}, {Err: "refused address"}}}, true},
		{&Page{Exchanges: []Exchange{{Status: 404}}}, true},
		{&Page{Rendered: true}, true},
	}
	for i, c := range cases {
		if got := c.p.Responded(); got != c.want {
			t.Errorf("case %d: Responded() = %v, want %v", i, got, c.want)
		}
	}
}

// An exchange's JSON gives its duration in seconds; its raw heads and body
// stay out of it.
func TestExchangeJSON(t *testing.T) {
	b, err := json.Marshal(Exchange{Method: "GET", URL: "http://127.0.0.1/", Status: 200, Body: []byte("secret body"), Duration: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["duration_seconds"] != 0.25 || m["status"] != 200.0 || m["method"] != "GET" {
		t.Errorf("exchange JSON %s", b)
	}
	if _, ok := m["duration"]; ok || strings.Contains(string(b), "secret body") {
		t.Errorf("exchange JSON %s", b)
	}
}
