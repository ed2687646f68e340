package crawler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"shopwatch"
)

// interceptor lets the guard proxy read the browser's HTTPS traffic, so
// that the browser path keeps the bytes each server sent as exactly as the
// static path does: Chromium's TLS ends at the proxy, and the proxy makes
// the request upstream itself with the recording transport, which verifies
// the server's certificate, records the TLS session and the chain, and
// keeps the response head and body as they crossed the connection (chunked
// framing and content coding included).
//
// Chromium accepts the proxy's certificates because every one of them has
// the interceptor's key and Chromium is started with that key's SPKI hash
// in --ignore-certificate-errors-spki-list: nothing is added to any trust
// store, the key lives in this process's memory only, and it is new for
// every Browser.
type interceptor struct {
	key  *ecdsa.PrivateKey
	spki string // base64 of the SHA-256 of the key's SubjectPublicKeyInfo

	mu    sync.Mutex
	certs map[string]*tls.Certificate
}

func newInterceptor() (*interceptor, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("interceptor key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("interceptor key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &interceptor{key: key, spki: base64.StdEncoding.EncodeToString(sum[:]), certs: map[string]*tls.Certificate{}}, nil
}

// maxInterceptCerts bounds the certificates an interceptor keeps.
const maxInterceptCerts = 4096

// certFor returns a certificate for host (a name or an IP address),
// made once and kept.
func (c *interceptor) certFor(host string) (*tls.Certificate, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert, ok := c.certs[host]; ok {
		return cert, nil
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"shopwatch browser capture"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &c.key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", host, err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: c.key}
	if len(c.certs) >= maxInterceptCerts {
		clear(c.certs)
	}
	c.certs[host] = cert
	return cert, nil
}

// wireRecords keeps the exchanges the proxy made for one render, by method
// and URL in the order they were made, for the network log to take the
// exact bytes from.
type wireRecords struct {
	maxTotal int64 // body bytes kept over all exchanges; later ones keep the browser's view

	mu    sync.Mutex
	byK   map[string][]shopwatch.Exchange
	total int64
}

func wireKey(method, url string) string { return method + " " + url }

func (w *wireRecords) add(exs []shopwatch.Exchange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byK == nil {
		w.byK = map[string][]shopwatch.Exchange{}
	}
	for _, ex := range exs {
		k := wireKey(ex.Method, ex.URL)
		n := int64(len(ex.Body) + len(ex.WireBody))
		if w.maxTotal > 0 && w.total+n > w.maxTotal {
			// Over the page's budget: keep the place, not the bytes, so
			// later requests of the same URL still pair up.
			ex = shopwatch.Exchange{Method: ex.Method, URL: ex.URL, Err: "not kept: the page's body budget is spent"}
			n = 0
		}
		w.total += n
		w.byK[k] = append(w.byK[k], ex)
	}
}

// nth returns the n-th exchange (from 0) the proxy made for method and
// url.
func (w *wireRecords) nth(method, url string, n int) (shopwatch.Exchange, bool) {
	if w == nil {
		return shopwatch.Exchange{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	exs := w.byK[wireKey(method, url)]
	if n < 0 || n >= len(exs) {
		return shopwatch.Exchange{}, false
	}
	return exs[n], true
}

// isUpgrade reports whether r asks to switch protocols (WebSocket): such
// requests are forwarded without recording.
func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// forwardRecorded makes r upstream with the recording transport and
// streams the response back; the exchanges it made (one, as the proxy
// follows no redirect) are kept in p.wire.
func (p *guardProxy) forwardRecorded(w http.ResponseWriter, r *http.Request, target string) {
	rec := newRecorder(p.maxBody, nil)
	out := r.WithContext(withRecorder(r.Context(), rec))
	p.reverseProxy(target, p.recording).ServeHTTP(w, out)
	p.wire.add(rec.exchanges())
}

// intercept serves CONNECT by ending the browser's TLS at the proxy and
// serving the requests inside it (see interceptor).
func (p *guardProxy) intercept(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		http.Error(w, "CONNECT target must be host:port", http.StatusBadRequest)
		return
	}
	// A refused address is refused at CONNECT, as a tunnel would be.
	if ge := p.dialer.guardCheck(r.Context(), host); ge != nil {
		p.record(target, ge)
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "tunnel not supported", http.StatusInternalServerError)
		return
	}
	down, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if !p.track(down) {
		down.Close()
		return
	}
	defer p.untrack(down)
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		return
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" {
				name = host
			}
			return p.mitm.certFor(name)
		},
	}
	tc := tls.Server(down, conf)
	if err := tc.HandshakeContext(r.Context()); err != nil {
		p.log.Debug("browser TLS to the capture proxy failed", "target", target, "err", err)
		return
	}
	ln := &oneConnListener{conn: tc, done: make(chan struct{})}
	// A handler may outlive the connection's life as HTTP: an upgraded
	// connection is the new protocol's until its copy ends.
	var handlers sync.WaitGroup
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, in *http.Request) {
			handlers.Add(1)
			defer handlers.Done()
			if isUpgrade(in) {
				p.forwardPlain(w, in, target)
				return
			}
			p.forwardRecorded(w, in, target)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          p.srv.ErrorLog,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				ln.Close()
			}
		},
	}
	_ = srv.Serve(ln) // returns once the one connection is over or taken
	<-ln.done
	handlers.Wait()
}

// forwardPlain forwards r to target over TLS without recording (protocol
// upgrades, whose bytes after the switch are not HTTP).
func (p *guardProxy) forwardPlain(w http.ResponseWriter, r *http.Request, target string) {
	p.reverseProxy(target, p.rt).ServeHTTP(w, r)
}

// reverseProxy forwards requests through rt: to https://target when
// target is set (requests inside an intercepted tunnel carry only a
// path), else to the absolute URL the request names.
func (p *guardProxy) reverseProxy(target string, rt http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *pr.In.URL
			if target != "" {
				u.Scheme, u.Host = "https", target
			}
			pr.Out.URL = &u
			pr.Out.Host = ""
		},
		Transport:     rt,
		FlushInterval: -1,
		ErrorHandler:  p.forwardFailed,
	}
}

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	mu   sync.Mutex
	conn net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, errListenerClosed
}

var errListenerClosed = errors.New("listener closed")

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

// captureOpts asks a guard proxy to keep the exact bytes of the traffic.
type captureOpts struct {
	mitm     *interceptor // nil: HTTPS is tunnelled, unrecorded
	roots    *x509.CertPool
	maxBody  int64 // body bytes kept per exchange
	maxTotal int64 // body bytes kept per render
}

// capture makes the proxy keep the exact bytes of the browser's traffic:
// plain HTTP requests and, through mitm, HTTPS ones are made with a
// recording transport over the proxy's own guarded dialer, verifying
// servers against roots (nil: the system's), keeping at most maxBody body
// bytes per exchange and maxTotal in all.
func (p *guardProxy) capture(mitm *interceptor, roots *x509.CertPool, timeout time.Duration, maxBody, maxTotal int64) {
	p.mitm = mitm
	p.maxBody = maxBody
	p.wire = &wireRecords{maxTotal: maxTotal}
	p.recording = newRecordingTransportWith(p.dialer, newHostLimiter(16, 64, 0), roots, 2*timeout, 16, 6)
	p.rt.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
}
