package crawler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// concurrency counts the requests a handler serves at once, per host and
// in all. A request waits (up to hold) until want requests are in flight,
// so that a bound that lets want through is reached, and one that lets more
// through is exceeded.
type concurrency struct {
	want int
	hold time.Duration

	mu       sync.Mutex
	cond     *sync.Cond
	now      map[string]int
	total    int
	maxHost  map[string]int
	maxTotal int
}

func newConcurrency(want int, hold time.Duration) *concurrency {
	c := &concurrency{want: want, hold: hold, now: map[string]int{}, maxHost: map[string]int{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *concurrency) handler(host string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/p/") {
			http.NotFound(w, r)
			return
		}
		c.mu.Lock()
		c.now[host]++
		c.total++
		c.maxHost[host] = max(c.maxHost[host], c.now[host])
		c.maxTotal = max(c.maxTotal, c.total)
		c.cond.Broadcast()
		deadline := time.Now().Add(c.hold)
		timer := time.AfterFunc(c.hold, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
		for c.total < c.want && time.Now().Before(deadline) {
			c.cond.Wait()
		}
		timer.Stop()
		c.now[host]--
		c.total--
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<title>%s</title><p>页面 %s</p>", r.URL.Path, r.URL.Path)
	}
}

// peaks returns the most requests seen at once, in all and per host.
func (c *concurrency) peaks() (total int, host map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	host = map[string]int{}
	for k, v := range c.maxHost {
		host[k] = v
	}
	return c.maxTotal, host
}

// renderAll renders the URLs in parallel and fails the test on any error.
func renderAll(t *testing.T, b *Browser, urls []string, opts ...RenderOption) {
	t.Helper()
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Go(func() {
			p, err := b.Render(context.Background(), u, opts...)
			if err != nil {
				t.Errorf("Render %s: %v", u, err)
				return
			}
			if p.FinalURL != u || !strings.Contains(p.Text, "页面") {
				t.Errorf("Render %s: got %s with text %q", u, p.FinalURL, p.Text)
			}
		})
	}
	wg.Wait()
}

// TestBrowserPoolBound renders six pages at once with two tabs: the server
// never sees more than two page loads at a time, and does see two.
func TestBrowserPoolBound(t *testing.T) {
	c := newConcurrency(3, 1500*time.Millisecond)
	s := serve(t, c.handler("a"))
	b := newTestBrowser(t, func(cfg *BrowserConfig) { cfg.Tabs = 2 })
	var urls []string
	for i := range 6 {
		urls = append(urls, fmt.Sprintf("%s/p/%d", s.URL, i))
	}
	renderAll(t, b, urls)
	if total, _ := c.peaks(); total != 2 {
		t.Errorf("at most %d page loads at once with Tabs=2, want exactly 2", total)
	}
	if st := b.Stats(); st.Renders != 6 || st.Starts != 1 {
		t.Errorf("stats %+v, want 6 renders on 1 process", st)
	}
	if n := len(pageTargets(t, b)); n != 1 {
		t.Errorf("%d page targets after the renders, want only the browser's first tab", n)
	}
}

// TestBrowserRecycle replaces the process every two renders, also while
// renders run in parallel: none fails, old processes go away with their
// profiles.
func TestBrowserRecycle(t *testing.T) {
	c := newConcurrency(1, 0)
	s := serve(t, c.handler("a"))
	b := newTestBrowser(t, func(cfg *BrowserConfig) { cfg.RecycleAfter = 2; cfg.Tabs = 3 })
	first := currentInstance(t, b)
	for i := range 3 {
		renderAll(t, b, []string{fmt.Sprintf("%s/p/seq%d", s.URL, i)})
	}
	var urls []string
	for i := range 7 {
		urls = append(urls, fmt.Sprintf("%s/p/par%d", s.URL, i))
	}
	renderAll(t, b, urls)
	st := b.Stats()
	// 10 renders, 2 per process: 5 processes at least, 4 recycles.
	if st.Renders != 10 || st.Starts < 5 || st.Recycles < 4 || st.Crashes != 0 {
		t.Errorf("stats %+v, want 10 renders, ≥5 starts, ≥4 recycles, no crash", st)
	}
	if cur := currentInstance(t, b); cur == first {
		t.Errorf("still on the first process after %d renders", st.Renders)
	}
	waitFor(t, "the first process to stop", func() bool {
		select {
		case <-first.stopped:
			return true
		default:
			return false
		}
	})
	if pids := profileUsers(first.dir); len(pids) > 0 {
		t.Errorf("processes %v of the recycled profile are still running", pids)
	}
}

// TestBrowserSharedLimiter: renders take the page host's slot of a shared
// Limiter, so a slot held elsewhere (by the static path, say) holds them
// back, and per-host limits hold across tabs.
func TestBrowserSharedLimiter(t *testing.T) {
	c := newConcurrency(4, 800*time.Millisecond)
	a := serveOn(t, "127.0.0.1", c.handler("a"))
	bsrv := serveOn(t, "127.0.0.2", c.handler("b"))
	lim := NewLimiter(1, 16, 0)
	b := newTestBrowser(t, func(cfg *BrowserConfig) { cfg.Tabs = 4; cfg.Limiter = lim })

	var urls []string
	for i := range 3 {
		urls = append(urls, fmt.Sprintf("%s/p/%d", a.URL, i), fmt.Sprintf("%s/p/%d", bsrv.URL, i))
	}
	renderAll(t, b, urls)
	total, perHost := c.peaks()
	if perHost["a"] != 1 || perHost["b"] != 1 {
		t.Errorf("max page loads at once per host %v, want 1 each", perHost)
	}
	if total != 2 {
		t.Errorf("max page loads at once over two hosts %d, want 2", total)
	}

	// A slot held by someone else holds the render back until released.
	release, err := lim.Acquire(context.Background(), "127.0.0.1:9") // the port does not matter
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Render(context.Background(), a.URL+"/p/held")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("render ran while its host's only slot was held: %v", err)
	case <-time.After(700 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("render after the slot came back: %v", err)
	}
	// A render waiting for a slot gives up with its context.
	release, _ = lim.Acquire(context.Background(), "127.0.0.1")
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Render(ctx, a.URL+"/p/never"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), a.URL) {
		t.Errorf("render waiting for a held slot: err %v, want the context's deadline naming the URL", err)
	}
	release()
	waitFor(t, "the limiter to forget idle hosts", func() bool { return lim.tracked() == 0 })
}

func TestLimiterAcquireNormalizesHost(t *testing.T) {
	lim := NewLimiter(1, 4, 0)
	release, err := lim.Acquire(context.Background(), "Shop.Example.:8080")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := lim.Acquire(ctx, "shop.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("same host, other spelling and port: err %v, want to wait", err)
	}
	other, err := lim.Acquire(context.Background(), "[::1]:80")
	if err != nil {
		t.Fatalf("other host: %v", err)
	}
	other()
	release()
	release() // a second call does nothing
	if n := lim.tracked(); n != 0 {
		t.Errorf("limiter tracks %d hosts when idle", n)
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
