package crawler

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"shopwatch"
	"shopwatch/internal/testparts"
)

// gzipChunked returns a chunked, gzip-coded HTTP/1.1 response of body,
// split into uneven chunks, with a trailer.
func gzipChunked(t *testing.T, contentType, body string) (response string, coded []byte) {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(body))
	zw.Close()
	coded = gz.Bytes()
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + contentType + "\r\nContent-Encoding: gzip\r\nTrailer: X-Parts\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i, n := 0, 7; i < len(coded); i, n = i+n, n*3 {
		part := coded[i:min(i+n, len(coded))]
		b.WriteString(strconvHex(len(part)) + "\r\n")
		b.Write(part)
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\nX-Parts: all\r\n\r\n")
	return b.String(), coded
}

// TestRenderKeepsWireBytes renders an HTTPS page whose document and script
// come chunked and gzip-coded, and checks that the browser path keeps, as
// the static path does, the bytes the server sent: the response heads and
// bodies with their chunked framing and content coding, the de-chunked
// coded body beside them, and the TLS session with the server's own
// certificate — while Chromium, whose TLS ends at the guard proxy, renders
// the decoded page.
func TestRenderKeepsWireBytes(t *testing.T) {
	pki := testparts.NewPKI(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	const text = "全网第一疗效最好"
	page, pageCoded := gzipChunked(t, "text/html; charset=utf-8",
		`<!doctype html><html><head><meta charset="utf-8"><title>店铺</title><script src="/app.js"></script></head><body><p>`+
			text+`</p><p id="js"></p></body></html>`)
	script, scriptCoded := gzipChunked(t, "text/javascript", `document.addEventListener("DOMContentLoaded", () => { document.getElementById("js").textContent = "脚本已运行"; });`)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startWireServerOn(t, tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{pki.Cert}}), map[string]string{
		"/p":      page,
		"/app.js": script,
	})
	b := newTestBrowser(t, func(c *BrowserConfig) { c.RootCAs = pki.Pool })
	p, err := b.Render(context.Background(), "https://"+raw.Addr().String()+"/p")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !strings.Contains(p.Text, text) || !strings.Contains(p.Text, "脚本已运行") {
		t.Fatalf("rendered text %q lacks the decoded page or the script's work", p.Text)
	}
	want := map[string]struct {
		response string
		coded    []byte
	}{"/p": {page, pageCoded}, "/app.js": {script, scriptCoded}}
	found := 0
	for _, ex := range p.Exchanges {
		path := strings.TrimPrefix(ex.URL, "https://"+raw.Addr().String())
		w, ok := want[path]
		if !ok {
			continue
		}
		found++
		head, _, _ := strings.Cut(w.response, "\r\n\r\n")
		if got := string(ex.ResponseHeader) + string(ex.WireBody); got != w.response {
			t.Errorf("%s: kept %q\nwant the bytes the server sent %q", path, got, w.response)
		}
		if string(ex.ResponseHeader) != head+"\r\n\r\n" {
			t.Errorf("%s: response head %q", path, ex.ResponseHeader)
		}
		if !bytes.Equal(ex.Body, w.coded) {
			t.Errorf("%s: body of %d bytes, want the %d gzip bytes, de-chunked", path, len(ex.Body), len(w.coded))
		}
		if ex.TLS == nil || !ex.TLS.Verified || len(ex.TLS.PeerCertificates) == 0 || !bytes.Equal(ex.TLS.PeerCertificates[0], pki.Cert.Certificate[0]) {
			t.Errorf("%s: TLS %+v, want the verified session with the server's own certificate", path, ex.TLS)
		}
		if ex.RemoteAddr != raw.Addr().String() {
			t.Errorf("%s: peer %q, want the server %s", path, ex.RemoteAddr, raw.Addr())
		}
		if !bytes.HasPrefix(ex.RequestHeader, []byte("GET "+path+" HTTP/1.1\r\n")) {
			t.Errorf("%s: request head %q, want the bytes sent upstream", path, ex.RequestHeader)
		}
	}
	if found != 2 {
		t.Fatalf("%d of the 2 exchanges found in %d", found, len(p.Exchanges))
	}
	s.mu.Lock()
	wrote := s.wrote.String()
	s.mu.Unlock()
	if !strings.Contains(wrote, page) || !strings.Contains(wrote, script) {
		t.Errorf("the server did not write the responses the test expects")
	}
}

// TestRenderRefusesUntrustedServer: ending the browser's TLS at the proxy
// does not lower the bar: a server whose certificate does not verify
// against the configured roots is not rendered, and the render says why.
func TestRenderRefusesUntrustedServer(t *testing.T) {
	pki := testparts.NewPKI(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	other := testparts.NewPKI(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	startWireServerOn(t, tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{pki.Cert}}), map[string]string{
		"/p": "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 22\r\n\r\n<p>should not show</p>",
	})
	b := newTestBrowser(t, func(c *BrowserConfig) { c.RootCAs = other.Pool })
	p, err := b.Render(context.Background(), "https://"+raw.Addr().String()+"/p")
	if err == nil && strings.Contains(p.Text, "should not show") {
		t.Fatalf("a server with an untrusted certificate was rendered: %q", p.Text)
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Render = %v, want an error naming the certificate", err)
	}
}

// TestWireRecordsBudget: the proxy's records keep bodies up to the page's
// budget; past it a request keeps its place, so later requests of the same
// URL still pair with the browser's, but not its bytes.
func TestWireRecordsBudget(t *testing.T) {
	w := &wireRecords{maxTotal: 10}
	body := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	w.add([]shopwatch.Exchange{
		{Method: "GET", URL: "https://a/1", Body: body(6), ResponseHeader: []byte("HTTP/1.1 200 OK\r\n\r\n")},
		{Method: "GET", URL: "https://a/1", Body: body(6), ResponseHeader: []byte("HTTP/1.1 200 OK\r\n\r\n")},
		{Method: "GET", URL: "https://a/2", Body: body(4), ResponseHeader: []byte("HTTP/1.1 200 OK\r\n\r\n")},
	})
	if x, ok := w.nth("GET", "https://a/1", 0); !ok || len(x.Body) != 6 || x.Err != "" {
		t.Errorf("first record: %+v %v", x, ok)
	}
	if x, ok := w.nth("GET", "https://a/1", 1); !ok || len(x.Body) != 0 || x.Err == "" {
		t.Errorf("record past the budget kept its bytes or lost its place: %+v %v", x, ok)
	}
	if x, ok := w.nth("GET", "https://a/2", 0); !ok || len(x.Body) != 4 {
		t.Errorf("a record that fits the budget after a refused one: %+v %v", x, ok)
	}
	if _, ok := w.nth("GET", "https://a/1", 2); ok {
		t.Errorf("a third record of a/1 that was never made")
	}
	var none *wireRecords
	if _, ok := none.nth("GET", "https://a/1", 0); ok {
		t.Errorf("a nil record set holds records")
	}
}
