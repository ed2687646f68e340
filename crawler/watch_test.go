package crawler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
	"shopwatch/rules"
)

// Slack of the timing checks: a text is first seen at most one scan
// interval (and the time the scan is held up) after it appears, and last
// seen at most that long before it leaves. watchClockSlack covers the mapping of
// the page's clock onto the test's.
const watchClockSlack = 50 * time.Millisecond

// watchTestRoom finds, deterministically, a JS room of a small market that
// shows at least one violating caption (a text on screen for well under a
// second at speed 10) and ends within 50 s at speed 1.
func watchTestRoom(t *testing.T) (*marketsim.Market, int, marketsim.Programme) {
	t.Helper()
	for seed := int64(1); seed <= 50; seed++ {
		m := marketsim.New(marketsim.Config{Seed: seed, Shops: 12, LiveJS: true, LiveSpeed: marketsim.MaxLiveSpeed})
		for id := 1; id <= m.Shops(); id++ {
			prog, ok := m.Programme(id)
			if !ok || prog.EndMS > 50_000 {
				continue
			}
			for _, sh := range prog.Showings {
				if sh.Source == marketsim.SourceCaption && len(sh.Expect) > 0 {
					return m, id, prog
				}
			}
		}
	}
	t.Fatal("no market of seeds 1 to 50 has a short room with a violating caption")
	return nil, 0, marketsim.Programme{}
}

