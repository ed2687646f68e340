package crawler

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"shopwatch"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// testPKI is the test servers' certificate authority.
type testPKI = testparts.PKI

func newTestPKI(t testing.TB, dnsNames []string, ips []net.IP) *testPKI {
	return testparts.NewPKI(t, dnsNames, ips)
}

// seenRequest is what a test server saw of one request.
type seenRequest struct {
	path   string
	remote string               // client address: equal for requests on one connection
	tls    *tls.ConnectionState // the server's view of the session; nil over HTTP
}

// provServer is a loopback server that remembers every request and counts
// connections and robots.txt requests.
type provServer struct {
	*httptest.Server
	conns  atomic.Int32
	robots atomic.Int32
	mu     sync.Mutex
	seen   []seenRequest
}

// startProvServer serves h on 127.0.0.1, over TLS with pki's certificate
// chain when pki is set.
func startProvServer(t testing.TB, pki *testPKI, h http.Handler) *provServer {
	t.Helper()
	ps := &provServer{}
	ps.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		ps.seen = append(ps.seen, seenRequest{path: r.URL.Path, remote: r.RemoteAddr, tls: r.TLS})
		ps.mu.Unlock()
		if r.URL.Path == "/robots.txt" {
			ps.robots.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	ps.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are part of the tests
	ps.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ps.conns.Add(1)
		}
	}
	if pki != nil {
		ps.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Cert}}
		ps.StartTLS()
	} else {
		ps.Start()
	}
	if host, _, _ := net.SplitHostPort(ps.Listener.Addr().String()); host != "127.0.0.1" {
		t.Fatalf("test server listens on %s, want 127.0.0.1", host)
	}
	t.Cleanup(ps.Close)
	return ps
}

func (ps *provServer) requests() []seenRequest {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.seen)
}

func (ps *provServer) port() string {
	_, p, _ := net.SplitHostPort(ps.Listener.Addr().String())
	return p
}

// withNames makes the fetcher resolve the given names with the given
// loopback addresses instead of asking DNS.
func withNames(f *Fetcher, names map[string][]string) {
	f.transport.dialer.lookup = fakeDNS(names)
}

