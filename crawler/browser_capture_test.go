package crawler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

// TestBrowserDialogsAndPopups renders pages that open every kind of
// JavaScript dialog and windows of their own: each renders, the dialogs are
// answered no (confirm, prompt), and no tab is left behind.
func TestBrowserDialogsAndPopups(t *testing.T) {
	mux := http.NewServeMux()
	page := func(script string) http.Handler {
		return htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html><title>弹窗</title><body><p id="out">start</p><script>`+script+`</script></body>`))
	}
	mux.Handle("/alert", page(`alert('恭喜中奖'); document.getElementById('out').textContent = 'alert done';`))
	mux.Handle("/confirm", page(`document.getElementById('out').textContent = 'confirm ' + confirm('确认购买？');`))
	mux.Handle("/prompt", page(`document.getElementById('out').textContent = 'prompt ' + prompt('输入手机号', '138');`))
	mux.Handle("/onload-alert", page(`addEventListener('load', () => { alert('load'); document.getElementById('out').textContent = 'late alert done'; });`))
	mux.Handle("/beforeunload", page(`addEventListener('beforeunload', e => { e.preventDefault(); e.returnValue = '离开？'; return '离开？'; }); document.getElementById('out').textContent = 'guarded';`))
	mux.Handle("/popup", page(`window.open('/child', '_blank'); window.open('about:blank'); document.getElementById('out').textContent = 'opened';`))
	mux.Handle("/child", page(`document.getElementById('out').textContent = 'child'; alert('child alert');`))
	s := serve(t, mux)
	b := newTestBrowser(t, nil)
	ctx := context.Background()
	for path, want := range map[string]string{
		"/alert": "alert done", "/confirm": "confirm false", "/prompt": "prompt null",
		"/onload-alert": "late alert done", "/beforeunload": "guarded", "/popup": "opened",
	} {
		p, err := b.Render(ctx, s.URL+path)
		if err != nil {
			t.Errorf("Render %s: %v", path, err)
			continue
		}
		if p.Text != want {
			t.Errorf("Render %s: text %q, want %q", path, p.Text, want)
		}
		if n := len(pageTargets(t, b)); n != 1 {
			t.Errorf("%d page targets after %s, want only the browser's first tab", n, path)
		}
	}
	st := b.Stats()
	if st.Dialogs < 4 {
		t.Errorf("%d dialogs dismissed, want at least 4", st.Dialogs)
	}
	if st.LeakedTargets < 2 {
		t.Errorf("%d stray windows closed, want the 2 the pop-up page opened", st.LeakedTargets)
	}
}

// TestBrowserLazyContent: content that loads when scrolled into view is in
// the page only when Render scrolls.
func TestBrowserLazyContent(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/page", htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html><title>长页面</title><body>
<p>商品详情</p><div style="height:5000px"></div><div id="more">加载中</div>
<script>
new IntersectionObserver((es, ob) => {
  if (!es.some(e => e.isIntersecting)) return;
  ob.disconnect();
  fetch('/lazy').then(r => r.text()).then(t => { document.getElementById('more').textContent = t; });
}).observe(document.getElementById('more'));
</script></body>`)))
	mux.HandleFunc("/lazy", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "懒加载：全网最低价")
	})
	s := serve(t, mux)
	b := newTestBrowser(t, nil)
	ctx := context.Background()

	p, err := b.Render(ctx, s.URL+"/page")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, "懒加载：全网最低价") {
		t.Errorf("scrolled render lacks the lazy content: %q", p.Text)
	}
	if x := findExchange(p, s.URL+"/lazy"); x == nil || string(x.Body) != "懒加载：全网最低价" {
		t.Errorf("the lazy request is not among the exchanges with its body: %+v", x)
	}
	img, err := png.DecodeConfig(bytes.NewReader(p.Screenshot))
	if err != nil || img.Height < 5000 {
		t.Errorf("screenshot %dx%d (%v), want the whole page", img.Width, img.Height, err)
	}

	p, err = b.Render(ctx, s.URL+"/page", ScrollSteps(0))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Text, "全网最低价") || !strings.Contains(p.Text, "加载中") {
		t.Errorf("unscrolled render has the lazy content: %q", p.Text)
	}
}

