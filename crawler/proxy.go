package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// guardProxy is the URL guard of the browser path: a forward HTTP proxy on
// a loopback port that Chromium sends all its traffic through. Plain HTTP
// requests are forwarded, HTTPS and WebSocket traffic is tunnelled with
// CONNECT, and every upstream connection is made by a guardedDialer, so the
// guard is checked at connect time on the exact address, for the page, its
// redirects and every sub-request, and DNS answers cannot change between the
// check and the connection (Chromium never resolves the names itself).
//
// A refused or failed upstream connection makes the browser's request fail
// as a network error (the proxy drops the connection, or answers CONNECT
// with an error status), never a page the proxy made up; the proxy keeps
// the failures so that Render can tell why its page did not load.
//
// The proxy listens on 127.0.0.1 only. Another local user could send
// requests through it while it runs, but only to addresses the guard allows.
type guardProxy struct {
	dialer *guardedDialer
	ln     net.Listener
	srv    *http.Server
	rt     *http.Transport
	log    *slog.Logger

	// Set by capture: the interceptor of HTTPS traffic, the transport
	// that records what crosses the wire, and what it recorded.
	mitm      *interceptor
	recording *recordingTransport
	wire      *wireRecords
	maxBody   int64

	mu       sync.Mutex
	failures []proxyFailure
	tunnels  map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// proxyFailure is one upstream connection the proxy could not or would
// not make.
type proxyFailure struct {
	target string // the URL, or host:port for a tunnel
	err    error  // a *GuardError, or the dial error
}

// maxProxyFailures bounds the failures a proxy keeps; the first ones are
// the ones that tell why a page did not load.
const maxProxyFailures = 64

// startGuardProxy starts a proxy on a free loopback port.
// With a captureOpts, the proxy keeps the exact bytes of the traffic (see
// capture).
func startGuardProxy(d *guardedDialer, timeout time.Duration, log *slog.Logger, capt ...captureOpts) (*guardProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start guard proxy: %w", err)
	}
	p := &guardProxy{dialer: d, ln: ln, log: log, tunnels: map[net.Conn]struct{}{}}
	p.rt = &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		DisableCompression:  true, // pass the browser's Accept-Encoding and the coded body through
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		// The browser bounds each page by the same timeout; the proxy
		// waits longer, so a slow page ends as the browser's timeout.
		ResponseHeaderTimeout: 2 * timeout,
	}
	rp := &httputil.ReverseProxy{
		// A forward proxy: the request already carries the absolute URL
		// and Host; Rewrite leaves them, strips hop-by-hop headers and
		// adds no X-Forwarded-* headers.
		Rewrite:       func(*httputil.ProxyRequest) {},
		Transport:     p.rt,
		FlushInterval: -1,
		ErrorHandler:  p.forwardFailed,
	}
	for _, c := range capt {
		p.capture(c.mitm, c.roots, timeout, c.maxBody, c.maxTotal)
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodConnect && p.mitm != nil:
				p.intercept(w, r)
			case r.Method == http.MethodConnect:
				p.tunnel(w, r)
			case r.URL.IsAbs() && r.URL.Scheme == "http" && p.recording != nil && !isUpgrade(r):
				p.forwardRecorded(w, r, "")
			case r.URL.IsAbs() && (r.URL.Scheme == "http" || r.URL.Scheme == "https"):
				rp.ServeHTTP(w, r)
			default:
				http.Error(w, "shopwatch guard proxy: absolute http URL or CONNECT expected", http.StatusBadRequest)
			}
		}),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln) // ends with http.ErrServerClosed on Close
	}()
	return p, nil
}

// URL is the proxy's address in the form Chromium's proxy settings take.
func (p *guardProxy) URL() string { return "http://" + p.ln.Addr().String() }

// record keeps a failure and logs it.
func (p *guardProxy) record(target string, err error) {
	var ge *GuardError
	if errors.As(err, &ge) {
		p.log.Debug("browser request refused by the URL guard", "url", target, "addr", ge.Addr, "reason", ge.Reason)
	} else {
		p.log.Debug("browser request failed upstream", "url", target, "err", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) < maxProxyFailures {
		p.failures = append(p.failures, proxyFailure{target: target, err: err})
	}
}

// firstFailureOf returns the first failure recorded when step is the
// navigation (the main document loads before anything else, so a failed
// navigation's first failure is the document's), or nil. A nil proxy has
// none.
func (p *guardProxy) firstFailureOf(step string) *proxyFailure {
	if p == nil || step != "navigate" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) == 0 {
		return nil
	}
	f := p.failures[0]
	return &f
}

// refusalList returns the guard refusals recorded, in order. A nil proxy
// has none.
func (p *guardProxy) refusalList() []*GuardError {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*GuardError
	for _, f := range p.failures {
		var ge *GuardError
		if errors.As(f.err, &ge) {
			out = append(out, ge)
		}
	}
	return out
}

// forwardFailed handles an upstream failure of a plain HTTP request: it is
// recorded and the browser's connection is dropped, which the browser
// reports as a network error.
func (p *guardProxy) forwardFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the browser went away
	}
	err = withURL(err, r.URL.String())
	p.record(r.URL.String(), err)
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, herr := hj.Hijack(); herr == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // drops the connection without a response
}

// tunnel serves CONNECT: it dials the target through the guard and copies
// bytes both ways until either side closes.
func (p *guardProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	up, err := p.dialer.DialContext(r.Context(), "tcp", target)
	if err != nil {
		p.record(target, err)
		status := http.StatusBadGateway
		if errors.Is(err, ErrRefusedAddress) {
			status = http.StatusForbidden
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "tunnel not supported", http.StatusInternalServerError)
		return
	}
	down, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(down, up) {
		down.Close()
		up.Close()
		return
	}
	defer p.untrack(down, up)
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the server already buffered from the browser go first.
		_, _ = io.Copy(up, rw.Reader)
		closeWrite(up)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(down, up)
		closeWrite(down)
		done <- struct{}{}
	}()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// track registers a tunnel's connections so Close can end them; it
// reports false once the proxy is closed.
func (p *guardProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.tunnels[c] = struct{}{}
	}
	p.wg.Add(1)
	return true
}

func (p *guardProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.tunnels, c)
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Done()
}

// Close stops the proxy, ends its tunnels and forwarded requests, and
// waits for them. It is idempotent.
func (p *guardProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.tunnels {
		c.Close()
	}
	p.mu.Unlock()
	err := p.srv.Close()
	p.rt.CloseIdleConnections()
	if p.recording != nil {
		p.recording.closeIdle()
	}
	p.wg.Wait()
	return err
}

// guardCheck resolves host and returns the *GuardError that a connection
// to it would meet, or nil (also when it does not resolve: the browser
// then reports that itself).
func (d *guardedDialer) guardCheck(ctx context.Context, host string) *GuardError {
	_, err := d.resolve(ctx, "tcp", host)
	var ge *GuardError
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}
