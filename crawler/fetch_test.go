package crawler

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch"
)

// newTestFetcher returns a Fetcher for tests against loopback servers: cfg
// with loopback allowed through the URL guard.
func newTestFetcher(t testing.TB, cfg Config) *Fetcher {
	t.Helper()
	cfg.AllowLoopback()
	return newFetcherNoAllow(t, cfg)
}

// newFetcherNoAllow returns a Fetcher with cfg as given, guard included.
func newFetcherNoAllow(t testing.TB, cfg Config) *Fetcher {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		f.Close()
		// Every slot must have been released; a host's state may outlive
		// its last request by at most PerHostDelay.
		deadline := time.Now().Add(f.cfg.PerHostDelay + time.Second)
		for f.limits.tracked() != 0 {
			if time.Now().After(deadline) {
				t.Errorf("limiter still tracks %d hosts after the test", f.limits.tracked())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return f
}

// serveOn starts an HTTP server on the loopback address ip.
func serveOn(t testing.TB, ip string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	return serveOn(t, "127.0.0.1", h)
}

// htmlHandler serves body with the given Content-Type, never letting
// net/http sniff one (it would claim utf-8).
func htmlHandler(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}
}

func TestFetchUTF8HeaderCharset(t *testing.T) {
	body := []byte(`<!doctype html><html><head><title>旗舰店首页</title></head><body>
<h1>全网最佳口碑</h1><p>100%纯棉</p>
<a href="/shop/1/item/2">商品</a> <a href="/shop/1/item/2#desc">同一商品</a>
<a href="item/3">相对</a> <a href="http://other.example/x">外站</a>
<a href="mailto:a@b">邮件</a> <a href="#top">顶部</a></body></html>`)
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("request carried Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		htmlHandler("text/html; charset=utf-8", body)(w, r)
	}))
	f := newTestFetcher(t, Config{UserAgent: "shopwatch-test/1"})
	url := s.URL + "/shop/1/"
	p, err := f.Fetch(context.Background(), url)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.URL != url || p.FinalURL != url || p.Status != 200 {
		t.Errorf("URL, FinalURL, Status = %q, %q, %d", p.URL, p.FinalURL, p.Status)
	}
	if p.Charset != "utf-8" || p.CharsetSource != SourceHeader || p.DeclaredCharset != "utf-8" {
		t.Errorf("charset facts = %q, %q, %q", p.Charset, p.CharsetSource, p.DeclaredCharset)
	}
	if p.ContentType != "text/html; charset=utf-8" {
		t.Errorf("ContentType = %q", p.ContentType)
	}
	if p.Title != "旗舰店首页" || !strings.Contains(p.Text, "全网最佳口碑\n100%纯棉") {
		t.Errorf("title %q, text %q", p.Title, p.Text)
	}
	wantLinks := []string{s.URL + "/shop/1/item/2", s.URL + "/shop/1/item/3"}
	if !reflect.DeepEqual(p.Links, wantLinks) {
		t.Errorf("links = %q, want %q", p.Links, wantLinks)
	}
	if p.FetchedAt.IsZero() || p.Rendered {
		t.Errorf("FetchedAt %v, Rendered %v", p.FetchedAt, p.Rendered)
	}
	if len(p.Exchanges) != 1 {
		t.Fatalf("%d exchanges, want 1", len(p.Exchanges))
	}
	ex := p.Exchanges[0]
	if !bytes.Equal(ex.Body, body) {
		t.Errorf("exchange body differs from the bytes served")
	}
	if ex.RemoteAddr != s.Listener.Addr().String() {
		t.Errorf("RemoteAddr = %q, want %q", ex.RemoteAddr, s.Listener.Addr())
	}
	if ex.Method != "GET" || ex.URL != url || ex.Status != 200 || ex.Proto != "HTTP/1.1" || ex.ContentLength != int64(len(body)) {
		t.Errorf("exchange = %s %s %d %s len %d", ex.Method, ex.URL, ex.Status, ex.Proto, ex.ContentLength)
	}
	req := string(ex.RequestHeader)
	if !strings.HasPrefix(req, "GET /shop/1/ HTTP/1.1\r\nHost: "+s.Listener.Addr().String()+"\r\nUser-Agent: shopwatch-test/1\r\n") ||
		!strings.HasSuffix(req, "\r\n\r\n") || strings.Contains(req, "Accept-Encoding") {
		t.Errorf("request head:\n%s", req)
	}
	res := string(ex.ResponseHeader)
	if !strings.HasPrefix(res, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(res, "\r\n\r\n") ||
		!strings.Contains(res, "\r\nContent-Type: text/html; charset=utf-8\r\n") {
		t.Errorf("response head:\n%s", res)
	}
	if ex.Started.IsZero() || ex.Duration <= 0 || ex.Err != "" || ex.BodyTruncated {
		t.Errorf("started %v, duration %v, err %q, truncated %v", ex.Started, ex.Duration, ex.Err, ex.BodyTruncated)
	}
}

