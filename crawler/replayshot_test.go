package crawler

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"shopwatch"
)

// replayServer serves a page (gzip-coded, to exercise the decoding) that
// links an image, a style sheet and a script on the same server, and counts
// the requests per path.
type replayServer struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

const replayPage = `<!doctype html><html><head><title>replay</title>
<link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head>
<body style="margin:0;background:#fff">
<div style="width:900px;height:1400px;background:linear-gradient(#c00,#00c)">全网第一疗效最好</div>
<img src="/photo.png" width="200" height="200">
</body></html>`

func newReplayServer(t *testing.T) *replayServer {
	t.Helper()
	s := &replayServer{hits: map[string]int{}}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(replayPage))
	zw.Close()
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		switch r.URL.Path {
		case "/item":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("sub-resource"))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *replayServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *replayServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

// TestScreenshotCapturedFetchesNothing: the screenshot of a static capture
// shows the captured bytes; the server sees the static fetch only, not the
// page again and none of its sub-resources.
func TestScreenshotCapturedFetchesNothing(t *testing.T) {
	s := newReplayServer(t)
	b := newTestBrowser(t, nil)
	f := newTestFetcher(t, Config{})
	ctx := context.Background()

	p, err := f.Fetch(ctx, s.URL+"/item#top")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got := s.count("/item"); got != 1 {
		t.Fatalf("static fetch made %d requests for the page, want 1", got)
	}
	before := s.total()

	shot, err := b.ScreenshotCaptured(ctx, p)
	if err != nil {
		t.Fatalf("ScreenshotCaptured: %v", err)
	}
	if got := s.count("/item"); got != 1 {
		t.Errorf("the server saw %d requests for the page, want 1 (the screenshot fetched it again)", got)
	}
	for _, path := range []string{"/photo.png", "/style.css", "/app.js"} {
		if got := s.count(path); got != 0 {
			t.Errorf("the screenshot requested %s %d times", path, got)
		}
	}
	if got := s.total(); got != before {
		t.Errorf("the server saw %d requests during the screenshot, want 0", got-before)
	}
	if shot.Served < 1 || shot.Blocked < 3 {
		t.Errorf("served %d, blocked %d; want the page served and its 3 sub-resources blocked", shot.Served, shot.Blocked)
	}
	img, err := png.Decode(bytes.NewReader(shot.PNG))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// Full page: the 1400 px block is in, beyond the 768 px viewport.
	if h := img.Bounds().Dy(); h < 1400 {
		t.Errorf("screenshot is %d px high, want the full page (≥ 1400)", h)
	}
	// The captured body was shown: the top of the gradient is red.
	r, g, bl, _ := img.At(10, 5).RGBA()
	if r>>8 < 150 || g>>8 > 60 || bl>>8 > 80 {
		t.Errorf("pixel (10,5) is rgb(%d,%d,%d), want the page's red", r>>8, g>>8, bl>>8)
	}
	if len(shot.PNG) < 2000 {
		t.Errorf("screenshot is only %d bytes", len(shot.PNG))
	}
}

// TestScreenshotCapturedNothingToReplay: a page without a response is an
// error, not a blank screenshot.
func TestScreenshotCapturedNothingToReplay(t *testing.T) {
	p := &shopwatch.Page{URL: "http://127.0.0.1:1/x", Exchanges: []shopwatch.Exchange{{URL: "http://127.0.0.1:1/x", Err: "connection refused"}}}
	if _, err := (&Browser{}).ScreenshotCaptured(context.Background(), p); !errors.Is(err, ErrNothingToReplay) {
		t.Fatalf("ScreenshotCaptured of a page without a response: %v, want ErrNothingToReplay", err)
	}
}

// TestScreenshotCapturedPageNavigatesAway: a captured page whose script
// leaves for another address is not screenshotted as an error page, and
// the other address is not fetched.
func TestScreenshotCapturedPageNavigatesAway(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<html><body><p>leaving</p><script>setTimeout(() => { location.href = "/elsewhere" }, 0)</script></body></html>`))
	}))
	t.Cleanup(s.Close)
	b := newTestBrowser(t, nil)
	f := newTestFetcher(t, Config{})
	ctx := context.Background()
	p, err := f.Fetch(ctx, s.URL+"/leave")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if _, err := b.ScreenshotCaptured(ctx, p); err == nil || !strings.Contains(err.Error(), "navigated away") {
		t.Errorf("ScreenshotCaptured of a page that leaves: %v, want an error saying it navigated away", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["/leave"] != 1 || hits["/elsewhere"] != 0 {
		t.Errorf("server hits %v, want only the static fetch of /leave", hits)
	}
}
