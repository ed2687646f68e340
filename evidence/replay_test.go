package evidence_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"shopwatch/internal/testparts"
)

// replayTextJS gathers the text a person sees in ReplayWeb.page: the
// player's own (the page and every open shadow root: the player is made of
// web components) and each same-origin frame's with its address (the
// replayed page is a frame the player's service worker serves).
const replayTextJS = `(() => {
  const player = [], frames = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) {
        player.push(el.shadowRoot.textContent || "");
        walk(el.shadowRoot);
      }
      if (el.tagName === "IFRAME") {
        try {
          const doc = el.contentDocument;
          if (doc && doc.body) {
            frames.push({url: doc.location.href, text: doc.body.innerText || ""});
            walk(doc);
          }
        } catch (e) {}
      }
    }
  };
  player.push(document.body ? document.body.innerText : "");
  walk(document);
  return {player: player.join("\n"), frames: frames};
})()`

// replayView is what replayTextJS returns.
type replayView struct {
	Player string `json:"player"`
	Frames []struct {
		URL  string `json:"url"`
		Text string `json:"text"`
	} `json:"frames"`
}

// frameWith returns the address of a frame whose text holds s.
func (v replayView) frameWith(s string) (string, bool) {
	for _, f := range v.Frames {
		if strings.Contains(f.Text, s) {
			return f.URL, true
		}
	}
	return "", false
}

// String is the view for a failure message: whitespace collapsed, the
// player's text cut at 2,000 bytes.
func (v replayView) String() string {
	var b strings.Builder
	player := strings.Join(strings.Fields(v.Player), " ")
	if len(player) > 2000 {
		player = player[:2000] + " …"
	}
	b.WriteString("player: " + player)
	for _, f := range v.Frames {
		b.WriteString("\nframe " + f.URL + ": " + f.Text)
	}
	return b.String()
}

// An exported bundle opens in ReplayWeb.page, the web-archive player
// (its npm package, served on loopback, in headless Chromium): the player
// loads the WACZ and replays the captured page from its WARC, so the
// page's text (GBK on the wire) shows in the replay frame. A bundle with
// the earlier profile "wacz" is what the player refused.
func TestBundleReplaysInReplayWebPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	player := testparts.ReplayWebPage(t)
	chromium := testparts.Chromium(t)
	f := newFixture(t)
	legacy := filepath.Join(t.TempDir(), "legacy.wacz")
	writeZip(t, legacy, legacyBundle(t, f))

	// The player's static files and the two bundles, from one loopback
	// origin: a service worker needs a secure context, which
	// http://127.0.0.1 is, and the player reads a WACZ with range requests,
	// which http.ServeFile answers.
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(player)))
	serveWACZ := func(path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/wacz")
			http.ServeFile(w, r, path)
		}
	}
	mux.HandleFunc("/bundle.wacz", serveWACZ(f.bundle))
	mux.HandleFunc("/legacy.wacz", serveWACZ(legacy))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	// open loads a bundle in the player at the captured page and returns
	// what the player shows once done says so, or when 30 s have passed.
	open := func(t *testing.T, bundle string, done func(replayView) bool) replayView {
		t.Helper()
		tctx, tcancel := chromedp.NewContext(bctx)
		defer tcancel()
		ctx, cancel := context.WithTimeout(tctx, 30*time.Second)
		defer cancel()
		hash := url.Values{"view": {"replay"}, "url": {f.page.FinalURL}, "ts": {captureTime.Format("20060102150405")}}
		page := srv.URL + "/?" + url.Values{"source": {srv.URL + bundle}}.Encode() + "#" + hash.Encode()
		if _, err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
			t.Fatalf("open %s: %v", page, err)
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		var view replayView
		for {
			if got, err := chromedp.Run(ctx, chromedp.Evaluate[replayView](replayTextJS)); err == nil {
				view = got
				if done(view) {
					return view
				}
			}
			select {
			case <-ctx.Done():
				return view
			case <-tick.C:
			}
		}
	}
	refused := func(v replayView) bool { return strings.Contains(v.Player, "Unknown package profile") }

	const pageText = "全网最佳口碑 旗舰店 营业执照信息"
	t.Run("current", func(t *testing.T) {
		view := open(t, "/bundle.wacz", func(v replayView) bool {
			_, ok := v.frameWith(pageText)
			return ok || refused(v)
		})
		frame, ok := view.frameWith(pageText)
		if !ok {
			t.Fatalf("ReplayWeb.page does not replay the captured page's text %q; it shows:\n%s", pageText, view)
		}
		// The text comes from the replayed page: a frame of the player's
		// origin at the captured URL.
		if !strings.HasPrefix(frame, srv.URL+"/") || !strings.HasSuffix(frame, f.page.FinalURL) {
			t.Errorf("the page's text is in frame %s, want the replay of %s", frame, f.page.FinalURL)
		}
	})
	t.Run("earlier profile wacz", func(t *testing.T) {
		view := open(t, "/legacy.wacz", func(v replayView) bool {
			_, ok := v.frameWith(pageText)
			return ok || refused(v)
		})
		if _, ok := view.frameWith(pageText); ok || !strings.Contains(view.Player, "Unknown package profile: wacz") {
			t.Fatalf("ReplayWeb.page does not refuse the earlier profile \"wacz\"; it shows:\n%s", view)
		}
	})
}
