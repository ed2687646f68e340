package crawler

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"shopwatch"
)

// BrowserConfig sets up the browser path. Use DefaultBrowserConfig and
// change what differs: the zero value of Headless shows a window. Other
// zero fields take the defaults DefaultBrowserConfig lists.
type BrowserConfig struct {
	// ExecPath is the browser binary; "" finds Chromium on PATH.
	ExecPath string
	// Headless runs the browser without a window.
	Headless bool
	// Timeout bounds one Render, from opening its tab to the end of the
	// capture; time spent waiting for a tab or a per-host slot is bounded
	// by the caller's context only. Zero means 30 s.
	Timeout time.Duration
	// Width and Height are the desktop viewport in CSS pixels. Zero means
	// 1366×768.
	Width, Height int
	// Settle is the quiet rule: after the load event, Render waits until
	// the page has been quiet for Settle (no request in flight, no DOM
	// mutation, no one-shot timer pending; see waitQuiet), at most
	// MaxSettle. Zero means 1 s.
	Settle time.Duration
	// MaxSettle bounds the settle phase of a render (waiting for a
	// selector, scrolling, waiting for the page to go quiet); past it the
	// page is captured as it is, and Page.ReadyBy says so. The phase also
	// ends early enough to leave a quarter of Timeout for the capture.
	// Zero means 15 s.
	MaxSettle time.Duration
	// ScrollSteps is how many viewport-high steps Render scrolls down to
	// make lazy content load before the capture, stopping at the bottom of
	// the page. Zero means 10; negative, no scrolling.
	ScrollSteps int
	// MaxScreenshotHeight caps the screenshot's height in device pixels;
	// a taller page is captured down to it. Zero means 16384.
	MaxScreenshotHeight int
	// UserAgent overrides the browser's own, if set.
	UserAgent string
	// MobileUserAgent is the user agent of Mobile renders; "" means one of
	// Chrome on Android with the running browser's version.
	MobileUserAgent string
	// Tabs is how many renders run at once, each in its own tab; more
	// wait for a free tab. Zero means 4.
	Tabs int
	// RecycleAfter is how many renders one browser process serves before
	// it is replaced by a fresh one (after its renders in progress end).
	// Zero means 200; negative, never.
	RecycleAfter int
	// MaxExchanges caps the network exchanges kept per page; more are
	// counted and logged. Zero means 500.
	MaxExchanges int
	// MaxBodySize caps the body bytes kept per exchange; a longer body is
	// cut and flagged with Exchange.BodyTruncated. Zero means 8 MiB.
	MaxBodySize int64
	// MaxExchangeBytes caps the body bytes kept over all exchanges of a
	// page. Zero means 64 MiB.
	MaxExchangeBytes int64
	// MaxPDFSize caps the PDF of WithPDF; a larger one fails the render.
	// Zero means 32 MiB.
	MaxPDFSize int64
	// Limiter, when set, bounds the renders per host name (and in all)
	// together with whatever else shares it, such as a Fetcher. A render
	// holds a slot of its page's host from before its tab opens until the
	// navigation is over (not while it settles and captures); requests of
	// the page itself (images, scripts) do not take slots.
	Limiter *Limiter
	// AllowPrivate lifts the URL guard of the browser path. Off by
	// default: the page, its redirects and every sub-request (images,
	// scripts, frames, XHR, WebSockets) go through a guarding proxy inside
	// this process, which refuses connections to the addresses
	// Config.AllowPrivate describes.
	AllowPrivate bool
	// Allow opens parts of the guarded space, as Config.Allow does. See
	// AllowLoopback.
	Allow []string
	// RootCAs are the roots servers' certificates are verified against
	// when the guard proxy makes the browser's HTTPS requests; nil: the
	// system's.
	RootCAs *x509.CertPool
}

// DefaultBrowserConfig returns a headless configuration that finds
// Chromium on PATH, with the URL guard on and nothing allowed: 30 s per
// render, a 1366×768 viewport, 1 s of quiet within 15 s of settling,
// 10 scroll steps, screenshots up to 16384 pixels high, 4 tabs, a new
// process every 200 renders, and per page at most 500 exchanges, 8 MiB per
// body, 64 MiB of bodies and a 32 MiB PDF.
func DefaultBrowserConfig() BrowserConfig {
	return BrowserConfig{
		Headless:            true,
		Timeout:             30 * time.Second,
		Width:               1366,
		Height:              768,
		Settle:              time.Second,
		MaxSettle:           15 * time.Second,
		ScrollSteps:         10,
		MaxScreenshotHeight: 16384,
		Tabs:                4,
		RecycleAfter:        200,
		MaxExchanges:        500,
		MaxBodySize:         8 << 20,
		MaxExchangeBytes:    64 << 20,
		MaxPDFSize:          32 << 20,
	}
}

