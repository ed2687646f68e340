package crawler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"shopwatch"
)

// WatchOptions says how long and how closely Watch follows a live page.
// Zero fields take the defaults DefaultWatchOptions lists.
type WatchOptions struct {
	// Window is how long the page is watched, from the end of its
	// navigation. Zero means 30 s.
	Window time.Duration
	// Sample is how often the text log kept in the page is read, and the
	// longest the page goes without its text being looked at. Zero means
	// 250 ms; values below 20 ms count as 20 ms.
	Sample time.Duration
	// SnapshotEvery is the interval of the timed screenshots, the first
	// taken when the watch starts. Zero means 5 s; negative, no timed
	// screenshots (the final frame is still taken).
	SnapshotEvery time.Duration
	// MaxSnapshots caps Page.Snapshots, the final frame included; timed
	// screenshots stop when only the final frame's place is left. Zero
	// means 120.
	MaxSnapshots int
	// EndSelector, if set, ends the watch early once an element matches
	// this CSS selector, such as `#room[data-state=ended]`. A selector the
	// browser cannot parse fails the watch.
	EndSelector string
}

// DefaultWatchOptions returns the defaults of WatchOptions: a 30 s window,
// the text read every 250 ms, a screenshot every 5 s, at most 120
// screenshots, and no end selector.
func DefaultWatchOptions() WatchOptions {
	return WatchOptions{Window: 30 * time.Second, Sample: 250 * time.Millisecond,
		SnapshotEvery: 5 * time.Second, MaxSnapshots: 120}
}

// withDefaults fills the zero fields of w from DefaultWatchOptions.
func (w WatchOptions) withDefaults() WatchOptions {
	d := DefaultWatchOptions()
	if w.Window <= 0 {
		w.Window = d.Window
	}
	switch {
	case w.Sample <= 0:
		w.Sample = d.Sample
	case w.Sample < minWatchSample:
		w.Sample = minWatchSample
	}
	if w.SnapshotEvery == 0 {
		w.SnapshotEvery = d.SnapshotEvery
	}
	if w.MaxSnapshots <= 0 {
		w.MaxSnapshots = d.MaxSnapshots
	}
	w.EndSelector = strings.TrimSpace(w.EndSelector)
	return w
}

// minWatchSample is the shortest WatchOptions.Sample.
const minWatchSample = 20 * time.Millisecond

// SourceDOM is the TimedText.Source of a line of the final page text that
// the watch never saw on screen as such: text hidden by style sheets, or
// laid out across elements differently from how the watch cut it into
// texts. Its First and Last are both the time of the final capture, and
// AnnotateSeen leaves findings in it alone: the final capture is its
// evidence.
const SourceDOM = "dom"

// watchLimits bound what one watch keeps of a page, which may be hostile.
// Lengths of texts are in UTF-16 code units, as the page counts them.
type watchLimits struct {
	maxEntries    int           // timeline entries kept; later new texts are counted as dropped
	maxText       int           // one text's length; longer texts are cut and counted
	maxChars      int           // all texts' length together
	maxNodes      int           // nodes one scan of the page visits
	maxLines      int           // texts one scan collects
	scanBudget    time.Duration // time one scan may take
	minGap        time.Duration // least time between the ends of two scans
	pullEntries   int           // entries one pull carries
	pullChars     int           // text one pull carries, about
	maxDOMEntries int           // SourceDOM entries added from the final text
	maxShotBytes  int           // bytes of timed screenshots kept
	maxDocuments  int           // documents (page loads) followed in one watch
}

// defaultWatchLimits are the limits of Browser.Watch.
var defaultWatchLimits = watchLimits{
	maxEntries:    5000,
	maxText:       2000,
	maxChars:      2_000_000,
	maxNodes:      50_000,
	maxLines:      5000,
	scanBudget:    40 * time.Millisecond,
	minGap:        50 * time.Millisecond,
	pullEntries:   1000,
	pullChars:     500_000,
	maxDOMEntries: 5000,
	maxShotBytes:  128 << 20,
	maxDocuments:  16,
}

