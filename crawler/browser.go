package crawler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
}

// DefaultBrowserConfig returns a headless configuration that finds
// Chromium on PATH.
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

	allocCancel context.CancelFunc
	ctx         context.Context // the browser; its first tab stays open
	cancel      context.CancelFunc

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewBrowser starts one browser with a fresh temporary profile. ctx bounds
// the start only: the browser lives until Close, whatever happens to ctx.
func NewBrowser(ctx context.Context, cfg BrowserConfig) (*Browser, error) {
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
	dir, err := os.MkdirTemp("", "shopwatch-chromium-")
	if err != nil {
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
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	if cfg.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(cfg.UserAgent))
	}
	if !cfg.Headless {
		opts = append(opts, chromedp.VisibleWindow)
	}
	log := slog.Default().With("component", "crawler.browser")
	// The browser must outlive ctx; only the start waits on it.
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	bctx, bcancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
		chromedp.WithErrorf(func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) }),
	)
	b := &Browser{cfg: cfg, dir: dir, exec: execPath, allocCancel: allocCancel, ctx: bctx, cancel: bcancel}

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
// Errors name the URL: ErrInvalidURL (no tab opened), ErrTimeout after
// BrowserConfig.Timeout, ErrUnreachable when the browser could not connect,
// ErrClosed after Close, and a *StatusError with the Page for a main
// document status of 400 or more.
func (b *Browser) Render(ctx context.Context, rawURL string) (*shopwatch.Page, error) {
	u, err := parseTargetURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("render %q: %w", rawURL, err)
	}
	if b.closed.Load() {
		return nil, fmt.Errorf("render %s: %w", rawURL, ErrClosed)
	}
	started := time.Now()
	tabCtx, cancelTab := chromedp.NewContext(b.ctx)
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