// withDefaults fills the zero fields of c from DefaultBrowserConfig.
func (c BrowserConfig) withDefaults() BrowserConfig {
	d := DefaultBrowserConfig()
	c.Allow = append([]string(nil), c.Allow...)
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Width <= 0 || c.Height <= 0 {
		c.Width, c.Height = d.Width, d.Height
	}
	if c.Settle <= 0 {
		c.Settle = d.Settle
	}
	if c.MaxSettle <= 0 {
		c.MaxSettle = d.MaxSettle
	}
	switch {
	case c.ScrollSteps == 0:
		c.ScrollSteps = d.ScrollSteps
	case c.ScrollSteps < 0:
		c.ScrollSteps = 0
	}
	if c.MaxScreenshotHeight <= 0 {
		c.MaxScreenshotHeight = d.MaxScreenshotHeight
	}
	if c.Tabs <= 0 {
		c.Tabs = d.Tabs
	}
	if c.RecycleAfter == 0 {
		c.RecycleAfter = d.RecycleAfter
	}
	if c.MaxExchanges <= 0 {
		c.MaxExchanges = d.MaxExchanges
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = d.MaxBodySize
	}
	if c.MaxExchangeBytes <= 0 {
		c.MaxExchangeBytes = d.MaxExchangeBytes
	}
	if c.MaxPDFSize <= 0 {
		c.MaxPDFSize = d.MaxPDFSize
	}
	return c
}

// FindChromium returns the path of a Chromium or Chrome binary on PATH.
func FindChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("find chromium: no chromium, chromium-browser or google-chrome on PATH")
}

// Browser renders pages in headless Chromium: one browser process at a
// time, with a pool of at most BrowserConfig.Tabs tabs, one per render. It
// is safe for concurrent use.
//
// The process is replaced on its own: after BrowserConfig.RecycleAfter
// renders (renders that arrive meanwhile wait for the new one, they do not
// fail), when it dies (renders on it fail with ErrCrashed, later ones start
// a new process), and when it stops answering (it is killed, then as
// above). A tab that overruns its timeout (a script in an endless loop, a
// server that never finishes) is stopped and closed by its target id and
// its render fails with ErrTimeout; a tab whose renderer crashes fails with
// ErrCrashed. Pop-ups and windows a page opened are closed after its
// render. Stats counts all of it.
type Browser struct {
	cfg     BrowserConfig
	exec    string
	log     *slog.Logger
	limiter *Limiter

	// dialer makes the guard proxies' upstream connections; nil when
	// the guard is lifted.
	dialer *guardedDialer
	// proxy backs the guard up for traffic outside a Render's own
	// browser context; nil when the guard is lifted.
	proxy *guardProxy
	// mitm lets each Render's guard proxy read its HTTPS traffic, so that
	// the exchanges keep the bytes the servers sent; nil when the guard
	// is lifted.
	mitm *interceptor

	slots chan struct{} // one per tab in use

	mu       sync.Mutex
	cur      *instance              // the process new renders go to; nil before a (re)start
	starting *launchState           // the start in progress, if any
	insts    map[*instance]struct{} // processes not yet stopped
	profiles []string               // the profiles of the last processes started, for checks after Close
	launches sync.WaitGroup
	gens     atomic.Int64
	stats    browserStats

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewBrowser starts one browser with a fresh temporary profile. ctx bounds
// the start only: the browser lives until Close, whatever happens to ctx.
// An Allow entry that does not parse is an error.
func NewBrowser(ctx context.Context, cfg BrowserConfig) (*Browser, error) {
	g, err := newGuard(cfg.AllowPrivate, cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("start browser: %w", err)
	}
	cfg = cfg.withDefaults()
	execPath := cfg.ExecPath
	if execPath == "" {
		p, err := FindChromium()
		if err != nil {
			return nil, fmt.Errorf("start browser: %w", err)
		}
		execPath = p
	}
	b := &Browser{cfg: cfg, exec: execPath, limiter: cfg.Limiter,
		log: slog.Default().With("component", "crawler.browser"), slots: make(chan struct{}, cfg.Tabs),
		insts: map[*instance]struct{}{}}
	if g != nil {
		b.dialer = newGuardedDialer(g, &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second})
		if b.mitm, err = newInterceptor(); err != nil {
			return nil, fmt.Errorf("start browser %s: %w", execPath, err)
		}
		if b.proxy, err = startGuardProxy(b.dialer, cfg.Timeout, b.log); err != nil {
			return nil, fmt.Errorf("start browser %s: %w", execPath, err)
		}
	}
	in, err := b.launch(ctx)
	if err != nil {
		if b.proxy != nil {
			b.proxy.Close()
		}
		return nil, err
	}
	b.cur = in
	b.insts[in] = struct{}{}
	return b, nil
}

