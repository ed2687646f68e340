package crawler

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// A rendered page is ready to capture when it is quiet: no request in
// flight, no DOM mutation and no pending one-shot timer for the settle
// interval (BrowserConfig.Settle, NetworkIdle), within the settle bound.
//
// The network side is the tab's netLog. The page side is readyJS, added to
// every new document of the tab before the page's own scripts run: a
// MutationObserver on the whole document, and setTimeout, setInterval and
// requestAnimationFrame wrapped (as proxies of the originals, whose
// behaviour they keep) to learn which callbacks are still to come. A
// one-shot timer due within the settle bound keeps the page from being
// quiet, so a description drawn by a setTimeout 8 s after the load event
// is waited for rather than missed; timers due later are not waited for.
// Repeating callbacks (setInterval, a setTimeout or frame callback that
// schedules itself again) are a countdown, a carousel or an animation: they
// never end, so neither they nor the mutations they make keep the page from
// being quiet, and their mutations are counted apart. Anything else that
// goes on changing the page (a feed polled for ever, a script that keeps
// rewriting the DOM) ends the wait at the settle bound, and the capture
// says so.

// readyJS installs the readiness probe under the property name it is
// called with (random per render, not enumerable, not writable). The probe
// takes a horizon in ms and returns the page clock (performance.now), the
// time of the last mutation that counts (-1: none since the document
// began), the mutations counted and ignored, and the pending one-shot
// timers due within the horizon.
const readyJS = `(function (name) {
  "use strict";
  if (Object.prototype.hasOwnProperty.call(window, name)) { return; }
  var apply = Reflect.apply, slice = Array.prototype.slice, perf = performance, now = perf.now;
  var Px = Proxy, MO = window.MutationObserver;
  var pending = new Map(), running = new Set();
  var last = -1, counted = 0, ignored = 0;
  function clock() { return apply(now, perf, []); }
  var mo = new MO(function (recs) { counted += recs.length; last = clock(); });
  mo.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  function run(fn, self, args, repeating) {
    var had = running.has(fn);
    running.add(fn);
    try { return apply(fn, self, args); } finally {
      if (!had) { running.delete(fn); }
      if (repeating) { ignored += mo.takeRecords().length; }
    }
  }
  function wrap(obj, key, handler) {
    if (typeof obj[key] === "function") { obj[key] = new Px(obj[key], { apply: handler }); }
  }
  wrap(window, "setTimeout", function (target, self, args) {
    var fn = args[0];
    if (typeof fn !== "function") { return apply(target, self, args); }
    var repeating = running.has(fn), id;
    var a = apply(slice, args, []);
    a[0] = function () { pending.delete(id); return run(fn, this, arguments, repeating); };
    id = apply(target, self, a);
    if (!repeating) { pending.set(id, clock() + Math.max(0, Number(args[1]) || 0)); }
    return id;
  });
  wrap(window, "setInterval", function (target, self, args) {
    var fn = args[0];
    if (typeof fn !== "function") { return apply(target, self, args); }
    var a = apply(slice, args, []);
    a[0] = function () { return run(fn, this, arguments, true); };
    return apply(target, self, a);
  });
  wrap(window, "requestAnimationFrame", function (target, self, args) {
    var fn = args[0];
    if (typeof fn !== "function") { return apply(target, self, args); }
    var repeating = running.has(fn);
    var a = apply(slice, args, []);
    a[0] = function () { return run(fn, this, arguments, repeating); };
    return apply(target, self, a);
  });
  function forget(target, self, args) { pending.delete(args[0]); return apply(target, self, args); }
  wrap(window, "clearTimeout", forget);
  wrap(window, "clearInterval", forget);
  Object.defineProperty(window, name, { value: function (horizon) {
    var t = clock(), n = 0, due = 0;
    pending.forEach(function (d) { if (d <= t + horizon) { n++; due = Math.max(due, d - t); } });
    return { now: t, last: last, counted: counted, ignored: ignored, timers: n, due: due };
  } });
})(%s)`

// readyState is what one call of the readiness probe returns.
type readyState struct {
	Now     float64 `json:"now"`  // ms on the page's clock
	Last    float64 `json:"last"` // last counted mutation, ms; -1: none
	Counted int     `json:"counted"`
	Ignored int     `json:"ignored"`
	Timers  int     `json:"timers"` // pending one-shot timers within the horizon
	Due     float64 `json:"due"`    // ms until the last of them is due
}

