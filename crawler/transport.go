package crawler

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"shopwatch"
)

// maxHeaderBytes caps the request and response header bytes kept per
// exchange. http.Transport refuses responses with headers this large
// (MaxResponseHeaderBytes), so the cap never cuts a header it accepted.
const maxHeaderBytes = 1 << 20

// recorder collects the exchanges of one Fetch. The recording transport
// finds it in the request context, so one transport serves every Fetch.
type recorder struct {
	maxBody int64
	onStart func() // called before each request starts; may be nil
	jar     http.CookieJar

	mu   sync.Mutex
	hops []*hop
}

// newRecorder returns a recorder with its own cookie jar: cookies live for
// one Fetch, through its redirect chain, so fetches never depend on each
// other and nothing accumulates across a long sweep.
func newRecorder(maxBody int64, onStart func()) *recorder {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &recorder{maxBody: maxBody, onStart: onStart, jar: jar}
}

type recorderKey struct{}

func withRecorder(ctx context.Context, r *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderFrom(ctx context.Context) *recorder {
	r, _ := ctx.Value(recorderKey{}).(*recorder)
	return r
}

func (r *recorder) add(h *hop) {
	r.mu.Lock()
	r.hops = append(r.hops, h)
	r.mu.Unlock()
}

// exchanges returns copies of the recorded exchanges, in the order the
// requests started.
func (r *recorder) exchanges() []shopwatch.Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]shopwatch.Exchange, 0, len(r.hops))
	for _, h := range r.hops {
		out = append(out, h.snapshot())
	}
	return out
}

// hop is one request/response of a fetch while it is in flight.
type hop struct {
	mu      sync.Mutex
	ex      shopwatch.Exchange
	sent    bool // a connection was handed to the request
	reqHead []byte
	resHead []byte
	// The bytes read after the response head while the request held the
	// connection, up to wireMax (-1 keeps none): the body as it crossed
	// the wire, framing included, and possibly bytes past its end.
	wire    []byte
	wireMax int
}

// keepWire appends body bytes read from the connection.
func (h *hop) keepWire(p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.wireMax - len(h.wire); room > 0 {
		h.wire = append(h.wire, p[:min(len(p), room)]...)
	}
}

func (h *hop) snapshot() shopwatch.Exchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ex
}

// recordingTransport is the http.RoundTripper installed under colly. For
// every request, redirect hops included, it waits for a per-host and a
// global slot, then records the request and response header bytes as they
// crossed the connection, the body bytes as received (up to the body cap
// plus one byte, to tell a cut body from one that fits exactly), the remote
// address, the start time and the duration. It also records the network
// provenance of the connection the request used: every address the host
// resolved to when that connection was dialled and, over HTTPS, the TLS
// session (version, cipher suite, SNI, ALPN, resumption, the certificate
// chain as presented and whether it verified). A request on a reused
// keep-alive connection carries the provenance of that connection.
//
// No TLS session cache is kept, so every connection makes a full handshake
// and the recorded chain is the one the server presented on it.
//
// Requests go out over HTTP/1.1 only and without transparent compression,
// so the recorded header bytes are the ones on the wire and the recorded
// body is the body as the server sent it: its content coding (gzip …)
// kept, and for a chunked response the chunked framing kept as well, in
// Exchange.WireBody, beside the de-chunked Exchange.Body.
//
// Every connection, redirect hops included, is made by a guardedDialer, so
// the URL guard is checked at connect time against the exact address dialled.
type recordingTransport struct {
	base    *http.Transport
	limits  *hostLimiter
	dialer  *guardedDialer
	tlsConf *tls.Config
}

func newRecordingTransport(cfg Config, g *guard, limits *hostLimiter) *recordingTransport {
	d := newGuardedDialer(g, &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second})
	return newRecordingTransportWith(d, limits, cfg.RootCAs, cfg.Timeout, cfg.MaxParallel*2, cfg.PerHostParallel)
}