// Render loads rawURL in a tab of its own (own cookies and storage, as on
// the static path), waits for the load event, settles and returns the
// rendered page.
//
// Settling: wait for the WaitSelector element if one was asked for, scroll
// down the page in viewport-high steps (ScrollSteps) so lazy content loads,
// then wait until the page has been quiet for BrowserConfig.Settle
// (NetworkIdle): no request in flight, no DOM mutation, and no one-shot
// timer due (a description drawn by a setTimeout seconds after the load
// event is waited for), with repeating timers and animations left out (see
// ready.go); all of it within BrowserConfig.MaxSettle (MaxSettle), past
// which the page is captured as it is. Page.ReadyBy records which it was,
// e.g. "quiet after 2.3s" or "timeout after 15.0s with mutations still
// happening".
//
// The Page has Rendered set; HTML is the outerHTML of the live DOM; Title,
// Text and same-host Links are extracted from it; FinalURL is the URL after
// redirects and script navigation; Status and ContentType are the main
// document's; Screenshot is a full-page PNG (cut at
// BrowserConfig.MaxScreenshotHeight); MHTML is the page as Chromium
// serializes it; PDF is set with WithPDF; Mobile with Mobile; and Exchanges
// are the HTTP exchanges of the page as the browser saw them, the main
// document (and its redirect hops) first. See netLog for how they are
// assembled.
//
// Errors name the URL: ErrInvalidURL (no tab opened), a *GuardError
// (ErrRefusedAddress) when the page or a redirect hop goes to an address
// the URL guard refuses (no tab opened when the URL itself does), ErrTimeout
// after the timeout, ErrCrashed when the browser or the tab's renderer died,
// ErrUnreachable when the browser could not connect, ErrClosed after Close,
// the caller's context error, and a *StatusError with the Page for a main
// document status of 400 or more. Sub-requests the guard refuses (images,
// scripts, frames) fail inside the page, which renders without them; they
// are logged.
func (b *Browser) Render(ctx context.Context, rawURL string, opts ...RenderOption) (*shopwatch.Page, error) {
	var page *shopwatch.Page
	err := b.withTab(ctx, rawURL, b.options(opts), func(t *tab) error {
		var err error
		page, err = b.capture(t)
		return err
	})
	if err != nil {
		var se *StatusError
		if !errors.As(err, &se) {
			return nil, err
		}
	}
	return page, err
}

// tab is one render's tab, as withTab hands it to its caller.
type tab struct {
	b    *Browser
	in   *instance
	u    *url.URL
	raw  string // the URL as asked for
	opts renderOptions

	// ctx is the tab's context for everything the render does in it; it
	// ends at the render's timeout, when the caller's context ends, and
	// when the renderer crashes.
	ctx      context.Context
	caller   context.Context
	tabCtx   context.Context // the tab's chromedp context, without the bounds of ctx
	cancelOp context.CancelCauseFunc

	started  time.Time
	targetID target.ID
	bctxID   cdp.BrowserContextID
	session  *guardProxy // nil when the guard is lifted
	net      *netLog
	resp     *network.Response // the main document's, after redirects

	// readyName is the property of the readiness probe in the page (see
	// installReady); readyBy says how settle decided the page was ready.
	readyName string
	readyBy   string

	dialogs  chan *page.EventJavascriptDialogOpening
	crashed  atomic.Bool
	timedOut atomic.Bool
	killing  atomic.Bool // forceClose crashes the renderer itself
}

// errTabCrashed ends a tab's context when its renderer crashes.
var errTabCrashed = errors.New("renderer crashed")

