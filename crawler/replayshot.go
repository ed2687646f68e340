package crawler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"shopwatch"
)

// ReplayShot is a screenshot of a captured static response, as
// Browser.ScreenshotCaptured takes it.
type ReplayShot struct {
	PNG []byte
	// URL is the URL of the exchange that was shown (the page's last
	// exchange with a response).
	URL string
	// Served counts the requests answered from the capture (the document,
	// and a reload of it); Blocked the other requests of the page (images,
	// style sheets, scripts, frames …), all failed without a connection.
	Served, Blocked int
	// Truncated reports a body that the size cap had cut when it was
	// captured: the screenshot shows the part that was kept.
	Truncated bool
}

// ErrNothingToReplay is returned by ScreenshotCaptured for a page without a
// response body to show.
var ErrNothingToReplay = errors.New("no captured response to replay")

// replayQuiet is the quiet period a replayed capture settles on.
const replayQuiet = 200 * time.Millisecond

// ScreenshotCaptured shows the captured response of a static page in a tab
// of the browser and takes a full-page screenshot of it, without fetching
// anything: every request of the tab is intercepted (Fetch domain), the
// request for the page's URL is answered with the captured bytes (the body
// with its content coding undone, the captured status and Content-Type) and
// every other request (images, style sheets, scripts, frames, XHR) fails as
// blocked by the client. The tab is set up as Render's are (its own browser
// context, the viewport, dialogs dismissed, the settle rules) in the same
// sandboxed browser process.
func (b *Browser) ScreenshotCaptured(ctx context.Context, p *shopwatch.Page) (*ReplayShot, error) {
	ex := finalExchange(p.Exchanges)
	if ex == nil || ex.BodyMissing {
		return nil, fmt.Errorf("screenshot of %s: %w", p.URL, ErrNothingToReplay)
	}
	body, err := decodeContent(ex, max(b.cfg.MaxBodySize, int64(len(ex.Body))))
	if err != nil {
		return nil, fmt.Errorf("screenshot of %s: %w", ex.URL, err)
	}
	ctype := headerValue(ex.ResponseHeader, "Content-Type")
	if ctype == "" {
		ctype = p.ContentType
	}
	headers := []*fetch.HeaderEntry{{Name: "Content-Type", Value: ctype}}
	if ctype == "" {
		headers = nil
	}
	want := stripFragment(ex.URL)

	shot := &ReplayShot{URL: ex.URL, Truncated: ex.BodyTruncated}
	var (
		mu        sync.Mutex
		navigated bool
		wg        sync.WaitGroup
	)
	o := b.options(nil)
	// Nothing outside the capture can load, so scrolling for lazy content
	// finds none, and the page settles as soon as its own scripts stop:
	// a short quiet period is enough.
	o.scrollSteps = 0
	o.quiet = min(o.quiet, replayQuiet)
	o.offline = true
	o.beforeNavigate = func(t *tab) error {
		if err := chromedp.Listen(t.tabCtx, func(ev any) {
			e, ok := ev.(*fetch.EventRequestPaused)
			if !ok {
				return
			}
			// Commands cannot be sent from the event loop itself.
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The tab's first document request is the navigation to
				// the page (whatever spelling of the URL Chromium
				// settled on); later ones are served only for the
				// same URL (a reload).
				mu.Lock()
				first := e.ResourceType == network.ResourceTypeDocument && !navigated
				navigated = navigated || first
				mu.Unlock()
				serve := e.Request != nil && e.Request.Method == "GET" &&
					(first || stripFragment(e.Request.URL+e.Request.URLFragment) == want)
				var err error
				if serve {
					_, err = chromedp.Call(t.tabCtx, fetch.FulfillRequest, fetch.FulfillRequestParams{
						RequestID: e.RequestID, ResponseCode: int64(ex.Status), ResponseHeaders: headers, Body: body,
					})
				} else {
					_, err = chromedp.Call(t.tabCtx, fetch.FailRequest, fetch.FailRequestParams{
						RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient,
					})
				}
				mu.Lock()
				if serve {
					shot.Served++
				} else {
					shot.Blocked++
				}
				mu.Unlock()
				if err != nil && t.tabCtx.Err() == nil {
					b.log.Warn("replay: answering an intercepted request failed", "url", want, "request", e.Request.URL, "served", serve, "err", err)
				}
			}()
		}); err != nil {
			return err
		}
		_, err := chromedp.Call(t.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
		return err
	}
	err = b.withTab(ctx, ex.URL, o, func(t *tab) error {
		b.stats.replays.Add(1)
		// A script of the page may have navigated away, to an address
		// that was blocked: the tab then shows an error page, not the
		// capture.
		loc, err := chromedp.Run(t.ctx, chromedp.Location())
		if err != nil {
			return t.fail("read location", err)
		}
		if strings.HasPrefix(loc, "chrome-error:") {
			return fmt.Errorf("render %s: the page navigated away from the capture (to %q); no screenshot of it", t.raw, loc)
		}
		png, err := t.screenshot()
		if err != nil {
			return t.fail("screenshot", err)
		}
		shot.PNG = png
		return nil
	})
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("screenshot of the captured %s: %w", ex.URL, err)
	}
	if shot.Served == 0 {
		return nil, fmt.Errorf("screenshot of the captured %s: the browser never asked for the page", ex.URL)
	}
	return shot, nil
}

// ScreenshotCaptured is Browser.ScreenshotCaptured in the shared browser,
// started if need be.
func (l *LazyBrowser) ScreenshotCaptured(ctx context.Context, p *shopwatch.Page) (*ReplayShot, error) {
	b, err := l.browser(ctx)
	if err != nil {
		return nil, fmt.Errorf("screenshot of %s: %w", p.URL, err)
	}
	return b.ScreenshotCaptured(ctx, p)
}

// stripFragment returns u without its #fragment, as requests carry it.
func stripFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i]
	}
	return u
}
