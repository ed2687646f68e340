package crawler

import (
	"context"
	"fmt"

	"shopwatch"
)

// Watch watches rawURL in a tab of the shared browser, starting the browser
// if need be. See Browser.Watch.
func (l *LazyBrowser) Watch(ctx context.Context, rawURL string, w WatchOptions, opts ...RenderOption) (*shopwatch.Page, error) {
	b, err := l.browser(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", rawURL, err)
	}
	return b.Watch(ctx, rawURL, w, opts...)
}