func TestFetchGBKMetaOnly(t *testing.T) {
	body := gbk(t, `<html><head><meta charset="gbk"><title>食品专营店</title></head>
<body><p>坚持食用可治疗糖尿病</p><p>统一社会信用代码：91330106MA27XXXX0X</p></body></html>`)
	s := serve(t, htmlHandler("text/html", body))
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL+"/")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.Charset != "gb18030" || p.CharsetSource != SourceMeta || p.DeclaredCharset != "gbk" {
		t.Errorf("charset facts = %q, %q, %q", p.Charset, p.CharsetSource, p.DeclaredCharset)
	}
	if p.Title != "食品专营店" || p.Text != "坚持食用可治疗糖尿病\n统一社会信用代码：91330106MA27XXXX0X" {
		t.Errorf("title %q, text %q", p.Title, p.Text)
	}
	if !bytes.Equal(p.Exchanges[0].Body, body) {
		t.Errorf("exchange body is not the GBK bytes served")
	}
}

func TestFetchMetaAfterLongHead(t *testing.T) {
	head := "<html><head><style>" + strings.Repeat(".c{margin:0}/* 样式 */\n", 200) + "</style>"
	if len(head) < 3072 {
		t.Fatalf("head is only %d bytes", len(head))
	}
	body := gbk(t, head+`<meta http-equiv="Content-Type" content="text/html; charset=gb2312"><title>化妆品</title></head><body>快速消炎祛痘</body></html>`)
	s := serve(t, htmlHandler("text/html", body))
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.Charset != "gb18030" || p.CharsetSource != SourceMeta || p.DeclaredCharset != "gb2312" {
		t.Errorf("charset facts = %q, %q, %q", p.Charset, p.CharsetSource, p.DeclaredCharset)
	}
	if p.Title != "化妆品" || p.Text != "快速消炎祛痘" {
		t.Errorf("title %q, text %q", p.Title, p.Text)
	}
}

func TestFetchRealPages(t *testing.T) {
	tmall, taobao := realPage(t, "tmall.html"), realPage(t, "taobao.html")
	mux := http.NewServeMux()
	mux.Handle("/tmall", htmlHandler("text/html", tmall))
	mux.Handle("/taobao", htmlHandler("text/html", taobao))
	s := serve(t, mux)
	f := newTestFetcher(t, Config{})

	p, err := f.Fetch(context.Background(), s.URL+"/tmall")
	if err != nil {
		t.Fatalf("Fetch tmall: %v", err)
	}
	if p.Charset != "gb18030" || p.CharsetSource != SourceMeta || p.DeclaredCharset != "gbk" {
		t.Errorf("tmall charset facts = %q, %q, %q", p.Charset, p.CharsetSource, p.DeclaredCharset)
	}
	if !strings.Contains(p.Title, "Apple/苹果 iPhone 11") || !strings.Contains(p.Title, "天猫") {
		t.Errorf("tmall title %q", p.Title)
	}
	for _, w := range []string{"苏宁易购官方旗舰店", "累计评价", "店铺动态评分"} {
		if !strings.Contains(p.Text, w) {
			t.Errorf("tmall text lacks %q", w)
		}
	}
	if strings.ContainsRune(p.Text, '\uFFFD') || strings.ContainsRune(p.Title, '\uFFFD') {
		t.Errorf("tmall text has U+FFFD")
	}
	if !bytes.Equal(p.Exchanges[0].Body, tmall) {
		t.Errorf("tmall exchange body is not the file's bytes")
	}

	p, err = f.Fetch(context.Background(), s.URL+"/taobao")
	if err != nil {
		t.Fatalf("Fetch taobao: %v", err)
	}
	if p.Charset != "utf-8" {
		t.Errorf("taobao charset %q from %s (declared %q), want utf-8", p.Charset, p.CharsetSource, p.DeclaredCharset)
	}
	if !strings.Contains(p.Title, "乳白亚克力外壳") || !strings.Contains(p.Text, "淘宝网首页") {
		t.Errorf("taobao title %q", p.Title)
	}
}

