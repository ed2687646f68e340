package crawler

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"shopwatch/marketsim"
)

// readyAfter returns the seconds a ReadyBy note gives after its prefix
// ("quiet after 2.3s …", "timeout after 15.0s with …").
func readyAfter(t *testing.T, readyBy, prefix string) time.Duration {
	t.Helper()
	rest, ok := strings.CutPrefix(readyBy, prefix)
	if !ok {
		t.Fatalf("ReadyBy %q does not start with %q", readyBy, prefix)
	}
	num, _, ok := strings.Cut(rest, "s")
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil {
		t.Fatalf("ReadyBy %q: no seconds after %q", readyBy, prefix)
	}
	return time.Duration(f * float64(time.Second))
}

// TestBrowserWaitsUntilQuiet renders marketsim's late-drawing product page
// with the default settle rules: descriptions drawn 1, 3 and 8 s after the
// load event are captured drawn, not as the placeholder, and the capture
// says it was ready when the page went quiet after the draw. A countdown
// redrawn for ever by a setInterval does not hold the capture up; a feed
// polled for ever does, until the settle bound, and the capture says so.
func TestBrowserWaitsUntilQuiet(t *testing.T) {
	def := DefaultBrowserConfig()
	b := newTestBrowser(t, func(c *BrowserConfig) {
		c.Timeout, c.Settle, c.MaxSettle = def.Timeout, def.Settle, def.MaxSettle
		c.Tabs = 6
	})
	s := serve(t, marketsim.New(marketsim.Config{Shops: 1, Seed: 1}))

	render := func(t *testing.T, query string) (text, readyBy string, took time.Duration) {
		t.Helper()
		start := time.Now()
		p, err := b.Render(context.Background(), s.URL+"/bad/late?"+query)
		took = time.Since(start)
		if err != nil {
			t.Fatalf("Render %s: %v", query, err)
		}
		if took > def.Timeout {
			t.Errorf("Render %s took %s, more than the render timeout %s", query, took, def.Timeout)
		}
		if !strings.Contains(p.Text, marketsim.LateText) || strings.Contains(p.Text, marketsim.LatePlaceholder) {
			t.Errorf("Render %s captured before the page drew its description (ready by %q):\n%s", query, p.ReadyBy, p.Text)
		}
		if !strings.Contains(p.HTML, marketsim.LateText) {
			t.Errorf("Render %s: the captured DOM lacks the late description", query)
		}
		t.Logf("%s: ready by %q in %s", query, p.ReadyBy, took.Round(time.Millisecond))
		return p.Text, p.ReadyBy, took
	}

	for _, after := range []time.Duration{time.Second, 3 * time.Second, 8 * time.Second} {
		t.Run("after="+after.String(), func(t *testing.T) {
			t.Parallel()
			_, readyBy, _ := render(t, "after="+after.String())
			// Quiet counts from the load event and needs the settle
			// interval after the draw. The watcher's clock starts when
			// it is injected, which on a loaded machine comes a few
			// hundred milliseconds after the page's own load event; the
			// margin allows for that (the text above proves the draw was
			// waited for).
			if got := readyAfter(t, readyBy, "quiet after "); got < after+def.Settle-400*time.Millisecond {
				t.Errorf("ready after %s, before the draw at %s plus the settle interval %s", got, after, def.Settle)
			}
			if strings.Contains(readyBy, "ignored") {
				t.Errorf("ReadyBy %q: the page has no repeating timers", readyBy)
			}
		})
	}
	t.Run("ticker", func(t *testing.T) {
		t.Parallel()
		_, readyBy, _ := render(t, "after=1s&churn=ticker")
		if got := readyAfter(t, readyBy, "quiet after "); got >= def.MaxSettle-time.Second {
			t.Errorf("a countdown held the capture up to %s (ready by %q)", got, readyBy)
		}
		if !strings.Contains(readyBy, "mutations by repeating timers ignored") {
			t.Errorf("ReadyBy %q does not say the countdown's mutations were left out", readyBy)
		}
	})
	t.Run("feed", func(t *testing.T) {
		t.Parallel()
		text, readyBy, _ := render(t, "after=1s&churn=feed")
		got := readyAfter(t, readyBy, "timeout after ")
		if got < def.MaxSettle-500*time.Millisecond || got > def.MaxSettle+2*time.Second {
			t.Errorf("a page that never went quiet was captured after %s, want the settle bound %s", got, def.MaxSettle)
		}
		if !strings.Contains(readyBy, "mutations still happening") {
			t.Errorf("ReadyBy %q does not say the page was still changing", readyBy)
		}
		if !strings.Contains(text, "买家评论") {
			t.Errorf("the feed never drew: %s", text)
		}
	})
}

// TestBrowserQuietPageReadyBy: a static page is ready as soon as it has
// been quiet for the settle interval, and a render that does not wait for
// quiet says so.
func TestBrowserQuietPageReadyBy(t *testing.T) {
	b := newTestBrowser(t, nil)
	s := serve(t, htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html><title>静态</title><p>静态页面</p>`)))
	p, err := b.Render(context.Background(), s.URL)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got := readyAfter(t, p.ReadyBy, "quiet after "); got > 10*time.Second {
		t.Errorf("a static page was ready only after %s", got)
	}
	p, err = b.Render(context.Background(), s.URL, NetworkIdle(0))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !strings.HasPrefix(p.ReadyBy, "load event (no quiet wait)") {
		t.Errorf("ReadyBy %q of a render without a quiet wait", p.ReadyBy)
	}
}
