package crawler

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
)

// TestNetLogAssembly feeds the netLog the protocol events of a redirect
// chain, an HTTP/2 sub-request, a failed one and a data: URL, in the order
// Chromium can send them (extra info before and after its request), and
// checks the exchanges it builds.
func TestNetLogAssembly(t *testing.T) {
	peers := &peerBook{}
	d := peers.wrap(&guardedDialer{
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
		},
		dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c1, c2 := net.Pipe()
			c2.Close()
			return c1, nil
		},
	})
	if _, err := d.lookup(context.Background(), "shop.example"); err != nil {
		t.Fatal(err)
	}
	if c, err := d.dial(context.Background(), "tcp", "203.0.113.7:80"); err == nil {
		c.Close()
	}
	l := newNetLog(3, 1<<20, 1<<20, "127.0.0.1:4000", peers, slog.Default())
	proxied := func(status int64, hdr network.Headers) *network.Response {
		return &network.Response{Status: status, Headers: hdr, Protocol: "http/1.1", RemoteIPAddress: "127.0.0.1", RemotePort: 4000}
	}
	evs := []any{
		&network.EventRequestWillBeSentExtraInfo{RequestID: "1", Headers: network.Headers{"Host": "shop.example", "Cookie": "a=1"}},
		&network.EventRequestWillBeSent{RequestID: "1", Type: network.ResourceTypeDocument, Timestamp: 10, WallTime: 1.7e9,
			Request: &network.Request{URL: "http://shop.example/s?id=1", Method: "GET", Headers: network.Headers{"User-Agent": "x"}}},
		&network.EventResponseReceivedExtraInfo{RequestID: "1", StatusCode: 301,
			HeadersText: "HTTP/1.1 301 Moved Permanently\r\nLocation: /item/1\r\n"},
		&network.EventRequestWillBeSent{RequestID: "1", Type: network.ResourceTypeDocument, Timestamp: 10.5, WallTime: 1.7e9 + 0.5,
			RedirectResponse: proxied(301, network.Headers{"Location": "/item/1"}),
			Request:          &network.Request{URL: "http://shop.example/item/1", Method: "GET"}},
		&network.EventRequestWillBeSent{RequestID: "2", Type: network.ResourceTypeImage, Timestamp: 11,
			Request: &network.Request{URL: "data:image/png;base64,AAAA", Method: "GET"}},
		&network.EventRequestWillBeSent{RequestID: "3", Type: network.ResourceTypeScript, Timestamp: 11,
			Request: &network.Request{URL: "https://cdn.example/a.js", Method: "GET"}},
		&network.EventRequestWillBeSentExtraInfo{RequestID: "3", Headers: network.Headers{
			":method": "GET", ":authority": "cdn.example", ":path": "/a.js", ":scheme": "https", "accept": "*/*"}},
		&network.EventResponseReceived{RequestID: "3", Response: &network.Response{Status: 200, Protocol: "h2",
			RemoteIPAddress: "2001:db8::1", RemotePort: 443,
			Headers: network.Headers{"set-cookie": "a=1\nb=2", "content-length": "12"}}},
		&network.EventLoadingFinished{RequestID: "3", Timestamp: 12},
		&network.EventRequestWillBeSent{RequestID: "4", Type: network.ResourceTypeXHR, Timestamp: 12,
			Request: &network.Request{URL: "http://shop.example/api", Method: "POST"}},
		&network.EventLoadingFailed{RequestID: "4", Timestamp: 13, ErrorText: "net::ERR_CONNECTION_RESET"},
		&network.EventResponseReceived{RequestID: "1", Response: proxied(200, network.Headers{"Content-Type": "text/html"})},
	}
	for _, ev := range evs {
		l.listen(ev)
	}
	if n := l.idleFor(); n != 0 {
		t.Errorf("idle while the document still loads")
	}
	l.listen(&network.EventLoadingFinished{RequestID: "1", Timestamp: 12.5})
	if l.inflight != 0 {
		t.Errorf("%d requests in flight after every one ended", l.inflight)
	}
	// One more request than MaxExchanges (3) allows, the data: URL not counted.
	l.listen(&network.EventRequestWillBeSent{RequestID: "5", Request: &network.Request{URL: "http://shop.example/late", Method: "GET"}})
	if l.droppedCount() != 2 {
		t.Errorf("dropped %d, want 2 (the failed POST and the late request)", l.droppedCount())
	}

	xs := l.exchanges()
	if len(xs) != 3 {
		t.Fatalf("%d exchanges, want 3: %+v", len(xs), xs)
	}
	hop, doc, js := xs[0], xs[1], xs[2]
	if hop.URL != "http://shop.example/s?id=1" || hop.Status != 301 ||
		string(hop.RequestHeader) != "GET /s?id=1 HTTP/1.1\r\nHost: shop.example\r\nCookie: a=1\r\n\r\n" ||
		string(hop.ResponseHeader) != "HTTP/1.1 301 Moved Permanently\r\nLocation: /item/1\r\n\r\n" ||
		hop.RemoteAddr != "203.0.113.7:80" || hop.Duration.Milliseconds() != 500 || hop.Started.Unix() != 1.7e9 {
		t.Errorf("redirect hop %+v\nrequest %q\nresponse %q", hop, hop.RequestHeader, hop.ResponseHeader)
	}
	if doc.URL != "http://shop.example/item/1" || doc.Status != 200 || doc.Proto != "HTTP/1.1" ||
		string(doc.RequestHeader) != "GET /item/1 HTTP/1.1\r\nHost: shop.example\r\n\r\n" ||
		string(doc.ResponseHeader) != "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" || doc.RemoteAddr != "203.0.113.7:80" {
		t.Errorf("document %+v\nrequest %q\nresponse %q", doc, doc.RequestHeader, doc.ResponseHeader)
	}
	if js.Proto != "HTTP/2.0" || js.RemoteAddr != "[2001:db8::1]:443" || js.ContentLength != 12 ||
		string(js.RequestHeader) != "GET /a.js HTTP/1.1\r\nHost: cdn.example\r\naccept: */*\r\n\r\n" ||
		!strings.Contains(string(js.ResponseHeader), "set-cookie: a=1\r\nset-cookie: b=2\r\n") {
		t.Errorf("h2 script %+v\nrequest %q\nresponse %q", js, js.RequestHeader, js.ResponseHeader)
	}
}

func TestProtoName(t *testing.T) {
	for in, want := range map[string]string{"http/1.1": "HTTP/1.1", "h2": "HTTP/2.0", "h3": "HTTP/3.0", "": "", "spdy/3": "SPDY/3"} {
		if got := protoName(in); got != want {
			t.Errorf("protoName(%q) = %q, want %q", in, got, want)
		}
	}
}