// Watch stays on a live page, such as a livestream room, for a window and
// records every text that appears on it and when, so that a claim on screen
// for a few seconds is still caught and its evidence says when it was shown.
//
// The page is opened as Render opens it, except that settling does not
// scroll or wait for the network to go idle unless opts ask for it (a live
// page's stream never goes idle, and texts shown meanwhile would be missed).
// Then a script in an isolated world (the page's own scripts can neither
// see nor change it) watches the DOM: on every mutation (at most every
// 50 ms, less often when scans are slow) and at least every w.Sample it
// collects the visible texts, each the text of a block element or of an
// element with a data-source attribute, with white space collapsed, and
// keeps a log of (source, text, first seen, last seen). A text's source is
// the nearest data-source attribute, else its element's role attribute,
// else its element's tag name. A text that stays on screen is one entry;
// one that leaves and comes back, or is changed in place, starts a new
// entry. The log is read every w.Sample and is bounded: at most 5000
// entries and 2,000,000 characters, 2000 characters per text (longer ones
// are cut), 50,000 nodes and 40 ms per scan (a scan cut short closes no
// entries). A screenshot is taken every w.SnapshotEvery. If the page loads
// a new document, the watch follows it (up to 16 documents).
//
// The watch begins when the page has loaded: a text already on screen then
// is first seen when the watch begins, and one shown and gone while the
// page was loading is missed.
//
// The watch ends after w.Window, or earlier when w.EndSelector matches;
// then a final frame is taken and the page captured as Render captures it.
// The Page is Render's, with:
//
//   - Timeline: the texts in order of appearance. First is the first scan
//     that saw the text and Last the last one, so [First, Last] lies within
//     the time the text was really shown (up to the scan interval short at
//     either end). Times are UTC wall-clock times, mapped from the page's
//     clock (performance.now, from navigation start) to this process's
//     clock at the read with the shortest round trip. Lines of the final
//     page text that no entry holds follow as SourceDOM entries (at most
//     5000; further lines are in Text without an entry).
//   - Text: the timeline's texts, one per line, at their Offsets; what
//     rules read. Use AnnotateSeen to give their findings a time.
//   - Snapshots: the timed screenshots (full page, as Page.Screenshot;
//     At is the middle of the screenshot's call), then the final frame,
//     taken when the watch ends; at most w.MaxSnapshots, and timed ones
//     stop past 128 MiB.
//   - Screenshot: the final frame.
//
// The watch holds a tab of the pool for its window. It is bounded by the
// render timeout (BrowserConfig.Timeout, or RenderTimeout in opts) plus
// w.Window. Errors are Render's, and an EndSelector the browser rejects.
// Texts inside frames and shadow roots are not watched.
func (b *Browser) Watch(ctx context.Context, rawURL string, w WatchOptions, opts ...RenderOption) (*shopwatch.Page, error) {
	p, _, err := b.watchPage(ctx, rawURL, w, defaultWatchLimits, opts)
	return p, err
}

// watchReport tells what one watch did, for the log and for tests.
type watchReport struct {
	start, stop time.Time // the window as watched
	// origin is when the first watched document's clock read zero
	// (navigation start), on this process's clock.
	origin    time.Time
	endedBy   string // "selector", "window" or "documents" (too many page loads)
	documents int    // documents watched
	pulls     int    // successful reads of the log
	failed    int    // reads that failed
	scans     int    // scans of the page, all documents
	partial   int    // scans cut short by a bound
	dropped   int    // new texts not logged because the log was full
	cut       int    // texts cut to the length bound
	shots     int    // timed screenshots kept
	skipped   int    // timed screenshots failed or left out past the byte bound
}

