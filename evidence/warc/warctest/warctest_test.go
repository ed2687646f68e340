package warctest_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence/warc"
	"shopwatch/evidence/warc/warctest"
)

// plainFile writes a small page with shopwatch's writer and returns it
// uncompressed (the members joined), so that tests can edit it as text.
func plainFile(t *testing.T) []byte {
	t.Helper()
	page := &shopwatch.Page{
		URL:       "https://shop.example/item/1",
		FetchedAt: time.Date(2026, 3, 1, 2, 15, 0, 0, time.UTC),
		Text:      "商品详情",
		Exchanges: []shopwatch.Exchange{{
			Method:         "GET",
			URL:            "https://shop.example/item/1",
			RequestHeader:  []byte("GET /item/1 HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
			Status:         200,
			ResponseHeader: []byte("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"),
			Body:           []byte("hello world"),
			RemoteAddr:     "127.0.0.1:443",
		}},
	}
	var buf bytes.Buffer
	if err := warc.Write(&buf, page, warc.Info{}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func TestReadsWriterOutput(t *testing.T) {
	recs := warctest.Check(t, plainFile(t))
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
	}
	if got := strings.Join(types, ","); got != "warcinfo,request,response,resource" {
		t.Fatalf("types %s", got)
	}
	if res := recs[2]; !res.Interim || string(res.Payload) != "hello world" {
		t.Errorf("response payload %q (interim %v), want the final body", res.Payload, res.Interim)
	}
	if c := warctest.Concurrent(recs, recs[1].ID); len(c) != 1 || c[0].ID != recs[2].ID {
		t.Errorf("records concurrent to the request: %v", c)
	}
}

// TestCatchesDamage: each kind of damage the reader exists to catch is
// caught, and the error says what is wrong.
func TestCatchesDamage(t *testing.T) {
	good := plainFile(t)
	recs := warctest.Check(t, good)
	reqID, resID := recs[1].ID, recs[2].ID
	cases := map[string]struct {
		edit func(string) string
		want string
	}{
		"body byte": {func(s string) string { return strings.Replace(s, "hello world", "hello World", 1) }, "digest"},
		"length": {func(s string) string {
			return strings.Replace(s, "Content-Length: 12\r\n\r\n商品详情", "Content-Length: 11\r\n\r\n商品详情", 1)
		}, "wrong digest"},
		"record end": {func(s string) string { return strings.Replace(s, "商品详情\r\n\r\n", "商品详情\r\n", 1) }, "end of record"},
		"duplicate id": {func(s string) string {
			return strings.Replace(s, "WARC-Record-ID: "+resID, "WARC-Record-ID: "+reqID, 1)
		}, "repeats the WARC-Record-ID"},
		"dangling concurrent": {func(s string) string {
			return strings.Replace(s, "WARC-Concurrent-To: "+resID, "WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000000>", 1)
		}, "names no record"},
		// gowarc's own payload digest check is waived for this response
		// (it has an interim head); the final body must still match.
		"interim payload digest": {func(s string) string {
			return strings.Replace(s, "WARC-Payload-Digest: "+recs[2].Get("WARC-Payload-Digest"), "WARC-Payload-Digest: "+warc.Digest([]byte("x")), 1)
		}, "WARC-Payload-Digest: \"sha256:"},
		"unknown type": {func(s string) string { return strings.Replace(s, "WARC-Type: resource", "WARC-Type: bogus", 1) }, "bogus"},
		"bare LF":      {func(s string) string { return strings.Replace(s, "WARC/1.1\r\n", "WARC/1.1\n", 1) }, "carriage return"},
		"missing digest": {func(s string) string {
			i := strings.LastIndex(s, "WARC-Block-Digest: ")
			return s[:i] + "X-" + s[i+2:]
		}, "WARC-Block-Digest: missing"},
	}
	for name, c := range cases {
		bad := c.edit(string(good))
		if bad == string(good) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		_, err := warctest.Read([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}

// TestHTTPFraming: a response block must be the message as it crossed the
// wire. A body stored de-chunked or decompressed under the head that framed
// the encoded one has valid WARC digests; only its HTTP framing shows it.
func TestHTTPFraming(t *testing.T) {
	cases := []struct {
		name, head, body string
		truncated        bool
		want             string // "" when the file must read
		wire             string // Exchange.WireBody, when set
	}{
		{"chunked as sent", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "hello", false, "",
			"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n"},
		{"chunked, cut by the cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "hel", true, "", "5\r\nhel"},
		{"de-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "hello", false, "Transfer-Encoding chunked", ""},
		{"chunked, other payload", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "hallo", false, "WARC-Payload-Digest", "5\r\nhello\r\n0\r\n\r\n"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", "hello", false, "Content-Length 20", ""},
		{"cut by the cap", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", "hello", true, "", ""},
		{"long body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "hello", false, "3 more bytes", ""},
		{"until close", "HTTP/1.0 200 OK\r\n\r\n", "hello", false, "", ""},
		{"no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "", false, "", ""},
	}
	for _, c := range cases {
		page := &shopwatch.Page{
			URL:       "https://shop.example/",
			FetchedAt: time.Date(2026, 3, 1, 2, 15, 0, 0, time.UTC),
			Exchanges: []shopwatch.Exchange{{
				Method:         "GET",
				URL:            "https://shop.example/",
				RequestHeader:  []byte("GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
				ResponseHeader: []byte(c.head),
				Body:           []byte(c.body),
				BodyTruncated:  c.truncated,
			}},
		}
		if c.wire != "" {
			page.Exchanges[0].WireBody = []byte(c.wire)
		}
		var buf bytes.Buffer
		if err := warc.Write(&buf, page, warc.Info{}); err != nil {
			t.Fatal(err)
		}
		_, err := warctest.Read(buf.Bytes())
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}