// withTab is the browser path's one way into a page, for Render and for
// modes that stay on a page longer (such as sampling a live room's text
// and taking timed screenshots):
//
//  1. it checks the URL and the URL guard, takes the page host's slot of
//     BrowserConfig.Limiter and a tab slot of the pool (waiting as long as
//     ctx allows), and the current browser process (waiting while a
//     replacement starts);
//  2. it opens a tab in a browser context of its own, behind a guard proxy
//     of its own, with dialogs dismissed in the background (counted and
//     logged), network exchanges recorded (t.net), renderer crashes
//     watched, and the desktop viewport or the Mobile emulation applied;
//  3. it navigates to the URL (t.resp is the main document's response),
//     gives the host slot back, and settles the page (selector, scrolling,
//     network idle, as opts say);
//  4. it calls fn, which works in t.ctx: the context of the tab, bounded by
//     opts.timeout (RenderTimeout gives a mode a longer window) and ended
//     by the caller's context or a renderer crash. fn should wrap its
//     errors with t.fail, which names the URL and classifies them
//     (ErrTimeout, ErrCrashed, …);
//  5. it cleans up, also when fn fails: a tab that ran out of time is
//     stopped (its script terminated, then closed by target id, then its
//     renderer crashed if it still hangs) and the browser is probed and
//     killed if it does not answer; pop-ups are closed; the tab and its
//     browser context are closed; the pool slot is freed.
//
// The errors before fn are those Render documents; fn's error is returned
// as it is.
func (b *Browser) withTab(ctx context.Context, rawURL string, o renderOptions, fn func(t *tab) error) error {
	u, err := parseTargetURL(rawURL)
	if err != nil {
		return fmt.Errorf("render %q: %w", rawURL, err)
	}
	if b.closed.Load() {
		return fmt.Errorf("render %s: %w", rawURL, ErrClosed)
	}
	if b.dialer != nil {
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		ge := b.dialer.guardCheck(cctx, u.Hostname())
		cancel()
		if ge != nil {
			return fmt.Errorf("render %s: %w", rawURL, withURL(ge, u.String()))
		}
	}
	waitErr := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("render %s: %w", rawURL, context.Cause(ctx))
		}
		return fmt.Errorf("render %s: %w", rawURL, err)
	}

	// The host slot first, the tab second: renders queued behind a busy
	// host hold no tabs that renders of other hosts could use.
	releaseHost := func() {}
	if b.limiter != nil && !o.offline {
		rel, err := b.limiter.Acquire(ctx, u.Hostname())
		if err != nil {
			return waitErr(err)
		}
		var once sync.Once
		releaseHost = func() { once.Do(rel) }
		defer releaseHost()
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return waitErr(ctx.Err())
	}
	defer func() { <-b.slots }()
	in, err := b.acquire(ctx)
	if err != nil {
		return waitErr(err)
	}
	t := &tab{b: b, in: in, u: u, raw: rawURL, opts: o, caller: ctx, started: time.Now(),
		dialogs: make(chan *page.EventJavascriptDialogOpening, 8)}
	defer func() { b.release(in, t.bctxID) }()
	b.stats.renders.Add(1)

	// Every render gets a browser context of its own and, when the guard
	// is on, a guard proxy of its own, so that what the proxy refused or
	// connected to is known to belong to this page.
	var bcOpts []chromedp.CreateBrowserContextOption
	var peers *peerBook
	proxyAddr := ""
	if b.dialer != nil {
		peers = &peerBook{}
		capt := captureOpts{mitm: b.mitm, roots: b.cfg.RootCAs, maxBody: b.cfg.MaxBodySize, maxTotal: b.cfg.MaxExchangeBytes}
		if t.session, err = startGuardProxy(peers.wrap(b.dialer), o.timeout, b.log, capt); err != nil {
			return fmt.Errorf("render %s: %w", rawURL, err)
		}
		defer t.session.Close() // after the tab is gone: deferred before it
		proxyAddr = t.session.ln.Addr().String()
		bcOpts = append(bcOpts, func(p *target.CreateBrowserContextParams) {
			p.ProxyServer = t.session.URL()
			p.ProxyBypassList = proxyBypassNone
		})
	}
	t.net = newNetLog(b.cfg.MaxExchanges, b.cfg.MaxBodySize, b.cfg.MaxExchangeBytes, proxyAddr, peers, b.log)
	if t.session != nil {
		t.net.wire = t.session.wire
	}

	tabCtx, cancelTab := chromedp.NewContext(in.ctx,
		chromedp.WithNewBrowserContext(bcOpts...),
		chromedp.WithListener(t.net.listen),
		chromedp.WithListener(t.listen),
	)
	t.tabCtx = tabCtx
	opCtx, cancelOp := context.WithCancelCause(tabCtx)
	t.cancelOp = cancelOp
	tctx, cancelTimeout := context.WithTimeout(opCtx, o.timeout)
	t.ctx = tctx
	stop := context.AfterFunc(ctx, func() { cancelOp(context.Cause(ctx)) })
	defer func() {
		stop()
		cancelTimeout()
		t.cleanup(cancelTab)
	}()

	// The first run opens the tab and binds its event loop to the context
	// it gets: give it the tab's own, not the bounded one, and bound the
	// wait instead.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(tabCtx) }()
	select {
	case err = <-opened:
	case <-tctx.Done():
		cancelTab()
		<-opened
		err = tctx.Err()
	}
	if err != nil {
		return t.fail("open tab", err)
	}
	if c := chromedp.FromContext(tabCtx); c != nil && c.Target != nil {
		t.targetID, t.bctxID = c.Target.TargetID, c.BrowserContextID
		b.mu.Lock()
		in.contexts[t.bctxID] = t.targetID
		b.mu.Unlock()
	}
	go t.handleDialogs()
	go t.net.fetchBodies(tctx)
	if err := t.prepare(); err != nil {
		return t.fail("open tab", err)
	}
	if o.quiet > 0 {
		if err := t.installReady(); err != nil {
			return t.fail("open tab", err)
		}
	}
	if o.beforeNavigate != nil {
		if err := o.beforeNavigate(t); err != nil {
			return t.fail("open tab", err)
		}
	}
	// The load event waits for every sub-resource. A page can hold one
	// open for ever (an image that never finishes) to keep its content
	// out of reach, so the wait for it gets two thirds of the timeout;
	// when it runs out with the document itself in, loading is stopped
	// and the page is captured as it shows.
	navCtx, cancelNav := context.WithTimeout(tctx, o.timeout*2/3)
	t.resp, err = chromedp.Run(navCtx, chromedp.NavigateResponse(u.String()))
	cancelNav()
	if err != nil && tctx.Err() == nil && errors.Is(navCtx.Err(), context.DeadlineExceeded) {
		if resp := t.net.mainDocument(); resp != nil {
			b.log.Warn("page never finished loading; capturing it as it shows", "url", rawURL)
			if _, serr := chromedp.Call(tctx, page.StopLoading, cdp.Empty{}); serr == nil {
				t.resp, err = resp, nil
			}
		}
		if err != nil {
			// The document itself is not in (or loading cannot be
			// stopped): the render runs out its own timeout, as a hung
			// page does.
			<-tctx.Done()
			err = tctx.Err()
		}
	}
	if err != nil {
		return t.fail("navigate", err)
	}
	releaseHost()
	if err := t.settle(); err != nil {
		return err
	}
	return fn(t)
}