// TestProvenanceRedirectChain follows HTTP → HTTPS → HTTPS → page and
// checks the provenance of every hop against what the servers saw.
func TestProvenanceRedirectChain(t *testing.T) {
	pki := newTestPKI(t, []string{"shop.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	market := marketsim.New(marketsim.Config{Seed: 7, Shops: 3})
	tlsMux := http.NewServeMux()
	tlsMux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("User-agent: *\nDisallow: /\n"))
	})
	tlsMux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/shop/1", http.StatusMovedPermanently)
	})
	tlsMux.Handle("/", market)
	secure := startProvServer(t, pki, tlsMux)
	secureBase := "https://shop.test:" + secure.port()
	plain := startProvServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, secureBase+"/hop", http.StatusFound)
			return
		}
		http.NotFound(w, r)
	}))

	f := newTestFetcher(t, Config{RootCAs: pki.Pool, RecordRobots: true})
	withNames(f, map[string][]string{"shop.test": {"127.0.0.1", "127.0.0.2"}})
	start := plain.URL + "/go"
	p, err := f.Fetch(context.Background(), start)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if p.Status != 200 || p.FinalURL != secureBase+"/shop/1/" || p.Title == "" {
		t.Fatalf("page status %d, final %s, title %q", p.Status, p.FinalURL, p.Title)
	}

	wantURLs := []string{start, secureBase + "/hop", secureBase + "/shop/1", secureBase + "/shop/1/"}
	wantStatus := []int{302, 301, 301, 200}
	if len(p.Exchanges) != len(wantURLs) {
		t.Fatalf("%d exchanges, want %d", len(p.Exchanges), len(wantURLs))
	}
	seen := secure.requests()
	var pageReqs []seenRequest
	for _, r := range seen {
		if r.path != "/robots.txt" {
			pageReqs = append(pageReqs, r)
		}
	}
	if len(pageReqs) != 3 {
		t.Fatalf("HTTPS server saw %d page requests, want 3", len(pageReqs))
	}
	for i, x := range p.Exchanges {
		if x.URL != wantURLs[i] || x.Status != wantStatus[i] || x.Proto != "HTTP/1.1" {
			t.Errorf("hop %d: %s %d %s, want %s %d HTTP/1.1", i, x.URL, x.Status, x.Proto, wantURLs[i], wantStatus[i])
		}
		if i == 0 {
			if !slices.Equal(x.ResolvedIPs, []string{"127.0.0.1"}) || x.TLS != nil || x.RemoteAddr != plain.Listener.Addr().String() {
				t.Errorf("plain hop: resolved %v, TLS %+v, remote %s", x.ResolvedIPs, x.TLS, x.RemoteAddr)
			}
			continue
		}
		if !slices.Equal(x.ResolvedIPs, []string{"127.0.0.1", "127.0.0.2"}) {
			t.Errorf("hop %d: resolved %v, want both addresses DNS gave", i, x.ResolvedIPs)
		}
		if x.RemoteAddr != secure.Listener.Addr().String() {
			t.Errorf("hop %d: remote %s, want %s", i, x.RemoteAddr, secure.Listener.Addr())
		}
		checkTLS(t, x.URL, x.TLS, pageReqs[i-1].tls, pki, "shop.test")
	}
	// (Whether a redirect hop reuses the previous hop's connection is up to
	// net/http: the connection goes back to the pool asynchronously. Reuse
	// is checked below, between fetches, where it is certain.)

	// robots.txt of the final origin: recorded, not obeyed.
	rb := p.Robots
	if rb == nil {
		t.Fatal("no robots.txt exchange on the page")
	}
	if rb.URL != secureBase+"/robots.txt" || rb.Status != 200 || string(rb.Body) != "User-agent: *\nDisallow: /\n" {
		t.Errorf("robots exchange %s %d %q", rb.URL, rb.Status, rb.Body)
	}
	if rb.TLS == nil || !rb.TLS.Verified || !slices.Equal(rb.ResolvedIPs, []string{"127.0.0.1", "127.0.0.2"}) {
		t.Errorf("robots exchange provenance: TLS %+v, resolved %v", rb.TLS, rb.ResolvedIPs)
	}
	// The requested origin's robots.txt was fetched alongside (a 404).
	prb, err := f.Robots(context.Background(), start)
	if err != nil || prb.Status != 404 || prb.URL != plain.URL+"/robots.txt" {
		t.Errorf("robots of the requested origin: %+v, %v", prb, err)
	}
	if n, m := secure.robots.Load(), plain.robots.Load(); n != 1 || m != 1 {
		t.Errorf("robots.txt requested %d times over HTTPS and %d over HTTP, want once each", n, m)
	}

	// A later fetch reuses the idle connection; its exchange still carries
	// the connection's TLS session and resolved addresses.
	conns := secure.conns.Load()
	p2, err := f.Fetch(context.Background(), secureBase+"/shop/2/")
	if err != nil {
		t.Fatalf("second Fetch: %v", err)
	}
	if got := secure.conns.Load(); got != conns {
		t.Errorf("second fetch opened %d new connections, want the kept-alive one reused", got-conns)
	}
	earlier := map[string]bool{}
	for _, r := range seen {
		earlier[r.remote] = true
	}
	seen = secure.requests()
	last := seen[len(seen)-1]
	if last.path != "/shop/2/" || !earlier[last.remote] {
		t.Errorf("second fetch came from %s (path %s), not from a connection used before", last.remote, last.path)
	}
	x := p2.Exchanges[0]
	checkTLS(t, x.URL, x.TLS, last.tls, pki, "shop.test")
	if !slices.Equal(x.ResolvedIPs, []string{"127.0.0.1", "127.0.0.2"}) {
		t.Errorf("reused connection: resolved %v", x.ResolvedIPs)
	}
	if p2.Robots == nil || p2.Robots.Status != 200 || secure.robots.Load() != 1 {
		t.Errorf("second page robots %+v; robots.txt requested %d times", p2.Robots, secure.robots.Load())
	}
	if &p2.Robots.Body[0] == &rb.Body[0] {
		t.Error("two pages share the bytes of one robots exchange")
	}
}

// checkTLS compares the client's record of a session with the server's.
func checkTLS(t *testing.T, what string, got *shopwatch.TLSInfo, server *tls.ConnectionState, pki *testPKI, sni string) {
	t.Helper()
	if got == nil || server == nil {
		t.Errorf("%s: TLS info %+v, server state %v", what, got, server)
		return
	}
	if want := tls.VersionName(server.Version); got.Version != want {
		t.Errorf("%s: version %q, server negotiated %q", what, got.Version, want)
	}
	if want := tls.CipherSuiteName(server.CipherSuite); got.CipherSuite != want {
		t.Errorf("%s: cipher suite %q, server negotiated %q", what, got.CipherSuite, want)
	}
	if got.ServerName != sni || server.ServerName != sni {
		t.Errorf("%s: SNI %q, server saw %q, want %q", what, got.ServerName, server.ServerName, sni)
	}
	if got.ALPN != "http/1.1" || got.ALPN != server.NegotiatedProtocol {
		t.Errorf("%s: ALPN %q, server %q", what, got.ALPN, server.NegotiatedProtocol)
	}
	if !got.Verified || got.Resumed {
		t.Errorf("%s: verified %v, resumed %v", what, got.Verified, got.Resumed)
	}
	if len(got.PeerCertificates) != len(pki.Chain) {
		t.Fatalf("%s: %d certificates, server presented %d", what, len(got.PeerCertificates), len(pki.Chain))
	}
	for i := range pki.Chain {
		if !bytes.Equal(got.PeerCertificates[i], pki.Chain[i]) {
			t.Errorf("%s: certificate %d differs from the one presented", what, i)
		}
	}
}

