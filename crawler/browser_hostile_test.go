package crawler

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"shopwatch/marketsim"
)

// TestBrowserHostileMarketEndpoints renders the marketplace's misbehaving
// script pages one after another in one browser: each ends within its
// timeout with the page or ErrTimeout naming the URL, leaves no tab behind,
// and an ordinary page renders afterwards.
func TestBrowserHostileMarketEndpoints(t *testing.T) {
	m := marketsim.New(marketsim.Config{Seed: 3, Shops: 5})
	s := httptest.NewServer(m)
	defer s.Close()
	const timeout = 6 * time.Second
	b := newTestBrowser(t, func(c *BrowserConfig) { c.Timeout = timeout; c.Tabs = 2 })
	for _, tc := range []struct {
		path     string
		mustShow bool // the page renders with its text
	}{
		{"/bad/dialogs", true},
		{"/bad/beforeunload", true},
		{"/bad/popups", false}, // a pop-up storm may use up the timeout on a busy machine
		{"/bad/busy-loop", false},
		{"/bad/reload-loop", false},
		{"/bad/never-ends?max=30", false},
		{"/bad/stuck-resource", true}, // captured as it shows once the load wait runs out
		{"/bad/huge-dom?n=3000", false},
	} {
		url := s.URL + tc.path
		start := time.Now()
		p, err := b.Render(context.Background(), url)
		took := time.Since(start)
		switch {
		case err == nil:
			if !strings.Contains(p.Text, marketsim.ProbeText) && tc.mustShow {
				t.Errorf("%s: rendered without its text: %q", tc.path, p.Text)
			}
		case tc.mustShow:
			t.Errorf("%s: %v, want the page", tc.path, err)
		case !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), url):
			t.Errorf("%s: %v, want the page or ErrTimeout naming the URL", tc.path, err)
		}
		// Bounded, not timed: the render ends with its own timeout, not
		// with the test's.
		if took > timeout+20*time.Second {
			t.Errorf("%s: took %v with a %v timeout", tc.path, took, timeout)
		}
		t.Logf("%s: %v in %v", tc.path, err, took.Round(time.Millisecond))
		if n := len(pageTargets(t, b)); n != 1 {
			t.Errorf("%s: %d page targets left, want only the browser's first tab", tc.path, n)
		}
		ok, err := b.Render(context.Background(), s.URL+"/shop/1/", RenderTimeout(30*time.Second))
		if err != nil || !strings.Contains(ok.Text, "全部商品") {
			t.Fatalf("ordinary page after %s: %v", tc.path, err)
		}
	}
	if st := b.Stats(); st.Dialogs == 0 {
		t.Errorf("stats %+v: no dialog dismissed", st)
	}
}