// prepare sets the tab up before the navigation: bodies kept by the
// browser process (durable messages: Network.getResponseBody then returns
// the bytes received, where bodies kept by the renderer come back as text
// decoded from their charset) in buffers sized to the body caps, identity
// coding when the guard proxy does not record the bytes itself, and the
// viewport or the phone.
func (t *tab) prepare() error {
	b := t.b
	if _, err := chromedp.Call(t.ctx, network.ConfigureDurableMessages, network.ConfigureDurableMessagesParams{
		MaxTotalBufferSize:    new(b.cfg.MaxExchangeBytes + b.cfg.MaxBodySize),
		MaxResourceBufferSize: new(b.cfg.MaxBodySize + 1),
	}); err != nil {
		return err
	}
	if t.session == nil || t.session.recording == nil {
		// Without the guard proxy's recording, bodies come from the
		// browser, which hands them out decoded: ask for identity coding.
		// (A server that compresses anyway then fails to load, as
		// Chromium refuses a coding it did not ask for.) With the
		// recording, the browser asks as browsers do, and the proxy keeps
		// the coded bytes.
		if _, err := chromedp.Call(t.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Encoding": "identity"},
		}); err != nil {
			return err
		}
	}
	if t.opts.mobile {
		return b.emulateMobile(t.ctx, t.in)
	}
	return b.emulateDesktop(t.ctx)
}

// listen watches the tab's events for dialogs and a renderer crash. It
// runs on the tab's event loop: it hands dialogs to handleDialogs and never
// sends a command itself.
func (t *tab) listen(ev any) {
	switch ev := ev.(type) {
	case *page.EventJavascriptDialogOpening:
		select {
		case t.dialogs <- ev:
		default:
			t.b.log.Warn("dialog queue full; dialog left open", "url", t.raw, "type", ev.Type)
		}
	case *inspector.EventTargetCrashed:
		if !t.crashed.Swap(true) && !t.killing.Load() {
			t.b.stats.tabCrashes.Add(1)
			t.b.log.Warn("tab renderer crashed", "url", t.raw)
			t.cancelOp(errTabCrashed)
		}
	}
}

// handleDialogs dismisses the page's JavaScript dialogs until the tab
// closes: alerts are acknowledged, confirm and prompt answered no (the page
// gets false and null), and beforeunload allowed, so that the tab can
// leave.
func (t *tab) handleDialogs() {
	for {
		select {
		case <-t.tabCtx.Done():
			return
		case ev := <-t.dialogs:
			accept := ev.Type == page.DialogTypeAlert || ev.Type == page.DialogTypeBeforeunload
			ctx, cancel := context.WithTimeout(t.tabCtx, 5*time.Second)
			_, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
			cancel()
			t.b.stats.dialogs.Add(1)
			t.b.log.Info("dismissed a dialog", "url", t.raw, "frame_url", ev.URL, "type", ev.Type,
				"message", ev.Message, "accepted", accept, "err", err)
		}
	}
}