// rawServer accepts connections on loopback and answers each request with
// the bytes respond returns, passing on the request head exactly as read.
func rawServer(t *testing.T, respond func(head []byte) []byte) (addr string, heads <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan []byte, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				var head []byte
				for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
					b, err := br.ReadByte()
					if err != nil {
						return
					}
					head = append(head, b)
				}
				ch <- head
				c.Write(respond(head))
			}()
		}
	}()
	return l.Addr().String(), ch
}

func TestFetchRecordsWireBytes(t *testing.T) {
	// Odd header case and order, an interim 103 and a chunked GBK body:
	// none of it survives Go's parsed Header, all of it must be kept.
	body := gbk(t, `<html><head><title>直播间</title></head><body>三天降血压</body></html>`)
	interim := "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
	final := "HTTP/1.1 200 OK\r\nx-ODD-case: yes\r\nContent-Type: text/html; charset=GBK\r\nTransfer-Encoding: chunked\r\nzz-First: 1\r\n\r\n"
	chunked := fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 10, body[:10], len(body)-10, body[10:])
	addr, heads := rawServer(t, func([]byte) []byte { return []byte(interim + final + chunked) })

	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), "http://"+addr+"/live/7?from=list")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	sent := <-heads
	ex := p.Exchanges[0]
	if !bytes.Equal(ex.RequestHeader, sent) {
		t.Errorf("request head recorded:\n%q\nreceived by the server:\n%q", ex.RequestHeader, sent)
	}
	if got, want := string(ex.ResponseHeader), interim+final; got != want {
		t.Errorf("response head recorded:\n%q\nsent:\n%q", got, want)
	}
	if !bytes.Equal(ex.Body, body) || ex.ContentLength != -1 {
		t.Errorf("body %q (content length %d), want the de-chunked GBK bytes", ex.Body, ex.ContentLength)
	}
	if p.ContentType != "text/html; charset=GBK" || p.CharsetSource != SourceHeader || p.Text != "三天降血压" || p.Title != "直播间" {
		t.Errorf("content type %q, charset source %q, title %q, text %q", p.ContentType, p.CharsetSource, p.Title, p.Text)
	}
}

func TestFetchHTTPSRecordsPlaintext(t *testing.T) {
	body := []byte("<title>安全店铺</title><p>浙ICP备12345678号-1</p>")
	s := httptest.NewUnstartedServer(htmlHandler("text/html; charset=utf-8", body))
	s.EnableHTTP2 = true // the fetcher must still speak HTTP/1.1
	s.StartTLS()
	t.Cleanup(s.Close)
	f := newTestFetcher(t, Config{})
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	f.transport.tlsConf.RootCAs = pool

	p, err := f.Fetch(context.Background(), s.URL+"/shop")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	ex := p.Exchanges[0]
	if !strings.HasPrefix(string(ex.RequestHeader), "GET /shop HTTP/1.1\r\n") ||
		!strings.HasPrefix(string(ex.ResponseHeader), "HTTP/1.1 200 OK\r\n") || ex.Proto != "HTTP/1.1" {
		t.Errorf("heads over TLS:\n%s\n%s", ex.RequestHeader, ex.ResponseHeader)
	}
	if !bytes.Equal(ex.Body, body) || p.Title != "安全店铺" {
		t.Errorf("body %q, title %q", ex.Body, p.Title)
	}
}

