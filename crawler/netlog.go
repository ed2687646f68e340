package crawler

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"shopwatch"
)

// netLog assembles the HTTP exchanges of one tab from the Network events
// of the DevTools protocol, for the evidence: every http(s) request the
// page made, redirect hops each on their own, with the request head rebuilt
// from the headers Chromium says it sent, the response head as Chromium
// received it when it has the raw text (HTTP/1.x) and rebuilt from status
// and headers otherwise, and the body fetched with Network.getResponseBody
// once loading finished. The tab keeps bodies as durable messages, so the
// body is the bytes received, not text decoded from the page's charset.
//
// With the URL guard on (the default), the render's guard proxy makes
// every request upstream itself, HTTPS included (interceptor), with the
// recording transport of the static path, and exchanges takes from it
// what crossed the wire: the request and response heads as sent and
// received, the body with its content coding (and, when chunked, its
// framing in WireBody), the peer and the TLS session with the server's own
// chain. What the proxy did not make (a WebSocket, a request it failed)
// keeps the browser's view.
//
// The browser's view: Chromium hands out bodies with their content coding
// removed, so without the proxy's recording the tab asks servers for
// identity coding (Accept-Encoding: identity, recorded in the request
// head); the peer address is the one the proxy connected to (peerBook).
//
// Its listen method runs on the tab's event loop and must return at once;
// bodies are fetched by a goroutine of the tab (fetchBodies).
type netLog struct {
	maxExchanges int   // hops kept; later ones are counted in dropped
	maxBody      int64 // body bytes kept per exchange
	maxTotal     int64 // body bytes kept over all exchanges

	// proxyAddr is the listen address of the render's guard proxy, which
	// Chromium reports as the peer of every request it sent through it;
	// peers tells the address the proxy really connected to.
	proxyAddr string
	peers     *peerBook
	log       *slog.Logger
	// wire holds the exchanges the render's guard proxy made, with the
	// bytes as they crossed the connection; nil when it keeps none.
	wire *wireRecords

	mu       sync.Mutex
	reqs     map[network.RequestID]*netRequest
	hops     []*netHop // in the order they started
	dropped  int
	main     network.RequestID // the first document request of the top frame
	inflight int
	last     time.Time // last request start or end
	queue    []*netHop // hops whose body awaits fetching
	fetching bool      // fetchBodies is working on a hop
	kick     chan struct{}
	total    int64 // body bytes kept so far
}

// netRequest is one request id of the protocol: the hops of a redirect
// chain share it.
type netRequest struct {
	hops      []*netHop
	reqExtra  []network.Headers                         // raw request headers not yet matched to a hop
	respExtra []*network.EventResponseReceivedExtraInfo // raw responses not yet matched to a hop
	counted   bool                                      // counts in netLog.inflight
}

// netHop is one request and its response.
type netHop struct {
	id      network.RequestID
	seq     int
	kept    bool // within maxExchanges
	method  string
	url     string
	header  network.Headers // as in requestWillBeSent
	raw     network.Headers // as sent, from requestWillBeSentExtraInfo
	hasRaw  bool
	resp    *network.Response
	respRaw *network.EventResponseReceivedExtraInfo
	wall    time.Time
	t0, t1  cdp.MonotonicTime
	done    bool
	err     string
	encoded float64 // body bytes on the wire, from loadingFinished
	body    []byte
	cut     bool
	missing bool // the browser handed over no body although one was announced
	queued  bool // its body is queued for fetching, or there is none to fetch
}

func newNetLog(maxExchanges int, maxBody, maxTotal int64, proxyAddr string, peers *peerBook, log *slog.Logger) *netLog {
	return &netLog{
		maxExchanges: maxExchanges, maxBody: maxBody, maxTotal: maxTotal,
		proxyAddr: proxyAddr, peers: peers, log: log,
		reqs: map[network.RequestID]*netRequest{}, kick: make(chan struct{}, 1), last: time.Now(),
	}
}

