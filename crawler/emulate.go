package crawler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// RenderOption changes how one Render (or LazyBrowser.FetchWith) loads and
// captures its page. Options are applied in order; a later one wins.
type RenderOption func(*renderOptions)

// renderOptions is what the RenderOptions of one call add up to, over the
// defaults of the BrowserConfig.
type renderOptions struct {
	timeout     time.Duration // whole render, from opening the tab
	selector    string        // CSS selector to wait for after the load event
	quiet       time.Duration // network idle: no request in flight for this long
	maxSettle   time.Duration // bound on the whole settle phase
	scrollSteps int           // viewport-high scroll steps to trigger lazy content; 0: none
	mobile      bool
	pdf         bool
	// offline marks a tab whose every request is answered from a capture
	// (ScreenshotCaptured): it contacts no host, so it takes no host slot.
	offline bool
	// beforeNavigate, if set, runs in the prepared tab just before the
	// navigation (Watch uses it to watch from the document's first moment).
	beforeNavigate func(t *tab) error
}

// WaitSelector makes Render wait, after the load event, until an element
// matching the CSS selector css exists. When none appears within the settle
// bound (BrowserConfig.MaxSettle, or MaxSettle) the page is captured as it
// is and the wait is logged: the page is still evidence.
func WaitSelector(css string) RenderOption {
	return func(o *renderOptions) { o.selector = css }
}

// NetworkIdle sets how long the page must have been quiet (no request in
// flight, no DOM mutation, no one-shot timer pending) before it is captured
// (BrowserConfig.Settle by default). Zero captures as soon as the load
// event, selector and scrolling are done.
func NetworkIdle(quiet time.Duration) RenderOption {
	return func(o *renderOptions) { o.quiet = max(quiet, 0) }
}

// MaxSettle bounds the settle phase of one render (waiting for the
// selector, scrolling, waiting for the network to go idle); past it the page
// is captured as it is. It replaces BrowserConfig.MaxSettle.
func MaxSettle(d time.Duration) RenderOption {
	return func(o *renderOptions) {
		if d > 0 {
			o.maxSettle = d
		}
	}
}

// ScrollSteps sets how many viewport-high steps Render scrolls down the
// page to make lazy content load (BrowserConfig.ScrollSteps by default).
// Zero does not scroll.
func ScrollSteps(n int) RenderOption {
	return func(o *renderOptions) { o.scrollSteps = max(n, 0) }
}

// RenderTimeout bounds this render, from opening its tab to the end of the
// capture, in place of BrowserConfig.Timeout.
func RenderTimeout(d time.Duration) RenderOption {
	return func(o *renderOptions) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// Mobile renders the page as a phone would show it: a 390×844 CSS-pixel
// viewport at device scale 3, the mobile flag (viewport meta tag, overlay
// scrollbars, text autosizing), touch input, and the user agent and client
// hints of Chrome on Android (BrowserConfig.MobileUserAgent when set). Many
// shops sell through H5 pages that only phones are shown. The Page has
// Mobile set.
func Mobile() RenderOption {
	return func(o *renderOptions) { o.mobile = true }
}

// WithPDF also prints the rendered page to PDF into Page.PDF. A PDF larger
// than BrowserConfig.MaxPDFSize fails the render.
func WithPDF() RenderOption {
	return func(o *renderOptions) { o.pdf = true }
}

// options returns the options of one call over the configuration.
func (b *Browser) options(opts []RenderOption) renderOptions {
	o := renderOptions{
		timeout:     b.cfg.Timeout,
		quiet:       b.cfg.Settle,
		maxSettle:   b.cfg.MaxSettle,
		scrollSteps: b.cfg.ScrollSteps,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// The phone that Mobile emulates.
const (
	mobileWidth  = 390
	mobileHeight = 844
	mobileScale  = 3
)

// emulateDesktop sets the desktop viewport of the configuration.
func (b *Browser) emulateDesktop(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.EmulateViewport(int64(b.cfg.Width), int64(b.cfg.Height)))
}

// emulateMobile turns the tab of ctx into a phone: device metrics, touch
// and the user agent, before anything is loaded in it.
func (b *Browser) emulateMobile(ctx context.Context, in *instance) error {
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width:             mobileWidth,
		Height:            mobileHeight,
		DeviceScaleFactor: mobileScale,
		Mobile:            true,
		ScreenWidth:       mobileWidth,
		ScreenHeight:      mobileHeight,
		ScreenOrientation: &emulation.ScreenOrientation{Type: emulation.ScreenOrientationTypePortraitPrimary, Angle: 0},
	}); err != nil {
		return fmt.Errorf("emulate device metrics: %w", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{
		Enabled:        true,
		MaxTouchPoints: 5,
	}); err != nil {
		return fmt.Errorf("emulate touch: %w", err)
	}
	ua, meta := b.mobileUserAgent(in)
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent:         ua,
		Platform:          "Linux aarch64",
		UserAgentMetadata: meta,
	}); err != nil {
		return fmt.Errorf("emulate user agent: %w", err)
	}
	return nil
}

// mobileUserAgent returns the user agent and client hints of Chrome on an
// Android phone, with the major version of the running browser so that the
// engine and the claimed version agree.
func (b *Browser) mobileUserAgent(in *instance) (string, *emulation.UserAgentMetadata) {
	major := in.major
	if major == "" {
		major = "120"
	}
	meta := &emulation.UserAgentMetadata{
		Brands: []*emulation.UserAgentBrandVersion{
			{Brand: "Chromium", Version: major},
			{Brand: "Google Chrome", Version: major},
			{Brand: "Not-A.Brand", Version: "99"},
		},
		Platform:        "Android",
		PlatformVersion: "14.0.0",
		Model:           "Pixel 8",
		Mobile:          true,
	}
	if b.cfg.MobileUserAgent != "" {
		return b.cfg.MobileUserAgent, meta
	}
	return "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" +
		major + ".0.0.0 Mobile Safari/537.36", meta
}

// browserMajor asks the browser of ctx for its major version ("156").
func browserMajor(ctx context.Context) string {
	v, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return ""
	}
	_, ver, ok := strings.Cut(v.Product, "/")
	if !ok {
		return ""
	}
	major, _, _ := strings.Cut(ver, ".")
	return major
}
