package crawler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLimiterSharedByBothPaths gives a Fetcher and a Browser one Limiter
// with one slot per host and loads pages of one host through both at once:
// the server never sees two page loads at a time, and every load succeeds.
func TestLimiterSharedByBothPaths(t *testing.T) {
	c := newConcurrency(2, 700*time.Millisecond)
	s := serve(t, c.handler("a"))
	lim := NewLimiter(1, 8, 0)
	b := newTestBrowser(t, func(cfg *BrowserConfig) { cfg.Tabs = 3; cfg.Limiter = lim })
	cfg := Config{Timeout: 20 * time.Second, Limiter: lim}
	cfg.AllowLoopback()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			u := fmt.Sprintf("%s/p/static%d", s.URL, i)
			p, err := f.Fetch(context.Background(), u)
			if err != nil || !strings.Contains(p.Text, "页面") {
				t.Errorf("Fetch %s: %v", u, err)
			}
		})
		wg.Go(func() {
			u := fmt.Sprintf("%s/p/browser%d", s.URL, i)
			p, err := b.Render(context.Background(), u)
			if err != nil || !strings.Contains(p.Text, "页面") {
				t.Errorf("Render %s: %v", u, err)
			}
		})
	}
	wg.Wait()
	if total, _ := c.peaks(); total != 1 {
		t.Errorf("%d page loads at once with one shared slot per host, want 1", total)
	}

	// Without the shared limiter the two paths overlap: the check above
	// can fail.
	c2 := newConcurrency(2, 8*time.Second)
	s2 := serve(t, c2.handler("a"))
	cfg.Limiter = NewLimiter(1, 8, 0)
	f2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	wg.Go(func() { f2.Fetch(context.Background(), s2.URL+"/p/static") })
	wg.Go(func() { b.Render(context.Background(), s2.URL+"/p/browser") })
	wg.Wait()
	if total, _ := c2.peaks(); total != 2 {
		t.Errorf("separate limiters: %d page loads at once, want 2", total)
	}
}