func TestFetchGzipServedAnyway(t *testing.T) {
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write([]byte("<title>压缩</title><p>顶级工艺</p>"))
	zw.Close()
	gz := zbuf.Bytes()
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	}))
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !bytes.Equal(p.Exchanges[0].Body, gz) {
		t.Errorf("exchange body is not the gzip bytes on the wire")
	}
	if p.Text != "顶级工艺" {
		t.Errorf("text %q", p.Text)
	}
}

func TestFetchGzipBombIsCapped(t *testing.T) {
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write([]byte("<p>"))
	zw.Write(bytes.Repeat([]byte("最"), 1<<20)) // 3 MiB of markup from a few KB on the wire
	zw.Close()
	gz := zbuf.Bytes()
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	}))
	p, err := newTestFetcher(t, Config{MaxBodySize: 64 << 10}).Fetch(context.Background(), s.URL)
	if !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge for the decompressed size", err)
	}
	if p == nil || !bytes.Equal(p.Exchanges[0].Body, gz) || p.Exchanges[0].BodyTruncated {
		t.Fatalf("the gzip bytes on the wire fit the cap and must be kept whole")
	}
	// A character cut by the cap decodes as one U+FFFD.
	if n := len(p.HTML); n > 64<<10+len("\uFFFD") {
		t.Errorf("decoded %d bytes of markup, cap is %d", n, 64<<10)
	}
}

func TestFetchCookiesLiveForOneFetch(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sess", Value: "abc", Path: "/"})
		http.Redirect(w, r, "/home", http.StatusFound)
	})
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if c, err := r.Cookie("sess"); err == nil && c.Value == "abc" {
			io.WriteString(w, "<p>已登录</p>")
			return
		}
		io.WriteString(w, "<p>未登录</p>")
	})
	s := serve(t, mux)
	f := newTestFetcher(t, Config{})
	p, err := f.Fetch(context.Background(), s.URL+"/login")
	if err != nil || p.Text != "已登录" {
		t.Fatalf("redirect chain: err %v, text %q; want the cookie carried to the next hop", err, p.Text)
	}
	if !strings.Contains(string(p.Exchanges[1].RequestHeader), "\r\nCookie: sess=abc\r\n") {
		t.Errorf("the recorded second request does not show the cookie sent:\n%s", p.Exchanges[1].RequestHeader)
	}
	p, err = f.Fetch(context.Background(), s.URL+"/home")
	if err != nil || p.Text != "未登录" {
		t.Errorf("second fetch: err %v, text %q; want no cookie from an earlier fetch", err, p.Text)
	}
}

func TestFetchRedirectChain(t *testing.T) {
	big := "<html><body>" + strings.Repeat("已搬迁 ", 600) + "</body></html>" // beyond the client's 2 KB skim
	mux := http.NewServeMux()
	var base string
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Location", "/b")
		w.WriteHeader(http.StatusMovedPermanently)
		io.WriteString(w, big)
	})
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+"/c", http.StatusFound)
	})
	mux.Handle("/c", htmlHandler("text/html; charset=utf-8", []byte("<title>到了</title>")))
	s := serve(t, mux)
	base = s.URL

	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL+"/a")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.URL != s.URL+"/a" || p.FinalURL != s.URL+"/c" || p.Status != 200 || p.Title != "到了" {
		t.Errorf("URL %q → %q, status %d, title %q", p.URL, p.FinalURL, p.Status, p.Title)
	}
	var got []string
	for _, ex := range p.Exchanges {
		line, _, _ := strings.Cut(string(ex.RequestHeader), "\r\n")
		got = append(got, fmt.Sprintf("%d %s", ex.Status, line))
		if ex.RemoteAddr != s.Listener.Addr().String() {
			t.Errorf("hop %s: RemoteAddr %q", ex.URL, ex.RemoteAddr)
		}
	}
	want := []string{"301 GET /a HTTP/1.1", "302 GET /b HTTP/1.1", "200 GET /c HTTP/1.1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hops = %q, want %q", got, want)
	}
	if string(p.Exchanges[0].Body) != big {
		t.Errorf("first hop kept %d body bytes, want the whole %d", len(p.Exchanges[0].Body), len(big))
	}
	if !strings.Contains(string(p.Exchanges[1].RequestHeader), "\r\nReferer: "+s.URL+"/a\r\n") {
		t.Errorf("second hop head lacks the Referer the client sent:\n%s", p.Exchanges[1].RequestHeader)
	}
	if !p.Exchanges[0].Started.Before(p.Exchanges[2].Started) {
		t.Errorf("exchanges out of order")
	}
}

