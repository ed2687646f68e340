package crawler_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/marketsim"
)

// hostileMarket serves a small market, whose /bad/ endpoints are the point,
// on a loopback test server.
func hostileMarket(t *testing.T) (*marketsim.Market, string) {
	t.Helper()
	m := marketsim.New(marketsim.Config{Seed: 1, Shops: 3})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

// hostileFetcher is a Fetcher allowed to reach loopback.
func hostileFetcher(t *testing.T, cfg crawler.Config) *crawler.Fetcher {
	t.Helper()
	cfg.AllowLoopback()
	f, err := crawler.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// fetchBounded runs one Fetch and fails the test if it does not return
// within limit: a hostile page must never hang the crawler.
func fetchBounded(t *testing.T, f *crawler.Fetcher, url string, limit time.Duration) (*shopwatch.Page, error) {
	t.Helper()
	type result struct {
		p   *shopwatch.Page
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := f.Fetch(context.Background(), url)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-time.After(limit):
		t.Fatalf("Fetch %s still running after %v", url, limit)
		return nil, nil
	}
}

// waitStopped waits up to 3 s for the market's handlers of path to end,
// which shows the crawler closed its connection.
func waitStopped(t *testing.T, m *marketsim.Market, path string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for m.Running(path) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers of %s still running 3 s after the fetch returned", m.Running(path), path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// totalAlloc is the bytes allocated so far by the process.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestHostileGzipBomb(t *testing.T) {
	_, base := hostileMarket(t)
	const maxBody = 4 << 20
	f := hostileFetcher(t, crawler.Config{MaxBodySize: maxBody, Timeout: 20 * time.Second})
	url := base + "/bad/gzip-bomb" // 1 GiB inflated, about 1 MiB sent
	before := totalAlloc()
	p, err := fetchBounded(t, f, url, 30*time.Second)
	alloc := totalAlloc() - before
	if !errors.Is(err, crawler.ErrBodyTooLarge) || !strings.Contains(err.Error(), url) {
		t.Fatalf("Fetch: %v, want ErrBodyTooLarge naming the URL", err)
	}
	if p == nil || len(p.Exchanges) != 1 {
		t.Fatalf("page %+v", p)
	}
	ex := p.Exchanges[0]
	// The evidence keeps the coded bytes as sent, whole: they fit.
	if ex.BodyTruncated || int64(len(ex.Body)) != ex.ContentLength || !bytes.HasPrefix(ex.Body, []byte{0x1f, 0x8b}) {
		t.Errorf("exchange body %d bytes (announced %d), truncated %v", len(ex.Body), ex.ContentLength, ex.BodyTruncated)
	}
	// Inflation stopped at the cap: the decoded page is at most maxBody.
	if len(p.HTML) > maxBody || !strings.Contains(p.HTML, "<title>gzip bomb</title>") {
		t.Errorf("decoded %d bytes, want the first %d at most", len(p.HTML), maxBody)
	}
	// Reading the whole gigabyte would allocate it; allow for the few
	// copies the cap implies.
	if alloc > 256<<20 {
		t.Errorf("the fetch allocated %d MiB", alloc>>20)
	}
	t.Logf("gzip bomb: %d bytes sent, %d decoded, %d MiB allocated", len(ex.Body), len(p.HTML), alloc>>20)

	// With a cap below the coded size the wire bytes are cut too.
	f = hostileFetcher(t, crawler.Config{MaxBodySize: 256 << 10, Timeout: 20 * time.Second})
	p, err = fetchBounded(t, f, url, 30*time.Second)
	if !errors.Is(err, crawler.ErrBodyTooLarge) || p == nil || !p.Exchanges[0].BodyTruncated || len(p.Exchanges[0].Body) != 256<<10 {
		t.Errorf("small cap: %v, page %v", err, p != nil)
	}
}

func TestHostileGzipUnlabelled(t *testing.T) {
	_, base := hostileMarket(t)
	f := hostileFetcher(t, crawler.Config{MaxBodySize: 4 << 20, Timeout: 20 * time.Second})
	url := base + "/bad/gzip-unlabelled"
	before := totalAlloc()
	p, err := fetchBounded(t, f, url, 30*time.Second)
	alloc := totalAlloc() - before
	if p == nil || len(p.Exchanges) != 1 {
		t.Fatalf("Fetch: %v, page %v", err, p)
	}
	// Without Content-Encoding nothing is inflated: the body is recorded
	// as the gzip bytes it is, and the decoded page is not the inflated one.
	ex := p.Exchanges[0]
	if !bytes.HasPrefix(ex.Body, []byte{0x1f, 0x8b}) || int64(len(ex.Body)) != ex.ContentLength || ex.BodyTruncated {
		t.Errorf("exchange body %d bytes of %d, truncated %v", len(ex.Body), ex.ContentLength, ex.BodyTruncated)
	}
	if strings.Contains(p.HTML, "gzip bomb") || len(p.HTML) > 8<<20 {
		t.Errorf("decoded %d bytes holding the inflated page", len(p.HTML))
	}
	if alloc > 256<<20 {
		t.Errorf("the fetch allocated %d MiB", alloc>>20)
	}
	// Compressed bytes are not a page, whatever the Content-Type says.
	if !errors.Is(err, crawler.ErrNotHTML) || !strings.Contains(err.Error(), url) {
		t.Errorf("Fetch = %v, want ErrNotHTML naming the URL", err)
	}
}

// checkHonestCharset checks a page whose GB 18030 bytes carry a UTF-8 label:
// the text is decoded as GB 18030 and the record keeps the label it had.
func checkHonestCharset(t *testing.T, p *shopwatch.Page, via string) {
	t.Helper()
	if len(p.Exchanges) != 1 || len(p.Exchanges[0].Body) == 0 {
		t.Fatalf("exchanges %v", p.Exchanges)
	}
	if p.DeclaredCharset != "utf-8" {
		t.Errorf("declared charset %q, want utf-8 as the page said (via %s)", p.DeclaredCharset, via)
	}
	// The bytes plainly contradict the label: they are read as what they
	// are, and the record says the charset was detected, not declared.
	if p.Charset != "gb18030" || p.CharsetSource != crawler.SourceDetected || !strings.Contains(p.Text, marketsim.ProbeText) {
		t.Errorf("charset %q from %q (declared via %s), text %q: want gb18030 detected and the text decoded", p.Charset, p.CharsetSource, via, p.Text)
	}
}

func TestHostileCharsets(t *testing.T) {
	_, base := hostileMarket(t)
	f := hostileFetcher(t, crawler.Config{Timeout: 10 * time.Second})

	p, err := fetchBounded(t, f, base+"/bad/charset-missing", 15*time.Second)
	if err != nil {
		t.Fatalf("charset-missing: %v", err)
	}
	if p.Charset != "gb18030" || p.CharsetSource != crawler.SourceDetected || p.DeclaredCharset != "" ||
		!strings.Contains(p.Text, marketsim.ProbeText) || !strings.Contains(p.Text, "¥128.00") {
		t.Errorf("charset-missing: %q from %q (declared %q), text %q", p.Charset, p.CharsetSource, p.DeclaredCharset, p.Text)
	}

	p, err = fetchBounded(t, f, base+"/bad/charset-wrong", 15*time.Second)
	if err != nil {
		t.Fatalf("charset-wrong: %v", err)
	}
	checkHonestCharset(t, p, "header")

	p, err = fetchBounded(t, f, base+"/bad/charset-wrong?via=meta", 15*time.Second)
	if err != nil {
		t.Fatalf("charset-wrong via meta: %v", err)
	}
	checkHonestCharset(t, p, "meta")
}

func TestHostileNeverEnds(t *testing.T) {
	m, base := hostileMarket(t)
	const timeout = time.Second
	f := hostileFetcher(t, crawler.Config{Timeout: timeout})
	url := base + "/bad/never-ends"
	p, err := fetchBounded(t, f, url, timeout+5*time.Second)
	if !errors.Is(err, crawler.ErrTimeout) || !strings.Contains(err.Error(), url) {
		t.Fatalf("Fetch: %v, want ErrTimeout naming the URL", err)
	}
	// What arrived before the timeout is evidence and is kept.
	if p == nil || len(p.Exchanges) != 1 || p.Exchanges[0].Status != 200 ||
		!bytes.Contains(p.Exchanges[0].Body, []byte(marketsim.ProbeText)) {
		t.Fatalf("page %+v", p)
	}
	waitStopped(t, m, "/bad/never-ends")

	// The static path does not load images: a stuck sub-resource does not
	// stop it.
	p, err = fetchBounded(t, f, base+"/bad/stuck-resource", timeout+5*time.Second)
	if err != nil || !strings.Contains(p.Text, marketsim.ProbeText) {
		t.Errorf("stuck-resource: %v", err)
	}
	if m.Running("/bad/never-ends") != 0 {
		t.Error("the static fetch requested the stuck image")
	}
}

func TestHostileSlowHeaders(t *testing.T) {
	m, base := hostileMarket(t)
	const timeout = time.Second
	f := hostileFetcher(t, crawler.Config{Timeout: timeout})
	url := base + "/bad/slow-headers?s=60"
	p, err := fetchBounded(t, f, url, timeout+5*time.Second)
	if !errors.Is(err, crawler.ErrTimeout) || !strings.Contains(err.Error(), url) {
		t.Fatalf("Fetch: %v, want ErrTimeout naming the URL", err)
	}
	if p != nil && p.Responded() {
		t.Errorf("a page without a complete head counts as a response: %+v", p.Exchanges)
	}
	waitStopped(t, m, "/bad/slow-headers")

	// A drip that ends within the timeout is a page.
	f = hostileFetcher(t, crawler.Config{Timeout: 10 * time.Second})
	p, err = fetchBounded(t, f, base+"/bad/slow-headers?s=1", 15*time.Second)
	if err != nil || !strings.Contains(p.Text, marketsim.ProbeText) {
		t.Errorf("slow-headers s=1: %v", err)
	}
}

// TestHostileDeepNesting fetches a page whose rows sit inside 1000 nested
// elements. Browsers render such pages (they stop nesting at a depth of 512);
// the crawler must either read the text or say it could not.
func TestHostileDeepNesting(t *testing.T) {
	_, base := hostileMarket(t)
	f := hostileFetcher(t, crawler.Config{Timeout: 10 * time.Second})
	for _, depth := range []string{"100", "1000"} {
		url := base + "/bad/huge-dom?n=20&depth=" + depth
		p, err := fetchBounded(t, f, url, 15*time.Second)
		if err != nil {
			if p == nil || !strings.Contains(err.Error(), url) {
				t.Errorf("depth %s: %v with page %v", depth, err, p != nil)
			}
			continue
		}
		if !strings.Contains(p.Text, "第20行") {
			t.Errorf("depth %s: text %q lacks the last row", depth, p.Text)
		}
	}
}

// TestHostileSweepGoesOn fetches every misbehaving endpoint in turn with one
// Fetcher: each returns on time with its own error or page, and a normal
// page fetched afterwards is unaffected.
func TestHostileSweepGoesOn(t *testing.T) {
	m, base := hostileMarket(t)
	const timeout = 1500 * time.Millisecond
	f := hostileFetcher(t, crawler.Config{Timeout: timeout, MaxBodySize: 2 << 20, MaxRedirects: 5})
	for _, tc := range []struct {
		path string
		want error // nil: any outcome, as long as it is on time
	}{
		{"/bad/redirect-loop", crawler.ErrTooManyRedirects},
		{"/bad/huge", crawler.ErrBodyTooLarge},
		{"/bad/binary", crawler.ErrNotHTML},
		{"/bad/slow?s=60", crawler.ErrTimeout},
		{"/bad/gzip-bomb", crawler.ErrBodyTooLarge},
		{"/bad/gzip-unlabelled", crawler.ErrNotHTML},
		{"/bad/charset-wrong", nil},
		{"/bad/charset-missing", nil},
		{"/bad/never-ends", crawler.ErrTimeout},
		{"/bad/stuck-resource", nil},
		{"/bad/slow-headers?s=60", crawler.ErrTimeout},
		{"/bad/huge-dom", crawler.ErrBodyTooLarge},
		{"/bad/dialogs", nil},
		{"/bad/beforeunload", nil},
		{"/bad/popups", nil},
		{"/bad/busy-loop", nil},
		{"/bad/reload-loop", nil},
		{"/bad/malformed", nil},
	} {
		url := base + tc.path
		p, err := fetchBounded(t, f, url, timeout+10*time.Second)
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), url) {
			t.Errorf("%s: error %q does not name the URL", tc.path, err)
		}
		if p == nil {
			t.Errorf("%s: no page (err %v)", tc.path, err)
		}
	}
	for _, path := range []string{"/bad/slow", "/bad/never-ends", "/bad/slow-headers", "/bad/huge", "/bad/huge-dom", "/bad/gzip-bomb"} {
		waitStopped(t, m, path)
	}
	p, err := fetchBounded(t, f, base+"/shop/1/", timeout+5*time.Second)
	if err != nil || p.Status != 200 || len(p.Links) == 0 {
		t.Errorf("storefront after the hostile pages: %v", err)
	}
}
