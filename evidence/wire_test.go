package evidence_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"shopwatch/crawler"
	"shopwatch/evidence"
	"shopwatch/evidence/warc"
	"shopwatch/evidence/warc/warctest"
)

// tapListener hands out connections that copy every byte the server
// writes, after TLS (the HTTP messages), one buffer per connection.
type tapListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*tapConn
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, tc)
	l.mu.Unlock()
	return tc, nil
}

// written returns what the server wrote on each connection so far.
func (l *tapListener) written() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, c := range l.conns {
		c.mu.Lock()
		out = append(out, bytes.Clone(c.out.Bytes()))
		c.mu.Unlock()
	}
	return out
}

type tapConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

// Write records p before sending it, so that the bytes are in the tap by
// the time the client can have read them; a short write takes back what
// was not sent.
func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	start := c.out.Len()
	c.out.Write(p)
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	if n < len(p) {
		c.mu.Lock()
		c.out.Truncate(start + n)
		c.mu.Unlock()
	}
	return n, err
}

// TestCaptureKeepsWireBytes fetches, over TLS and one keep-alive
// connection, a chunked redirect and a chunked, gzip-compressed page with a
// trailer, as a real server sends them, captures and exports the page, and
// checks that the stored responses and the WARC response blocks are the
// bytes the server wrote, while the rules read the decoded text.
func TestCaptureKeepsWireBytes(t *testing.T) {
	pool, cert := serverPKI(t)
	const text = "全网第一疗效最好，限时抢购"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("<!doctype html><html><head><meta charset=\"utf-8\"><title>店铺</title></head><body><p>" +
		text + "</p>" + strings.Repeat("<p>商品详情</p>", 300) + "</body></html>"))
	zw.Close()
	compressed := gz.Bytes()

	mux := http.NewServeMux()
	mux.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/page")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusFound)
		w.Write([]byte("moved "))
		w.(http.Flusher).Flush()
		w.Write([]byte("to /page"))
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Trailer", "X-Body-Parts")
		// Several chunks of uneven size, flushed one by one.
		for i, n := 0, 1; i < len(compressed); i, n = i+n, n*3 {
			w.Write(compressed[i:min(i+n, len(compressed))])
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Body-Parts", "all")
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapListener{Listener: tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}})}
	srv := &http.Server{Handler: mux}
	go srv.Serve(tap)
	t.Cleanup(func() { srv.Close() })

	cfg := crawler.Config{RootCAs: pool}
	cfg.AllowLoopback()
	f, err := crawler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	page, err := f.Fetch(context.Background(), "https://"+raw.Addr().String()+"/r")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !strings.Contains(page.Text, text) {
		t.Fatalf("page text %q lacks the decoded %q", page.Text, text)
	}

	// What the crawler kept is what the server wrote, byte for byte.
	conns := tap.written()
	if len(conns) != 1 {
		t.Fatalf("server saw %d connections, want the one keep-alive connection", len(conns))
	}
	if len(page.Exchanges) != 2 {
		t.Fatalf("%d exchanges, want 2", len(page.Exchanges))
	}
	var kept []byte
	responses := make([][]byte, len(page.Exchanges))
	for i, ex := range page.Exchanges {
		if ex.WireBody == nil || !bytes.Contains(ex.ResponseHeader, []byte("Transfer-Encoding: chunked")) {
			t.Fatalf("exchange %d (%s): wire body %q under head %q, want a chunked body kept as sent", i+1, ex.URL, ex.WireBody, ex.ResponseHeader)
		}
		responses[i] = append(bytes.Clone(ex.ResponseHeader), ex.WireBody...)
		kept = append(kept, responses[i]...)
	}
	if !bytes.Equal(kept, conns[0]) {
		t.Fatalf("kept responses differ from the bytes the server wrote\n kept %q\nwrote %q", kept, conns[0])
	}
	if got := string(page.Exchanges[0].Body); got != "moved to /page" {
		t.Errorf("redirect body %q, want it de-chunked", got)
	}
	if !bytes.Equal(page.Exchanges[1].Body, compressed) {
		t.Errorf("page body is %d bytes, want the %d gzip bytes the server sent, de-chunked", len(page.Exchanges[1].Body), len(compressed))
	}
	if !bytes.HasSuffix(page.Exchanges[1].WireBody, []byte("0\r\nX-Body-Parts: all\r\n\r\n")) {
		t.Errorf("page wire body ends %q, want the last chunk and the trailer", page.Exchanges[1].WireBody[max(0, len(page.Exchanges[1].WireBody)-40):])
	}

	fx := captureAndExport(t, page)
	stored := func(name string) []byte { return readStored(t, fx.store, key(fx.rec, name)) }
	for i, name := range []string{"exchanges/001", "exchanges/002"} {
		if got := stored(name + "-response.http"); !bytes.Equal(got, responses[i]) {
			t.Errorf("%s-response.http differs from the bytes the server wrote", name)
		}
		var rec struct {
			HeaderSize       int    `json:"response_header_size"`
			BodySize         int    `json:"body_size"`
			TransferEncoding string `json:"transfer_encoding"`
			PayloadSize      int    `json:"payload_size"`
		}
		if err := json.Unmarshal(stored(name+".json"), &rec); err != nil {
			t.Fatal(err)
		}
		ex := page.Exchanges[i]
		if rec.HeaderSize+rec.BodySize != len(responses[i]) || rec.TransferEncoding != "chunked" || rec.PayloadSize != len(ex.Body) {
			t.Errorf("%s.json: %+v, want sizes %d+%d, chunked, payload %d", name, rec, len(ex.ResponseHeader), len(ex.WireBody), len(ex.Body))
		}
	}
	if got := string(stored(evidence.TextFile)); !strings.Contains(got, text) {
		t.Errorf("text.txt %q lacks %q", got, text)
	}

	// The WARC: response blocks are the wire bytes, payload digests cover
	// the de-chunked bodies; gowarc in strict mode and shopwatch's reader
	// agree.
	archive := stored(evidence.WARCFile)
	var n int
	for _, r := range warctest.Check(t, archive) {
		if r.Type != "response" {
			continue
		}
		if n >= len(responses) {
			t.Fatalf("more response records than exchanges")
		}
		if !bytes.Equal(r.Block, responses[n]) || !r.Chunked || !bytes.Equal(r.Payload, page.Exchanges[n].Body) {
			t.Errorf("response record %d: block is the wire bytes %v, chunked %v, payload is the de-chunked body %v",
				n+1, bytes.Equal(r.Block, responses[n]), r.Chunked, bytes.Equal(r.Payload, page.Exchanges[n].Body))
		}
		n++
	}
	recs, err := warc.Read(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := r.Verify(); err != nil {
			t.Errorf("shopwatch's reader: %v", err)
		}
		if p, _ := r.Payload(); r.Type == "response" && r.Headers.Get("WARC-Target-URI") == page.FinalURL && !bytes.Equal(p, compressed) {
			t.Errorf("shopwatch's reader gives a %d-byte payload, want the %d de-chunked gzip bytes", len(p), len(compressed))
		}
	}

	rep, err := evidence.VerifyBundle(fx.bundle)
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if !rep.OK() {
		t.Errorf("VerifyBundle: %v\n%v", rep.Err(), rep.Items())
	}
}
