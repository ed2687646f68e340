package marketsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// JS livestream rooms.
//
// Every room is served twice: /live/{id} is the static page (everything in
// the markup), /live/{id}/stream the same room played by a script. The
// stream page's initial HTML holds only a skeleton; a script then shows the
// title, the host, the viewer count and the shop, fills the product shelf
// item by item and rolls captions in and out, each element at a fixed offset
// after navigation start, so that a static fetch sees none of the room's
// text and a watcher that samples the DOM in time sees all of it.
//
// The protocol, for watchers:
//
//   - <main id="room"> carries data-room (the shop id), data-speed (the time
//     compression in use), data-end-ms (when the programme ends, in
//     milliseconds after navigation start, compressed) and data-state:
//     "loading" in the markup, "playing" once the script has scheduled the
//     programme, "ended" when the last caption has left.
//   - Every element that shows room text carries data-source: title, host,
//     viewers, shop, shelf or caption (the Showing.Source values), and
//     data-seq, its index in the programme. Its visible text is exactly
//     Showing.Text.
//   - Title, host, viewers, shop and shelf items stay once shown; captions
//     are removed from the DOM when their window ends.
//   - Times are offsets from navigation start (performance.now()); with
//     ?speed=N every offset is divided by N. N is 1 to MaxLiveSpeed.
//
// The programme is drawn from its own random stream (seed, shop), and its
// texts are the room's texts as roomAt makes them, so the expected findings
// of a stream page are those of the static page, with their windows.

// Limits of the JS rooms' timing.
const (
	// MaxLiveSpeed is the largest ?speed= a stream page accepts.
	MaxLiveSpeed = 10
	// MinOnScreenMS is the shortest time, at speed 1, any room text stays
	// on screen, so that at MaxLiveSpeed every text is on screen for at
	// least MinOnScreenMS/MaxLiveSpeed = 600 ms: a watcher sampling every
	// 250 ms sees it at least twice.
	MinOnScreenMS = 6000
)

// Sources of the texts of a JS room (Showing.Source, data-source).
const (
	SourceTitle   = "title"
	SourceHost    = "host"
	SourceViewers = "viewers"
	SourceShop    = "shop"
	SourceShelf   = "shelf"
	SourceCaption = "caption"
)

// saltShow keys the timing stream of a JS room.
const saltShow = 0x73686f77 // "show"

// Window is when a text of a JS room is on screen: from FromMS until (not
// including) UntilMS milliseconds after navigation start, at speed 1.
// UntilMS is zero for a text that stays once shown.
type Window struct {
	FromMS  int64 `json:"from_ms"`
	UntilMS int64 `json:"until_ms,omitempty"`
}

// Stays reports whether the text stays on screen once shown.
func (w Window) Stays() bool { return w.UntilMS == 0 }

// At returns the window at the given speed (values below 1 count as 1):
// the offsets from navigation start at which the text appears and leaves;
// until is zero for a text that stays.
func (w Window) At(speed int) (from, until time.Duration) {
	speed = max(speed, 1)
	from = time.Duration(w.FromMS) * time.Millisecond / time.Duration(speed)
	if w.UntilMS != 0 {
		until = time.Duration(w.UntilMS) * time.Millisecond / time.Duration(speed)
	}
	return from, until
}

// Contains reports whether the text is on screen ms milliseconds after
// navigation start, at speed 1.
func (w Window) Contains(ms int64) bool {
	return ms >= w.FromMS && (w.UntilMS == 0 || ms < w.UntilMS)
}

// Showing is one element of a JS room and when it is on screen.
type Showing struct {
	Source string `json:"source"` // one of the Source* constants; the element's data-source
	Text   string `json:"text"`   // the element's visible text
	Window Window `json:"window"`
	// Expect lists the findings Text must produce (rule and match; the
	// window is this Showing's). Empty for compliant text.
	Expect []Expect `json:"expect,omitempty"`

	parts []string // the text as the page builds it; Text joins them with spaces
}

// Programme is everything a JS room shows, in order of appearance, at speed 1.
type Programme struct {
	Shop     int       `json:"shop"`
	EndMS    int64     `json:"end_ms"` // when data-state becomes "ended"
	Showings []Showing `json:"showings"`
}

// Programme returns the programme of shop id's livestream room, and false
// when the shop does not exist or has no room.
func (m *Market) Programme(id int) (Programme, bool) {
	if id < 1 || id > m.shops {
		return Programme{}, false
	}
	s := m.shopAt(id)
	if !s.room {
		return Programme{}, false
	}
	rm := m.roomAt(&s)
	return m.programmeOf(&s, &rm), true
}