func TestFetchRedirectLoop(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/x", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/y", http.StatusFound) })
	mux.HandleFunc("/y", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/x", http.StatusFound) })
	s := serve(t, mux)
	p, err := newTestFetcher(t, Config{MaxRedirects: 5}).Fetch(context.Background(), s.URL+"/x")
	if !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("err = %v, want ErrTooManyRedirects", err)
	}
	if msg := err.Error(); !strings.Contains(msg, s.URL+"/x") || !strings.Contains(msg, "6 redirects, the limit is 5") {
		t.Errorf("error %q does not name the URL and the count", msg)
	}
	if p == nil || len(p.Exchanges) != 6 {
		t.Fatalf("page %v: want the 6 hops kept", p)
	}
	for _, ex := range p.Exchanges {
		if ex.Status != http.StatusFound || len(ex.RequestHeader) == 0 || len(ex.ResponseHeader) == 0 {
			t.Errorf("hop %s: status %d, heads %d/%d bytes", ex.URL, ex.Status, len(ex.RequestHeader), len(ex.ResponseHeader))
		}
	}
	if p.Text != "" {
		t.Errorf("a cut redirect chain produced text %q", p.Text)
	}
}

func TestFetchRedirectsNotFollowed(t *testing.T) {
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/next" {
			w.Header().Set("Location", "/next")
			w.WriteHeader(http.StatusMovedPermanently)
		}
	}))
	p, err := newTestFetcher(t, Config{MaxRedirects: -1}).Fetch(context.Background(), s.URL+"/first")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.Status != http.StatusMovedPermanently || len(p.Exchanges) != 1 || p.FinalURL != s.URL+"/first" {
		t.Errorf("status %d, %d exchanges, final %q", p.Status, len(p.Exchanges), p.FinalURL)
	}
}

func TestFetchBodyTooLarge(t *testing.T) {
	const max = 1000
	big := []byte("<p>" + strings.Repeat("行", 2000) + "</p>")
	exact := []byte("<p>" + strings.Repeat("x", max-7) + "</p>")
	mux := http.NewServeMux()
	mux.Handle("/big", htmlHandler("text/html; charset=utf-8", big))
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(big[:500])
		w.(http.Flusher).Flush()
		w.Write(big[500:])
	})
	mux.Handle("/exact", htmlHandler("text/html; charset=utf-8", exact))
	s := serve(t, mux)
	f := newTestFetcher(t, Config{MaxBodySize: max})

	for _, path := range []string{"/big", "/big-chunked"} {
		p, err := f.Fetch(context.Background(), s.URL+path)
		if !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("%s: err = %v, want ErrBodyTooLarge", path, err)
		}
		if !strings.Contains(err.Error(), s.URL+path) {
			t.Errorf("error %q does not name the URL", err)
		}
		if p == nil || len(p.Exchanges) != 1 {
			t.Fatalf("%s: page %v, want one exchange kept", path, p)
		}
		ex := p.Exchanges[0]
		if !ex.BodyTruncated || !bytes.Equal(ex.Body, big[:max]) {
			t.Errorf("%s: truncated %v, %d body bytes; want the first %d", path, ex.BodyTruncated, len(ex.Body), max)
		}
		if !strings.HasPrefix(p.Text, "行行行") {
			t.Errorf("%s: partial page not decoded: %q", path, trunc(p.Text))
		}
	}
	p, err := f.Fetch(context.Background(), s.URL+"/exact")
	if err != nil || p.Exchanges[0].BodyTruncated || !bytes.Equal(p.Exchanges[0].Body, exact) {
		t.Errorf("a body of exactly the cap: err %v, truncated %v", err, p.Exchanges[0].BodyTruncated)
	}
}