// TestBrowserWaitSelector: a page that draws its price late is captured
// with it when Render waits for the price's selector.
func TestBrowserWaitSelector(t *testing.T) {
	s := serve(t, htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html><title>价格</title><body><p>商品</p>
<script>setTimeout(() => { const p = document.createElement('p'); p.className = 'price'; p.textContent = '¥9.9 限时秒杀'; document.body.appendChild(p); }, 1500);</script></body>`)))
	b := newTestBrowser(t, func(c *BrowserConfig) { c.Settle = 100 * time.Millisecond })
	ctx := context.Background()
	// Captured at the load event, without waiting for quiet, the price
	// is not there yet.
	p, err := b.Render(ctx, s.URL, NetworkIdle(0))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Text, "限时秒杀") {
		t.Fatalf("the late price is there without waiting: the test proves nothing (%q)", p.Text)
	}
	p, err = b.Render(ctx, s.URL, WaitSelector("p.price"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, "¥9.9 限时秒杀") {
		t.Errorf("render waiting for p.price lacks it: %q", p.Text)
	}
	// A selector that never appears does not fail the render.
	p, err = b.Render(ctx, s.URL, WaitSelector("#never"), MaxSettle(500*time.Millisecond))
	if err != nil || !strings.Contains(p.Text, "商品") {
		t.Errorf("render waiting for a missing selector: %v", err)
	}
}

// TestBrowserMobile renders a page that reports what the browser looks
// like, as a phone and as a desktop.
func TestBrowserMobile(t *testing.T) {
	var gotUA []string
	uaSeen := make(chan string, 4)
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case uaSeen <- r.Header.Get("User-Agent"):
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>H5</title></head><body><p id="out" style="overflow-wrap:anywhere"></p>
<script>document.getElementById('out').textContent = JSON.stringify({
  ua: navigator.userAgent, width: window.innerWidth, dpr: window.devicePixelRatio,
  touch: 'ontouchstart' in window, coarse: matchMedia('(pointer:coarse)').matches,
  mobile: navigator.userAgentData ? navigator.userAgentData.mobile : null });</script></body></html>`)
	}))
	b := newTestBrowser(t, nil)
	type env struct {
		UA     string  `json:"ua"`
		Width  int     `json:"width"`
		DPR    float64 `json:"dpr"`
		Touch  bool    `json:"touch"`
		Coarse bool    `json:"coarse"`
		Mobile *bool   `json:"mobile"`
	}
	render := func(opts ...RenderOption) (*shopwatch.Page, env) {
		t.Helper()
		p, err := b.Render(context.Background(), s.URL+"/h5", opts...)
		if err != nil {
			t.Fatal(err)
		}
		var e env
		if err := json.Unmarshal([]byte(p.Text), &e); err != nil {
			t.Fatalf("page text %q: %v", p.Text, err)
		}
		gotUA = append(gotUA, <-uaSeen)
		return p, e
	}

	p, e := render(Mobile())
	if !p.Mobile || e.Width != 390 || e.DPR != 3 || !e.Touch || !e.Coarse ||
		!strings.Contains(e.UA, "Android") || !strings.Contains(e.UA, "Mobile") || e.Mobile == nil || !*e.Mobile {
		t.Errorf("mobile render: page.Mobile %v, environment %+v", p.Mobile, e)
	}
	if gotUA[0] != e.UA {
		t.Errorf("the server saw user agent %q, the page %q", gotUA[0], e.UA)
	}
	if img, err := png.DecodeConfig(bytes.NewReader(p.Screenshot)); err != nil || img.Width != 390*3 {
		t.Errorf("mobile screenshot %d px wide (%v), want 1170", img.Width, err)
	}
	if x := findExchange(p, s.URL+"/h5"); x == nil || !bytes.Contains(x.RequestHeader, []byte(e.UA)) {
		t.Errorf("the recorded request does not carry the mobile user agent: %+v", x)
	}

	p, e = render()
	if p.Mobile || e.Width != 1366 || e.Touch || e.Coarse || strings.Contains(e.UA, "Android") {
		t.Errorf("desktop render: page.Mobile %v, environment %+v", p.Mobile, e)
	}
}

