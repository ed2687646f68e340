package marketsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	xhtml "golang.org/x/net/html"

	"shopwatch"
	"shopwatch/internal/sandbox"
	"shopwatch/internal/testparts"
)

// roomShops returns the ids of the shops of m that have a room.
func roomShops(m *Market) []int {
	var ids []int
	for id := 1; id <= m.shops; id++ {
		if s, _ := m.shapeAt(id); s.room {
			ids = append(ids, id)
		}
	}
	return ids
}

// normSpace collapses runs of white space to one space and trims.
func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func nodeText(n *xhtml.Node) string {
	var b strings.Builder
	var walk func(*xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return normSpace(b.String())
}

func attrOf(n *xhtml.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *xhtml.Node, c string) bool {
	v, _ := attrOf(n, "class")
	return slices.Contains(strings.Fields(v), c)
}

// staticRoomTexts reads a static room page's texts by source, the way the
// stream page's elements will show them.
func staticRoomTexts(t testing.TB, page string) map[string][]string {
	t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var walk func(n *xhtml.Node, section string)
	walk = func(n *xhtml.Node, section string) {
		if n.Type == xhtml.ElementNode {
			id, _ := attrOf(n, "id")
			switch {
			case n.Data == "section" && hasClass(n, "shelf"):
				section = SourceShelf
			case n.Data == "section" && hasClass(n, "captions"):
				section = SourceCaption
			case n.Data == "h1":
				out[SourceTitle] = append(out[SourceTitle], nodeText(n))
			case n.Data == "span" && hasClass(n, "name") && section == "":
				out[SourceHost] = append(out[SourceHost], nodeText(n))
			case id == "viewers":
				out[SourceViewers] = append(out[SourceViewers], nodeText(n))
			case n.Data == "p" && hasClass(n, "shopref"):
				out[SourceShop] = append(out[SourceShop], nodeText(n))
			case n.Data == "li" && section != "":
				out[section] = append(out[section], nodeText(n))
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, section)
		}
	}
	walk(doc, "")
	return out
}

func programmeTexts(p Programme) map[string][]string {
	out := map[string][]string{}
	for _, sh := range p.Showings {
		out[sh.Source] = append(out[sh.Source], normSpace(sh.Text))
	}
	return out
}

func TestProgrammeTextsAreTheStaticRoomsTexts(t *testing.T) {
	m := New(Config{Seed: 11, Shops: 300})
	rooms := 0
	for _, pt := range truthOf(t, m, "") {
		if pt.Kind != shopwatch.KindLivestream {
			continue
		}
		rooms++
		p, ok := m.Programme(pt.Shop)
		if !ok {
			t.Fatalf("shop %d: room in truth, no programme", pt.Shop)
		}
		rec := render(t, m, http.MethodGet, pt.URL)
		want := staticRoomTexts(t, decode(t, rec.Body.Bytes(), pt.Charset))
		got := programmeTexts(p)
		for src := range want {
			slices.Sort(want[src])
		}
		for src := range got {
			slices.Sort(got[src])
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shop %d: programme texts\n%q\nstatic room texts\n%q", pt.Shop, got, want)
		}
		// The findings the programme's texts carry are the room's.
		var exp []Expect
		for _, sh := range p.Showings {
			exp = append(exp, sh.Expect...)
			for _, e := range sh.Expect {
				if ph, ok := allPhrases[e.Match]; !ok || ph.rule != e.Rule || !strings.Contains(sh.Text, ph.text) {
					t.Errorf("shop %d: showing %q expects %v", pt.Shop, sh.Text, e)
				}
			}
		}
		if !sameExpect(exp, pt.Expect) {
			t.Errorf("shop %d: programme expects %v, room truth %v", pt.Shop, exp, pt.Expect)
		}
	}
	if rooms < 40 {
		t.Fatalf("only %d rooms", rooms)
	}
	if _, ok := m.Programme(0); ok {
		t.Error("programme of shop 0")
	}
	if _, ok := m.Programme(m.shops + 1); ok {
		t.Error("programme of a shop past the last")
	}
	for id := 1; id <= m.shops; id++ {
		if s, _ := m.shapeAt(id); !s.room {
			if _, ok := m.Programme(id); ok {
				t.Errorf("programme of shop %d, which has no room", id)
			}
			break
		}
	}
}

// sameExpect compares rule and match as multisets, ignoring windows.
func sameExpect(a, b []Expect) bool {
	key := func(es []Expect) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Rule+"|"+e.Match)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func TestProgrammeTiming(t *testing.T) {
	m := New(Config{Seed: 12, Shops: 400})
	short, violating := 0, 0
	for _, id := range roomShops(m) {
		p, _ := m.Programme(id)
		if p.Shop != id {
			t.Fatalf("programme of shop %d says shop %d", id, p.Shop)
		}
		var last int64
		for i, sh := range p.Showings {
			w := sh.Window
			if w.FromMS <= 0 || w.FromMS < last {
				t.Errorf("shop %d: showing %d from %d ms after one from %d ms", id, i, w.FromMS, last)
			}
			last = w.FromMS
			until := w.UntilMS
			if w.Stays() {
				if sh.Source == SourceCaption {
					t.Errorf("shop %d: caption %q never leaves", id, sh.Text)
				}
				until = p.EndMS
			} else if sh.Source != SourceCaption {
				t.Errorf("shop %d: %s %q leaves the screen", id, sh.Source, sh.Text)
			}
			if until-w.FromMS < MinOnScreenMS {
				t.Errorf("shop %d: %q on screen %d ms, want at least %d", id, sh.Text, until-w.FromMS, MinOnScreenMS)
			}
			if until > p.EndMS {
				t.Errorf("shop %d: %q leaves at %d ms, after the end at %d", id, sh.Text, until, p.EndMS)
			}
			// Compressed to the highest speed, a 250 ms sampler still
			// sees every text twice.
			from, u := w.At(MaxLiveSpeed)
			if !w.Stays() && u-from < 600*time.Millisecond {
				t.Errorf("shop %d: %q on screen %v at speed %d", id, sh.Text, u-from, MaxLiveSpeed)
			}
			if f1, _ := w.At(1); f1 != time.Duration(w.FromMS)*time.Millisecond || f1/MaxLiveSpeed != from {
				t.Errorf("shop %d: window %+v at speed 1 from %v, at speed %d from %v", id, w, f1, MaxLiveSpeed, from)
			}
			if !w.Contains(w.FromMS) || w.Contains(w.FromMS-1) || (!w.Stays() && w.Contains(w.UntilMS)) {
				t.Errorf("shop %d: window %+v Contains is wrong at its edges", id, w)
			}
			if len(sh.Expect) > 0 {
				violating++
				if !w.Stays() && w.UntilMS-w.FromMS <= 8000 {
					short++
				}
			}
		}
		if p.EndMS/MaxLiveSpeed > 10000 {
			t.Errorf("shop %d: programme of %d ms lasts over 10 s at speed %d", id, p.EndMS, MaxLiveSpeed)
		}
	}
	if violating == 0 || short == 0 {
		t.Errorf("%d violating texts, %d of them on screen for 8 s or less: want some", violating, short)
	}
}

func TestProgrammeDeterminism(t *testing.T) {
	a, b, c := New(Config{Seed: 21, Shops: 80}), New(Config{Seed: 21, Shops: 80}), New(Config{Seed: 22, Shops: 80})
	differ, n := 0, 0
	for _, id := range roomShops(a) {
		n++
		pa, _ := a.Programme(id)
		pb, _ := b.Programme(id)
		if !reflect.DeepEqual(pa, pb) {
			t.Errorf("shop %d: same seed, different programmes", id)
		}
		path := "/live/" + strconv.Itoa(id) + "/stream?speed=4"
		if !bytes.Equal(render(t, a, "GET", path).Body.Bytes(), render(t, b, "GET", path).Body.Bytes()) {
			t.Errorf("%s: same seed, different bytes", path)
		}
		if pc, ok := c.Programme(id); !ok || !reflect.DeepEqual(pa.Showings, pc.Showings) {
			differ++
		}
	}
	if n == 0 || differ < n*3/4 {
		t.Errorf("%d of %d rooms differ between seeds", differ, n)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// visibleText is the text of page outside head, script, style and hidden
// elements.
func visibleText(t testing.TB, page string) string {
	t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(*xhtml.Node)
	walk = func(n *xhtml.Node) {
		switch n.Type {
		case xhtml.TextNode:
			b.WriteString(n.Data)
			b.WriteByte('\n')
			return
		case xhtml.ElementNode:
			if _, hidden := attrOf(n, "hidden"); hidden {
				return
			}
			switch n.Data {
			case "head", "script", "style", "template", "noscript":
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

// streamJSON pulls the inline programme out of a stream page.
func streamJSON(t testing.TB, page string) streamData {
	t.Helper()
	const open = `<script type="application/json" id="programme">`
	i := strings.Index(page, open)
	if i < 0 {
		t.Fatal("stream page has no programme")
	}
	rest := page[i+len(open):]
	j := strings.Index(rest, "</script>")
	if j < 0 {
		t.Fatal("programme not closed")
	}
	var d streamData
	if err := json.Unmarshal([]byte(rest[:j]), &d); err != nil {
		t.Fatalf("programme JSON: %v", err)
	}
	return d
}

func TestStreamPageHoldsNoRoomText(t *testing.T) {
	m := New(Config{Seed: 13, Shops: 120})
	srv := serve(t, m)
	gbk := 0
	for _, id := range roomShops(m) {
		s := m.shopAt(id)
		if s.gbk {
			gbk++
		}
		p, _ := m.Programme(id)
		for _, speed := range []int{1, 7} {
			url := srv.URL + "/live/" + strconv.Itoa(id) + "/stream"
			if speed != 1 {
				url += "?speed=" + strconv.Itoa(speed)
			}
			resp, raw := fetch(t, srv.Client(), http.MethodGet, url)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", url, resp.StatusCode)
			}
			page := decode(t, raw, charsetOf(s.gbk))
			visible := visibleText(t, page)
			if !strings.Contains(visible, "实时字幕") {
				t.Errorf("%s: skeleton text missing: %q", url, visible)
			}
			for _, sh := range p.Showings {
				for _, part := range sh.parts {
					// Not in the visible text; not in the bytes at all
					// unless it is plain ASCII (a caption's time stamp).
					if strings.Contains(visible, part) || (!isASCII(part) && strings.Contains(page, part)) {
						t.Errorf("%s: the initial page holds %s text %q", url, sh.Source, part)
					}
				}
			}
			for _, ph := range allPhrases {
				if strings.Contains(page, ph.text) {
					t.Errorf("%s: the initial page holds phrase %q", url, ph.text)
				}
			}
			if !strings.Contains(page, `data-room="`+strconv.Itoa(id)+`" data-speed="`+strconv.Itoa(speed)+`" data-end-ms="`+strconv.FormatInt(p.EndMS/int64(speed), 10)+`" data-state="loading"`) {
				t.Errorf("%s: room attributes missing", url)
			}
			// The inline programme is the programme.
			d := streamJSON(t, page)
			if d.Speed != speed || d.EndMS != p.EndMS || len(d.Items) != len(p.Showings) {
				t.Fatalf("%s: inline programme speed %d end %d with %d items", url, d.Speed, d.EndMS, len(d.Items))
			}
			for i, it := range d.Items {
				sh := p.Showings[i]
				if it.Source != sh.Source || it.FromMS != sh.Window.FromMS || it.UntilMS != sh.Window.UntilMS || strings.Join(it.Parts, " ") != sh.Text {
					t.Errorf("%s: item %d is %+v, want %+v", url, i, it, sh)
				}
			}
		}
	}
	if gbk == 0 {
		t.Error("no GBK room among the shops")
	}

	id := roomShops(m)[0]
	for _, q := range []string{"?speed=0", "?speed=11", "?speed=x", "?speed=-1"} {
		if rec := render(t, m, "GET", "/live/"+strconv.Itoa(id)+"/stream"+q); rec.Code != http.StatusBadRequest {
			t.Errorf("stream%s: %d, want 400", q, rec.Code)
		}
	}
	for id := 1; id <= m.shops; id++ {
		if s, _ := m.shapeAt(id); !s.room {
			if rec := render(t, m, "GET", "/live/"+strconv.Itoa(id)+"/stream"); rec.Code != http.StatusNotFound {
				t.Errorf("stream of shop %d without a room: %d", id, rec.Code)
			}
			break
		}
	}
	if rec := render(t, m, "GET", "/live/9999/stream"); rec.Code != http.StatusNotFound {
		t.Errorf("stream of an unknown shop: %d", rec.Code)
	}
}

func TestAsciiJSON(t *testing.T) {
	in := map[string]string{"a": "直播 <b>&\U0001F600\"é"}
	b, err := asciiJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b {
		if c >= 0x80 {
			t.Fatalf("non-ASCII byte in %s", b)
		}
	}
	if bytes.Contains(b, []byte("<")) {
		t.Errorf("%s holds <", b)
	}
	var out map[string]string
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("round trip: %v %q", err, out)
	}
}

func TestLiveJSTruthAndTargets(t *testing.T) {
	const base = "http://127.0.0.1:1"
	plain := New(Config{Seed: 14, Shops: 200})
	live := New(Config{Seed: 14, Shops: 200, LiveJS: true, LiveSpeed: 10})
	want, got := truthOf(t, plain, base), truthOf(t, live, base)
	if len(got) != len(want) || live.Pages() != plain.Pages() {
		t.Fatalf("%d pages with LiveJS, %d without", len(got), len(want))
	}
	windows := 0
	var found []shopwatch.Finding
	for i, g := range got {
		w := want[i]
		for _, e := range g.Expect {
			found = append(found, shopwatch.Finding{URL: g.URL, Rule: e.Rule, Match: e.Match})
		}
		if g.Kind != shopwatch.KindLivestream {
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("page %d: %+v with LiveJS, %+v without", i, g, w)
			}
			continue
		}
		if wantURL := base + "/live/" + strconv.Itoa(g.Shop) + "/stream?speed=10"; g.URL != wantURL || w.URL != base+"/live/"+strconv.Itoa(g.Shop) {
			t.Errorf("room URLs %q and %q", g.URL, w.URL)
		}
		p, _ := live.Programme(g.Shop)
		if g.Speed != 10 || g.ProgrammeMS != p.EndMS || w.Speed != 0 || w.ProgrammeMS != 0 {
			t.Errorf("%s: speed %d, programme %d ms (want 10, %d)", g.URL, g.Speed, g.ProgrammeMS, p.EndMS)
		}
		if !sameExpect(g.Expect, w.Expect) {
			t.Errorf("%s: expects %v, the static room %v", g.URL, g.Expect, w.Expect)
		}
		for _, e := range g.Expect {
			if e.Window == nil {
				t.Errorf("%s: %v has no window", g.URL, e)
				continue
			}
			windows++
			ok := false
			for _, sh := range p.Showings {
				if len(sh.Expect) == 1 && sh.Expect[0].Rule == e.Rule && sh.Expect[0].Match == e.Match {
					ok = sh.Window == *e.Window
				}
			}
			if !ok {
				t.Errorf("%s: %v window %+v is not its text's", g.URL, e, *e.Window)
			}
		}
		for _, e := range w.Expect {
			if e.Window != nil {
				t.Errorf("%s: static room finding with a window", w.URL)
			}
		}
	}
	if windows == 0 {
		t.Fatal("no expected finding with a window")
	}
	// Findings on the listed URLs score perfectly.
	s, err := Compare(live, base, found)
	if err != nil {
		t.Fatal(err)
	}
	if s.Recall() != 1 || s.Precision() != 1 {
		t.Errorf("score %+v", s)
	}

	// Targets and the index list the stream pages.
	rooms := 0
	if err := live.Targets(base, func(tg shopwatch.Target) error {
		if tg.Kind == shopwatch.KindLivestream {
			rooms++
			if !strings.HasSuffix(tg.URL, "/stream?speed=10") || tg.Depth != RoomDepth {
				t.Errorf("room target %+v", tg)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rooms == 0 {
		t.Error("no room targets")
	}
	idx := render(t, live, "GET", "/").Body.String()
	if !strings.Contains(idx, `/stream?speed=10">直播中</a>`) {
		t.Error("the index does not link the stream pages")
	}

	// /_truth carries the windows.
	srv := serve(t, live)
	_, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/_truth")
	if !bytes.Contains(body, []byte(`"window":{"from_ms":`)) || !bytes.Contains(body, []byte(`"programme_ms":`)) {
		t.Error("/_truth has no windows")
	}

	// Speed is clamped.
	for in, want := range map[int]int{0: 1, -3: 1, 1: 1, 4: 4, 10: 10, 99: 10} {
		if got := New(Config{LiveJS: true, LiveSpeed: in}).liveSpeed; got != want {
			t.Errorf("LiveSpeed %d gives %d, want %d", in, got, want)
		}
	}
}

// sample is what the test's watcher read from a stream page once.
type sample struct {
	T     float64     `json:"t"` // performance.now() of the page
	State string      `json:"state"`
	Items [][2]string `json:"items"` // source, visible text
}

const sampleJS = `(function () {
  var items = [];
  document.querySelectorAll("[data-source]").forEach(function (e) {
    if (e.checkVisibility()) { items.push([e.getAttribute("data-source"), e.innerText]); }
  });
  return {t: performance.now(), state: document.getElementById("room").getAttribute("data-state"), items: items};
})()`

func TestStreamPlaysInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := testparts.Chromium(t)
	m := New(Config{Seed: 15, Shops: 60})
	// A GBK room with a violating caption, which must come and go.
	id, speed := 0, MaxLiveSpeed
	var p Programme
	for _, rid := range roomShops(m) {
		if s := m.shopAt(rid); !s.gbk {
			continue
		}
		p, _ = m.Programme(rid)
		for _, sh := range p.Showings {
			if sh.Source == SourceCaption && len(sh.Expect) > 0 {
				id = rid
			}
		}
		if id != 0 {
			break
		}
	}
	if id == 0 {
		t.Fatal("no GBK room with a violating caption")
	}
	srv := serve(t, m)

	// Not t.TempDir: as root the profile goes to the unprivileged account
	// Chromium runs as, which must be able to reach it.
	profile, err := os.MkdirTemp("", "shopwatch-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.UserDataDir(profile),
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	sandboxed, err := sandbox.Options(profile)
	if err != nil {
		testparts.Unavailable(t, "Chromium sandbox account", err)
	}
	opts = append(opts, sandboxed...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, tcancel := context.WithTimeout(bctx, 60*time.Second)
	defer tcancel()
	url := srv.URL + "/live/" + strconv.Itoa(id) + "/stream?speed=" + strconv.Itoa(speed)
	if _, err := chromedp.Run(tctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	var samples []sample
	for {
		s, err := chromedp.Run(tctx, chromedp.Evaluate[sample](sampleJS))
		if err != nil {
			t.Fatalf("sample %s: %v", url, err)
		}
		samples = append(samples, s)
		if s.State == "ended" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	type key struct{ src, text string }
	index := map[key]Showing{}
	for _, sh := range p.Showings {
		index[key{sh.Source, sh.Text}] = sh
	}
	seen := map[key]bool{}
	for _, s := range samples {
		for _, it := range s.Items {
			k := key{it[0], normSpace(it[1])}
			sh, ok := index[k]
			if !ok {
				t.Errorf("at %.0f ms: %s %q is not in the programme", s.T, k.src, k.text)
				continue
			}
			seen[k] = true
			// Timers never fire early; removal may run late on a busy
			// machine, so only a generous bound is checked.
			from, until := sh.Window.At(speed)
			at := time.Duration(s.T * float64(time.Millisecond))
			if at < from-20*time.Millisecond || (until != 0 && at > until+time.Second) {
				t.Errorf("%s %q seen at %v, window [%v, %v)", k.src, k.text, at, from, until)
			}
		}
	}
	for k := range index {
		if !seen[k] {
			t.Errorf("%s %q never seen in %d samples", k.src, k.text, len(samples))
		}
	}
	last := samples[len(samples)-1]
	stays := 0
	for _, it := range last.Items {
		if it[0] == SourceCaption {
			t.Errorf("caption %q still on screen after the end", it[1])
		}
		stays++
	}
	if want := len(p.Showings) - len(programmeTexts(p)[SourceCaption]); stays != want {
		t.Errorf("%d texts on screen at the end, want the %d that stay", stays, want)
	}
	if title, err := chromedp.Run(tctx, chromedp.Title()); err != nil || !strings.HasPrefix(title, p.Showings[0].Text) {
		t.Errorf("document title %q (%v), want it to start with %q", title, err, p.Showings[0].Text)
	}
}
