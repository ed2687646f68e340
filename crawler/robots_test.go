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

const robotsBody = "User-agent: *\nDisallow: /shop/\n"

// robotsShop serves robots.txt (through robots, when set) and small pages,
// counting robots.txt requests and page requests.
type robotsShop struct {
	*provServer
	mu    sync.Mutex
	pages int
	cond  *sync.Cond
}

func startRobotsShop(t testing.TB, robots http.HandlerFunc) *robotsShop {
	t.Helper()
	rs := &robotsShop{}
	rs.cond = sync.NewCond(&rs.mu)
	rs.provServer = startProvServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			if robots == nil {
				http.NotFound(w, r)
				return
			}
			robots(w, r)
			return
		}
		rs.mu.Lock()
		rs.pages++
		rs.cond.Broadcast()
		rs.mu.Unlock()
		htmlHandler("text/html; charset=utf-8", []byte("<title>店铺</title><p>"+r.URL.Path+"</p>"))(w, r)
	}))
	return rs
}

// waitPages blocks until the server has answered n page requests, or
// gives up after a while and reports false.
func (rs *robotsShop) waitPages(n int) bool {
	deadline := time.Now().Add(10 * time.Second)
	wake := time.AfterFunc(time.Until(deadline)+time.Millisecond, func() {
		rs.mu.Lock()
		rs.cond.Broadcast()
		rs.mu.Unlock()
	})
	defer wake.Stop()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for rs.pages < n {
		if time.Now().After(deadline) {
			return false
		}
		rs.cond.Wait()
	}
	return true
}