// programmeOf times the texts of rm. The room's own stream is not touched,
// so static rooms and their truth do not change.
func (m *Market) programmeOf(s *shop, rm *room) Programme {
	r := newRNG(m.seed, saltShow, uint64(s.id), 0)
	p := Programme{Shop: s.id}
	add := func(src string, from, until int64, ph *phrase, parts ...string) {
		sh := Showing{Source: src, Text: strings.Join(parts, " "), Window: Window{FromMS: from, UntilMS: until}, parts: parts}
		if ph != nil {
			sh.Expect = []Expect{{Rule: ph.rule, Match: ph.match}}
		}
		p.Showings = append(p.Showings, sh)
	}
	t := int64(r.between(300, 800))
	add(SourceTitle, t, 0, nil, rm.title)
	t += int64(r.between(400, 900))
	add(SourceHost, t, 0, nil, rm.host)
	add(SourceViewers, t, 0, nil, strconv.Itoa(rm.viewers)+"人在看")
	add(SourceShop, t, 0, nil, s.name)

	// The shelf fills item by item; items stay.
	shelfAt := t
	var lastStay int64
	for _, it := range rm.shelf {
		shelfAt += int64(r.between(1200, 2500))
		add(SourceShelf, shelfAt, 0, it.claim.ph, it.name, priceText(it.price), it.claim.text)
		lastStay = shelfAt
	}

	// Captions roll: each starts 2.5–5 s after the one before and stays
	// 6–12 s; violating ones stay the shortest time, 6–8 s.
	capAt := t + int64(r.between(1500, 3500))
	end := lastStay + MinOnScreenMS
	for i, c := range rm.captions {
		dur := int64(r.between(MinOnScreenMS, 12000))
		if c.ph != nil {
			dur = int64(r.between(MinOnScreenMS, 8000))
		}
		add(SourceCaption, capAt, capAt+dur, c.ph, "["+stampText(rm.stamps[i])+"]", rm.host+"："+c.text)
		end = max(end, capAt+dur)
		capAt += int64(r.between(2500, 5000))
	}
	p.EndMS = end + 500
	// Captions and shelf items interleave; keep the order of appearance
	// (a stable sort keeps each source's own order).
	slices.SortStableFunc(p.Showings, func(a, b Showing) int { return cmp.Compare(a.Window.FromMS, b.Window.FromMS) })
	return p
}

// expectWindows returns the room's expected findings in the order of
// room.expect, each with the window of the text that carries it.
func (p *Programme) expectWindows(rm *room) []Expect {
	out := rm.expect()
	for i := range out {
		for _, sh := range p.Showings {
			if len(sh.Expect) > 0 && sh.Expect[0] == out[i] {
				w := sh.Window
				out[i].Window = &w
				break
			}
		}
	}
	return out
}

// stampText formats seconds as hh:mm:ss, as the static room does.
func stampText(t int) string {
	var b strings.Builder
	for i, n := range []int{t / 3600, t / 60 % 60, t % 60} {
		if i > 0 {
			b.WriteByte(':')
		}
		if n < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// priceText formats fen as html.price does.
func priceText(fen int) string {
	return fmt.Sprintf("¥%d.%02d", fen/100, fen%100)
}

func roomStreamURL(base string, id, speed int) string {
	u := base + "/live/" + strconv.Itoa(id) + "/stream"
	if speed > 1 {
		u += "?speed=" + strconv.Itoa(speed)
	}
	return u
}

// liveSpeed clamps a configured speed to [1, MaxLiveSpeed].
func liveSpeed(n int) int {
	return min(max(n, 1), MaxLiveSpeed)
}

// streamData is the inline JSON the stream page's script plays.
type streamData struct {
	Speed    int          `json:"speed"`
	EndMS    int64        `json:"end_ms"`
	DocTitle string       `json:"doc_title"`
	Items    []streamItem `json:"items"`
}

type streamItem struct {
	Source  string   `json:"source"`
	FromMS  int64    `json:"from_ms"`
	UntilMS int64    `json:"until_ms"`
	Parts   []string `json:"parts"`
}

// asciiJSON marshals v and escapes every non-ASCII character as \uXXXX, so
// that none of the room's text appears in the page's bytes, in any charset.
// Non-ASCII characters only occur inside JSON strings, where the escape
// means the same character.
func asciiJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v) // escapes <, > and & too: no "</script" can form
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw)+len(raw)/2)
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		i += size
		if r > 0xFFFF {
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			continue
		}
		out = fmt.Appendf(out, `\u%04x`, r)
	}
	return out, nil
}