// watchPage is Watch with its limits, also returning the report.
func (b *Browser) watchPage(ctx context.Context, rawURL string, w WatchOptions, lim watchLimits, opts []RenderOption) (*shopwatch.Page, *watchReport, error) {
	w = w.withDefaults()
	o := b.options(append([]RenderOption{NetworkIdle(0), ScrollSteps(0)}, opts...))
	o.timeout += w.Window
	// Install the watch before the navigation, so texts shown while the
	// page loads are timed from their first moment and none is missed.
	script := watchScript(w, lim)
	o.beforeNavigate = func(t *tab) error {
		_, err := chromedp.Call(t.ctx, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: script, WorldName: watchWorld})
		return err
	}
	var (
		p   *shopwatch.Page
		rep *watchReport
	)
	err := b.withTab(ctx, rawURL, o, func(t *tab) error {
		if t.resp != nil && t.resp.Status >= 400 {
			// An error page is captured as Render captures it, not watched.
			var err error
			p, err = b.capture(t)
			return err
		}
		wt := newWatcher(t, w, lim)
		var err error
		p, err = wt.run()
		rep = &wt.rep
		return err
	})
	if err != nil {
		var se *StatusError
		if !errors.As(err, &se) {
			return nil, rep, err
		}
	}
	return p, rep, err
}

// watchEntry is one text of the log as read from the page.
type watchEntry struct {
	doc          *watchDoc
	source, text string
	first, last  float64 // ms on doc's clock
}

// watchDoc is one document of the watched page and the isolated world the
// watch script runs in.
type watchDoc struct {
	world  runtime.ExecutionContextID
	loader cdp.LoaderID
	recv   int   // log entries received
	index  []int // log index → watcher.entries index, -1 when not kept
	// origin maps the document's clock to this process's: the time at
	// which performance.now() read zero, from the read with the shortest
	// round trip (rtt).
	origin time.Time
	rtt    time.Duration
	timed  bool
	// counters as the page last reported them
	scans, partial, dropped, cut int
}

// watcher runs one watch in one tab.
type watcher struct {
	t       *tab
	w       WatchOptions
	lim     watchLimits
	script  string // the install expression
	timeout time.Duration

	docs    []*watchDoc
	cur     *watchDoc
	entries []watchEntry
	chars   int
	lost    int // entries the Go side refused past its own bounds
	frames  []shopwatch.Snapshot
	bytes   int
	rep     watchReport
}

func newWatcher(t *tab, w WatchOptions, lim watchLimits) *watcher {
	return &watcher{t: t, w: w, lim: lim, script: watchScript(w, lim), timeout: max(2*time.Second, 4*w.Sample)}
}

// watchWorld names the isolated world the watch script runs in.
const watchWorld = "shopwatch-watch"

// watchScript returns the expression that installs the watch script with
// the options and limits of one watch.
func watchScript(w WatchOptions, lim watchLimits) string {
	cfg, _ := json.Marshal(map[string]any{
		"sample":      w.Sample.Milliseconds(),
		"gap":         lim.minGap.Milliseconds(),
		"budget":      lim.scanBudget.Milliseconds(),
		"maxEntries":  lim.maxEntries,
		"maxText":     lim.maxText,
		"maxChars":    lim.maxChars,
		"maxNodes":    lim.maxNodes,
		"maxLines":    lim.maxLines,
		"pullEntries": lim.pullEntries,
		"pullChars":   lim.pullChars,
		"end":         w.EndSelector,
	})
	return "(" + watchJS + ")(" + string(cfg) + ")"
}