// fail wraps an error of step with the URL and says what it was: the
// caller's context ending, Close, a crash, the timeout, or what the guard
// proxy met on the way to the page.
func (t *tab) fail(step string, err error) error {
	b, raw := t.b, t.raw
	switch {
	case t.caller.Err() != nil:
		return fmt.Errorf("render %s: %w", raw, context.Cause(t.caller))
	case b.closed.Load():
		return fmt.Errorf("render %s: %w", raw, ErrClosed)
	case t.in.lost():
		return fmt.Errorf("render %s: %w: browser process %d went away (%s)", raw, ErrCrashed, t.in.pid, step)
	case t.crashed.Load():
		return fmt.Errorf("render %s: %w: the tab's renderer crashed (%s)", raw, ErrCrashed, step)
	case errors.Is(t.ctx.Err(), context.DeadlineExceeded):
		t.timedOut.Store(true)
		return fmt.Errorf("render %s: %w after %s (%s)", raw, ErrTimeout, t.opts.timeout, step)
	}
	if f := t.session.firstFailureOf(step); f != nil {
		// The page (or a redirect hop) could not be fetched through
		// the guard proxy; say why, not what the browser made of the
		// dropped connection.
		var ge *GuardError
		switch {
		case errors.As(f.err, &ge):
			return fmt.Errorf("render %s: %w", raw, ge)
		case isDialError(f.err):
			return fmt.Errorf("render %s: %w: %s: %w", raw, ErrUnreachable, f.target, f.err)
		case isTimeout(f.err):
			return fmt.Errorf("render %s: %w: %s: %w", raw, ErrTimeout, f.target, f.err)
		}
		return fmt.Errorf("render %s: %s: %s: %w", raw, step, f.target, f.err)
	}
	var le *chromedp.LoadError
	if errors.As(err, &le) && unreachableLoadError(le.ErrorText) {
		return fmt.Errorf("render %s: %w: %w", raw, ErrUnreachable, err)
	}
	return fmt.Errorf("render %s: %s: %w", raw, step, err)
}

// cleanup ends the tab: a tab that ran out of time is stopped first and the
// browser probed; pop-ups of the tab's browser context are closed and
// counted; then the tab and its browser context are closed and any stray
// tab of the process swept.
func (t *tab) cleanup(cancelTab context.CancelFunc) {
	b, in := t.b, t.in
	if t.timedOut.Load() && in.alive() {
		if b.probe(in) && t.targetID != "" {
			t.forceClose()
		}
	}
	if t.targetID != "" && in.alive() {
		t.closePopups()
	}
	cancelTab()
	if in.alive() {
		b.sweepTargets(in)
	}
}

// forceClose stops a tab that overran its timeout: it terminates the
// running script, closes the target by its id and, if the target is still
// there, crashes its renderer and closes it again.
func (t *tab) forceClose() {
	b := t.b
	b.stats.hungTabs.Add(1)
	b.log.Warn("tab overran its timeout; closing it", "url", t.raw, "target", t.targetID)
	ctx, cancel := context.WithTimeout(t.tabCtx, time.Second)
	_, _ = chromedp.Call(ctx, runtime.TerminateExecution, cdp.Empty{})
	cancel()
	if t.closeTarget(t.targetID) {
		return
	}
	t.killing.Store(true)
	ctx, cancel = context.WithTimeout(t.tabCtx, time.Second)
	_, _ = chromedp.Call(ctx, page.Crash, cdp.Empty{})
	cancel()
	if !t.closeTarget(t.targetID) {
		b.log.Warn("tab would not close", "url", t.raw, "target", t.targetID)
	}
}

// closeTarget closes a target of the tab's browser by id and reports
// whether it is gone within two seconds.
func (t *tab) closeTarget(id target.ID) bool {
	ctx, cancel := context.WithTimeout(t.in.ctx, 2*time.Second)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: id}); err != nil {
		return false
	}
	for ctx.Err() == nil {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			return false
		}
		found := false
		for _, ti := range infos {
			found = found || ti.TargetID == id
		}
		if !found {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// closePopups closes the other pages of the tab's browser context: windows
// the page opened.
func (t *tab) closePopups() {
	ctx, cancel := context.WithTimeout(t.in.ctx, 5*time.Second)
	defer cancel()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return
	}
	n := 0
	for _, ti := range infos {
		if ti.Type != "page" || ti.TargetID == t.targetID || ti.BrowserContextID != t.bctxID {
			continue
		}
		if _, err := chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: ti.TargetID}); err == nil {
			n++
			t.b.log.Info("closed a window the page opened", "url", t.raw, "window_url", ti.URL)
		}
	}
	t.b.stats.leakedTargets.Add(int64(n))
}