func TestFetchNotHTML(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	s := serve(t, htmlHandler("image/png", png))
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL+"/logo.png")
	if !errors.Is(err, ErrNotHTML) || !strings.Contains(err.Error(), s.URL+"/logo.png") {
		t.Fatalf("err = %v, want ErrNotHTML naming the URL", err)
	}
	if p == nil || len(p.Exchanges) != 1 || !bytes.Equal(p.Exchanges[0].Body, png) {
		t.Fatalf("page %v: want the image bytes kept", p)
	}
	if p.ContentType != "image/png" || p.Text != "" || p.HTML != "" || p.Charset != "" {
		t.Errorf("content type %q, text %q, charset %q", p.ContentType, p.Text, p.Charset)
	}
}

func TestFetchStatusErrorKeepsPage(t *testing.T) {
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<title>404</title><p>商品已下架</p>")
	}))
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL+"/item/9")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || se.URL != s.URL+"/item/9" {
		t.Fatalf("err = %v, want a StatusError 404 naming the URL", err)
	}
	if p == nil || p.Status != 404 || p.Text != "商品已下架" {
		t.Fatalf("page %+v: want the 404 page decoded", p)
	}
}

func TestFetchInvalidURLNeverDials(t *testing.T) {
	f := newTestFetcher(t, Config{})
	var dials atomic.Int32
	dial, dialTLS := f.transport.base.DialContext, f.transport.base.DialTLSContext
	f.transport.base.DialContext = func(ctx context.Context, n, a string) (net.Conn, error) { dials.Add(1); return dial(ctx, n, a) }
	f.transport.base.DialTLSContext = func(ctx context.Context, n, a string) (net.Conn, error) { dials.Add(1); return dialTLS(ctx, n, a) }
	for _, u := range []string{":::", "ftp://x", "http://", "", "/relative/path", "javascript:alert(1)", "http://:80/", "mailto:a@b.c", "http://127.0.0.1:0/"} {
		p, err := f.Fetch(context.Background(), u)
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Fetch(%q) err = %v, want ErrInvalidURL", u, err)
			continue
		}
		if p != nil {
			t.Errorf("Fetch(%q) returned a page", u)
		}
		if !strings.Contains(err.Error(), strconv.Quote(u)) {
			t.Errorf("error %q does not name %q", err, u)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d connections dialled for invalid URLs", n)
	}
}

func TestFetchUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	url := "http://" + addr + "/shop"
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), url)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, url) || !strings.Contains(msg, "connection refused") {
		t.Errorf("error %q should name the URL and say the connection was refused", msg)
	}
	if p == nil || len(p.Exchanges) != 1 || p.Exchanges[0].Err == "" || p.Exchanges[0].Status != 0 || len(p.Exchanges[0].RequestHeader) != 0 {
		t.Errorf("page %+v: want one failed exchange and no request bytes", p)
	}
}

func TestFetchTimeouts(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<p>开头")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s := serve(t, mux)
	t.Cleanup(func() { close(release) })
	f := newTestFetcher(t, Config{Timeout: 300 * time.Millisecond})

	for _, path := range []string{"/hang", "/trickle"} {
		start := time.Now()
		p, err := f.Fetch(context.Background(), s.URL+path)
		took := time.Since(start)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), s.URL+path) {
			t.Errorf("%s: err = %v, want ErrTimeout naming the URL", path, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s: took %s with a 300ms timeout", path, took)
		}
		if p == nil || len(p.Exchanges) != 1 || p.Exchanges[0].Err == "" {
			t.Fatalf("%s: page %+v, want the failed exchange kept", path, p)
		}
		if path == "/trickle" && string(p.Exchanges[0].Body) != "<p>开头" {
			t.Errorf("trickle: kept body %q, want the bytes that arrived", p.Exchanges[0].Body)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := newTestFetcher(t, Config{}).Fetch(ctx, s.URL+"/hang")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled fetch: err = %v, want context.Canceled", err)
	}
}