// listen takes one event of the tab. It runs on the tab's event loop.
func (l *netLog) listen(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		l.requestWillBeSent(ev)
	case *network.EventRequestWillBeSentExtraInfo:
		l.mu.Lock()
		r := l.request(ev.RequestID)
		if h := firstHop(r.hops, func(h *netHop) bool { return !h.hasRaw }); h != nil {
			h.raw, h.hasRaw = ev.Headers, true
		} else {
			r.reqExtra = append(r.reqExtra, ev.Headers)
		}
		l.mu.Unlock()
	case *network.EventResponseReceivedExtraInfo:
		l.mu.Lock()
		r := l.request(ev.RequestID)
		if h := firstHop(r.hops, func(h *netHop) bool { return h.respRaw == nil }); h != nil {
			h.respRaw = ev
		} else {
			r.respExtra = append(r.respExtra, ev)
		}
		l.mu.Unlock()
	case *network.EventResponseReceived:
		l.mu.Lock()
		if h := l.current(ev.RequestID); h != nil {
			h.resp = ev.Response
			l.enqueue(h)
		}
		l.mu.Unlock()
	case *network.EventLoadingFinished:
		l.mu.Lock()
		if h := l.current(ev.RequestID); h != nil && !h.done {
			h.done, h.t1, h.encoded = true, ev.Timestamp, ev.EncodedBodyLength
			l.enqueue(h)
		}
		l.settle(ev.RequestID)
		l.mu.Unlock()
	case *network.EventLoadingFailed:
		l.mu.Lock()
		if h := l.current(ev.RequestID); h != nil && !h.done {
			h.done, h.t1 = true, ev.Timestamp
			h.err = ev.ErrorText
			switch {
			case ev.Canceled:
				h.err += " (canceled)"
			case ev.BlockedReason != "":
				h.err += " (blocked: " + string(ev.BlockedReason) + ")"
			}
		}
		l.settle(ev.RequestID)
		l.mu.Unlock()
	}
}

// mainDocument returns the response of the page's main document once its
// body has arrived in full, else nil.
func (l *netLog) mainDocument() *network.Response {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.main == "" {
		return nil
	}
	h := l.current(l.main)
	if h == nil || !h.done || h.err != "" || h.resp == nil {
		return nil
	}
	return h.resp
}

func firstHop(hops []*netHop, ok func(*netHop) bool) *netHop {
	for _, h := range hops {
		if ok(h) {
			return h
		}
	}
	return nil
}

// request returns the request with id, made on first sight. l.mu is held.
func (l *netLog) request(id network.RequestID) *netRequest {
	r := l.reqs[id]
	if r == nil {
		r = &netRequest{}
		l.reqs[id] = r
	}
	return r
}

// current returns the latest hop of request id, or nil. l.mu is held.
func (l *netLog) current(id network.RequestID) *netHop {
	r := l.reqs[id]
	if r == nil || len(r.hops) == 0 {
		return nil
	}
	return r.hops[len(r.hops)-1]
}

// settle ends request id's count in the requests in flight. l.mu is held.
func (l *netLog) settle(id network.RequestID) {
	if r := l.reqs[id]; r != nil && r.counted {
		r.counted = false
		l.inflight--
	}
	l.last = time.Now()
}

func (l *netLog) requestWillBeSent(ev *network.EventRequestWillBeSent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.request(ev.RequestID)
	if ev.RedirectResponse != nil && len(r.hops) > 0 {
		// The same request id goes on after a redirect: the previous hop
		// ends with the redirect response.
		prev := r.hops[len(r.hops)-1]
		prev.resp, prev.done, prev.t1 = ev.RedirectResponse, true, ev.Timestamp
		prev.queued = true // Chromium keeps no body of a redirect
	}
	if ev.Request == nil || !strings.HasPrefix(ev.Request.URL, "http:") && !strings.HasPrefix(ev.Request.URL, "https:") {
		return // data:, blob: and the like cross no network
	}
	h := &netHop{
		id: ev.RequestID, seq: len(l.hops), method: ev.Request.Method, url: ev.Request.URL,
		header: ev.Request.Headers, t0: ev.Timestamp,
		wall: time.UnixMicro(int64(math.Round(float64(ev.WallTime) * 1e6))),
	}
	if l.main == "" && ev.Type == network.ResourceTypeDocument {
		l.main = ev.RequestID
	}
	if len(r.reqExtra) > 0 {
		h.raw, h.hasRaw, r.reqExtra = r.reqExtra[0], true, r.reqExtra[1:]
	}
	if len(r.respExtra) > 0 {
		h.respRaw, r.respExtra = r.respExtra[0], r.respExtra[1:]
	}
	r.hops = append(r.hops, h)
	if len(l.hops) < l.maxExchanges {
		h.kept = true
		l.hops = append(l.hops, h)
	} else {
		l.dropped++
		h.header = nil // only its place in the chain and the count matter
	}
	if !r.counted && ev.Type != network.ResourceTypeEventSource {
		r.counted = true
		l.inflight++
	}
	l.last = time.Now()
}