// run watches the tab's page for the window, then captures it.
func (wt *watcher) run() (*shopwatch.Page, error) {
	t := wt.t
	start := time.Now()
	wt.rep.start = start
	end := start.Add(wt.w.Window)
	wctx, cancel := context.WithDeadline(t.ctx, end)
	defer cancel()

	every := wt.w.SnapshotEvery
	nextPull, nextShot := start, start
	timer := time.NewTimer(0)
	defer timer.Stop()
	endedBy := "window"
loop:
	for {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if !now.Before(nextPull) {
			ended, err := wt.pull(wctx, false)
			switch {
			case t.ctx.Err() != nil:
				return nil, t.fail("watch", cmp.Or(err, context.Cause(t.ctx)))
			case wctx.Err() != nil:
				break loop
			case errors.Is(err, errBadSelector):
				return nil, fmt.Errorf("watch %s: %w", t.raw, err)
			case errors.Is(err, errTooManyDocuments):
				endedBy = "documents"
				break loop
			case ended:
				endedBy = "selector"
				break loop
			}
			nextPull = time.Now().Add(wt.w.Sample)
		}
		if every > 0 && !time.Now().Before(nextShot) {
			if err := wt.snapshot(); err != nil {
				return nil, err
			}
			for !nextShot.After(time.Now()) {
				nextShot = nextShot.Add(every)
			}
		}
		due := nextPull
		if end.Before(due) {
			due = end
		}
		if every > 0 && nextShot.Before(due) {
			due = nextShot
		}
		timer.Reset(time.Until(due))
		select {
		case <-t.ctx.Done():
			return nil, t.fail("watch", context.Cause(t.ctx))
		case <-timer.C:
		}
	}
	wt.rep.stop = time.Now()
	wt.rep.endedBy = endedBy
	if endedBy != "documents" {
		// The last texts, up to the end of the window.
		if _, err := wt.pull(t.ctx, true); t.ctx.Err() != nil {
			return nil, t.fail("watch", cmp.Or(err, context.Cause(t.ctx)))
		}
	}

	var final *shopwatch.Snapshot
	frame, err := wt.frame()
	switch {
	case err == nil:
		final = &frame
	case t.ctx.Err() != nil:
		return nil, t.fail("screenshot", err)
	default:
		t.b.log.Warn("final frame of a watch failed", "url", t.raw, "err", err)
	}
	capturedAt := time.Now()
	p, err := t.b.capture(t)
	if err != nil {
		return nil, err
	}
	if final != nil {
		wt.frames = append(wt.frames, *final)
		p.Screenshot = final.PNG
	}
	p.Snapshots = wt.frames
	wt.assemble(p, capturedAt)
	wt.report()
	return p, nil
}

// snapshot takes a timed screenshot, if the bounds leave room for one.
func (wt *watcher) snapshot() error {
	t := wt.t
	if len(wt.frames) >= wt.w.MaxSnapshots-1 || wt.bytes >= wt.lim.maxShotBytes {
		wt.rep.skipped++
		return nil
	}
	frame, err := wt.frame()
	if err != nil {
		if t.ctx.Err() != nil {
			return t.fail("screenshot", err)
		}
		wt.rep.skipped++
		t.b.log.Info("timed screenshot failed", "url", t.raw, "err", err)
		return nil
	}
	wt.frames = append(wt.frames, frame)
	wt.bytes += len(frame.PNG)
	wt.rep.shots++
	return nil
}

// frame takes a screenshot as Page.Screenshot is taken, timed at the middle
// of the call.
func (wt *watcher) frame() (shopwatch.Snapshot, error) {
	before := time.Now()
	png, err := wt.t.screenshot()
	if err != nil {
		return shopwatch.Snapshot{}, err
	}
	return shopwatch.Snapshot{At: before.Add(time.Since(before) / 2).UTC(), PNG: png}, nil
}

// errTooManyDocuments ends a watch whose page keeps loading new documents.
var errTooManyDocuments = errors.New("too many documents")

// errBadSelector fails a watch whose end selector the browser rejects.
var errBadSelector = errors.New("end selector")