// newRecordingTransportWith returns a recording transport that connects
// through d, verifies servers against roots (nil: the system's) and keeps
// at most idle idle connections, perHost of them to one host.
func newRecordingTransportWith(d *guardedDialer, limits *hostLimiter, roots *x509.CertPool, timeout time.Duration, idle, perHost int) *recordingTransport {
	t := &recordingTransport{
		limits:  limits,
		dialer:  d,
		tlsConf: &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}, RootCAs: roots},
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	t.base = &http.Transport{
		Proxy:                  nil, // evidence must show the real peer; never an environment proxy
		DialContext:            t.dial,
		DialTLSContext:         t.dialTLS,
		Protocols:              protocols,
		DisableCompression:     true,
		MaxIdleConns:           idle,
		MaxIdleConnsPerHost:    perHost,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	return t
}

func (t *recordingTransport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, resolved, err := t.dialer.dialResolved(ctx, network, addr)
	if err != nil {
		return nil, connFailed(err, addr, resolved, "", nil, false)
	}
	return &wireConn{Conn: c, resolved: addrStrings(resolved)}, nil
}

// dialTLS does the TLS handshake itself so that the connection it hands to
// http.Transport is a wireConn over the TLS connection: the bytes it sees are
// the plaintext HTTP messages.
func (t *recordingTransport) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, resolved, err := t.dialer.dialResolved(ctx, network, addr)
	if err != nil {
		return nil, connFailed(err, addr, resolved, "", nil, false)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		raw.Close()
		return nil, err
	}
	conf := t.tlsConf.Clone()
	if conf.ServerName == "" {
		conf.ServerName = host
	}
	tc := tls.Client(raw, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		// The chain the server presented is evidence too, above all when
		// it did not verify.
		var info *shopwatch.TLSInfo
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			info = tlsInfo(tc.ConnectionState(), cve.UnverifiedCertificates, false)
		}
		return nil, connFailed(err, addr, resolved, raw.RemoteAddr().String(), info, true)
	}
	st := tc.ConnectionState()
	info := tlsInfo(st, st.PeerCertificates, len(st.VerifiedChains) > 0)
	return &wireConn{Conn: tc, resolved: addrStrings(resolved), tls: info}, nil
}

// tlsInfo describes a TLS session from the client's side; certs is the
// chain as the server presented it, leaf first.
func tlsInfo(st tls.ConnectionState, certs []*x509.Certificate, verified bool) *shopwatch.TLSInfo {
	info := &shopwatch.TLSInfo{
		ServerName: st.ServerName,
		ALPN:       st.NegotiatedProtocol,
		Resumed:    st.DidResume,
		Verified:   verified,
	}
	if st.Version != 0 {
		info.Version = tls.VersionName(st.Version)
	}
	if st.CipherSuite != 0 {
		info.CipherSuite = tls.CipherSuiteName(st.CipherSuite)
	}
	for _, c := range certs {
		info.PeerCertificates = append(info.PeerCertificates, c.Raw)
	}
	return info
}

