package marketsim

import (
	"net/http"
	"strings"
	"testing"
)

// The late page carries its placeholder in the markup and its text only in
// the script that draws it after the delay asked for; bad parameters are
// refused.
func TestLatePage(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 1})
	rec := render(t, m, http.MethodGet, "/bad/late?after=8s&churn=feed")
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "<p>"+LatePlaceholder+"</p>") {
		t.Fatalf("/bad/late: %d %s", rec.Code, body)
	}
	if strings.Contains(body, ">"+LateText) || !strings.Contains(body, "after = 8000") || !strings.Contains(body, `churn = "feed"`) {
		t.Errorf("/bad/late?after=8s&churn=feed: text drawn in the markup, or delay or churn not passed on:\n%s", body)
	}
	if body := render(t, m, http.MethodGet, "/bad/late").Body.String(); !strings.Contains(body, "after = 1500") {
		t.Errorf("/bad/late without after does not draw after 1.5 s:\n%s", body)
	}
	for _, q := range []string{"after=-1s", "after=3m", "after=soon", "churn=spin"} {
		if rec := render(t, m, http.MethodGet, "/bad/late?"+q); rec.Code != http.StatusBadRequest {
			t.Errorf("/bad/late?%s: %d", q, rec.Code)
		}
	}
	if rec := render(t, m, http.MethodGet, "/bad/late/feed?i=7"); rec.Code != http.StatusOK || rec.Body.String() != "买家评论 7" {
		t.Errorf("/bad/late/feed?i=7: %d %q", rec.Code, rec.Body.String())
	}
}