// bodySize is the length of h's body as far as it is known before
// fetching it: the body bytes Chromium counted, else the announced
// Content-Length; -1 when neither is known.
func (h *netHop) bodySize() int64 {
	if h.encoded > 0 {
		return int64(h.encoded)
	}
	if h.resp != nil {
		if v, ok := cdpHeader(h.resp.Headers, "Content-Length"); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return -1
}

// idleFor reports how long no request has been in flight; zero while one
// is.
func (l *netLog) idleFor() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight > 0 {
		return 0
	}
	return time.Since(l.last)
}

// fetchBodies fetches the bodies of the hops whose loading finished, until
// ctx (the tab's) ends. It runs in its own goroutine: commands may not be
// sent from the event loop.
func (l *netLog) fetchBodies(ctx context.Context) {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.fetching = false
			l.mu.Unlock()
			select {
			case <-l.kick:
				continue
			case <-ctx.Done():
				return
			}
		}
		h := l.queue[0]
		l.queue = l.queue[1:]
		l.fetching = true
		budget := min(l.maxBody, l.maxTotal-l.total)
		l.mu.Unlock()

		var body []byte
		cut, errText := false, ""
		switch {
		case budget <= 0:
			cut = h.bodySize() != 0
		default:
			// The browser keeps at most the cap and a byte of a body (see
			// tab.prepare), so no more than that crosses the protocol.
			res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: h.id})
			if err != nil {
				errText = err.Error()
				// Evicted: longer than the buffers, so longer than the cap.
				cut = strings.Contains(errText, "evicted")
				break
			}
			body = res.Body
			if int64(len(body)) > budget {
				body, cut = body[:budget:budget], true
			}
		}
		// Chromium answers an empty body, without error, for some
		// responses it has let go of (an image that did not decode); the
		// exchange says so rather than claim the response was empty.
		missing := errText == "" && !cut && len(body) == 0 && h.bodySize() > 0
		switch {
		case errText != "":
			l.log.Warn("could not keep a response body", "url", h.url, "err", errText)
		case missing:
			l.log.Warn("the browser kept no body of a response that had one", "url", h.url, "announced_bytes", h.bodySize())
		}
		l.mu.Lock()
		h.body, h.cut, h.missing = body, cut, missing
		l.total += int64(len(body))
		l.mu.Unlock()
	}
}