// TestRobotsOncePerOriginUnderConcurrency: eight workers fetching pages of
// two new hosts at once fetch each host's robots.txt once, and every page
// carries it. A Fetch waits for robots.txt after its page, so the first
// eight pages go to eight different workers, four per host; robots.txt is
// only answered once those four page requests have reached the server, so
// four Fetches ask for it while it is in flight.
func TestRobotsOncePerOriginUnderConcurrency(t *testing.T) {
	const workers, perShop = 8, 16
	var shops []*robotsShop
	for range 2 {
		var rs *robotsShop
		rs = startRobotsShop(t, func(w http.ResponseWriter, r *http.Request) {
			if !rs.waitPages(workers / 2) {
				t.Error("page requests did not all arrive while robots.txt was pending")
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(robotsBody))
		})
		shops = append(shops, rs)
	}
	f := newTestFetcher(t, Config{RecordRobots: true, PerHostParallel: 4})
	jobs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range workers {
		wg.Go(func() {
			for u := range jobs {
				p, err := f.Fetch(context.Background(), u)
				switch {
				case err != nil:
					err = fmt.Errorf("%s: %w", u, err)
				case p.Robots == nil:
					err = fmt.Errorf("%s: no robots exchange", u)
				case p.Robots.Status != 200 || string(p.Robots.Body) != robotsBody || !strings.HasSuffix(p.Robots.URL, "/robots.txt"):
					err = fmt.Errorf("%s: robots exchange %s %d %q", u, p.Robots.URL, p.Robots.Status, p.Robots.Body)
				case !strings.HasPrefix(p.Robots.URL, p.FinalURL[:strings.Index(p.FinalURL, "/shop")]):
					err = fmt.Errorf("%s: robots of another origin: %s", u, p.Robots.URL)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range perShop {
		for _, rs := range shops {
			jobs <- fmt.Sprintf("%s/shop/%d", rs.URL, i)
		}
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	for i, rs := range shops {
		if n := rs.robots.Load(); n != 1 {
			t.Errorf("shop %d: robots.txt requested %d times, want once", i, n)
		}
	}
}

// TestRobotsNotFoundRecorded: a 404 robots.txt is recorded, the page is
// fetched as usual and the 404 is not the page's error.
func TestRobotsNotFoundRecorded(t *testing.T) {
	rs := startRobotsShop(t, nil)
	f := newTestFetcher(t, Config{RecordRobots: true})
	p, err := f.Fetch(context.Background(), rs.URL+"/shop/1")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.Status != 200 || p.Title != "店铺" {
		t.Errorf("page status %d, title %q", p.Status, p.Title)
	}
	rb := p.Robots
	if rb == nil || rb.Status != 404 || rb.Err != "" || len(rb.RequestHeader) == 0 || len(rb.ResponseHeader) == 0 ||
		!strings.HasPrefix(string(rb.RequestHeader), "GET /robots.txt HTTP/1.1\r\n") {
		t.Fatalf("robots exchange %+v: want the recorded 404", rb)
	}
	if !strings.Contains(string(rb.RequestHeader), "User-Agent: "+DefaultUserAgent+"\r\n") {
		t.Errorf("robots request head %q lacks the User-Agent", rb.RequestHeader)
	}
}

// TestRobotsSlowDoesNotStallPage: a robots.txt that never answers ends
// with its own timeout; the page is fetched and returned without it.
func TestRobotsSlowDoesNotStallPage(t *testing.T) {
	release := make(chan struct{})
	rs := startRobotsShop(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	f := newTestFetcher(t, Config{RecordRobots: true, RobotsTimeout: 200 * time.Millisecond})
	p, err := f.Fetch(context.Background(), rs.URL+"/shop/1")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.Status != 200 || p.Title != "店铺" {
		t.Errorf("page status %d, title %q", p.Status, p.Title)
	}
	rb := p.Robots
	if rb == nil || rb.Status != 0 || !strings.Contains(rb.Err, ErrTimeout.Error()) || !strings.Contains(rb.Err, "robots.txt") {
		t.Fatalf("robots exchange %+v: want a timed-out exchange naming robots.txt", rb)
	}
	if len(rb.RequestHeader) == 0 {
		t.Error("the robots request that was sent is not recorded")
	}
}

// TestRobotsCacheExpiry: robots.txt is reused within its time to live and
// fetched again after it.
func TestRobotsCacheExpiry(t *testing.T) {
	rs := startRobotsShop(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(robotsBody)) })
	f := newTestFetcher(t, Config{RecordRobots: true})
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	f.robots.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	fetch := func() {
		t.Helper()
		if p, err := f.Fetch(context.Background(), rs.URL+"/shop/1"); err != nil || p.Robots == nil || p.Robots.Status != 200 {
			t.Fatalf("Fetch: %v (robots %+v)", err, p.Robots)
		}
	}
	fetch()
	advance(robotsTTL - time.Second)
	fetch()
	if n := rs.robots.Load(); n != 1 {
		t.Fatalf("robots.txt requested %d times within its TTL, want 1", n)
	}
	advance(2 * time.Second)
	fetch()
	if n := rs.robots.Load(); n != 2 {
		t.Errorf("robots.txt requested %d times after its TTL, want 2", n)
	}
}

// TestRobotsCacheBounded: the cache never holds more origins than its
// bound; the oldest go first.
func TestRobotsCacheBounded(t *testing.T) {
	f := newTestFetcher(t, Config{})
	f.robots.max = 2
	var shops []*robotsShop
	for range 3 {
		shops = append(shops, startRobotsShop(t, nil))
	}
	for _, rs := range shops {
		if ex, err := f.Robots(context.Background(), rs.URL+"/"); err != nil || ex.Status != 404 {
			t.Fatalf("Robots(%s) = %+v, %v", rs.URL, ex, err)
		}
		if n, _ := f.robots.size(); n > 2 {
			t.Fatalf("cache holds %d origins, bound 2", n)
		}
	}
	// The first origin was dropped; asking again fetches again. The last
	// one is still cached.
	ex, _ := f.Robots(context.Background(), shops[2].URL+"/x")
	f.Robots(context.Background(), shops[0].URL+"/x")
	if a, c := shops[0].robots.Load(), shops[2].robots.Load(); a != 2 || c != 1 {
		t.Errorf("robots.txt fetched %d times for the evicted origin and %d for the cached one, want 2 and 1", a, c)
	}
	one := len(ex.RequestHeader) + len(ex.ResponseHeader) + len(ex.Body)
	if n, b := f.robots.size(); n != 2 || b != 2*one {
		t.Errorf("cache holds %d origins and %d bytes, want 2 and %d", n, b, 2*one)
	}

	// The byte bound: an answer larger than it is handed out, not kept.
	g := newTestFetcher(t, Config{})
	g.robots.maxBytes = one - 1
	for range 2 {
		if ex, err := g.Robots(context.Background(), shops[1].URL+"/"); err != nil || ex.Status != 404 {
			t.Fatalf("Robots = %+v, %v", ex, err)
		}
	}
	if n, b := g.robots.size(); n != 0 || b != 0 {
		t.Errorf("cache over its byte bound holds %d origins, %d bytes", n, b)
	}
	if n := shops[1].robots.Load(); n != 3 {
		t.Errorf("robots.txt of an uncacheable answer fetched %d times in all, want 3", n)
	}
}

// TestRobotsRedirectAndCap: a redirect is recorded as the answer, not
// followed; a huge robots.txt is cut at the cap and flagged.
func TestRobotsRedirectAndCap(t *testing.T) {
	redirecting := startRobotsShop(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere.txt", http.StatusMovedPermanently)
	})
	huge := startRobotsShop(t, func(w http.ResponseWriter, r *http.Request) {
		line := []byte("Disallow: /private/area/with/a/long/name\n")
		for n := 0; n < robotsMaxBody+len(line); n += len(line) {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})
	f := newTestFetcher(t, Config{})
	ex, err := f.Robots(context.Background(), redirecting.URL+"/shop/1")
	if err != nil || ex.Status != 301 || !strings.Contains(string(ex.ResponseHeader), "Location: /elsewhere.txt\r\n") {
		t.Errorf("redirecting robots.txt: %+v, %v", ex, err)
	}
	if n := len(redirecting.requests()); n != 1 {
		t.Errorf("%d requests for a redirecting robots.txt, want 1", n)
	}
	ex, err = f.Robots(context.Background(), huge.URL+"/")
	if err != nil || ex.Status != 200 || !ex.BodyTruncated || len(ex.Body) != robotsMaxBody {
		t.Errorf("huge robots.txt: status %d, %d bytes kept, truncated %v, err %v", ex.Status, len(ex.Body), ex.BodyTruncated, err)
	}
}

func TestRobotsErrors(t *testing.T) {
	f := newTestFetcher(t, Config{})
	if _, err := f.Robots(context.Background(), "ftp://x.example/"); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("Robots(ftp) err = %v, want ErrInvalidURL", err)
	}
	// A refused address is an exchange carrying the guard's error.
	g := newFetcherNoAllow(t, Config{})
	ex, err := g.Robots(context.Background(), "http://127.0.0.1:9/")
	if err != nil || ex.Status != 0 || !strings.Contains(ex.Err, "refused address") || ex.URL != "http://127.0.0.1:9/robots.txt" {
		t.Errorf("guarded robots.txt: %+v, %v", ex, err)
	}
	// A caller whose context ends stops waiting.
	release := make(chan struct{})
	defer close(release)
	rs := startRobotsShop(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Robots(ctx, rs.URL+"/"); !errors.Is(err, context.Canceled) {
		t.Errorf("Robots with a cancelled context: %v", err)
	}
	if DefaultConfig().RobotsTimeout <= 0 {
		t.Error("DefaultConfig has no robots.txt timeout")
	}
	if _, err := New(Config{RobotsTimeout: -1}); err == nil {
		t.Error("negative robots timeout accepted")
	}
}

func TestRobotsOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://Shop.Example/a":         "http://shop.example",
		"https://shop.example/a?b":      "https://shop.example",
		"https://shop.example:443/a":    "https://shop.example",
		"https://shop.example:80/a":     "https://shop.example:80",
		"https://shop.example:8443/":    "https://shop.example:8443",
		"http://[::1]:8080/x":           "http://[::1]:8080",
		"HTTP://shop.example.:80/index": "http://shop.example",
	} {
		u, err := parseTargetURL(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := robotsOrigin(u); got != want {
			t.Errorf("robotsOrigin(%s) = %s, want %s", in, got, want)
		}
	}
}