// domQuietFor is how long the page has made no mutation that counts.
func (s readyState) domQuietFor() time.Duration {
	if s.Last < 0 {
		return msDuration(s.Now)
	}
	return msDuration(s.Now - s.Last)
}

// installReady adds the readiness probe to every new document of the tab,
// under a name of its own.
func (t *tab) installReady() error {
	t.readyName = "__sw" + strings.ToLower(rand.Text()[:12])
	name, err := json.Marshal(t.readyName)
	if err != nil {
		return err
	}
	_, err = chromedp.Call(t.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: fmt.Sprintf(readyJS, name)})
	return err
}

// probeReady reads the readiness probe of the page, with timers due
// within horizon.
func (t *tab) probeReady(ctx context.Context, horizon time.Duration) (readyState, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	expr := fmt.Sprintf("window[%q](%d)", t.readyName, max(horizon.Milliseconds(), 0))
	return chromedp.Run(cctx, chromedp.Evaluate[readyState](expr))
}

// waitQuiet waits until the page is quiet for quiet (see readyJS) or ctx
// (the settle bound) ends, and says which it was, counting from since (the
// load event). A page whose probe cannot be read (no script runs in it, or
// it is too busy to answer) is judged by the network alone once the probe
// has failed for quiet.
func (t *tab) waitQuiet(ctx context.Context, quiet time.Duration, since time.Time) string {
	poll := min(max(quiet/5, 20*time.Millisecond), 100*time.Millisecond)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		st       readyState
		probed   bool      // the probe answered at least once
		failedAt time.Time // when the probe began failing; zero while it answers
	)
	for {
		select {
		case <-ctx.Done():
			return t.notQuiet(st, probed, !failedAt.IsZero(), quiet, since)
		case <-timer.C:
		}
		horizon := time.Hour
		if dl, ok := ctx.Deadline(); ok {
			horizon = time.Until(dl)
		}
		s, err := t.probeReady(ctx, horizon)
		switch {
		case err == nil:
			st, probed, failedAt = s, true, time.Time{}
		case ctx.Err() != nil:
			return t.notQuiet(st, probed, !failedAt.IsZero(), quiet, since)
		case failedAt.IsZero():
			failedAt = time.Now()
			t.b.log.Debug("readiness probe failed", "url", t.raw, "err", err)
		}
		netQuiet := t.net.idleFor() >= quiet
		switch {
		case !failedAt.IsZero():
			if netQuiet && time.Since(failedAt) >= quiet {
				return fmt.Sprintf("network quiet after %s (page state unreadable)", seconds(time.Since(since)))
			}
		case netQuiet && st.Timers == 0 && st.domQuietFor() >= quiet:
			r := fmt.Sprintf("quiet after %s", seconds(time.Since(since)))
			if st.Ignored > 0 {
				r += fmt.Sprintf(" (%d mutations by repeating timers ignored)", st.Ignored)
			}
			return r
		}
		timer.Reset(poll)
	}
}

// notQuiet says why the settle bound ended a page's wait for quiet.
func (t *tab) notQuiet(st readyState, probed, failing bool, quiet time.Duration, since time.Time) string {
	var why []string
	switch idle := t.net.idleFor(); {
	case idle == 0:
		why = append(why, "requests in flight")
	case idle < quiet:
		why = append(why, "requests until just now")
	}
	switch {
	case failing:
		why = append(why, "page state unreadable")
	case !probed:
	default:
		if st.domQuietFor() < quiet {
			why = append(why, "mutations still happening")
		}
		if st.Timers > 0 {
			why = append(why, fmt.Sprintf("%d timers pending", st.Timers))
		}
	}
	if len(why) == 0 {
		why = append(why, "no time left to watch the page")
	}
	r := fmt.Sprintf("timeout after %s with %s", seconds(time.Since(since)), strings.Join(why, ", "))
	t.b.log.Info("page never went quiet; capturing it as it is", "url", t.raw, "ready_by", r)
	return r
}

// seconds prints d in seconds with one decimal, as "2.3s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
