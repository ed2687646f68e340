package shopwatch

import (
	"encoding/json"
	"strings"
	"testing"
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
