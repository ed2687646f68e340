package crawler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"shopwatch"
)

// BrowserConfig sets up the browser path. Use DefaultBrowserConfig and
// change what differs: the zero value of Headless shows a window.
type BrowserConfig struct {
	// ExecPath is the browser binary; "" finds Chromium on PATH.
	ExecPath string
	// Headless runs the browser without a window.
	Headless bool
	// Timeout bounds one Render, from opening its tab to the screenshot.
	// Zero means 30 s.
	Timeout time.Duration
	// Width and Height are the viewport in CSS pixels. Zero means 1366×768.
	Width, Height int
	// Settle is how long Render waits after the load event for scripts to
	// finish drawing. Zero means 500 ms.
	Settle time.Duration
	// UserAgent overrides the browser's own, if set.
	UserAgent string
	// AllowPrivate lifts the URL guard of the browser path. Off by
	// default: the page, its redirects and every sub-request (images,
	// scripts, frames, XHR, WebSockets) go through a guarding proxy inside
	// this process, which refuses connections to the addresses
	// Config.AllowPrivate describes.
	AllowPrivate bool
	// Allow opens parts of the guarded space, as Config.Allow does. See
	// AllowLoopback.
	Allow []string
}

// DefaultBrowserConfig returns a headless configuration that finds
// Chromium on PATH, with the URL guard on and nothing allowed.
func DefaultBrowserConfig() BrowserConfig {
	return BrowserConfig{
		Headless: true,
		Timeout:  30 * time.Second,
		Width:    1366,
		Height:   768,
		Settle:   500 * time.Millisecond,
	}
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

// Browser is one running Chromium that renders pages, each in its own tab.
// It is safe for concurrent use; every Render opens and closes its own tab.
type Browser struct {
	cfg  BrowserConfig
	dir  string // the temporary profile, removed by Close
	exec string
	log  *slog.Logger

	// dialer makes the guard proxies' upstream connections; nil when
	// the guard is lifted.
	dialer *guardedDialer
	// proxy backs the guard up for traffic outside a Render's own
	// browser context; nil when the guard is lifted.
	proxy *guardProxy

	allocCancel context.CancelFunc
	ctx         context.Context // the browser; its first tab stays open
	cancel      context.CancelFunc

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
	cfg.Allow = append([]string(nil), cfg.Allow...)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = 1366, 768
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 500 * time.Millisecond
	}
	execPath := cfg.ExecPath
	if execPath == "" {
		p, err := FindChromium()
		if err != nil {
			return nil, fmt.Errorf("start browser: %w", err)
		}
		execPath = p
	}
	log := slog.Default().With("component", "crawler.browser")
	var (
		dialer *guardedDialer
		proxy  *guardProxy
	)
	if g != nil {
		dialer = newGuardedDialer(g, &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second})
		if proxy, err = startGuardProxy(dialer, cfg.Timeout, log); err != nil {
			return nil, fmt.Errorf("start browser %s: %w", execPath, err)
		}
	}
	dir, err := os.MkdirTemp("", "shopwatch-chromium-")
	if err != nil {
		if proxy != nil {
			proxy.Close()
		}
		return nil, fmt.Errorf("start browser %s: %w", execPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(cfg.Width, cfg.Height),
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	if proxy != nil {
		// Every request goes through the guard proxy, loopback ones too
		// (Chromium bypasses proxies for loopback unless told not to), and
		// WebRTC may not send UDP around it.
		opts = append(opts,
			chromedp.ProxyServer(proxy.URL()),
			chromedp.Flag("proxy-bypass-list", proxyBypassNone),
			chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		)
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	if cfg.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(cfg.UserAgent))
	}
	if !cfg.Headless {
		opts = append(opts, chromedp.VisibleWindow)
	}
	// The browser must outlive ctx; only the start waits on it.
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	bctx, bcancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
		chromedp.WithErrorf(func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) }),
	)
	b := &Browser{cfg: cfg, dir: dir, exec: execPath, log: log, dialer: dialer, proxy: proxy,
		allocCancel: allocCancel, ctx: bctx, cancel: bcancel}

	started := make(chan error, 1)
	go func() {
		// The first run starts the browser; it gets no deadline, or the
		// deadline would end the browser.
		started <- chromedp.Do(bctx)
	}()
	select {
	case err := <-started:
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("start browser %s: %w", execPath, err)
		}
	case <-ctx.Done():
		b.Close()
		<-started
		return nil, fmt.Errorf("start browser %s: %w", execPath, ctx.Err())
	}
	return b, nil
}