func addrStrings(as []netip.Addr) []string {
	if len(as) == 0 {
		return nil
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// connError is a connection that could not be made or secured, with what
// was learnt about it on the way: the addresses the host resolved to, the
// peer that answered and, for a failed TLS handshake, the session as far
// as it got and the chain the server presented. RoundTrip copies these into
// the exchange. A *GuardError is never wrapped: it stays as it is.
type connError struct {
	addr      string // host:port asked for
	resolved  []string
	remote    string
	tls       *shopwatch.TLSInfo
	handshake bool
	err       error
}

func connFailed(err error, addr string, resolved []netip.Addr, remote string, info *shopwatch.TLSInfo, handshake bool) error {
	var ge *GuardError
	if errors.As(err, &ge) || (len(resolved) == 0 && info == nil && !handshake) {
		return err
	}
	return &connError{addr: addr, resolved: addrStrings(resolved), remote: remote, tls: info, handshake: handshake, err: err}
}

func (e *connError) Error() string {
	if e.handshake {
		return "TLS handshake with " + e.addr + ": " + e.err.Error()
	}
	return e.err.Error()
}

func (e *connError) Unwrap() error { return e.err }

// RoundTrip implements http.RoundTripper.
func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	release, err := t.limits.acquire(ctx, hostKey(req.URL.Hostname()))
	if err != nil {
		return nil, err
	}
	rec := recorderFrom(ctx)
	maxBody := int64(-1)
	wireMax := -1
	if rec != nil {
		if rec.onStart != nil {
			rec.onStart()
		}
		maxBody = rec.maxBody
		wireMax = wireCap(maxBody)
		if cookies := rec.jar.Cookies(req.URL); len(cookies) > 0 {
			req = req.Clone(ctx) // a RoundTripper must not change the caller's request
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
		}
	}
	h := &hop{ex: shopwatch.Exchange{
		Method:        req.Method,
		URL:           req.URL.String(),
		Started:       time.Now(),
		ContentLength: -1,
	}, wireMax: wireMax}
	if rec != nil {
		rec.add(h)
	}
	var conn *wireConn
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			wc, _ := info.Conn.(*wireConn)
			h.mu.Lock()
			h.sent = true
			if info.Conn != nil {
				h.ex.RemoteAddr = info.Conn.RemoteAddr().String()
			}
			if wc != nil {
				h.ex.ResolvedIPs = slices.Clone(wc.resolved)
				h.ex.TLS = nil
				if wc.tls != nil {
					cp := *wc.tls // the certificate bytes are shared, never written
					h.ex.TLS = &cp
				}
			}
			h.mu.Unlock()
			if conn != nil {
				// The transport retried on another connection.
				conn.detach(h, false, true)
				conn = nil
			}
			if wc != nil {
				conn = wc
				wc.attach(h)
			}
		},
	}
	resp, err := t.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	// A chunked body keeps its framing; any other body crosses as it is,
	// so the connection's copy of it is not needed.
	chunked := err == nil && conn != nil && slices.Contains(resp.TransferEncoding, "chunked")
	if conn != nil {
		conn.detach(h, true, !chunked)
	}
	if !chunked {
		h.mu.Lock()
		h.wire, h.wireMax = nil, -1
		h.mu.Unlock()
	}
	h.mu.Lock()
	if h.sent && len(h.reqHead) == 0 {
		// The connection was not one of ours; fall back to the bytes
		// Request.Write produces, which is what an HTTP/1.1 transport
		// without compression sends.
		h.reqHead = rebuildRequestHead(req)
	}
	h.ex.RequestHeader = h.reqHead
	if err != nil {
		var ce *connError
		if !h.sent && errors.As(err, &ce) {
			h.ex.ResolvedIPs = slices.Clone(ce.resolved)
			h.ex.RemoteAddr = ce.remote
			h.ex.TLS = ce.tls
		}
		err = withURL(err, req.URL.String())
		h.ex.Err = err.Error()
		h.ex.Duration = time.Since(h.ex.Started)
		h.mu.Unlock()
		release()
		return nil, err
	}
	h.ex.Proto = resp.Proto
	h.ex.Status = resp.StatusCode
	h.ex.ContentLength = resp.ContentLength
	if len(h.resHead) == 0 {
		h.resHead = rebuildResponseHead(resp)
	}
	h.ex.ResponseHeader = h.resHead
	h.mu.Unlock()
	if rec != nil {
		if cookies := resp.Cookies(); len(cookies) > 0 {
			rec.jar.SetCookies(req.URL, cookies)
		}
	}
	rb := &recordingBody{rc: resp.Body, h: h, max: maxBody, release: release}
	if chunked {
		rb.conn = conn
	}
	resp.Body = rb
	// colly gunzips bodies it thinks are compressed, without any bound on
	// the output. The Fetcher never reads colly's copy of the body (it
	// decodes the recorded bytes itself, capped), so tell colly there is
	// nothing left to decompress.
	resp.Uncompressed = true
	return resp, nil
}

func (t *recordingTransport) closeIdle() { t.base.CloseIdleConnections() }

// recordingBody tees a response body into its exchange. On Close it reads
// what the consumer left unread, up to the cap, so a redirect body the HTTP
// client only skimmed is still kept whole; one byte past the cap marks the
// body as cut.
type recordingBody struct {
	rc      io.ReadCloser
	h       *hop
	max     int64 // bytes kept; -1 keeps nothing
	buf     bytes.Buffer
	seen    int64
	eof     bool
	readErr error
	once    sync.Once
	release func()
	// conn is set for a chunked body: the connection it is read from,
	// whose copy of the body's wire form goes into the exchange.
	conn *wireConn
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.keep(p[:n])
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.readErr == nil:
		b.readErr = err
	}
	return n, err
}

func (b *recordingBody) keep(p []byte) {
	b.seen += int64(len(p))
	if b.max < 0 {
		return
	}
	if room := b.max + 1 - int64(b.buf.Len()); room > 0 {
		if int64(len(p)) > room {
			p = p[:room]
		}
		b.buf.Write(p)
	}
}

