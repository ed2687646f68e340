package crawler

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestChunkedPrefix(t *testing.T) {
	const msg = "3;ext=\"a b\"\r\nabc\r\n00A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"
	cases := []struct {
		wire     string
		limit    int
		end, n   int
		complete bool
	}{
		{msg, -1, len(msg), 13, true},
		{msg + "HTTP/1.1 200 OK\r\n", -1, len(msg), 13, true}, // bytes past the message are not its
		{msg, 2, strings.Index(msg, "abc") + 2, 2, false},
		{msg, 3, strings.Index(msg, "abc") + 3, 3, false},
		{msg, 5, strings.Index(msg, "0123") + 2, 5, false},
		{msg[:strings.Index(msg, "0123")+4], -1, strings.Index(msg, "0123") + 4, 7, false}, // cut inside a chunk
		{msg[:strings.Index(msg, "00A")+2], -1, strings.Index(msg, "00A"), 3, false},       // cut inside a size line
		{msg[:len(msg)-2], -1, strings.Index(msg, "0\r\nX-T"), 13, false},                  // trailer not ended
		{"0\r\n\r\n", -1, 5, 0, true},
		{"zz\r\nabc", -1, 0, 0, false},
		{"3\r\nabcXY", -1, 6, 3, false}, // no CRLF after the data
		{"", -1, 0, 0, false},
	}
	for _, c := range cases {
		end, n, complete := chunkedPrefix([]byte(c.wire), c.limit)
		if end != c.end || n != c.n || complete != c.complete {
			t.Errorf("chunkedPrefix(%q, %d) = %d, %d, %v; want %d, %d, %v", c.wire, c.limit, end, n, complete, c.end, c.n, c.complete)
		}
	}
}

// wireServer answers HTTP/1.1 requests on keep-alive connections with the
// exact bytes of responses[path], and records what it wrote.
type wireServer struct {
	ln        net.Listener
	responses map[string]string
	mu        sync.Mutex
	conns     int
	wrote     bytes.Buffer
}

func startWireServer(t *testing.T, responses map[string]string) *wireServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startWireServerOn(t, ln, responses)
}

// startWireServerOn serves responses on ln (a TLS listener, say).
func startWireServerOn(t *testing.T, ln net.Listener, responses map[string]string) *wireServer {
	t.Helper()
	s := &wireServer{ln: ln, responses: responses}
	var wg sync.WaitGroup
	// Kept-alive connections end when the Fetcher, made after the server,
	// closes its side at the end of the test.
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					resp, ok := responses[req.URL.Path]
					if !ok {
						resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
					}
					s.mu.Lock()
					s.wrote.WriteString(resp)
					s.mu.Unlock()
					if _, err := c.Write([]byte(resp)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *wireServer) url() string { return "http://" + s.ln.Addr().String() }

// TestFetchChunkedWireBytes: chunked responses, with chunk extensions,
// upper-case and zero-padded sizes and a trailer, are kept exactly as sent,
// on one keep-alive connection across fetches, next to a Content-Length
// response, with their de-chunked bodies beside them.
func TestFetchChunkedWireBytes(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
	page := "<html><body><p>国家级品质</p></body></html>"
	b := []byte(page)
	chunked := "0000A;name=\"v 1\"\r\n" + string(b[:10]) + "\r\n" +
		strings.ToUpper(strconvHex(len(b)-10)) + "\r\n" + string(b[10:]) + "\r\n" +
		"0\r\nX-Check: done\r\n\r\n"
	plain := "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " + strconvDec(len(b)) + "\r\n\r\n" + page
	s := startWireServer(t, map[string]string{
		"/chunked": head + chunked,
		"/plain":   plain,
	})
	f := newTestFetcher(t, Config{})
	var want, got []byte
	for _, path := range []string{"/chunked", "/plain", "/chunked"} {
		p, err := f.Fetch(context.Background(), s.url()+path)
		if err != nil {
			t.Fatalf("Fetch %s: %v", path, err)
		}
		if len(p.Exchanges) != 1 || !strings.Contains(p.Text, "国家级品质") {
			t.Fatalf("%s: %d exchanges, text %q", path, len(p.Exchanges), p.Text)
		}
		ex := p.Exchanges[0]
		if string(ex.Body) != page {
			t.Errorf("%s: body %q, want the de-chunked page", path, ex.Body)
		}
		wire := ex.Body
		if path == "/chunked" {
			if string(ex.WireBody) != chunked {
				t.Errorf("%s: wire body %q, want %q", path, ex.WireBody, chunked)
			}
			wire = ex.WireBody
		} else if ex.WireBody != nil {
			t.Errorf("%s: wire body %q for a Content-Length response", path, ex.WireBody)
		}
		got = append(append(got, ex.ResponseHeader...), wire...)
		want = append(want, s.responses[path]...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("kept responses\n%q\nwant the bytes sent\n%q", got, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns != 1 || !bytes.Equal(s.wrote.Bytes(), want) {
		t.Errorf("server used %d connections and wrote %q", s.conns, s.wrote.Bytes())
	}
}

// TestFetchChunkedCut: a chunked body longer than the cap is cut, its wire
// form where the kept body ends, so the one is the other de-chunked.
func TestFetchChunkedCut(t *testing.T) {
	body := "<html><body><p>" + strings.Repeat("长", 40) + "</p></body></html>"
	var wire strings.Builder
	for i := 0; i < len(body); i += 7 {
		part := body[i:min(i+7, len(body))]
		wire.WriteString(strconvHex(len(part)) + "\r\n" + part + "\r\n")
	}
	wire.WriteString("0\r\n\r\n")
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
	s := startWireServer(t, map[string]string{"/big": head + wire.String()})
	const max = 50
	f := newTestFetcher(t, Config{MaxBodySize: max})
	p, err := f.Fetch(context.Background(), s.url()+"/big")
	if !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("Fetch: %v, want ErrBodyTooLarge", err)
	}
	ex := p.Exchanges[0]
	if !ex.BodyTruncated || string(ex.Body) != body[:max] {
		t.Fatalf("truncated %v, body %q", ex.BodyTruncated, ex.Body)
	}
	if !strings.HasPrefix(wire.String(), string(ex.WireBody)) {
		t.Fatalf("wire body %q is not a prefix of what was sent", ex.WireBody)
	}
	if end, n, _ := chunkedPrefix(ex.WireBody, -1); end != len(ex.WireBody) || n != max {
		t.Errorf("wire body %q carries %d payload bytes in %d of its %d bytes, want %d in all", ex.WireBody, n, end, len(ex.WireBody), max)
	}
}

func strconvHex(n int) string { return strings.ToLower(fmtInt(n, 16)) }
func strconvDec(n int) string { return fmtInt(n, 10) }

func fmtInt(n, base int) string { return strconv.FormatInt(int64(n), base) }