// settle waits, after the load event, for the selector, scrolls the page
// for lazy content and waits for the page to go quiet, within
// opts.maxSettle and early enough to leave a quarter of the render's
// timeout for the capture. Only the tab's own end (timeout, crash, caller)
// is an error; a settle bound reached is logged, the page captured as it
// is, and t.readyBy says so.
func (t *tab) settle() error {
	o := t.opts
	since := time.Now()
	bound := o.maxSettle
	if dl, ok := t.ctx.Deadline(); ok {
		bound = max(min(bound, time.Until(dl)-o.timeout/4), 0)
	}
	ctx, cancel := context.WithTimeout(t.ctx, bound)
	defer cancel()
	var notes []string
	if o.selector != "" {
		if err := t.waitSelector(ctx, o.selector); err != nil {
			if t.ctx.Err() != nil {
				return t.fail("wait for selector", err)
			}
			t.b.log.Info("selector did not appear; capturing the page as it is", "url", t.raw, "selector", o.selector, "err", err)
			notes = append(notes, fmt.Sprintf("selector %q not found", o.selector))
		}
	}
	if o.scrollSteps > 0 {
		if err := t.scroll(ctx, o.scrollSteps); err != nil {
			if t.ctx.Err() != nil {
				return t.fail("scroll", err)
			}
			t.b.log.Info("scrolling stopped early", "url", t.raw, "err", err)
		}
	}
	if o.quiet > 0 {
		notes = append(notes, t.waitQuiet(ctx, o.quiet, since))
		if t.ctx.Err() != nil {
			return t.fail("settle", t.ctx.Err())
		}
	} else {
		notes = append(notes, fmt.Sprintf("load event (no quiet wait) after %s", seconds(time.Since(since))))
	}
	t.readyBy = strings.Join(notes, "; ")
	return nil
}

// waitSelector polls until an element matches css.
func (t *tab) waitSelector(ctx context.Context, css string) error {
	q, err := json.Marshal(css)
	if err != nil {
		return err
	}
	expr := "document.querySelector(" + string(q) + ") !== null"
	for {
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err
		}
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// scrollJS scrolls down one viewport at a time, pausing for lazy content,
// until the bottom or the step limit, and back to the top.
const scrollJS = `(async (steps, pause) => {
  const se = document.scrollingElement || document.documentElement;
  let n = 0;
  for (; n < steps; n++) {
    if (window.scrollY + window.innerHeight >= se.scrollHeight - 1) break;
    window.scrollBy(0, window.innerHeight);
    await new Promise(r => setTimeout(r, pause));
  }
  window.scrollTo(0, 0);
  return n;
})(%d, %d)`

// scrollPause is how long each scroll step waits for lazy content to
// react before the next.
const scrollPause = 150 * time.Millisecond

// scroll scrolls the page down to trigger lazy content.
func (t *tab) scroll(ctx context.Context, steps int) error {
	_, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(scrollJS, steps, scrollPause.Milliseconds()), chromedp.EvalAwaitPromise))
	return err
}

// capture reads the settled page out of the tab.
func (b *Browser) capture(t *tab) (*shopwatch.Page, error) {
	ctx := t.ctx
	p := &shopwatch.Page{URL: t.raw, Rendered: true, FetchedAt: t.started, Mobile: t.opts.mobile, ReadyBy: t.readyBy}
	if resp := t.resp; resp != nil {
		p.Status = int(resp.Status)
		p.ContentType = responseContentType(resp.MimeType, resp.Headers)
		p.Charset = strings.ToLower(resp.Charset)
	}
	var err error
	if p.FinalURL, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
		return nil, t.fail("read location", err)
	}
	if rs := t.session.refusalList(); len(rs) > 0 && strings.HasPrefix(p.FinalURL, "chrome-error:") {
		// A script or meta refresh navigated to a refused address.
		return nil, fmt.Errorf("render %s: %w", t.raw, rs[len(rs)-1])
	}
	if p.HTML, err = chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil {
		return nil, t.fail("read dom", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		return nil, t.fail("read title", err)
	}
	if p.Charset == "" {
		if cs, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.characterSet")); err == nil {
			p.Charset = strings.ToLower(cs)
		}
	}
	if p.Screenshot, err = t.screenshot(); err != nil {
		return nil, t.fail("screenshot", err)
	}
	snap, err := chromedp.Call(ctx, page.CaptureSnapshot, page.CaptureSnapshotParams{Format: page.CaptureSnapshotFormatMhtml})
	if err != nil {
		return nil, t.fail("mhtml snapshot", err)
	}
	p.MHTML = []byte(snap.Data)
	if t.opts.pdf {
		if p.PDF, err = t.printPDF(); err != nil {
			return nil, t.fail("print to pdf", err)
		}
	}
	t.net.waitBodies(ctx)
	p.Exchanges = t.net.exchanges()
	if n := t.net.droppedCount(); n > 0 {
		b.log.Warn("page made more requests than are kept", "url", t.raw, "kept", len(p.Exchanges), "dropped", n)
	}
	ex := extract(p.HTML)
	p.Title, p.Text, p.Regions = strings.TrimSpace(title), ex.text, ex.regions
	if p.Title == "" {
		p.Title = ex.title
	}
	p.Links = sameHostLinks(p.FinalURL, ex.base, ex.links)
	if rs := t.session.refusalList(); len(rs) > 0 {
		b.log.Info("rendered without refused sub-requests", "url", t.raw, "refused", len(rs), "first", rs[0].Error())
	}
	if p.Status >= 400 {
		return p, &StatusError{Op: "render", URL: t.raw, Status: p.Status}
	}
	return p, nil
}