// attach installs the watch script in an isolated world of the page's
// current document, unless it already runs there.
func (wt *watcher) attach(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, wt.timeout)
	defer cancel()
	tree, err := chromedp.Call(cctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		return fmt.Errorf("frame tree: %w", err)
	}
	if tree.FrameTree == nil || tree.FrameTree.Frame == nil {
		return errors.New("frame tree: no main frame")
	}
	fr := tree.FrameTree.Frame
	if wt.cur != nil && wt.cur.loader == fr.LoaderID {
		return nil
	}
	if len(wt.docs) >= wt.lim.maxDocuments {
		return errTooManyDocuments
	}
	iw, err := chromedp.Call(cctx, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
		FrameID: fr.ID, WorldName: watchWorld,
	})
	if err != nil {
		return fmt.Errorf("isolated world: %w", err)
	}
	msg, err := chromedp.Run(cctx, chromedp.Evaluate[string](wt.script, inWorld(iw.ExecutionContextID)))
	if err != nil {
		return fmt.Errorf("install watch script: %w", err)
	}
	if msg != "" {
		return fmt.Errorf("%w %q: %s", errBadSelector, wt.w.EndSelector, msg)
	}
	d := &watchDoc{world: iw.ExecutionContextID, loader: fr.LoaderID}
	wt.docs = append(wt.docs, d)
	wt.cur = d
	wt.rep.documents = len(wt.docs)
	if len(wt.docs) > 1 {
		wt.t.b.log.Info("watched page loaded a new document; following it", "url", wt.t.raw, "documents", len(wt.docs))
	}
	return nil
}

// inWorld evaluates in the given execution context.
func inWorld(id runtime.ExecutionContextID) chromedp.EvaluateOption {
	return func(p *runtime.EvaluateParams) { p.ContextID = id }
}

// watchPull is what one read of the page's log returns.
type watchPull struct {
	Now float64 `json:"now"` // performance.now() when the read ended
	End bool    `json:"end"` // EndSelector matched
	N   int     `json:"n"`   // entries in the log
	Add []struct {
		S string  `json:"s"`
		T string  `json:"t"`
		F float64 `json:"f"`
		L float64 `json:"l"`
	} `json:"add"` // entries from the index asked for on
	Upd     [][2]float64 `json:"upd"` // [index, last] of earlier entries seen again
	Scans   int          `json:"scans"`
	Partial int          `json:"partial"`
	Dropped int          `json:"dropped"`
	Cut     int          `json:"cut"`
}

// pull reads what the page's log gained since the last read and reports
// whether the end selector matched; fresh first scans what the page
// changed since the last scan (for the last read). When a read fails
// because the page loaded a new document, the script is installed in it.
func (wt *watcher) pull(ctx context.Context, fresh bool) (bool, error) {
	if wt.cur == nil {
		// Not installed yet: the page was too busy, or between documents.
		if err := wt.attach(ctx); err != nil {
			wt.rep.failed++
			return false, err
		}
	}
	d := wt.cur
	// A log that grew by more than one read carries takes a few reads.
	for range 2 + wt.lim.maxEntries/max(wt.lim.pullEntries, 1) {
		res, err := wt.read(ctx, d, fresh)
		if err != nil {
			wt.rep.failed++
			if ctx.Err() != nil {
				return false, err
			}
			if aerr := wt.attach(ctx); aerr != nil {
				if errors.Is(aerr, errTooManyDocuments) {
					wt.t.b.log.Warn("watched page keeps loading new documents; watch ends", "url", wt.t.raw, "documents", len(wt.docs))
					return false, aerr
				}
				wt.t.b.log.Debug("watch read failed", "url", wt.t.raw, "err", err, "attach", aerr)
			}
			return false, err
		}
		if res.End || len(res.Add) == 0 || d.recv >= res.N {
			return res.End, nil
		}
	}
	return false, nil
}