// TestBrowserMHTMLAndPDF: the MHTML snapshot holds the rendered page, the
// script-made text included; WithPDF adds a PDF.
func TestBrowserMHTMLAndPDF(t *testing.T) {
	s := serve(t, htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html><title>存证</title><body><p>静态文字</p>
<script>document.body.insertAdjacentHTML('beforeend', '<p>脚本文字：特效保健</p>');</script></body>`)))
	b := newTestBrowser(t, nil)
	p, err := b.Render(context.Background(), s.URL, WithPDF())
	if err != nil {
		t.Fatal(err)
	}
	html := mhtmlDocument(t, p.MHTML)
	for _, want := range []string{"静态文字", "脚本文字：特效保健", "存证"} {
		if !strings.Contains(html, want) {
			t.Errorf("MHTML document lacks %q", want)
		}
	}
	if !bytes.HasPrefix(p.PDF, []byte("%PDF-")) || !bytes.Contains(p.PDF[max(len(p.PDF)-1024, 0):], []byte("%%EOF")) {
		t.Errorf("PDF of %d bytes is not a whole PDF", len(p.PDF))
	}
	p, err = b.Render(context.Background(), s.URL)
	if err != nil || p.PDF != nil || len(p.MHTML) == 0 {
		t.Errorf("render without WithPDF: err %v, %d PDF bytes, %d MHTML bytes", err, len(p.PDF), len(p.MHTML))
	}
}

// mhtmlDocument returns the decoded text/html part of an MHTML snapshot.
func mhtmlDocument(t *testing.T, data []byte) string {
	t.Helper()
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("MHTML header: %v", err)
	}
	mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("MHTML content type %q (%v)", hdr.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(tp.R, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no text/html part in the MHTML: %v", err)
		}
		if !strings.HasPrefix(part.Header.Get("Content-Type"), "text/html") {
			continue
		}
		var r io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

// TestBrowserExchanges: the exchanges of a rendered page hold its redirect
// hop and main document first, then its sub-resources, each with status,
// heads and body as served, the real server as peer, and failures.
func TestBrowserExchanges(t *testing.T) {
	img := onePixelPNG(t)
	script := []byte(`document.title = '脚本已运行';`)
	big := bytes.Repeat([]byte("大"), 2000) // 6000 bytes
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()
	doc := []byte(`<!doctype html><html><head><title>x</title><script src="/app.js"></script></head><body><p>主页面</p>
<img src="/img.png"><img src="/missing.png"><img src="` + closedURL + `/gone.png">
<script>fetch('/big.txt'); fetch('/gbk.txt');</script></body></html>`)
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/page", http.StatusFound) })
	mux.Handle("/page", htmlHandler("text/html; charset=utf-8", doc))
	mux.Handle("/app.js", htmlHandler("text/javascript; charset=utf-8", script))
	mux.Handle("/img.png", htmlHandler("image/png", img))
	mux.Handle("/big.txt", htmlHandler("text/plain; charset=utf-8", big))
	gbkText := gbk(t, "老字号 第一品牌")
	mux.Handle("/gbk.txt", htmlHandler("text/plain; charset=gbk", gbkText))
	s := serve(t, mux)
	b := newTestBrowser(t, func(c *BrowserConfig) { c.MaxBodySize = 4096 })
	p, err := b.Render(context.Background(), s.URL+"/start")
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "脚本已运行" || p.FinalURL != s.URL+"/page" || p.Status != 200 {
		t.Errorf("page: title %q, final %s, status %d", p.Title, p.FinalURL, p.Status)
	}
	if len(p.Exchanges) < 6 {
		t.Fatalf("%d exchanges, want at least 6: %v", len(p.Exchanges), exchangeURLs(p))
	}
	hop, main := p.Exchanges[0], p.Exchanges[1]
	if hop.URL != s.URL+"/start" || hop.Status != 302 || !bytes.HasPrefix(hop.ResponseHeader, []byte("HTTP/1.1 302 Found\r\n")) ||
		!bytes.Contains(hop.ResponseHeader, []byte("Location: /page\r\n")) {
		t.Errorf("first exchange %s %d, head %q: want the redirect hop", hop.URL, hop.Status, hop.ResponseHeader)
	}
	host := strings.TrimPrefix(s.URL, "http://")
	if main.URL != s.URL+"/page" || main.Status != 200 || main.Method != "GET" || main.Proto != "HTTP/1.1" ||
		!bytes.Equal(main.Body, doc) || main.BodyTruncated || main.ContentLength != int64(len(doc)) {
		t.Errorf("main document exchange: %s %s %d %s, %d body bytes (truncated %v), length %d",
			main.Method, main.URL, main.Status, main.Proto, len(main.Body), main.BodyTruncated, main.ContentLength)
	}
	if !bytes.HasPrefix(main.RequestHeader, []byte("GET /page HTTP/1.1\r\nHost: "+host+"\r\n")) ||
		!bytes.HasSuffix(main.RequestHeader, []byte("\r\n\r\n")) || !bytes.Contains(main.RequestHeader, []byte("Accept-Encoding: gzip")) ||
		bytes.Contains(main.RequestHeader, []byte("Proxy-Connection")) {
		// The head the guard proxy sent upstream: the browser's own
		// Accept-Encoding, no proxy fields.
		t.Errorf("main request head %q", main.RequestHeader)
	}
	if !bytes.HasPrefix(main.ResponseHeader, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(main.ResponseHeader, []byte("\r\n\r\n")) ||
		!bytes.Contains(main.ResponseHeader, []byte("Content-Type: text/html; charset=utf-8\r\n")) {
		t.Errorf("main response head %q", main.ResponseHeader)
	}
	if main.RemoteAddr != host || hop.RemoteAddr != host {
		t.Errorf("peers %q and %q, want the server %s (not the guard proxy)", hop.RemoteAddr, main.RemoteAddr, host)
	}
	if main.Started.IsZero() || main.Started.Before(p.FetchedAt.Add(-time.Second)) || main.Duration <= 0 {
		t.Errorf("main exchange timing: started %v (page %v), took %v", main.Started, p.FetchedAt, main.Duration)
	}
	for _, c := range []struct {
		path   string
		status int
		body   []byte
		cut    bool
		// mayGo: Chromium at times lets go of the bytes of an image it
		// could not decode; the exchange must then say so, never hold an
		// empty body as if the response had been empty.
		mayGo bool
	}{
		{"/app.js", 200, script, false, false},
		{"/img.png", 200, img, false, false},
		{"/missing.png", 404, []byte("404 page not found\n"), false, true},
		// The bytes received, not text decoded from GBK.
		{"/gbk.txt", 200, gbkText, false, false},
		// Longer than MaxBodySize: cut.
		{"/big.txt", 200, big[:4096], true, false},
	} {
		x := findExchange(p, s.URL+c.path)
		if x == nil {
			t.Errorf("no exchange for %s among %v", c.path, exchangeURLs(p))
			continue
		}
		if c.mayGo && x.BodyMissing {
			if len(x.Body) != 0 || x.BodyTruncated || x.Status != c.status || x.ContentLength != int64(len(c.body)) {
				t.Errorf("%s: flagged missing with %d body bytes (truncated %v), status %d, length %d", c.path, len(x.Body), x.BodyTruncated, x.Status, x.ContentLength)
			}
			continue
		}
		if x.BodyMissing {
			t.Errorf("%s: body flagged missing, %d bytes kept", c.path, len(x.Body))
		}
		if x.Status != c.status || !bytes.Equal(x.Body, c.body) || x.BodyTruncated != c.cut || x.RemoteAddr != host || x.Err != "" {
			t.Errorf("%s: status %d, %d body bytes (truncated %v), peer %s, err %q; want %d, %d bytes (truncated %v)",
				c.path, x.Status, len(x.Body), x.BodyTruncated, x.RemoteAddr, x.Err, c.status, len(c.body), c.cut)
		}
	}
	if x := findExchange(p, closedURL+"/gone.png"); x == nil || x.Err == "" || x.Status != 0 {
		t.Errorf("the failed image: %+v, want an error and no status", x)
	}
}

// TestBrowserExchangesBounded keeps at most MaxExchanges exchanges.
func TestBrowserExchangesBounded(t *testing.T) {
	var body strings.Builder
	body.WriteString(`<!doctype html><title>多图</title><body>`)
	for i := range 12 {
		fmt.Fprintf(&body, `<img src="/img/%d.png">`, i)
	}
	mux := http.NewServeMux()
	mux.Handle("/", htmlHandler("text/html; charset=utf-8", []byte(body.String())))
	mux.Handle("/img/", htmlHandler("image/png", onePixelPNG(t)))
	s := serve(t, mux)
	b := newTestBrowser(t, func(c *BrowserConfig) { c.MaxExchanges = 5 })
	p, err := b.Render(context.Background(), s.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Exchanges) != 5 || p.Exchanges[0].URL != s.URL+"/" {
		t.Errorf("exchanges %v, want the document and 4 more", exchangeURLs(p))
	}
}

// TestBrowserTallScreenshot cuts the screenshot of a very tall page at the
// configured height, with the top of the page drawn.
func TestBrowserTallScreenshot(t *testing.T) {
	s := serve(t, htmlHandler("text/html; charset=utf-8", []byte(`<!doctype html><body style="margin:0">
<div style="height:30000px;background:linear-gradient(#f00,#00f)"></div></body>`)))
	b := newTestBrowser(t, func(c *BrowserConfig) { c.MaxScreenshotHeight = 8000; c.ScrollSteps = -1 })
	p, err := b.Render(context.Background(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(p.Screenshot))
	if err != nil {
		t.Fatal(err)
	}
	if bnd := img.Bounds(); bnd.Dy() != 8000 || bnd.Dx() != 1366 {
		t.Errorf("screenshot %v, want 1366×8000", bnd)
	}
	for _, y := range []int{10, 4000, 7990} {
		r, g, bl, _ := img.At(683, y).RGBA()
		if r>>8 < 128 || g>>8 > 32 || bl>>8 > 128 {
			t.Errorf("pixel at y=%d is %d,%d,%d: want the red end of the gradient, not blank", y, r>>8, g>>8, bl>>8)
		}
	}
}

func findExchange(p *shopwatch.Page, url string) *shopwatch.Exchange {
	for i := range p.Exchanges {
		if p.Exchanges[i].URL == url {
			return &p.Exchanges[i]
		}
	}
	return nil
}

func exchangeURLs(p *shopwatch.Page) []string {
	var out []string
	for _, x := range p.Exchanges {
		out = append(out, fmt.Sprintf("%s %d", x.URL, x.Status))
	}
	return out
}
