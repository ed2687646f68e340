package crawler

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch/internal/testparts"
)

// skipShort keeps the browser tests out of the quick -short loop; CI runs
// without -short, where a missing Chromium fails.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
}

func TestBrowserRender(t *testing.T) {
	skipShort(t)
	exe := testparts.Chromium(t)
	mux := http.NewServeMux()
	mux.Handle("/page", htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html>
<html><head><title>加载中</title></head><body>
<div id="app"></div><a href="/static#top">静态链接</a>
<script>
document.getElementById('app').textContent = '脚本插入：顶级工艺';
setTimeout(function () {
  var p = document.createElement('p'); p.textContent = '延迟插入：国家级品质'; document.body.appendChild(p);
  var a = document.createElement('a'); a.href = '/dynamic'; a.textContent = '动态链接'; document.body.appendChild(a);
  document.title = '直播间 已渲染';
}, 50);
</script></body></html>`)))
	mux.Handle("/gbk", htmlHandler("text/html", gbk(t, `<html><head><meta charset="gbk"><title>老店</title></head><body><p>行业第一品牌</p></body></html>`)))
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<p>店铺已关闭</p>"))
	})
	s := serve(t, mux)

	cfg := DefaultBrowserConfig()
	cfg.ExecPath = exe
	cfg.AllowLoopback()
	cfg.Settle = 300 * time.Millisecond
	cfg.Timeout = 20 * time.Second
	startCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := NewBrowser(startCtx, cfg)
	if err != nil {
		testparts.Unavailable(t, "Chromium", err)
	}
	t.Cleanup(func() { b.Close() })
	cancel() // the browser must outlive the context it was started with

	ctx := context.Background()
	p, err := b.Render(ctx, s.URL+"/page")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !p.Rendered || p.Status != 200 || p.FinalURL != s.URL+"/page" || p.URL != s.URL+"/page" {
		t.Errorf("rendered %v, status %d, final URL %q", p.Rendered, p.Status, p.FinalURL)
	}
	for _, want := range []string{"脚本插入：顶级工艺", "延迟插入：国家级品质"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text %q lacks the script-inserted %q", p.Text, want)
		}
		if !strings.Contains(p.HTML, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if p.Title != "直播间 已渲染" {
		t.Errorf("title %q, want the one set by script", p.Title)
	}
	if !slices.Contains(p.Links, s.URL+"/static") || !slices.Contains(p.Links, s.URL+"/dynamic") {
		t.Errorf("links %q lack the static and the script-made link", p.Links)
	}
	img, err := png.Decode(bytes.NewReader(p.Screenshot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if bnd := img.Bounds(); bnd.Dx() == 0 || bnd.Dy() == 0 {
		t.Errorf("screenshot is %v", bnd)
	}

	p, err = b.Render(ctx, s.URL+"/gbk")
	if err != nil {
		t.Fatalf("Render gbk: %v", err)
	}
	if p.Text != "行业第一品牌" || p.Title != "老店" || p.Charset != "gbk" {
		t.Errorf("gbk page: title %q, text %q, charset %q", p.Title, p.Text, p.Charset)
	}

	p, err = b.Render(ctx, s.URL+"/gone")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || p == nil || p.Text != "店铺已关闭" {
		t.Errorf("404: err %v, page %+v", err, p)
	}

	if _, err := b.Render(ctx, "ftp://x"); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("invalid URL: err %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	if _, err := b.Render(ctx, "http://"+closedAddr+"/"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed port: err %v, want ErrUnreachable", err)
	}

	// Tabs render in parallel without mixing pages up.
	var wg sync.WaitGroup
	for _, path := range []string{"/page", "/gbk", "/page"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := b.Render(ctx, s.URL+path)
			if err != nil {
				t.Errorf("parallel Render %s: %v", path, err)
				return
			}
			if p.FinalURL != s.URL+path {
				t.Errorf("parallel Render %s got %s", path, p.FinalURL)
			}
		}()
	}
	wg.Wait()

	dir := currentInstance(t, b).dir
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("profile %s still exists after Close (stat: %v)", dir, err)
	}
	if _, err := b.Render(ctx, s.URL+"/page"); !errors.Is(err, ErrClosed) {
		t.Errorf("Render after Close: err %v, want ErrClosed", err)
	}
}

func TestBrowserRenderTimeout(t *testing.T) {
	skipShort(t)
	exe := testparts.Chromium(t)
	release := make(chan struct{})
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	cfg := DefaultBrowserConfig()
	cfg.ExecPath = exe
	cfg.AllowLoopback()
	cfg.Timeout = 3 * time.Second
	cfg.Settle = 100 * time.Millisecond
	b, err := NewBrowser(context.Background(), cfg)
	if err != nil {
		testparts.Unavailable(t, "Chromium", err)
	}
	t.Cleanup(func() { b.Close() })
	start := time.Now()
	_, err = b.Render(context.Background(), s.URL+"/slow")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", err)
	}
	// A hang check, not a speed test: the render ends near its timeout,
	// not with the test's.
	if took := time.Since(start); took > 25*time.Second {
		t.Errorf("render took %s with a 3s timeout", took)
	}
	// The browser survives a tab's timeout.
	ok := serve(t, htmlHandler("text/html; charset=utf-8", []byte("<p>还在</p>")))
	if p, err := b.Render(context.Background(), ok.URL, RenderTimeout(30*time.Second)); err != nil || p.Text != "还在" {
		t.Errorf("render after a timeout: %v", err)
	}
}

// TestBrowserGuard renders a page on an allowed loopback address whose
// images, frame, script request and redirects point at a refused one: the
// page renders, and nothing reaches the refused servers.
func TestBrowserGuard(t *testing.T) {
	skipShort(t)
	exe := testparts.Chromium(t)
	refused := serveWatched(t, "127.0.0.3", false, nil)
	refusedTLS := serveWatched(t, "127.0.0.3", true, nil)
	var okImage atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("/page", htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html>
<html><head><title>店铺首页</title></head><body><p>本店商品</p>
<img src="/ok.png">
<img src="`+refused.URL+`/a.png">
<img src="`+refusedTLS.URL+`/b.png">
<iframe src="`+refused.URL+`/frame"></iframe>
<script>fetch("`+refused.URL+`/api").catch(function () {});</script>
</body></html>`)))
	mux.HandleFunc("/ok.png", func(w http.ResponseWriter, r *http.Request) {
		okImage.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write(onePixelPNG(t))
	})
	mux.HandleFunc("/redir", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, refused.URL+"/landing", http.StatusFound)
	})
	mux.HandleFunc("/redir-tls", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, refusedTLS.URL+"/landing", http.StatusFound)
	})
	allowed := serveOn(t, "127.0.0.2", mux)

	cfg := DefaultBrowserConfig()
	cfg.ExecPath = exe
	cfg.Allow = []string{"127.0.0.2/32"}
	cfg.Settle = 300 * time.Millisecond
	cfg.Timeout = 20 * time.Second
	b, err := NewBrowser(context.Background(), cfg)
	if err != nil {
		testparts.Unavailable(t, "Chromium", err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()

	p, err := b.Render(ctx, allowed.URL+"/page")
	if err != nil {
		t.Fatalf("Render of the allowed page: %v", err)
	}
	if p.Title != "店铺首页" || !strings.Contains(p.Text, "本店商品") {
		t.Errorf("page title %q, text %q", p.Title, p.Text)
	}
	if okImage.Load() == 0 {
		t.Errorf("the allowed image was never requested: the proxy path is broken")
	}

	for _, c := range []struct{ url, addr string }{
		{allowed.URL + "/redir", "127.0.0.3"},     // refused at the hop, by the proxy
		{allowed.URL + "/redir-tls", "127.0.0.3"}, // refused at the CONNECT
		{refused.URL + "/", "127.0.0.3"},          // refused before a tab opens
		{refusedTLS.URL + "/", "127.0.0.3"},
	} {
		p, err := b.Render(ctx, c.url)
		var ge *GuardError
		if !errors.As(err, &ge) || !errors.Is(err, ErrRefusedAddress) || !Permanent(err) {
			t.Errorf("Render(%s) = %v, want a *GuardError", c.url, err)
			continue
		}
		if ge.Addr.String() != c.addr || p != nil {
			t.Errorf("Render(%s): refused %v, page %v", c.url, ge, p)
		}
		if msg := err.Error(); !strings.Contains(msg, c.url) || !strings.Contains(msg, c.addr) {
			t.Errorf("error %q should name the URL and the address", msg)
		}
	}
	if n := refused.connections(t); n != 0 {
		t.Errorf("the refused server accepted %d connections (%d requests)", n, refused.requests.Load())
	}
	if n := refusedTLS.connections(t); n != 0 {
		t.Errorf("the refused TLS server accepted %d connections", n)
	}

	// The browser still works after refusals.
	if _, err := b.Render(ctx, allowed.URL+"/page"); err != nil {
		t.Errorf("Render after refusals: %v", err)
	}
}

func onePixelPNG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