// Render loads rawURL in a new tab, waits for the load event and the
// settle time, and returns the rendered page: Rendered set, HTML the
// outerHTML of the live DOM, Title, Text and same-host Links from it,
// FinalURL after redirects and script navigation, the status and content
// type of the main document, and a full-page PNG screenshot. The browser
// path records no raw exchanges yet.
//
// Errors name the URL: ErrInvalidURL (no tab opened), a *GuardError
// (ErrRefusedAddress) when the page or a redirect hop goes to an address
// the URL guard refuses (no tab opened when the URL itself does), ErrTimeout
// after BrowserConfig.Timeout, ErrUnreachable when the browser could not
// connect, ErrClosed after Close, and a *StatusError with the Page for a
// main document status of 400 or more. Sub-requests the guard refuses
// (images, scripts, frames) fail inside the page, which renders without
// them; they are logged.
func (b *Browser) Render(ctx context.Context, rawURL string) (*shopwatch.Page, error) {
	u, err := parseTargetURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("render %q: %w", rawURL, err)
	}
	if b.closed.Load() {
		return nil, fmt.Errorf("render %s: %w", rawURL, ErrClosed)
	}
	started := time.Now()
	// Every Render gets a browser context of its own (cookies and storage
	// live for one page, as on the static path) and, when the guard is on,
	// a guard proxy of its own, so that what the proxy refused is known to
	// belong to this page.
	var session *guardProxy
	bcOpts := []chromedp.CreateBrowserContextOption{}
	if b.dialer != nil {
		cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
		ge := b.dialer.guardCheck(cctx, u.Hostname())
		cancel()
		if ge != nil {
			return nil, fmt.Errorf("render %s: %w", rawURL, withURL(ge, u.String()))
		}
		if session, err = startGuardProxy(b.dialer, b.cfg.Timeout, b.log); err != nil {
			return nil, fmt.Errorf("render %s: %w", rawURL, err)
		}
		defer session.Close() // after the tab is gone: deferred before it
		bcOpts = append(bcOpts, func(p *target.CreateBrowserContextParams) {
			p.ProxyServer = session.URL()
			p.ProxyBypassList = proxyBypassNone
		})
	}
	tabCtx, cancelTab := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(bcOpts...))
	defer cancelTab()
	stop := context.AfterFunc(ctx, cancelTab)
	defer stop()
	tctx, cancelTimeout := context.WithTimeout(tabCtx, b.cfg.Timeout)
	defer cancelTimeout()

	fail := func(step string, err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("render %s: %w", rawURL, context.Cause(ctx))
		case b.closed.Load():
			return fmt.Errorf("render %s: %w", rawURL, ErrClosed)
		case errors.Is(tctx.Err(), context.DeadlineExceeded):
			return fmt.Errorf("render %s: %w after %s (%s)", rawURL, ErrTimeout, b.cfg.Timeout, step)
		}
		if f := session.firstFailureOf(step); f != nil {
			// The page (or a redirect hop) could not be fetched through
			// the guard proxy; say why, not what the browser made of the
			// dropped connection.
			var ge *GuardError
			switch {
			case errors.As(f.err, &ge):
				return fmt.Errorf("render %s: %w", rawURL, ge)
			case isDialError(f.err):
				return fmt.Errorf("render %s: %w: %s: %w", rawURL, ErrUnreachable, f.target, f.err)
			case isTimeout(f.err):
				return fmt.Errorf("render %s: %w: %s: %w", rawURL, ErrTimeout, f.target, f.err)
			}
			return fmt.Errorf("render %s: %s: %s: %w", rawURL, step, f.target, f.err)
		}
		var le *chromedp.LoadError
		if errors.As(err, &le) && unreachableLoadError(le.ErrorText) {
			return fmt.Errorf("render %s: %w: %w", rawURL, ErrUnreachable, err)
		}
		return fmt.Errorf("render %s: %s: %w", rawURL, step, err)
	}

	if err := chromedp.Do(tctx, chromedp.EmulateViewport(int64(b.cfg.Width), int64(b.cfg.Height))); err != nil {
		return nil, fail("open tab", err)
	}
	resp, err := chromedp.Run(tctx, chromedp.NavigateResponse(u.String()))
	if err != nil {
		return nil, fail("navigate", err)
	}
	if err := chromedp.Do(tctx, chromedp.Sleep(b.cfg.Settle)); err != nil {
		return nil, fail("settle", err)
	}
	page := &shopwatch.Page{URL: rawURL, Rendered: true, FetchedAt: started}
	if resp != nil {
		page.Status = int(resp.Status)
		page.ContentType = responseContentType(resp.MimeType, resp.Headers)
		page.Charset = strings.ToLower(resp.Charset)
	}
	if page.FinalURL, err = chromedp.Run(tctx, chromedp.Location()); err != nil {
		return nil, fail("read location", err)
	}
	if rs := session.refusalList(); len(rs) > 0 && strings.HasPrefix(page.FinalURL, "chrome-error:") {
		// A script or meta refresh navigated to a refused address.
		return nil, fmt.Errorf("render %s: %w", rawURL, rs[len(rs)-1])
	}
	if page.HTML, err = chromedp.Run(tctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil {
		return nil, fail("read dom", err)
	}
	title, err := chromedp.Run(tctx, chromedp.Title())
	if err != nil {
		return nil, fail("read title", err)
	}
	if page.Charset == "" {
		if cs, err := chromedp.Run(tctx, chromedp.Evaluate[string]("document.characterSet")); err == nil {
			page.Charset = strings.ToLower(cs)
		}
	}
	if page.Screenshot, err = chromedp.Run(tctx, chromedp.FullScreenshot(100)); err != nil {
		return page, fail("screenshot", err)
	}
	ex := extract(page.HTML)
	page.Title, page.Text = strings.TrimSpace(title), ex.text
	if page.Title == "" {
		page.Title = ex.title
	}
	page.Links = sameHostLinks(page.FinalURL, ex.base, ex.links)
	if rs := session.refusalList(); len(rs) > 0 {
		b.log.Info("rendered without refused sub-requests", "url", rawURL, "refused", len(rs), "first", rs[0].Error())
	}
	if page.Status >= 400 {
		return page, &StatusError{Op: "render", URL: rawURL, Status: page.Status}
	}
	return page, nil
}

// Close stops the browser and removes its temporary profile. Renders in
// progress fail with ErrClosed. Close is idempotent.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		cctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		_ = chromedp.Cancel(cctx) // graceful close; the allocator kills what is left
		cancel()
		b.cancel()
		b.allocCancel() // waits for the process to exit
		if b.proxy != nil {
			b.proxy.Close()
		}
		if err := os.RemoveAll(b.dir); err != nil {
			b.closeErr = fmt.Errorf("close browser: remove profile %s: %w", b.dir, err)
		}
	})
	return b.closeErr
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

// proxyBypassNone is the proxy bypass list that sends loopback traffic
// through the proxy too: Chromium bypasses proxies for localhost and
// loopback addresses unless the list subtracts that rule.
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