func (b *recordingBody) Close() error {
	var err error
	b.once.Do(func() {
		if !b.eof && b.readErr == nil && b.max >= 0 && int64(b.buf.Len()) <= b.max {
			want := b.max + 1 - int64(b.buf.Len())
			_, derr := io.CopyN(writerFunc(b.keep), b.rc, want)
			if derr == io.EOF {
				b.eof = true
			} else if derr != nil {
				b.readErr = derr
			}
		}
		err = b.rc.Close()
		h := b.h
		if b.conn != nil {
			b.conn.release(h)
		}
		h.mu.Lock()
		body := b.buf.Bytes()
		if b.max >= 0 && int64(len(body)) > b.max {
			body = body[:b.max]
			h.ex.BodyTruncated = true
		}
		if b.conn != nil && b.max >= 0 {
			// The wire form of the body kept: the chunked framing up to
			// the end of the message or, for a cut body, up to its last
			// kept byte. Should the copy of the connection's bytes have
			// run out first (a framing far larger than the body), the
			// body is cut to what the copy holds, so the two agree.
			limit := -1
			if h.ex.BodyTruncated {
				limit = len(body)
			}
			end, n, _ := chunkedPrefix(h.wire, limit)
			if n < len(body) {
				body = body[:n]
				h.ex.BodyTruncated = true
			}
			h.ex.WireBody = slices.Clip(h.wire[:end])
		}
		h.wire = nil
		h.ex.Body = body
		if b.readErr != nil && h.ex.Err == "" {
			h.ex.Err = "read body: " + b.readErr.Error()
		}
		h.ex.Duration = time.Since(h.ex.Started)
		h.mu.Unlock()
		b.release()
	})
	return err
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// wireConn is a connection that copies the HTTP header bytes crossing it
// into the exchange that currently uses it. http.Transport runs one request
// at a time on an HTTP/1.1 connection and a server does not answer before it
// is asked, so the bytes written after a request gets the connection, up to
// the first blank line, are that request's head, and the bytes read after it,
// up to the blank line that ends a final (non-1xx) response head, are its
// response head (interim 1xx heads included).
type wireConn struct {
	net.Conn
	resolved []string           // addresses the host resolved to when dialled
	tls      *shopwatch.TLSInfo // nil for plain HTTP

	mu  sync.Mutex
	cur *hop
	req headCapture
	res headCapture
}

// wireCap is how many bytes of a chunked body's wire form are kept for a
// body cap of maxBody: the body, twice as many bytes of framing (chunks of
// a byte or two) and room for a large trailer.
func wireCap(maxBody int64) int {
	if maxBody < 0 {
		return -1
	}
	return int(min(3*maxBody+maxHeaderBytes, math.MaxInt32))
}

func (c *wireConn) attach(h *hop) {
	h.mu.Lock()
	h.wire = nil // what an earlier connection of a retried request gave
	h.mu.Unlock()
	c.mu.Lock()
	c.cur = h
	c.req = headCapture{}
	c.res = headCapture{final: true}
	c.mu.Unlock()
}

// detach stores the captured heads into h when keep is set and, when stop
// is set, stops capturing for h. Without stop the body bytes read next
// still go to h, until release.
func (c *wireConn) detach(h *hop, keep, stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != h {
		return
	}
	if keep {
		h.mu.Lock()
		h.reqHead = bytes.Clone(c.req.buf)
		h.resHead = bytes.Clone(c.res.buf)
		h.mu.Unlock()
	}
	if stop {
		c.cur = nil
	}
}

// release stops capturing for h, unless the connection has moved on to
// another request already (it goes back to the pool as soon as the body
// has been read to its end).
func (c *wireConn) release(h *hop) {
	c.mu.Lock()
	if c.cur == h {
		c.cur = nil
	}
	c.mu.Unlock()
}

func (c *wireConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.mu.Lock()
		if c.cur != nil {
			c.req.add(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.cur != nil {
			if rest := c.res.add(p[:n]); len(rest) > 0 {
				c.cur.keepWire(rest)
			}
		}
		c.mu.Unlock()
	}
	return n, err
}

// headCapture accumulates bytes until a message head is complete.
type headCapture struct {
	final bool // response side: skip past interim 1xx heads
	buf   []byte
	start int // where the head being scanned starts
	done  bool
}

// add returns the bytes of p past the end of the head: all of p once the
// head is complete.
func (hc *headCapture) add(p []byte) []byte {
	if hc.done {
		return p
	}
	from := len(hc.buf)
	hc.buf = append(hc.buf, p...)
	for {
		end := headEnd(hc.buf, hc.start, from)
		if end < 0 {
			break
		}
		if hc.final && isInterim(hc.buf[hc.start:end]) {
			hc.start, from = end, end
			continue
		}
		rest := bytes.Clone(hc.buf[end:])
		hc.buf = hc.buf[:end]
		hc.done = true
		return rest
	}
	if len(hc.buf) > maxHeaderBytes {
		hc.buf = hc.buf[:maxHeaderBytes]
		hc.done = true
	}
	return nil
}

// headEnd returns the index just past the blank line that ends the head
// starting at start, or -1. Lines may end in CRLF or a bare LF, as Go's
// parser accepts both. from is where new bytes begin; scanning resumes a few
// bytes before it so a terminator split across reads is found.
func headEnd(b []byte, start, from int) int {
	i := max(start, from-3)
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1 // just past this LF
		// A blank line: the LF is preceded by the previous LF, or by CR
		// and the previous LF.
		k := i - 2
		if k >= start && b[k] == '\r' {
			k--
		}
		if k >= start && b[k] == '\n' {
			return i
		}
	}
}

// isInterim reports whether head is an interim response (1xx other than
// 101 Switching Protocols).
func isInterim(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	_, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 3 {
		return false
	}
	return rest[0] == '1' && !bytes.HasPrefix(rest, []byte("101"))
}

// rebuildRequestHead renders the head Request.Write would send for req.
func rebuildRequestHead(req *http.Request) []byte {
	r := req.Clone(context.Background())
	r.Body = nil
	r.ContentLength = 0
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		return nil
	}
	b := buf.Bytes()
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		b = b[:i+4]
	}
	return b
}