// enqueue queues the body of h for fetching, once, when it has one to
// fetch: its loading finished with a response, and it is kept. l.mu is
// held.
func (l *netLog) enqueue(h *netHop) {
	if h.queued || !h.done || h.err != "" || !h.kept || h.resp == nil || h.method == http.MethodHead {
		return
	}
	h.queued = true
	l.queue = append(l.queue, h)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// waitBodies waits until the body of every hop whose loading finished has
// been fetched, or ctx ends.
func (l *netLog) waitBodies(ctx context.Context) {
	l.mu.Lock()
	for _, h := range l.hops {
		l.enqueue(h) // in case its response came after its end
	}
	l.mu.Unlock()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	// A response whose end the protocol has not reported yet (events can
	// trail the load event) gets a short grace to finish.
	grace := time.Now().Add(3 * time.Second)
	for {
		l.mu.Lock()
		idle := len(l.queue) == 0 && !l.fetching
		if idle && time.Now().Before(grace) {
			for _, h := range l.hops {
				if h.kept && h.resp != nil && !h.done && h.err == "" {
					idle = false
					break
				}
			}
		}
		l.mu.Unlock()
		if idle {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// exchanges returns the exchanges recorded so far, the main document's
// hops first, then the others in the order they started. Requests still
// waiting for their answer are included with an error saying so.
func (l *netLog) exchanges() []shopwatch.Exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	hops := slices.Clone(l.hops)
	sort.SliceStable(hops, func(i, j int) bool {
		mi, mj := hops[i].id == l.main, hops[j].id == l.main
		if mi != mj {
			return mi
		}
		return hops[i].seq < hops[j].seq
	})
	// The n-th request for a method and URL is the n-th the proxy made.
	nth := make(map[*netHop]int, len(l.hops))
	seen := map[string]int{}
	for _, h := range l.hops {
		k := wireKey(h.method, h.url)
		nth[h] = seen[k]
		seen[k]++
	}
	out := make([]shopwatch.Exchange, 0, len(hops))
	for _, h := range hops {
		x := l.exchange(h)
		if w, ok := l.wire.nth(h.method, h.url, nth[h]); ok && w.Err == "" && len(w.ResponseHeader) > 0 {
			x = onTheWire(x, w)
		}
		out = append(out, x)
	}
	return out
}

// onTheWire returns x, as the browser reported it, with what the guard
// proxy kept of the same request: the request and response heads and the
// body as they crossed the connection (content coding kept, and chunked
// framing in WireBody), the peer and the TLS session the proxy saw.
func onTheWire(x, w shopwatch.Exchange) shopwatch.Exchange {
	x.RequestHeader = w.RequestHeader
	x.ResponseHeader = w.ResponseHeader
	x.Proto = w.Proto
	x.Status = w.Status
	x.ContentLength = w.ContentLength
	x.Body = w.Body
	x.WireBody = w.WireBody
	x.BodyTruncated = w.BodyTruncated
	x.BodyMissing = false
	x.RemoteAddr = w.RemoteAddr
	x.ResolvedIPs = w.ResolvedIPs
	x.TLS = w.TLS
	return x
}

// droppedCount reports how many requests were past maxExchanges.
func (l *netLog) droppedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// exchange builds the Exchange of one hop. l.mu is held.
func (l *netLog) exchange(h *netHop) shopwatch.Exchange {
	x := shopwatch.Exchange{
		Method:        h.method,
		URL:           h.url,
		Started:       h.wall,
		ContentLength: -1,
		Err:           h.err,
		Body:          h.body,
		BodyTruncated: h.cut,
		BodyMissing:   h.missing,
	}
	if h.done && h.t1 >= h.t0 {
		x.Duration = time.Duration((float64(h.t1) - float64(h.t0)) * float64(time.Second))
	}
	var status int64
	var respHeaders network.Headers
	statusText := ""
	if h.resp != nil {
		status, respHeaders, statusText = h.resp.Status, h.resp.Headers, h.resp.StatusText
		x.Proto = protoName(h.resp.Protocol)
		x.RemoteAddr = l.remoteAddr(h)
	}
	if h.respRaw != nil {
		if status == 0 {
			status = h.respRaw.StatusCode
		}
		if len(h.respRaw.Headers) > 0 {
			respHeaders = h.respRaw.Headers
		}
	}
	x.Status = int(status)
	if x.Proto == "" {
		x.Proto = "HTTP/1.1"
	}
	x.RequestHeader = requestHead(h, x.Proto)
	if status > 0 {
		if h.respRaw != nil && h.respRaw.HeadersText != "" {
			x.ResponseHeader = []byte(terminateHead(h.respRaw.HeadersText))
		} else {
			x.ResponseHeader = responseHead(x.Proto, int(status), statusText, respHeaders)
		}
		if v, ok := cdpHeader(respHeaders, "Content-Length"); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
				x.ContentLength = n
			}
		}
	}
	if x.Err == "" && !h.done && status == 0 {
		x.Err = "no response before the page was captured"
	}
	return x
}

// remoteAddr is the peer of h: the address the guard proxy connected to
// when the request went through it, else the one Chromium reports.
func (l *netLog) remoteAddr(h *netHop) string {
	if h.resp.RemoteIPAddress == "" {
		return ""
	}
	addr := net.JoinHostPort(strings.Trim(h.resp.RemoteIPAddress, "[]"), strconv.FormatInt(h.resp.RemotePort, 10))
	if l.proxyAddr == "" || addr != l.proxyAddr {
		return addr
	}
	u, err := url.Parse(h.url)
	if err != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}[u.Scheme]
	}
	return l.peers.peer(u.Hostname(), port)
}

// protoName turns Chromium's protocol names into the HTTP-version form
// Exchange.Proto uses on the static path ("HTTP/1.1").
func protoName(p string) string {
	switch strings.ToLower(p) {
	case "":
		return ""
	case "http/1.1":
		return "HTTP/1.1"
	case "http/1.0":
		return "HTTP/1.0"
	case "h2", "http/2", "http/2.0":
		return "HTTP/2.0"
	case "h3", "http/3", "quic":
		return "HTTP/3.0"
	}
	return strings.ToUpper(p)
}

