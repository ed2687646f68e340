package crawler

import (
	"context"
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
		b, err := NewBrowser(context.WithoutCancel(ctx), l.cfg)
		if err != nil {
			return nil, err
		}
		l.b = b
	}
	return l.b, nil
}

// Fetch renders rawURL in a new tab of the shared browser.
func (l *LazyBrowser) Fetch(ctx context.Context, rawURL string) (*shopwatch.Page, error) {
	b, err := l.browser(ctx)
	if err != nil {
		return nil, err
	}
	return b.Render(ctx, rawURL)
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