// read does one read of d's log and merges it.
func (wt *watcher) read(ctx context.Context, d *watchDoc, fresh bool) (*watchPull, error) {
	if d == nil {
		return nil, errors.New("watch script not installed")
	}
	cctx, cancel := context.WithTimeout(ctx, wt.timeout)
	defer cancel()
	expr := fmt.Sprintf("globalThis.__shopwatchWatch.pull(%d, %t)", d.recv, fresh)
	before := time.Now()
	res, err := chromedp.Run(cctx, chromedp.Evaluate[*watchPull](expr, inWorld(d.world)))
	after := time.Now()
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("watch script returned nothing")
	}
	wt.rep.pulls++
	if rtt := after.Sub(before); !d.timed || rtt < d.rtt {
		d.origin = before.Add(rtt / 2).Add(-msDuration(res.Now))
		d.rtt, d.timed = rtt, true
	}
	for _, a := range res.Add {
		d.recv++
		if len(wt.entries) >= wt.lim.maxEntries || wt.chars >= 4*wt.lim.maxChars {
			d.index = append(d.index, -1)
			wt.lost++
			continue
		}
		text := cleanWatchText(a.T, 4*wt.lim.maxText)
		if text == "" {
			d.index = append(d.index, -1)
			continue
		}
		d.index = append(d.index, len(wt.entries))
		wt.entries = append(wt.entries, watchEntry{doc: d, source: cleanWatchText(a.S, 256), text: text, first: a.F, last: max(a.L, a.F)})
		wt.chars += len(text)
	}
	for _, u := range res.Upd {
		i := int(u[0])
		if i < 0 || i >= len(d.index) || d.index[i] < 0 {
			continue
		}
		e := &wt.entries[d.index[i]]
		e.last = max(e.last, u[1])
	}
	d.scans, d.partial, d.dropped, d.cut = res.Scans, res.Partial, res.Dropped, res.Cut
	return res, nil
}

// cleanWatchText makes a text from the page fit a timeline line: valid
// UTF-8, no line breaks, at most limit bytes (cut at a character boundary).
func cleanWatchText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.Fields(s), " ")
	}
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s)
}