// TestProvenanceIPLiteral: an address in the URL resolves to itself and no
// SNI is sent.
func TestProvenanceIPLiteral(t *testing.T) {
	pki := newTestPKI(t, []string{"shop.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	s := startProvServer(t, pki, marketsim.New(marketsim.Config{Seed: 3, Shops: 2}))
	p, err := newTestFetcher(t, Config{RootCAs: pki.Pool}).Fetch(context.Background(), s.URL+"/shop/1/")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	x := p.Exchanges[0]
	if !slices.Equal(x.ResolvedIPs, []string{"127.0.0.1"}) {
		t.Errorf("resolved %v, want the literal", x.ResolvedIPs)
	}
	checkTLS(t, x.URL, x.TLS, s.requests()[0].tls, pki, "")
	if p.Robots != nil || s.robots.Load() != 0 {
		t.Errorf("robots.txt fetched with RecordRobots off: %+v", p.Robots)
	}
}

// TestProvenanceBadCertificate: a chain that does not verify fails the
// fetch with an error naming the URL, and the exchange keeps the chain.
func TestProvenanceBadCertificate(t *testing.T) {
	trusted := newTestPKI(t, []string{"shop.test"}, nil)
	other := newTestPKI(t, []string{"shop.test"}, nil) // same names, unknown root
	s := startProvServer(t, other, http.NotFoundHandler())
	f := newTestFetcher(t, Config{RootCAs: trusted.Pool})
	withNames(f, map[string][]string{"shop.test": {"127.0.0.1"}})
	u := "https://shop.test:" + s.port() + "/shop/1/"
	p, err := f.Fetch(context.Background(), u)
	if err == nil {
		t.Fatal("Fetch over an untrusted chain succeeded")
	}
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q: want a certificate verification error naming %s", err, u)
	}
	if p == nil || len(p.Exchanges) != 1 {
		t.Fatalf("page %+v: want the failed exchange", p)
	}
	x := p.Exchanges[0]
	if x.Status != 0 || x.Err == "" || x.RemoteAddr != s.Listener.Addr().String() || !slices.Equal(x.ResolvedIPs, []string{"127.0.0.1"}) {
		t.Errorf("exchange: status %d, err %q, remote %s, resolved %v", x.Status, x.Err, x.RemoteAddr, x.ResolvedIPs)
	}
	if x.TLS == nil || x.TLS.Verified || len(x.TLS.PeerCertificates) != 2 ||
		!bytes.Equal(x.TLS.PeerCertificates[0], other.Chain[0]) || !bytes.Equal(x.TLS.PeerCertificates[1], other.Chain[1]) {
		t.Fatalf("exchange TLS %+v: want the presented, unverified chain", x.TLS)
	}
	if x.TLS.Version == "" || x.TLS.CipherSuite == "" || x.TLS.ServerName != "shop.test" {
		t.Errorf("handshake so far: %+v", x.TLS)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("server answered %d requests over an unverified session", n)
	}
}

// TestProvenanceRefusedConnection: the addresses a host resolved to are
// kept when the connection is then refused.
func TestProvenanceRefusedConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	f := newTestFetcher(t, Config{})
	withNames(f, map[string][]string{"gone.test": {"127.0.0.1"}})
	u := "http://gone.test:" + port + "/"
	p, err := f.Fetch(context.Background(), u)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want ErrUnreachable, connection refused", err)
	}
	if x := p.Exchanges[0]; !slices.Equal(x.ResolvedIPs, []string{"127.0.0.1"}) || x.TLS != nil {
		t.Errorf("refused exchange: resolved %v, TLS %+v", x.ResolvedIPs, x.TLS)
	}
}

func TestRootCAsConfig(t *testing.T) {
	pki := newTestPKI(t, nil, nil)
	f := newTestFetcher(t, Config{RootCAs: pki.Pool})
	if f.Config().RootCAs != pki.Pool || f.transport.tlsConf.RootCAs != pki.Pool {
		t.Error("RootCAs not in use")
	}
}

// BenchmarkFetchProvenance is Fetch over HTTPS with robots.txt recorded
// (cached after the first page) against the baseline of plain Fetch over
// HTTPS on the same server: what the provenance costs per page. Report the
// ratio of the two pages/s figures.
func BenchmarkFetchProvenance(b *testing.B) {
	pki := newTestPKI(b, []string{"shop.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	page := benchPage()
	s := startProvServer(b, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			w.Write([]byte(robotsBody))
			return
		}
		htmlHandler("text/html; charset=utf-8", page)(w, r)
	}))
	for _, c := range []struct {
		name   string
		robots bool
	}{{"baseline", false}, {"robots", true}} {
		b.Run(c.name, func(b *testing.B) {
			f := newTestFetcher(b, Config{RootCAs: pki.Pool, RecordRobots: c.robots})
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				p, err := f.Fetch(context.Background(), s.URL+"/shop/1/")
				if err != nil || p.Exchanges[0].TLS == nil || (p.Robots == nil) == c.robots {
					b.Fatalf("Fetch: %v", err)
				}
			}
			pagesPerSecond(b)
		})
	}
}