// requestHead rebuilds the request line and headers of h: the headers as
// sent when Chromium reported them, else the ones it meant to send.
func requestHead(h *netHop, proto string) []byte {
	hdr := h.header
	if h.hasRaw && len(h.raw) > 0 {
		hdr = h.raw
	}
	target := h.url
	host := ""
	if u, err := url.Parse(h.url); err == nil {
		target = u.RequestURI()
		host = u.Host
	}
	if v, ok := cdpHeader(hdr, ":path"); ok {
		target = v
	}
	if v, ok := cdpHeader(hdr, ":authority"); ok {
		host = v
	}
	if strings.HasPrefix(proto, "HTTP/2") || strings.HasPrefix(proto, "HTTP/3") {
		proto = "HTTP/1.1" // the line is a rendering; the pseudo-headers are the wire form
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", h.method, target, proto)
	if _, ok := cdpHeader(hdr, "Host"); !ok && host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	writeHeaders(&b, hdr, true)
	b.WriteString("\r\n")
	return []byte(b.String())
}

// responseHead rebuilds a status line and headers.
func responseHead(proto string, status int, text string, hdr network.Headers) []byte {
	if text == "" {
		text = http.StatusText(status)
	}
	if strings.HasPrefix(proto, "HTTP/2") || strings.HasPrefix(proto, "HTTP/3") {
		proto = "HTTP/1.1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d", proto, status)
	if text != "" {
		b.WriteString(" " + text)
	}
	b.WriteString("\r\n")
	writeHeaders(&b, hdr, false)
	b.WriteString("\r\n")
	return []byte(b.String())
}

// writeHeaders writes hdr one field a line, Host first and the rest by
// name (the protocol gives them as a map), values Chromium joined with a
// newline on lines of their own, pseudo-headers left out.
func writeHeaders(b *strings.Builder, hdr network.Headers, hostFirst bool) {
	names := make([]string, 0, len(hdr))
	for k := range hdr {
		if strings.HasPrefix(k, ":") {
			continue
		}
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if hostFirst {
			hi, hj := strings.EqualFold(names[i], "Host"), strings.EqualFold(names[j], "Host")
			if hi != hj {
				return hi
			}
		}
		return strings.ToLower(names[i]) < strings.ToLower(names[j])
	})
	for _, k := range names {
		for _, v := range strings.Split(headerString(hdr[k]), "\n") {
			fmt.Fprintf(b, "%s: %s\r\n", k, v)
		}
	}
}

func headerString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// cdpHeader looks a header up by name, in any case.
func cdpHeader(hdr network.Headers, name string) (string, bool) {
	for k, v := range hdr {
		if strings.EqualFold(k, name) {
			return headerString(v), true
		}
	}
	return "", false
}

// terminateHead makes sure a raw response head ends with its blank line.
func terminateHead(s string) string {
	s = strings.TrimRight(s, "\r\n")
	return s + "\r\n\r\n"
}

// peerBook records, for one render, the names the guard proxy resolved and
// the addresses it connected to, so that the evidence names the real peer
// of a request rather than the proxy.
type peerBook struct {
	mu      sync.Mutex
	lookups map[string][]netip.Addr // host name → addresses
	dialled map[string]bool         // "addr:port" connected to
}

// wrap returns a copy of d that records into p.
func (p *peerBook) wrap(d *guardedDialer) *guardedDialer {
	p.lookups, p.dialled = map[string][]netip.Addr{}, map[string]bool{}
	cp := *d
	lookup, dial := d.lookup, d.dial
	cp.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		addrs, err := lookup(ctx, host)
		if err == nil {
			p.mu.Lock()
			p.lookups[hostKey(host)] = addrs
			p.mu.Unlock()
		}
		return addrs, err
	}
	cp.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			p.mu.Lock()
			p.dialled[addr] = true
			p.mu.Unlock()
		}
		return c, err
	}
	return &cp
}

// peer returns the address:port the proxy connected to for host and port,
// or "" when it made no such connection.
func (p *peerBook) peer(host, port string) string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		if s := net.JoinHostPort(a.Unmap().String(), port); p.dialled[s] {
			return s
		}
		return ""
	}
	for _, a := range p.lookups[hostKey(host)] {
		if s := net.JoinHostPort(a.Unmap().String(), port); p.dialled[s] {
			return s
		}
	}
	return ""
}