// msDuration converts milliseconds to a Duration.
func msDuration(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

// assemble sets the page's timeline and text from the log and the final
// text the capture extracted.
func (wt *watcher) assemble(p *shopwatch.Page, capturedAt time.Time) {
	tl := make([]shopwatch.TimedText, 0, len(wt.entries))
	for _, e := range wt.entries {
		first := e.doc.origin.Add(msDuration(e.first)).UTC()
		last := e.doc.origin.Add(msDuration(e.last)).UTC()
		tl = append(tl, shopwatch.TimedText{Source: e.source, Text: e.text, First: first, Last: last})
	}
	slices.SortStableFunc(tl, func(a, b shopwatch.TimedText) int { return a.First.Compare(b.First) })
	var sb strings.Builder
	have := make(map[string]bool, len(tl))
	for i := range tl {
		tl[i].Offset = sb.Len()
		sb.WriteString(tl[i].Text)
		sb.WriteByte('\n')
		have[tl[i].Text] = true
	}
	at := capturedAt.UTC()
	dom := 0
	for line := range strings.SplitSeq(p.Text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || have[line] {
			continue
		}
		have[line] = true
		if dom < wt.lim.maxDOMEntries {
			tl = append(tl, shopwatch.TimedText{Source: SourceDOM, Text: line, First: at, Last: at, Offset: sb.Len()})
			dom++
		}
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	p.Timeline, p.Text = tl, sb.String()
	if len(wt.docs) > 0 {
		wt.rep.origin = wt.docs[0].origin
	}
}

// report sums the documents' counters into the report and logs it.
func (wt *watcher) report() {
	r := &wt.rep
	for _, d := range wt.docs {
		r.scans += d.scans
		r.partial += d.partial
		r.dropped += d.dropped
		r.cut += d.cut
	}
	r.dropped += wt.lost
	wt.t.b.log.Info("watched page", "url", wt.t.raw, "window", r.stop.Sub(r.start).Round(time.Millisecond),
		"ended_by", r.endedBy, "texts", len(wt.entries), "snapshots", len(wt.frames), "documents", r.documents,
		"scans", r.scans, "partial_scans", r.partial, "dropped", r.dropped, "cut", r.cut,
		"failed_reads", r.failed, "skipped_snapshots", r.skipped)
}

// AnnotateSeen gives findings on a watched page (one with a Timeline) the
// time their match was on screen: SeenFrom and SeenUntil are the First and
// Last of the timeline entry that holds the finding's Offset. Findings of
// absences (Offset -1), outside every entry, or in SourceDOM entries are
// left as they are, as are all findings of a page without a timeline.
func AnnotateSeen(p *shopwatch.Page, fs []shopwatch.Finding) {
	if p == nil || len(p.Timeline) == 0 {
		return
	}
	for i := range fs {
		if fs[i].Offset < 0 {
			continue
		}
		e, ok := p.TimelineAt(fs[i].Offset)
		if !ok || e.Source == SourceDOM {
			continue
		}
		fs[i].SeenFrom, fs[i].SeenUntil = e.First, e.Last
	}
}

// watchJS is the watch script. Called with its configuration in an
// isolated world, it starts watching and returns "", or returns why it
// cannot (a bad end selector); called again in the same world, it only
// checks the selector. It keeps the log in globalThis.__shopwatchWatch,
// whose pull(since, fresh) returns the entries from index since on, the
// last-seen times of earlier entries seen again since the previous pull,
// whether the end selector matches, and its counters; fresh first scans
// what changed since the last scan.
//
// A scan walks the body in document order without recursion. Block
// elements, <br> and elements with a data-source attribute start a new
// text; elements that checkVisibility says are not shown (display none,
// visibility hidden, closed details) are skipped with their subtree, as are
// script, style and the like. A scan cut short by a bound closes no entry,
// because what it did not reach may still be on screen.
const watchJS = `function (cfg) {
  "use strict";
  if (cfg.end) {
    try { document.querySelector(cfg.end); } catch (e) {
      return String((e && e.message) || e).slice(0, 300);
    }
  }
  if (globalThis.__shopwatchWatch) { return ""; }
  var SKIP = new Set(["head", "script", "style", "noscript", "template", "iframe", "frame",
    "frameset", "title", "noembed", "noframes", "object", "embed", "desc", "link", "meta"]);
  var BLOCK = new Set(["address", "article", "aside", "blockquote", "body", "caption", "center",
    "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html",
    "legend", "li", "main", "menu", "nav", "ol", "option", "optgroup", "p", "section",
    "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "select", "pre", "listing",
    "textarea"]);
  var CELL = new Set(["td", "th"]);
  var SPACE = /[ \t\n\r\f]+/g;
  var INK = /[^ \t\n\r\f]/;
  var log = [], live = new Map(), dirty = new Set();
  var chars = 0, dropped = 0, cut = 0, scans = 0, partial = 0;
  var lastScan = -Infinity, lastCost = 0, timer = 0;

  function shown(el) {
    if (typeof el.checkVisibility !== "function") { return true; }
    if (el.checkVisibility({ visibilityProperty: true })) { return true; }
    return getComputedStyle(el).display === "contents";
  }
  function clip(s, n) {
    if (s.length <= n) { return s; }
    var c = s.charCodeAt(n - 1);
    return s.slice(0, c >= 0xD800 && c <= 0xDBFF ? n - 1 : n);
  }
  function attr(el, name) {
    var v = el.getAttribute(name);
    if (v === null) { return ""; }
    return clip(v.replace(SPACE, " ").trim(), 64);
  }

  function collect(root) {
    var lines = [], stack = [], visited = 0, complete = true;
    var deadline = performance.now() + cfg.budget;
    var room = cfg.maxText * 2;
    function enter(el, ctx, ds) {
      var tag = el.localName;
      var own = attr(el, "data-source");
      if (own !== "") { ds = own; }
      if (own !== "" || ctx === null || BLOCK.has(tag)) {
        if (ctx !== null) { ctx.line = null; }
        ctx = { src: ds || attr(el, "role") || tag, line: null };
      } else if (CELL.has(tag) && ctx.line !== null) {
        ctx.line.parts.push(" ");
      }
      stack.push({ next: el.firstChild, ctx: ctx, ds: ds });
    }
    enter(root, null, "");
    while (stack.length > 0) {
      var fr = stack[stack.length - 1];
      var n = fr.next;
      if (n === null) { stack.pop(); continue; }
      fr.next = n.nextSibling;
      visited++;
      if (visited > cfg.maxNodes || ((visited & 255) === 0 && performance.now() > deadline)) {
        complete = false;
        break;
      }
      if (n.nodeType === 3) {
        var c = fr.ctx, d = n.data;
        if (c.line === null) {
          if (!INK.test(d)) { continue; }
          if (lines.length >= cfg.maxLines) { complete = false; break; }
          c.line = { s: c.src, parts: [], n: 0, over: false };
          lines.push(c.line);
        }
        var L = c.line;
        if (L.n >= room) { L.over = true; continue; }
        if (d.length > room - L.n) { d = d.slice(0, room - L.n); L.over = true; }
        L.parts.push(d);
        L.n += d.length;
        continue;
      }
      if (n.nodeType !== 1) { continue; }
      var tag = n.localName;
      if (SKIP.has(tag) || !shown(n)) { continue; }
      if (tag === "br") { fr.ctx.line = null; continue; }
      enter(n, fr.ctx, fr.ds);
    }
    return { lines: lines, complete: complete };
  }

  function scan() {
    var t0 = performance.now();
    var root = document.body || document.documentElement;
    var got = root ? collect(root) : { lines: [], complete: true };
    var seen = new Set();
    for (var i = 0; i < got.lines.length; i++) {
      var L = got.lines[i];
      var text = L.parts.join("").replace(SPACE, " ").trim();
      if (text === "") { continue; }
      var wasCut = L.over || text.length > cfg.maxText;
      text = clip(text, cfg.maxText);
      var key = L.s + "\u0000" + text;
      if (seen.has(key)) { continue; }
      seen.add(key);
      var idx = live.get(key);
      if (idx !== undefined) {
        log[idx].l = t0;
        dirty.add(idx);
        continue;
      }
      if (log.length >= cfg.maxEntries || chars + text.length > cfg.maxChars) {
        dropped++;
        continue;
      }
      log.push({ s: L.s, t: text, f: t0, l: t0 });
      chars += text.length;
      if (wasCut) { cut++; }
      live.set(key, log.length - 1);
    }
    if (got.complete) {
      live.forEach(function (idx, key) { if (!seen.has(key)) { live.delete(key); } });
    } else {
      partial++;
    }
    scans++;
    lastScan = performance.now();
    lastCost = lastScan - t0;
  }

  function request() {
    if (timer) { return; }
    var gap = Math.max(cfg.gap, 4 * lastCost);
    var wait = Math.max(0, lastScan + gap - performance.now());
    timer = setTimeout(function () { timer = 0; scan(); }, wait);
  }

  function pull(since, fresh) {
    if ((fresh && timer) || performance.now() - lastScan >= cfg.sample) {
      // The last read, with changes not yet scanned; timers the page
      // cleared; or a page too busy for them: scan now.
      if (timer) { clearTimeout(timer); timer = 0; }
      scan();
    }
    since = Math.max(0, Math.min(since | 0, log.length));
    var add = [], room = cfg.pullChars;
    for (var i = since; i < log.length && add.length < cfg.pullEntries && room > 0; i++) {
      var e = log[i];
      add.push({ s: e.s, t: e.t, f: e.f, l: e.l });
      room -= e.t.length;
    }
    var upd = [];
    dirty.forEach(function (i) { if (i < since) { upd.push([i, log[i].l]); } });
    dirty.clear();
    var end = false;
    if (cfg.end) {
      try { end = document.querySelector(cfg.end) !== null; } catch (e) { end = false; }
    }
    return { now: performance.now(), end: end, n: log.length, add: add, upd: upd, scans: scans,
      partial: partial, dropped: dropped, cut: cut };
  }

  new MutationObserver(request).observe(document, { subtree: true, childList: true,
    characterData: true, attributes: true,
    attributeFilter: ["hidden", "style", "class", "open", "data-source"] });
  setInterval(request, cfg.sample);
  globalThis.__shopwatchWatch = { pull: pull };
  scan();
  return "";
}`