// screenshot takes a full-page PNG, cut at BrowserConfig.MaxScreenshotHeight
// device pixels: past that height Chromium's captures come back blank or
// cut, and the image would be too large to keep anyway.
func (t *tab) screenshot() ([]byte, error) {
	m, err := chromedp.Call(t.ctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	scale := 1.0
	if t.opts.mobile {
		scale = mobileScale
	}
	w, h := float64(t.b.cfg.Width), float64(t.b.cfg.Height)
	if t.opts.mobile {
		w, h = mobileWidth, mobileHeight
	}
	if cs := m.CSSContentSize; cs != nil {
		w, h = max(cs.Width, 1), max(cs.Height, 1)
	}
	if lim := float64(t.b.cfg.MaxScreenshotHeight) / scale; h > lim {
		t.b.log.Info("page taller than the screenshot limit; cutting it", "url", t.raw, "height", h, "limit", lim)
		h = lim
	}
	res, err := chromedp.Call(t.ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{X: 0, Y: 0, Width: w, Height: h, Scale: 1},
		CaptureBeyondViewport: new(true),
		FromSurface:           new(true),
	})
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}

// printPDF prints the page to PDF as a stream, reading at most
// BrowserConfig.MaxPDFSize bytes.
func (t *tab) printPDF() ([]byte, error) {
	res, err := chromedp.Call(t.ctx, page.PrintToPDF, page.PrintToPDFParams{
		PrintBackground: new(true),
		TransferMode:    page.PrintToPDFTransferModeReturnAsStream,
	})
	if err != nil {
		return nil, err
	}
	return readStream(t.ctx, res.Stream, t.b.cfg.MaxPDFSize)
}

// unreachableLoadError reports Chromium network errors that mean no
// connection could be made.
func unreachableLoadError(text string) bool {
	for _, s := range []string{
		"ERR_CONNECTION_REFUSED", "ERR_NAME_NOT_RESOLVED", "ERR_ADDRESS_UNREACHABLE",
		"ERR_CONNECTION_TIMED_OUT", "ERR_INTERNET_DISCONNECTED", "ERR_NAME_RESOLUTION_FAILED",
	} {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// responseContentType prefers the Content-Type header of the main document
// and falls back to the MIME type the browser settled on.
func responseContentType(mime string, headers map[string]any) string {
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Type") {
			if s, ok := v.(string); ok && s != "" {
				return s
			}
		}
	}
	return mime
}

// Close stops the browser and removes its temporary profiles. Renders in
// progress fail with ErrClosed. Close is idempotent.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed.Store(true)
		cur := b.cur
		b.cur = nil
		b.mu.Unlock()
		b.launches.Wait() // a start in progress stops what it started
		if cur != nil {
			b.closeErr = cur.stop()
		}
		// Retired processes that still serve renders stop now too.
		b.mu.Lock()
		var rest []*instance
		for in := range b.insts {
			rest = append(rest, in)
		}
		b.mu.Unlock()
		for _, in := range rest {
			if err := in.stop(); err != nil && b.closeErr == nil {
				b.closeErr = err
			}
		}
		if b.proxy != nil {
			b.proxy.Close()
		}
	})
	return b.closeErr
}

// proxyBypassNone is the proxy bypass list that sends loopback traffic
// through the proxy too: Chromium bypasses proxies for loopback unless the
// list subtracts that rule.
const proxyBypassNone = "<-loopback>"

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isDialError reports whether err means no connection could be made.
func isDialError(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial")
}