func TestFetchMalformedHTML(t *testing.T) {
	body := []byte(`<html><head><title>残缺页面</title><body><div><p>最后一批现货<b>仅剩<i>3件</b></p></p><table><td>一级能效<td>正品</div><li>列表`)
	s := serve(t, htmlHandler("text/html; charset=utf-8", body))
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), s.URL)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	for _, want := range []string{"最后一批现货仅剩3件", "一级能效 正品", "列表"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text %q lacks %q", p.Text, want)
		}
	}
}

func TestFetchSniffsMissingContentType(t *testing.T) {
	addr, _ := rawServer(t, func([]byte) []byte {
		b := "<!DOCTYPE html><html><title>无类型</title><p>正文</p></html>"
		return []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b))
	})
	p, err := newTestFetcher(t, Config{}).Fetch(context.Background(), "http://"+addr+"/")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.ContentType != "" || p.Title != "无类型" || p.Text != "正文" {
		t.Errorf("content type %q, title %q, text %q", p.ContentType, p.Title, p.Text)
	}
}

// concurrencyProbe counts requests in flight per host and in total.
type concurrencyProbe struct {
	mu       sync.Mutex
	inFlight map[string]int
	maxHost  map[string]int
	total    int
	maxTotal int
	hold     time.Duration
}

func newProbe(hold time.Duration) *concurrencyProbe {
	return &concurrencyProbe{inFlight: map[string]int{}, maxHost: map[string]int{}, hold: hold}
}

func (c *concurrencyProbe) handler(host string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.inFlight[host]++
		c.total++
		c.maxHost[host] = max(c.maxHost[host], c.inFlight[host])
		c.maxTotal = max(c.maxTotal, c.total)
		c.mu.Unlock()
		time.Sleep(c.hold)
		c.mu.Lock()
		c.inFlight[host]--
		c.total--
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<title>%s</title>", r.URL.Path)
	}
}

func fetchAll(t *testing.T, f *Fetcher, urls []string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := f.Fetch(context.Background(), u)
			if err != nil {
				t.Errorf("Fetch(%s): %v", u, err)
				return
			}
			if want := strings.TrimPrefix(u, u[:strings.Index(u[7:], "/")+7]); p.Title != want {
				t.Errorf("Fetch(%s) title %q, want %q", u, p.Title, want)
			}
		}()
	}
	wg.Wait()
}

func TestPerHostParallelism(t *testing.T) {
	probe := newProbe(40 * time.Millisecond)
	a := serveOn(t, "127.0.0.1", probe.handler("a"))
	b := serveOn(t, "127.0.0.2", probe.handler("b"))
	f := newTestFetcher(t, Config{PerHostParallel: 2, MaxParallel: 16})
	var urls []string
	for i := range 10 {
		urls = append(urls, fmt.Sprintf("%s/p/%d", a.URL, i), fmt.Sprintf("%s/p/%d", b.URL, i))
	}
	fetchAll(t, f, urls)
	if probe.maxHost["a"] != 2 || probe.maxHost["b"] != 2 {
		t.Errorf("max in flight per host = %v, want exactly 2 on each", probe.maxHost)
	}
	// One shared semaphore would hold the total at 2; per-host limits let
	// both hosts run their 2 at once.
	if probe.maxTotal != 4 {
		t.Errorf("max in flight over both hosts = %d, want 4", probe.maxTotal)
	}
}

func TestGlobalParallelismCap(t *testing.T) {
	probe := newProbe(40 * time.Millisecond)
	a := serveOn(t, "127.0.0.1", probe.handler("a"))
	b := serveOn(t, "127.0.0.2", probe.handler("b"))
	f := newTestFetcher(t, Config{PerHostParallel: 4, MaxParallel: 3})
	var urls []string
	for i := range 8 {
		urls = append(urls, fmt.Sprintf("%s/p/%d", a.URL, i), fmt.Sprintf("%s/p/%d", b.URL, i))
	}
	fetchAll(t, f, urls)
	if probe.maxTotal != 3 {
		t.Errorf("max in flight in all = %d, want 3", probe.maxTotal)
	}
}

