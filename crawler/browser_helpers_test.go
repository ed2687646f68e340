package crawler

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"shopwatch/internal/testparts"
)

// newTestBrowser starts a Browser on real Chromium for tests against
// loopback servers, with short settle times; edit adjusts the
// configuration. It is closed when the test ends, and no Chromium process
// of it may be left then.
func newTestBrowser(t testing.TB, edit func(*BrowserConfig)) *Browser {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		skipShort(tt)
	}
	cfg := DefaultBrowserConfig()
	cfg.ExecPath = testparts.Chromium(t)
	cfg.AllowLoopback()
	cfg.Timeout = 20 * time.Second
	cfg.Settle = 200 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := NewBrowser(ctx, cfg)
	if err != nil {
		testparts.Unavailable(t, "Chromium", err)
	}
	t.Cleanup(func() {
		b.Close()
		for _, dir := range profileDirs(b) {
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("profile %s still exists after Close (stat: %v)", dir, err)
			}
			if pids := profileUsers(dir); len(pids) > 0 {
				t.Errorf("Chromium processes %v of profile %s outlived Close", pids, dir)
			}
		}
	})
	return b
}

// currentInstance returns the process new renders go to.
func currentInstance(t testing.TB, b *Browser) *instance {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil {
		t.Fatal("browser has no current process")
	}
	return b.cur
}

// profileDirs lists the profiles of every process the browser started.
func profileDirs(b *Browser) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.profiles...)
}

// pageTargets lists the page targets of the browser's current process.
func pageTargets(t testing.TB, b *Browser) []*target.Info {
	t.Helper()
	in := currentInstance(t, b)
	ctx, cancel := context.WithTimeout(in.ctx, 10*time.Second)
	defer cancel()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatalf("list targets: %v", err)
	}
	var pages []*target.Info
	for _, ti := range infos {
		if ti.Type == "page" {
			pages = append(pages, ti)
		}
	}
	return pages
}
