package crawler

import (
	"context"
	"fmt"
	"sync"

	"shopwatch"
)

// LazyBrowser renders pages with a Browser that it starts on first use, so
// a sweep without browser targets never starts Chromium. Its Fetch has the
// shape of (*Fetcher).Fetch, so the sweep can use either path. It is safe
// for concurrent use.
type LazyBrowser struct {
	cfg BrowserConfig

	mu     sync.Mutex
	b      *Browser
	closed bool
}

// NewLazyBrowser returns a LazyBrowser that will start a browser with cfg.
func NewLazyBrowser(cfg BrowserConfig) *LazyBrowser {
	return &LazyBrowser{cfg: cfg}
}

func (l *LazyBrowser) browser(ctx context.Context) (*Browser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.b == nil {
		// The browser outlives the request that started it: start it on a
		// context of its own (never the caller's deadline, which would kill
		// the browser when it expires).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxStart)
		b, err := NewBrowser(sctx, l.cfg)
		cancel()
		if err != nil {
			return nil, err
		}
		l.b = b
	}
	return l.b, nil
}

// Fetch renders rawURL in a tab of the shared browser, with the defaults
// of the configuration.
func (l *LazyBrowser) Fetch(ctx context.Context, rawURL string) (*shopwatch.Page, error) {
	return l.FetchWith(ctx, rawURL)
}

// FetchWith renders rawURL in a tab of the shared browser with opts, such
// as Mobile() for a target that asks for a phone. See Browser.Render.
func (l *LazyBrowser) FetchWith(ctx context.Context, rawURL string, opts ...RenderOption) (*shopwatch.Page, error) {
	b, err := l.browser(ctx)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", rawURL, err)
	}
	return b.Render(ctx, rawURL, opts...)
}

// Stats returns the counters of the browser, all zero before it started.
func (l *LazyBrowser) Stats() BrowserStats {
	l.mu.Lock()
	b := l.b
	l.mu.Unlock()
	if b == nil {
		return BrowserStats{}
	}
	return b.Stats()
}

// Close stops the browser if it was started. Fetch fails after Close.
func (l *LazyBrowser) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.b == nil {
		return nil
	}
	err := l.b.Close()
	l.b = nil
	return err
}