// rebuildResponseHead renders the status line and headers of resp from the
// parsed values; used only when the connection bytes were not captured.
func rebuildResponseHead(resp *http.Response) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %s\r\n", resp.Proto, strings.TrimSpace(resp.Status))
	w := bufio.NewWriter(&buf)
	_ = resp.Header.Write(w)
	_ = w.Flush()
	buf.WriteString("\r\n")
	return buf.Bytes()
}

// chunkedPrefix walks the chunked transfer coding at the start of wire
// (RFC 9112, section 7.1). It returns end, the length of the prefix of wire
// that carries the first n payload bytes, and whether that prefix is the
// whole message: every chunk, the last chunk, the trailer and the empty
// line that ends it. With limit >= 0 it stops after limit payload bytes.
// Where wire runs out or its framing does not parse, it stops there.
func chunkedPrefix(wire []byte, limit int) (end, n int, complete bool) {
	i := 0
	for {
		line, next, ok := chunkLine(wire, i)
		if !ok {
			return i, n, false
		}
		field, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions
		size, err := strconv.ParseUint(string(bytes.TrimRight(field, " \t")), 16, 62)
		if err != nil {
			return i, n, false
		}
		if size == 0 {
			// The last chunk; the trailer fields follow, then an empty line.
			for j := next; ; {
				line, after, ok := chunkLine(wire, j)
				if !ok {
					return i, n, false
				}
				if j = after; len(line) == 0 {
					return j, n, true
				}
			}
		}
		if limit >= 0 && uint64(limit-n) <= size {
			if avail := len(wire) - next; avail < limit-n {
				return len(wire), n + avail, false
			}
			return next + limit - n, limit, false
		}
		if avail := uint64(len(wire) - next); avail < size {
			return len(wire), n + int(avail), false
		}
		data := next + int(size)
		n += int(size)
		if !bytes.HasPrefix(wire[data:], []byte("\r\n")) {
			return data, n, false
		}
		i = data + 2
	}
}

// chunkLine returns the line of b that starts at i, without its line end
// and trailing white space, and where the next line starts; ok is false
// when the line does not end within b.
func chunkLine(b []byte, i int) (line []byte, next int, ok bool) {
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		return nil, i, false
	}
	return bytes.TrimRight(b[i:i+j], " \t\r"), i + j + 1, true
}