// liveScript plays the inline programme. It is ASCII and holds no room text.
const liveScript = `(function () {
  "use strict";
  var room = document.getElementById("room");
  var prog = JSON.parse(document.getElementById("programme").textContent);
  var speed = prog.speed > 0 ? prog.speed : 1;
  var classes = { shelf: ["name", "price", "claim"] };
  var live = {};
  function at(ms, fn) {
    var wait = ms / speed - performance.now();
    setTimeout(fn, wait > 0 ? wait : 0);
  }
  function reveal(e) {
    e.hidden = false;
    if (e.parentNode && e.parentNode.hidden) { e.parentNode.hidden = false; }
  }
  function build(it, seq) {
    var e;
    switch (it.source) {
    case "title":
    case "host":
    case "viewers":
    case "shop":
      e = document.getElementById(it.source);
      e.textContent = it.parts[0];
      if (it.source === "title") { document.title = prog.doc_title; }
      break;
    case "shelf":
      e = document.createElement("li");
      it.parts.forEach(function (p, i) {
        if (i > 0) { e.appendChild(document.createTextNode(" ")); }
        var s = document.createElement("span");
        s.className = classes.shelf[i];
        s.textContent = p;
        e.appendChild(s);
      });
      document.getElementById("shelf").appendChild(e);
      break;
    case "caption":
      e = document.createElement("li");
      var t = document.createElement("time");
      t.textContent = it.parts[0];
      e.appendChild(t);
      e.appendChild(document.createTextNode(" " + it.parts[1]));
      document.getElementById("captions").appendChild(e);
      break;
    default:
      return;
    }
    e.setAttribute("data-source", it.source);
    e.setAttribute("data-seq", String(seq));
    reveal(e);
    live[seq] = e;
  }
  prog.items.forEach(function (it, seq) {
    at(it.from_ms, function () { build(it, seq); });
    if (it.until_ms > 0) {
      at(it.until_ms, function () {
        var e = live[seq];
        if (e && e.parentNode) { e.parentNode.removeChild(e); }
        delete live[seq];
      });
    }
  });
  at(prog.end_ms, function () { room.setAttribute("data-state", "ended"); });
  room.setAttribute("data-state", "playing");
})();
`

// renderStream writes the stream page of a room: the skeleton, the inline
// programme and the script that plays it.
func (m *Market) renderStream(s *shop, rm *room, p *Programme, speed int) (*html, error) {
	data := streamData{Speed: speed, EndMS: p.EndMS, DocTitle: rm.title + " - " + siteName + "直播"}
	for _, sh := range p.Showings {
		data.Items = append(data.Items, streamItem{Source: sh.Source, FromMS: sh.Window.FromMS, UntilMS: sh.Window.UntilMS, Parts: sh.parts})
	}
	js, err := asciiJSON(data)
	if err != nil {
		return nil, fmt.Errorf("marketsim: programme of room %d: %w", s.id, err)
	}
	h := newHTML()
	h.head(siteName+"直播", s.gbk, s.lateMeta, s.styleLen)
	h.raw("<div class=\"topbar\">")
	h.raw(siteName)
	h.raw(" · 直播</div>\n<main id=\"room\" data-room=\"")
	h.num(s.id)
	h.raw("\" data-speed=\"")
	h.num(speed)
	h.raw("\" data-end-ms=\"")
	h.raw(strconv.FormatInt(p.EndMS/int64(speed), 10))
	h.raw("\" data-state=\"loading\">\n<header class=\"room\">\n<h1 id=\"title\" hidden></h1>\n" +
		"<p class=\"host\" hidden>主播：<span class=\"name\" id=\"host\" hidden></span> · <span id=\"viewers\" hidden></span></p>\n" +
		"<p class=\"shopref\" id=\"shop\" hidden></p>\n</header>\n" +
		"<section class=\"shelf\">\n<h2>商品橱窗</h2>\n<ol id=\"shelf\"></ol>\n</section>\n" +
		"<section class=\"captions\">\n<h2>实时字幕</h2>\n<ul id=\"captions\"></ul>\n</section>\n</main>\n" +
		"<script type=\"application/json\" id=\"programme\">")
	h.Write(js)
	h.raw("</script>\n<script>\n")
	h.raw(liveScript)
	h.raw("</script>\n</body>\n</html>\n")
	return h, nil
}

func (m *Market) serveStream(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"), m.shops)
	if !ok {
		notFound(w, "livestream room %q not found (rooms belong to shops 1 to %d)", r.PathValue("id"), m.shops)
		return
	}
	speed, ok := queryInt(r, "speed", 1, MaxLiveSpeed)
	if !ok || speed < 1 {
		http.Error(w, "marketsim: query parameter speed must be a whole number from 1 to "+strconv.Itoa(MaxLiveSpeed), http.StatusBadRequest)
		return
	}
	s := m.shopAt(id)
	if !s.room {
		notFound(w, "shop %d has no livestream room", id)
		return
	}
	rm := m.roomAt(&s)
	p := m.programmeOf(&s, &rm)
	h, err := m.renderStream(&s, &rm, &p, speed)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writePage(w, h, s.gbk)
}