// roomTruth returns the truth of shop id's room served under base.
func roomTruth(t *testing.T, m *marketsim.Market, base string, id int) marketsim.PageTruth {
	t.Helper()
	var pt marketsim.PageTruth
	found := false
	if err := m.Truth(base, func(x marketsim.PageTruth) error {
		if x.Kind == shopwatch.KindLivestream && x.Shop == id {
			pt, found = x, true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no truth for the room of shop %d", id)
	}
	return pt
}

// watchServe serves body as a UTF-8 HTML page at / on a loopback server.
func watchServe(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func watchNormSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// watchedTexts returns the entries the watch saw on screen, without the lines
// added from the final DOM.
func watchedTexts(p *shopwatch.Page) []shopwatch.TimedText {
	var out []shopwatch.TimedText
	for _, e := range p.Timeline {
		if e.Source != SourceDOM {
			out = append(out, e)
		}
	}
	return out
}

// checkTimelineLayout checks that every entry sits at its Offset in Text,
// one per line, with UTC times in order.
func checkTimelineLayout(t *testing.T, p *shopwatch.Page) {
	t.Helper()
	for i, e := range p.Timeline {
		if e.Offset < 0 || e.Offset+len(e.Text) >= len(p.Text) || p.Text[e.Offset:e.Offset+len(e.Text)] != e.Text ||
			p.Text[e.Offset+len(e.Text)] != '\n' || (e.Offset > 0 && p.Text[e.Offset-1] != '\n') {
			t.Fatalf("entry %d %q is not the line at offset %d of the text", i, e.Text, e.Offset)
		}
		if strings.ContainsAny(e.Text, "\r\n") || e.Text == "" {
			t.Errorf("entry %d text %q is empty or spans lines", i, e.Text)
		}
		if e.First.Location() != time.UTC || e.Last.Location() != time.UTC {
			t.Errorf("entry %d times %v, %v are not UTC", i, e.First, e.Last)
		}
		if e.Last.Before(e.First) {
			t.Errorf("entry %d %q last seen %v before first seen %v", i, e.Text, e.Last, e.First)
		}
		if got, ok := p.TimelineAt(e.Offset); !ok || got.Offset != e.Offset {
			t.Errorf("TimelineAt(%d) = %+v, %v; want entry %d", e.Offset, got, ok, i)
		}
	}
}

// checkSnapshots checks the frames of a watch that lasted span with a frame
// every `every`: one frame at the start and at every interval after it
// within the span, then the final frame (±1), at distinct increasing times,
// each a PNG, the last one the page's screenshot.
func checkSnapshots(t *testing.T, p *shopwatch.Page, span, every time.Duration) {
	t.Helper()
	want := int((span+every-1)/every) + 1
	if n := len(p.Snapshots); n < want-1 || n > want+1 {
		t.Errorf("%d snapshots over %v every %v; want %d ± 1", n, span, every, want)
	}
	for i, s := range p.Snapshots {
		if i > 0 && !s.At.After(p.Snapshots[i-1].At) {
			t.Errorf("snapshot %d at %v is not after snapshot %d at %v", i, s.At, i-1, p.Snapshots[i-1].At)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(s.PNG))
		if err != nil || cfg.Width == 0 || cfg.Height == 0 {
			t.Errorf("snapshot %d is not a PNG (%v, %dx%d)", i, err, cfg.Width, cfg.Height)
		}
	}
	if n := len(p.Snapshots); n > 0 && !bytes.Equal(p.Screenshot, p.Snapshots[n-1].PNG) {
		t.Error("the page's screenshot is not the last frame")
	}
}

// TestWatch runs the watch tests against one browser, to keep their time
// down.
func TestWatch(t *testing.T) {
	skipShort(t)
	b := newTestBrowser(t, nil)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *Browser)
	}{
		{"LiveRoom", testWatchLiveRoom},
		{"TextChanges", testWatchTextChanges},
		{"FollowsNewDocument", testWatchFollowsNewDocument},
		{"WindowEndsNeverEndingPage", testWatchWindowEndsNeverEndingPage},
		{"BadEndSelector", testWatchBadEndSelector},
		{"HostilePageStaysBounded", testWatchHostilePageStaysBounded},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

func testWatchLiveRoom(t *testing.T, b *Browser) {
	m, id, prog := watchTestRoom(t)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	pt := roomTruth(t, m, srv.URL, id)
	speed := pt.Speed

	progEnd := time.Duration(prog.EndMS) * time.Millisecond / time.Duration(speed)
	w := WatchOptions{Window: progEnd + 15*time.Second, Sample: 250 * time.Millisecond,
		SnapshotEvery: time.Second, EndSelector: "#room[data-state=ended]"}
	p, rep, err := b.watchPage(context.Background(), pt.URL, w, defaultWatchLimits, nil)
	if err != nil {
		t.Fatalf("Watch %s: %v", pt.URL, err)
	}
	elapsed := rep.stop.Sub(rep.start)
	t.Logf("room %d: %d showings over %v; watched %v, %d entries, %d scans, %d snapshots, %d documents",
		id, len(prog.Showings), progEnd, elapsed, len(p.Timeline), rep.scans, len(p.Snapshots), rep.documents)
	if rep.endedBy != "selector" || elapsed >= w.Window {
		t.Errorf("watch ended by %q after %v; want the end selector before the %v window", rep.endedBy, elapsed, w.Window)
	}
	if rep.origin.IsZero() || rep.origin.After(rep.start) {
		t.Fatalf("navigation start %v is not before the watch start %v", rep.origin, rep.start)
	}
	checkTimelineLayout(t, p)

	// Every text of the programme, once, seen within its window. The
	// watch begins once the page has loaded: a text already on screen
	// then is first seen when it begins, and one gone by then is missed.
	slack := w.Sample + 300*time.Millisecond
	seenAt := func(d time.Duration) time.Time { return rep.origin.Add(d) }
	began := time.Duration(1<<63 - 1)
	for _, e := range watchedTexts(p) {
		began = min(began, e.First.Sub(rep.origin))
	}
	t.Logf("the watch began %v after navigation start", began)
	goneBefore := func(w marketsim.Window) bool {
		_, until := w.At(speed)
		return until != 0 && until+watchClockSlack < began
	}
	for _, sh := range prog.Showings {
		if goneBefore(sh.Window) {
			t.Logf("%s %q was gone before the watch began", sh.Source, sh.Text)
			continue
		}
		var got []shopwatch.TimedText
		for _, e := range p.Timeline {
			if e.Source == sh.Source && watchNormSpace(e.Text) == watchNormSpace(sh.Text) {
				got = append(got, e)
			}
		}
		if len(got) != 1 {
			t.Errorf("%s %q: %d timeline entries; want 1", sh.Source, sh.Text, len(got))
			continue
		}
		e := got[0]
		from, until := sh.Window.At(speed)
		if e.First.Before(seenAt(from-watchClockSlack)) || e.First.After(seenAt(max(from, began)+slack)) {
			t.Errorf("%s %q first seen at +%v; shown at +%v", sh.Source, sh.Text, e.First.Sub(rep.origin), from)
		}
		if until == 0 {
			continue
		}
		if e.Last.After(seenAt(until+watchClockSlack)) || e.Last.Before(seenAt(until-slack)) {
			t.Errorf("%s %q last seen at +%v; removed at +%v", sh.Source, sh.Text, e.Last.Sub(rep.origin), until)
		}
		if !e.Last.Before(seenAt(progEnd)) {
			t.Errorf("%s %q last seen at +%v, not before the programme ends at +%v", sh.Source, sh.Text, e.Last.Sub(rep.origin), progEnd)
		}
	}

	// The rules find what the room says, the short captions included.
	rs, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	fs := rs.Check(rules.Input{URL: p.FinalURL, Kind: shopwatch.KindLivestream, Category: pt.Category, Text: p.Text, HTML: p.HTML})
	for i := range fs {
		if fs[i].URL == "" {
			fs[i].URL = p.FinalURL
		}
	}
	score, err := marketsim.Compare(m, srv.URL, fs)
	if err != nil {
		t.Fatal(err)
	}
	early := map[marketsim.Item]bool{}
	for _, ex := range pt.Expect {
		if ex.Window != nil && goneBefore(*ex.Window) {
			early[marketsim.Item{URL: pt.URL, Rule: ex.Rule, Match: ex.Match}] = true
		}
	}
	for _, it := range score.Missed {
		if it.URL == pt.URL && !early[it] {
			t.Errorf("missed %s %q", it.Rule, it.Match)
		}
	}
	for _, it := range score.Unexpected {
		t.Errorf("unexpected %s %q on %s", it.Rule, it.Match, it.URL)
	}

	AnnotateSeen(p, fs)
	short := 0
	for _, ex := range pt.Expect {
		if ex.Window == nil {
			t.Fatalf("expectation %s %q has no window", ex.Rule, ex.Match)
		}
		if goneBefore(*ex.Window) {
			continue
		}
		from, until := ex.Window.At(speed)
		if until != 0 {
			short++
		}
		ok := false
		for _, f := range fs {
			if f.Rule != ex.Rule || f.Match != ex.Match || f.SeenFrom.IsZero() {
				continue
			}
			overlaps := !f.SeenUntil.Before(seenAt(from-watchClockSlack)) && (until == 0 || !f.SeenFrom.After(seenAt(until+watchClockSlack)))
			ok = ok || overlaps
		}
		if !ok {
			t.Errorf("no finding %s %q seen within +%v..+%v", ex.Rule, ex.Match, from, until)
		}
	}
	if short == 0 {
		t.Error("the room has no expectation on a caption that leaves the screen")
	}

	checkSnapshots(t, p, elapsed, w.SnapshotEvery)
	if t.Failed() || testing.Verbose() {
		for _, e := range p.Timeline {
			t.Logf("+%v..+%v %s: %s", e.First.Sub(rep.origin).Round(time.Millisecond), e.Last.Sub(rep.origin).Round(time.Millisecond), e.Source, e.Text)
		}
		for _, f := range fs {
			t.Logf("finding %s %q seen %v..%v", f.Rule, f.Match, f.SeenFrom.Sub(rep.origin).Round(time.Millisecond), f.SeenUntil.Sub(rep.origin).Round(time.Millisecond))
		}
	}
}

// watchChangesPage shows a static heading, a caption changed in place and
// changed back, text hidden by a style sheet, and an element without
// data-source added at the end, when the body gets data-done.
const watchChangesPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>变化</title><style>.gone{display:none}</style></head>
<body><h1>静态标题</h1>
<p id="cap" data-source="caption">第一句</p>
<div class="gone">隐藏文字</div>
<script>
var cap = document.getElementById("cap");
setTimeout(function () { cap.textContent = "第二句"; }, 700);
setTimeout(function () { cap.firstChild.data = "第一句"; }, 1400);
setTimeout(function () {
  var s = document.createElement("section");
  s.setAttribute("role", "status");
  s.textContent = "在线人数 12";
  document.body.appendChild(s);
  cap.remove();
  document.body.setAttribute("data-done", "1");
}, 2100);
</script></body></html>`

func testWatchTextChanges(t *testing.T, b *Browser) {
	url := watchServe(t, watchChangesPage)
	w := WatchOptions{Window: 20 * time.Second, Sample: 100 * time.Millisecond, SnapshotEvery: -1, EndSelector: "body[data-done]"}
	p, rep, err := b.watchPage(context.Background(), url, w, defaultWatchLimits, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if rep.endedBy != "selector" {
		t.Errorf("ended by %q; want selector", rep.endedBy)
	}
	checkTimelineLayout(t, p)
	var lines []string
	for _, e := range p.Timeline {
		lines = append(lines, e.Source+": "+e.Text)
	}
	got := watchedTexts(p)
	var caps []shopwatch.TimedText
	count := map[string]int{}
	for _, e := range got {
		count[e.Source+": "+e.Text]++
		if e.Source == "caption" {
			caps = append(caps, e)
		}
	}
	for _, want := range []string{"h1: 静态标题", "status: 在线人数 12"} {
		if count[want] != 1 {
			t.Errorf("%q seen %d times; want once (timeline %q)", want, count[want], lines)
		}
	}
	if count["div: 隐藏文字"] != 0 {
		t.Errorf("hidden text seen on screen (timeline %q)", lines)
	}
	var dom bool
	for _, e := range p.Timeline {
		dom = dom || (e.Source == SourceDOM && e.Text == "隐藏文字")
	}
	if !dom {
		t.Errorf("hidden text of the final DOM is not a %s entry (timeline %q)", SourceDOM, lines)
	}
	var capTexts []string
	for _, c := range caps {
		capTexts = append(capTexts, c.Text)
	}
	if strings.Join(capTexts, "|") != "第一句|第二句|第一句" {
		t.Fatalf("captions %q; want 第一句, 第二句, 第一句 again", capTexts)
	}
	for i := 1; i < len(caps); i++ {
		if !caps[i-1].Last.Before(caps[i].First) {
			t.Errorf("caption %q seen until %v, not before %q from %v", caps[i-1].Text, caps[i-1].Last, caps[i].Text, caps[i].First)
		}
	}
	if len(p.Snapshots) != 1 || !bytes.Equal(p.Snapshots[0].PNG, p.Screenshot) {
		t.Errorf("%d snapshots without timed ones; want the final frame only", len(p.Snapshots))
	}
}

func testWatchFollowsNewDocument(t *testing.T, b *Browser) {
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(body))
		}
	}
	mux.HandleFunc("/{$}", page(`<!doctype html><meta charset="utf-8"><p data-source="caption">第一页的字幕</p>
<script>setTimeout(function () { location.href = "/next"; }, 800);</script>`))
	mux.HandleFunc("/next", page(`<!doctype html><meta charset="utf-8"><p data-source="caption">第二页的字幕</p>
<script>setTimeout(function () { document.body.setAttribute("data-done", "1"); }, 800);</script>`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := WatchOptions{Window: 20 * time.Second, Sample: 100 * time.Millisecond, SnapshotEvery: -1, EndSelector: "body[data-done]"}
	p, rep, err := b.watchPage(context.Background(), srv.URL+"/", w, defaultWatchLimits, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if rep.endedBy != "selector" || rep.documents != 2 {
		t.Errorf("ended by %q after %d documents; want the selector on the second", rep.endedBy, rep.documents)
	}
	var caps []string
	for _, e := range watchedTexts(p) {
		if e.Source == "caption" {
			caps = append(caps, e.Text)
		}
	}
	if strings.Join(caps, "|") != "第一页的字幕|第二页的字幕" {
		t.Errorf("captions %q; want the first page's, then the second's", caps)
	}
	if p.FinalURL != srv.URL+"/next" {
		t.Errorf("final URL %q; want the second page", p.FinalURL)
	}
	checkTimelineLayout(t, p)
}

func testWatchWindowEndsNeverEndingPage(t *testing.T, b *Browser) {
	url := watchServe(t, `<!doctype html><html><head><meta charset="utf-8"></head><body>
<p id="clock">tick 0</p>
<script>var n = 0; setInterval(function () { document.getElementById("clock").textContent = "tick " + (++n); }, 100);</script>
</body></html>`)
	w := WatchOptions{Window: 2 * time.Second, Sample: 100 * time.Millisecond, SnapshotEvery: 500 * time.Millisecond, EndSelector: "#never-there"}
	p, rep, err := b.watchPage(context.Background(), url, w, defaultWatchLimits, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	elapsed := rep.stop.Sub(rep.start)
	if rep.endedBy != "window" || elapsed < w.Window {
		t.Errorf("ended by %q after %v; want the %v window", rep.endedBy, elapsed, w.Window)
	}
	checkTimelineLayout(t, p)
	checkSnapshots(t, p, w.Window, w.SnapshotEvery)
	last := -1
	ticks := 0
	for _, e := range watchedTexts(p) {
		var n int
		if _, err := fmt.Sscanf(e.Text, "tick %d", &n); err != nil {
			continue
		}
		if n <= last {
			t.Errorf("tick %d after tick %d", n, last)
		}
		last = n
		ticks++
	}
	if ticks < 5 {
		t.Errorf("%d ticks in the timeline over %v; want one per 100 ms change", ticks, elapsed)
	}
}

// hostileWatchPage has rows list items in a scrolled box, a text node of
// 100,000 characters, and a paragraph whose text changes every 10 ms.
func hostileWatchPage(rows int) string {
	var sb strings.Builder
	sb.WriteString(`<!doctype html><html><head><meta charset="utf-8"></head><body><p id="fast">0</p>
<p id="big" style="height:100px;overflow:hidden"></p>
<script>document.getElementById("big").textContent = "长".repeat(100000);</script>
<ul style="height:300px;overflow:auto">`)
	for i := range rows {
		fmt.Fprintf(&sb, "<li>第%d行</li>", i)
	}
	sb.WriteString(`</ul><script>
var n = 0, f = document.getElementById("fast");
setInterval(function () { f.textContent = "变化 " + (++n); }, 10);
</script></body></html>`)
	return sb.String()
}

func testWatchHostilePageStaysBounded(t *testing.T, b *Browser) {
	const rows = 4_000
	url := watchServe(t, hostileWatchPage(rows))
	lim := defaultWatchLimits
	lim.maxEntries, lim.maxText, lim.maxLines, lim.maxNodes, lim.maxDOMEntries = 300, 500, 1000, 5000, 1000
	w := WatchOptions{Window: 3 * time.Second, Sample: 100 * time.Millisecond, SnapshotEvery: time.Second}
	p, rep, err := b.watchPage(context.Background(), url, w, lim, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	elapsed := rep.stop.Sub(rep.start)
	t.Logf("watched %v: %d entries, %d scans (%d partial), %d dropped, %d cut, %d snapshots",
		elapsed, len(p.Timeline), rep.scans, rep.partial, rep.dropped, rep.cut, len(p.Snapshots))
	// Bounded, not timed: the slack covers a loaded machine; a watch that
	// ignored its window would run on until the test's own deadline.
	if rep.endedBy != "window" || elapsed > w.Window+8*time.Second {
		t.Errorf("ended by %q after %v; want the %v window", rep.endedBy, elapsed, w.Window)
	}
	got := watchedTexts(p)
	if len(got) == 0 || len(got) > lim.maxEntries {
		t.Errorf("%d entries seen on screen; want 1 to %d", len(got), lim.maxEntries)
	}
	if n := len(p.Timeline) - len(got); n > lim.maxDOMEntries {
		t.Errorf("%d %s entries; want at most %d", n, SourceDOM, lim.maxDOMEntries)
	}
	for _, e := range got {
		if n := len([]rune(e.Text)); n > lim.maxText {
			t.Errorf("entry of %d characters; want at most %d", n, lim.maxText)
		}
	}
	if rep.partial == 0 || rep.dropped == 0 || rep.cut == 0 {
		t.Errorf("%d partial scans, %d dropped, %d cut texts; the bounds were never reached", rep.partial, rep.dropped, rep.cut)
	}
	if !strings.Contains(p.Text, fmt.Sprintf("第%d行", rows-1)) {
		t.Error("the last row of the final page is not in the text the rules read")
	}
	checkTimelineLayout(t, p)
}

func testWatchBadEndSelector(t *testing.T, b *Browser) {
	url := watchServe(t, `<p>文字</p>`)
	_, err := b.Watch(context.Background(), url, WatchOptions{Window: 5 * time.Second, EndSelector: "#room[data-state="})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "end selector") {
		t.Fatalf("Watch with a bad selector: %v; want an end selector error naming the URL", err)
	}
}

func TestLazyBrowserWatch(t *testing.T) {
	skipShort(t)
	url := watchServe(t, `<!doctype html><meta charset="utf-8"><h1 data-source="title">懒启动直播间</h1>`)
	cfg := DefaultBrowserConfig()
	cfg.ExecPath = testparts.Chromium(t)
	cfg.AllowLoopback()
	l := NewLazyBrowser(cfg)
	t.Cleanup(func() { l.Close() })
	p, err := l.Watch(context.Background(), url, WatchOptions{Window: 500 * time.Millisecond, SnapshotEvery: -1})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if got := watchedTexts(p); len(got) != 1 || got[0].Source != "title" || got[0].Text != "懒启动直播间" {
		t.Errorf("timeline %+v; want the title", p.Timeline)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Watch(context.Background(), url, WatchOptions{Window: time.Second}); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), url) {
		t.Errorf("Watch after Close: %v; want ErrClosed naming the URL", err)
	}
}

func TestWatchAnnotateSeen(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	p := &shopwatch.Page{Text: "全网最低价\n主播：第一品牌\n隐藏的最佳\n"}
	p.Timeline = []shopwatch.TimedText{
		{Source: "caption", Text: "全网最低价", First: t0, Last: t0.Add(700 * time.Millisecond), Offset: 0},
		{Source: "shelf", Text: "主播：第一品牌", First: t0.Add(time.Second), Last: t0.Add(5 * time.Second), Offset: len("全网最低价\n")},
		{Source: SourceDOM, Text: "隐藏的最佳", First: t0.Add(9 * time.Second), Last: t0.Add(9 * time.Second), Offset: len("全网最低价\n主播：第一品牌\n")},
	}
	fs := []shopwatch.Finding{
		{Rule: "a", Offset: strings.Index(p.Text, "最低")},
		{Rule: "b", Offset: strings.Index(p.Text, "第一")},
		{Rule: "c", Offset: strings.Index(p.Text, "最佳")},
		{Rule: "d", Offset: -1},
		{Rule: "e", Offset: len(p.Text) + 3},
	}
	AnnotateSeen(p, fs)
	want := [][2]time.Time{
		{t0, t0.Add(700 * time.Millisecond)},
		{t0.Add(time.Second), t0.Add(5 * time.Second)},
		{}, {}, {},
	}
	for i, f := range fs {
		if !f.SeenFrom.Equal(want[i][0]) || !f.SeenUntil.Equal(want[i][1]) {
			t.Errorf("finding %s seen %v..%v; want %v..%v", f.Rule, f.SeenFrom, f.SeenUntil, want[i][0], want[i][1])
		}
	}
	// A page without a timeline leaves findings alone.
	fs = []shopwatch.Finding{{Rule: "a", Offset: 0}}
	AnnotateSeen(&shopwatch.Page{Text: "全网最低价"}, fs)
	AnnotateSeen(nil, fs)
	if !fs[0].SeenFrom.IsZero() {
		t.Errorf("finding on an unwatched page seen from %v", fs[0].SeenFrom)
	}
}
