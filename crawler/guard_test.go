package crawler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/idna"
)

// countingListener counts the connections its server accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// watchedServer is a loopback server that counts accepted connections and
// requests.
type watchedServer struct {
	*httptest.Server
	ln       *countingListener
	requests atomic.Int32
}

// serveWatched starts an HTTP (or, with tlsOn, HTTPS) server on the
// loopback address ip that counts what reaches it.
func serveWatched(t testing.TB, ip string, tlsOn bool, h http.Handler) *watchedServer {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	ws := &watchedServer{ln: &countingListener{Listener: l}}
	if h == nil {
		h = htmlHandler("text/html; charset=utf-8", []byte("<p>不应到达</p>"))
	}
	ws.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	ws.Server.Listener.Close()
	ws.Server.Listener = ws.ln
	ws.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // probes end without a TLS handshake
	if tlsOn {
		ws.StartTLS()
	} else {
		ws.Start()
	}
	t.Cleanup(ws.Close)
	return ws
}

// connections returns how many connections reached the server besides a
// probe made now. The kernel hands out queued connections in order, so by
// the time the probe is accepted every earlier connection has been too:
// there is no window in which a connection made by the code under test is
// still waiting to be counted.
func (ws *watchedServer) connections(t testing.TB) int {
	t.Helper()
	before := ws.ln.accepted.Load()
	c, err := net.Dial("tcp", ws.Listener.Addr().String())
	if err != nil {
		t.Fatalf("probe %s: %v", ws.Listener.Addr(), err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for ws.ln.accepted.Load() == before {
		if time.Now().After(deadline) {
			t.Fatalf("probe connection to %s never accepted", ws.Listener.Addr())
		}
		time.Sleep(time.Millisecond)
	}
	return int(ws.ln.accepted.Load()) - 1
}

// fakeDNS maps test names to addresses; other names do not resolve. No
// query leaves the process.
func fakeDNS(m map[string][]string) lookupFunc {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		as, ok := m[strings.ToLower(host)]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		out := make([]netip.Addr, len(as))
		for i, a := range as {
			out[i] = netip.MustParseAddr(a)
		}
		return out, nil
	}
}

// dialLog records every dial the guarded dialer attempts. Dials to
// addresses outside loopback are recorded and fail without sending a
// packet; loopback dials go through when passThrough is set.
type dialLog struct {
	passThrough bool
	mu          sync.Mutex
	addrs       []string
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	host, _, _ := net.SplitHostPort(addr)
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() && d.passThrough {
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("test dialer: no packets leave loopback")}
}

func (d *dialLog) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// hookFetcher installs a fake resolver and a dial log on f.
func hookFetcher(f *Fetcher, names map[string][]string, passThrough bool) *dialLog {
	dl := &dialLog{passThrough: passThrough}
	f.transport.dialer.lookup = fakeDNS(names)
	f.transport.dialer.dial = dl.dial
	return dl
}

func TestClassify(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":              "loopback",
		"127.8.9.10":             "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"10.0.0.1":               "private",
		"172.16.5.4":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"fd12:3456::1":           "private",
		"fc00::1":                "private",
		"169.254.1.1":            "link-local",
		"fe80::1":                "link-local",
		"100.64.0.1":             "shared (CGNAT)",
		"100.127.255.254":        "shared (CGNAT)",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"224.0.0.251":            "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "reserved",
		"169.254.169.254":        "cloud metadata",
		"fd00:ec2::254":          "cloud metadata",
		"100.100.100.200":        "cloud metadata",
		"::ffff:169.254.169.254": "cloud metadata",
		"64:ff9b::a00:1":         "private",  // NAT64 of 10.0.0.1
		"2002:7f00:1::1":         "loopback", // 6to4 of 127.0.0.1
		"::7f00:1":               "reserved", // IPv4-compatible, deprecated
		"8.8.8.8":                "",
		"172.32.0.1":             "",
		"100.128.0.1":            "",
		"2400:3200::1":           "",
		"64:ff9b::808:808":       "", // NAT64 of 8.8.8.8
	} {
		if got := classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("classify(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestGuardAllowances(t *testing.T) {
	g, err := newGuard(false, []string{" 127.0.0.0/8 ", "10.1.2.3", "intranet.example", "*.corp.example", "169.254.0.0/16", "[fd00:ec2::254]"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host, addr string
		ok         bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"localhost", "127.0.0.1", true},
		{"localhost", "::1", false}, // the allowance covers IPv4 loopback only
		{"10.1.2.3", "10.1.2.3", true},
		{"10.1.2.4", "10.1.2.4", false},
		{"intranet.example", "192.168.3.4", true},
		{"INTRANET.example.", "192.168.3.4", true},
		{"other.example", "192.168.3.4", false},
		{"a.b.corp.example", "10.9.9.9", true},
		{"corp.example", "10.9.9.9", false},
		{"evilcorp.example", "10.9.9.9", false},
		{"printer", "169.254.7.7", true},
		// A range allowance does not open the metadata service inside it;
		// neither does a host allowance; an exact allowance does.
		{"169.254.169.254", "169.254.169.254", false},
		{"intranet.example", "169.254.169.254", false},
		{"fd00:ec2::254", "fd00:ec2::254", true},
		{"8.8.8.8", "8.8.8.8", true},
	} {
		ge := g.check(c.host, netip.MustParseAddr(c.addr))
		if (ge == nil) != c.ok {
			t.Errorf("check(%s, %s) = %v, want allowed=%v", c.host, c.addr, ge, c.ok)
		}
	}
	idn, err := newGuard(false, []string{"商城.example"})
	if err != nil {
		t.Fatal(err)
	}
	if puny, _ := idna.Lookup.ToASCII("商城.example"); !idn.hostAllowed(puny) {
		t.Errorf("an allowance written in Chinese does not match the name as dialled, %s", puny)
	}
	var lifted *guard // AllowPrivate
	if ge := lifted.check("x", netip.MustParseAddr("169.254.169.254")); ge != nil {
		t.Errorf("a lifted guard refused: %v", ge)
	}
	if g, err := newGuard(true, []string{"not a cidr/"}); err != nil || g != nil {
		t.Errorf("AllowPrivate: guard %v, err %v; want none", g, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0.0/x", "shop example", "a..b", "http://x/"} {
		if _, err := newGuard(false, []string{bad}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("allow entry %q: err %v, want one naming it", bad, err)
		}
	}
}

func TestDefaultConfigGuards(t *testing.T) {
	if c := DefaultConfig(); c.AllowPrivate || len(c.Allow) != 0 {
		t.Errorf("DefaultConfig allows %v / %q; the guard must be on with nothing allowed", c.AllowPrivate, c.Allow)
	}
	if c := DefaultBrowserConfig(); c.AllowPrivate || len(c.Allow) != 0 {
		t.Errorf("DefaultBrowserConfig allows %v / %q", c.AllowPrivate, c.Allow)
	}
	var c Config
	c.AllowLoopback()
	c.AllowLoopback()
	if strings.Join(c.Allow, ",") != "127.0.0.0/8,::1/128" {
		t.Errorf("AllowLoopback twice: %q", c.Allow)
	}
	caller := []string{"10.0.0.0/8"}
	f, err := New(Config{Allow: caller})
	if err != nil {
		t.Fatal(err)
	}
	f.Config().Allow[0] = "changed"
	if caller[0] != "10.0.0.0/8" {
		t.Errorf("the Fetcher shares the caller's Allow slice")
	}
}

// TestFetchRefusesLoopbackWithoutConnecting runs the default guard against
// real loopback servers: no connection may reach them.
func TestFetchRefusesLoopbackWithoutConnecting(t *testing.T) {
	plain := serveWatched(t, "127.0.0.1", false, nil)
	secure := serveWatched(t, "127.0.0.1", true, nil)
	f := newFetcherNoAllow(t, Config{}) // the defaults: guard on, nothing allowed
	_, port, _ := net.SplitHostPort(plain.Listener.Addr().String())
	for _, c := range []struct {
		url, host string
		addrs     []string // acceptable refused addresses
	}{
		{plain.URL + "/shop/1", "127.0.0.1", []string{"127.0.0.1"}},
		{secure.URL + "/shop/1", "127.0.0.1", []string{"127.0.0.1"}},
		{"http://localhost:" + port + "/shop/1", "localhost", []string{"127.0.0.1", "::1"}},
		{"http://[::ffff:127.0.0.1]:" + port + "/", "", []string{"127.0.0.1"}}, // "" : the host as colly rewrites it
	} {
		p, err := f.Fetch(context.Background(), c.url)
		if !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("Fetch(%s) err = %v, want ErrRefusedAddress", c.url, err)
			continue
		}
		if errors.Is(err, ErrUnreachable) || !Permanent(err) {
			t.Errorf("Fetch(%s): %v should be permanent and not ErrUnreachable", c.url, err)
		}
		var ge *GuardError
		if !errors.As(err, &ge) {
			t.Fatalf("Fetch(%s) err %v is no *GuardError", c.url, err)
		}
		if ge.URL == "" || (c.host != "" && (ge.URL != c.url || ge.Host != c.host)) || ge.Reason != "loopback" || !strings.Contains(strings.Join(c.addrs, " "), ge.Addr.String()) {
			t.Errorf("GuardError %+v for %s", ge, c.url)
		}
		if msg := err.Error(); !strings.Contains(msg, ge.Addr.String()) || !strings.Contains(msg, c.url) {
			t.Errorf("error %q should name the address and the URL", msg)
		}
		if p == nil || len(p.Exchanges) != 1 || !strings.Contains(p.Exchanges[0].Err, "refused address") || len(p.Exchanges[0].RequestHeader) != 0 {
			t.Errorf("page %+v: want one refused exchange and no request bytes", p)
		}
	}
	if n := plain.connections(t); n != 0 {
		t.Errorf("the refused plain server accepted %d connections", n)
	}
	if n := secure.connections(t); n != 0 {
		t.Errorf("the refused TLS server accepted %d connections", n)
	}

	// Lifting the guard, or allowing loopback by name, lets the same fetch through.
	for _, cfg := range []Config{{AllowPrivate: true}, {Allow: []string{"localhost"}}} {
		if _, err := newFetcherNoAllow(t, cfg).Fetch(context.Background(), "http://localhost:"+port+"/shop/1"); err != nil {
			t.Errorf("config %+v: %v", cfg, err)
		}
	}
	if plain.requests.Load() != 2 {
		t.Errorf("the allowed fetches made %d requests, want 2", plain.requests.Load())
	}
}

// TestFetchRefusesBeforeDial resolves test names to private and metadata
// addresses with an in-process resolver and asserts that nothing is dialled.
func TestFetchRefusesBeforeDial(t *testing.T) {
	f := newFetcherNoAllow(t, Config{})
	dl := hookFetcher(f, map[string][]string{
		"shop.internal.test": {"10.0.0.1"},
		"meta.test":          {"169.254.169.254"},
		"meta6.test":         {"fd00:ec2::254"},
		"router.test":        {"192.168.1.1"},
		"cgnat.test":         {"100.64.1.1"},
		"mixed.test":         {"93.184.216.34", "10.0.0.1"}, // one bad answer refuses the host
	}, false)
	for _, c := range []struct{ url, addr, reason string }{
		{"http://shop.internal.test/item/1", "10.0.0.1", "private"},
		{"https://shop.internal.test/item/1", "10.0.0.1", "private"},
		{"http://meta.test/latest/meta-data/iam/", "169.254.169.254", "cloud metadata"},
		{"http://meta6.test/", "fd00:ec2::254", "cloud metadata"},
		{"http://router.test:8080/", "192.168.1.1", "private"},
		{"http://cgnat.test/", "100.64.1.1", "shared (CGNAT)"},
		{"http://mixed.test/", "10.0.0.1", "private"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"},
		{"http://[fe80::1]/", "fe80::1", "link-local"},
		{"http://0.0.0.0:80/", "0.0.0.0", "unspecified"},
		{"http://224.0.0.1/", "224.0.0.1", "multicast"},
		{"http://[::1]:9/", "::1", "loopback"},
	} {
		_, err := f.Fetch(context.Background(), c.url)
		var ge *GuardError
		if !errors.As(err, &ge) || !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("Fetch(%s) err = %v, want a *GuardError", c.url, err)
			continue
		}
		// ge.URL is the request as sent, which colly may have normalised.
		if ge.Addr.String() != c.addr || ge.Reason != c.reason || ge.URL == "" {
			t.Errorf("Fetch(%s): GuardError %+v, want %s (%s)", c.url, ge, c.addr, c.reason)
		}
		if !strings.Contains(err.Error(), c.addr) || !strings.Contains(err.Error(), c.url) {
			t.Errorf("error %q does not name %s", err, c.addr)
		}
	}
	if d := dl.dialled(); len(d) != 0 {
		t.Errorf("the guard let %d dials through: %q", len(d), d)
	}
	// A name that does not resolve is unreachable, not refused.
	if _, err := f.Fetch(context.Background(), "http://nowhere.test/"); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefusedAddress) {
		t.Errorf("unknown name: %v, want ErrUnreachable", err)
	}
}

// TestFetchDialsTheCheckedAddress: the dial goes to the address literal the
// guard passed, never to the name, so a resolver that changes its answer
// between lookups (DNS rebinding) cannot slip a private address in.
func TestFetchDialsTheCheckedAddress(t *testing.T) {
	f := newFetcherNoAllow(t, Config{Allow: []string{"10.0.0.0/8"}})
	var lookups atomic.Int32
	dl := &dialLog{}
	f.transport.dialer.dial = dl.dial
	f.transport.dialer.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		if lookups.Add(1)%2 == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	if _, err := f.Fetch(context.Background(), "http://rebind.test/a"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("first fetch: %v, want the test dialer's failure", err)
	}
	if _, err := f.Fetch(context.Background(), "http://rebind.test/b"); !errors.Is(err, ErrRefusedAddress) {
		t.Errorf("second fetch (rebound to loopback): %v, want ErrRefusedAddress", err)
	}
	if d := dl.dialled(); len(d) != 1 || d[0] != "93.184.216.34:80" {
		t.Errorf("dialled %q, want only the checked public address", d)
	}
	// An allowed private range is dialled by its exact address too.
	f.transport.dialer.lookup = fakeDNS(map[string][]string{"shop.internal.test": {"10.0.0.7"}})
	_, _ = f.Fetch(context.Background(), "http://shop.internal.test:8080/")
	if d := dl.dialled(); len(d) != 2 || d[1] != "10.0.0.7:8080" {
		t.Errorf("dialled %q, want 10.0.0.7:8080 last", d)
	}
}

// TestFetchRedirectToRefusedHost: a redirect from an allowed host to a
// refused one is refused at the hop, and the hop's server sees nothing.
func TestFetchRedirectToRefusedHost(t *testing.T) {
	refused := serveWatched(t, "127.0.0.3", false, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/to-loopback", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, refused.URL+"/landing", http.StatusFound)
	})
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://meta.test/latest/meta-data/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/via", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/to-loopback", http.StatusFound)
	})
	allowed := serveOn(t, "127.0.0.2", mux)

	f := newFetcherNoAllow(t, Config{Allow: []string{"127.0.0.2/32"}})
	dl := hookFetcher(f, map[string][]string{"meta.test": {"169.254.169.254"}}, true)
	for _, c := range []struct {
		path, hop, addr string
		hops            int
	}{
		{"/to-loopback", refused.URL + "/landing", "127.0.0.3", 2},
		{"/via", refused.URL + "/landing", "127.0.0.3", 3},
		{"/to-metadata", "http://meta.test/latest/meta-data/", "169.254.169.254", 2},
	} {
		url := allowed.URL + c.path
		p, err := f.Fetch(context.Background(), url)
		var ge *GuardError
		if !errors.As(err, &ge) {
			t.Errorf("Fetch(%s) err = %v, want a *GuardError", url, err)
			continue
		}
		if ge.URL != c.hop || ge.Addr.String() != c.addr {
			t.Errorf("Fetch(%s): refused %s at %s, want %s at %s", url, ge.Addr, ge.URL, c.addr, c.hop)
		}
		if msg := err.Error(); !strings.Contains(msg, url) || !strings.Contains(msg, c.addr) {
			t.Errorf("error %q should name the target and the refused address", msg)
		}
		if p == nil || len(p.Exchanges) != c.hops || p.Exchanges[0].Status/100 != 3 || p.Exchanges[c.hops-1].Err == "" {
			t.Errorf("Fetch(%s): page %+v, want %d exchanges ending in the refused hop", url, p, c.hops)
		}
	}
	for _, d := range dl.dialled() {
		if !strings.HasPrefix(d, "127.0.0.2:") {
			t.Errorf("dialled %s; only the allowed host may be dialled", d)
		}
	}
	if n := refused.connections(t); n != 0 {
		t.Errorf("the refused redirect target accepted %d connections", n)
	}
}