func TestPerHostDelay(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<title>"+r.URL.Path+"</title>")
	}))
	const delay = 60 * time.Millisecond
	f := newTestFetcher(t, Config{PerHostParallel: 4, PerHostDelay: delay})
	var urls []string
	for i := range 4 {
		urls = append(urls, fmt.Sprintf("%s/d/%d", s.URL, i))
	}
	fetchAll(t, f, urls)
	// The server sees each start a little after the client made it, by
	// an amount the scheduler decides (a new connection, the race
	// detector): each gap may lose some of the delay to that jitter, the
	// span of the four starts much less. Without the delay the four
	// requests, four slots wide, start together.
	if len(starts) != len(urls) {
		t.Fatalf("%d requests reached the server, want %d", len(starts), len(urls))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < delay/2 {
			t.Errorf("requests %d and %d started %s apart, want about %s", i-1, i, gap, delay)
		}
	}
	if span, want := starts[len(starts)-1].Sub(starts[0]), time.Duration(len(starts)-1)*delay-30*time.Millisecond; span < want {
		t.Errorf("the %d requests started within %s, want at least %s", len(starts), span, want)
	}
}

func TestFetchQueueWaitIsNotFetchTime(t *testing.T) {
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hold") {
			time.Sleep(200 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<p>ok</p>")
	}))
	// One slot per host and a 300 ms timeout; three requests of 200 ms
	// each hold the slot in turn for about 600 ms.
	f := newTestFetcher(t, Config{PerHostParallel: 1, Timeout: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Fetch(context.Background(), fmt.Sprintf("%s/hold/%d", s.URL, i)); err != nil {
				t.Errorf("holder %d: %v", i, err)
			}
		}()
		time.Sleep(20 * time.Millisecond) // queue in this order
	}

	// A caller deadline that ends while queued: no page, the caller's error.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p, err := f.Fetch(ctx, s.URL+"/gives-up")
	if !errors.Is(err, context.DeadlineExceeded) || p != nil {
		t.Errorf("queued fetch past its deadline: page %v, err %v", p, err)
	}

	// Queued behind all three for longer than the fetch timeout, and
	// still within it, because the timeout starts when the request may go.
	start := time.Now()
	p, err = f.Fetch(context.Background(), s.URL+"/after")
	if err != nil || p.Text != "ok" {
		t.Errorf("fetch queued behind slow ones: err %v; queueing must not use up the timeout", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("queued fetch finished after %s; it should have waited for the host slot", waited)
	}
	wg.Wait()
}

func TestFetchConcurrentPagesStayApart(t *testing.T) {
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<title>页面 %s</title><p>正文 %s</p><a href='/next%s'>下一页</a>", r.URL.Path, r.URL.Path, r.URL.Path)
	}))
	f := newTestFetcher(t, Config{PerHostParallel: 8})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/item/%d", i)
			p, err := f.Fetch(context.Background(), s.URL+path)
			if err != nil {
				t.Errorf("Fetch %s: %v", path, err)
				return
			}
			if p.Title != "页面 "+path || p.Text != "正文 "+path+"\n下一页" || len(p.Exchanges) != 1 ||
				p.Exchanges[0].URL != s.URL+path || !bytes.Contains(p.Exchanges[0].RequestHeader, []byte("GET "+path+" ")) ||
				!reflect.DeepEqual(p.Links, []string{s.URL + "/next" + path}) {
				t.Errorf("%s: mixed up: title %q, text %q, exchanges %d, links %q", path, p.Title, p.Text, len(p.Exchanges), p.Links)
			}
		}()
	}
	wg.Wait()
}

func TestNewRejectsNegativeLimits(t *testing.T) {
	for _, cfg := range []Config{{Timeout: -1}, {MaxBodySize: -1}, {PerHostParallel: -1}, {MaxParallel: -2}, {PerHostDelay: -time.Second},
		{Allow: []string{"10.0.0.0/33"}}, {Allow: []string{"shop example"}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a negative limit", cfg)
		}
	}
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Config(); !reflect.DeepEqual(got, DefaultConfig()) {
		t.Errorf("zero config became %+v, want the defaults %+v", got, DefaultConfig())
	}
}

// The Page type is shared with the rest of shopwatch; keep the fields this
// package fills in mind when it changes.
var _ = shopwatch.Page{}