// TestGuardProxy drives the browser path's proxy with a Go client: plain
// requests and CONNECT tunnels to allowed addresses go through; to refused
// ones they fail without a connection, and the proxy says why.
func TestGuardProxy(t *testing.T) {
	okPlain := serveWatched(t, "127.0.0.2", false, htmlHandler("text/html; charset=utf-8", []byte("<p>通过</p>")))
	okTLS := serveWatched(t, "127.0.0.2", true, htmlHandler("text/html; charset=utf-8", []byte("<p>隧道</p>")))
	badPlain := serveWatched(t, "127.0.0.3", false, nil)
	badTLS := serveWatched(t, "127.0.0.3", true, nil)

	g, err := newGuard(false, []string{"127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	d := newGuardedDialer(g, &net.Dialer{Timeout: 5 * time.Second})
	p, err := startGuardProxy(d, 5*time.Second, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	proxyURL, _ := url.Parse(p.URL())
	client := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL),
		// The test certificate names 127.0.0.1 only; what is tested here
		// is the tunnel, not the certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	for _, u := range []string{okPlain.URL + "/a", okTLS.URL + "/b"} {
		resp, err := client.Get(u)
		if err != nil {
			t.Errorf("GET %s through the proxy: %v", u, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<p>") {
			t.Errorf("GET %s: %d %q", u, resp.StatusCode, body)
		}
	}
	if okPlain.requests.Load() != 1 || okTLS.requests.Load() != 1 {
		t.Errorf("allowed servers saw %d and %d requests, want 1 each", okPlain.requests.Load(), okTLS.requests.Load())
	}
	if f := p.firstFailureOf("navigate"); f != nil {
		t.Errorf("failure recorded for allowed requests: %v", f.err)
	}

	for _, u := range []string{badPlain.URL + "/x", badTLS.URL + "/y"} {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("GET %s through the proxy succeeded with %d", u, resp.StatusCode)
		}
	}
	rs := p.refusalList()
	if len(rs) < 2 {
		t.Fatalf("refusals %v, want the plain request and the tunnel", rs)
	}
	if rs[0].URL != badPlain.URL+"/x" || rs[0].Addr.String() != "127.0.0.3" {
		t.Errorf("first refusal %+v", rs[0])
	}
	last := rs[len(rs)-1]
	if last.Host != "127.0.0.3" || last.Addr.String() != "127.0.0.3" {
		t.Errorf("tunnel refusal %+v", last)
	}
	if n := badPlain.connections(t); n != 0 {
		t.Errorf("refused plain server accepted %d connections through the proxy", n)
	}
	if n := badTLS.connections(t); n != 0 {
		t.Errorf("refused TLS server accepted %d connections through the proxy", n)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", proxyURL.Host, time.Second); err == nil {
		t.Errorf("the proxy still listens after Close")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
