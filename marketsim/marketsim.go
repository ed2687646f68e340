// Package marketsim is a synthetic Chinese online marketplace with exact
// ground truth, served over HTTP on loopback for tests, the demo and
// benchmarks.
//
// A market is fixed by its Config. Shops are numbered 1..Shops; each has one
// product category, a storefront at /shop/{id}/ linking (and linking only)
// to its 2–6 product pages /shop/{id}/item/{j}, and about one shop in four a
// livestream room at /live/{id}. Every page is generated when requested from
// (seed, shop, item) by a small deterministic generator, so nothing is held
// per page: a market of millions of pages costs no more memory than one of
// ten, and the same seed always yields byte-identical pages and truth.
//
// What the pages get wrong is decided by independent draws with the shares
// declared as Share* constants: licence display on storefronts, violating
// advertising phrases on product descriptions and in livestream rooms, and
// GBK-family encoding (with the charset only in a meta tag, half of the time
// after more than 2 KB of head). Truth reports, for every content page, the
// findings a correct rule engine must produce (an empty list for a compliant
// page), using the rule ids and phrase lists of the v1 rule catalogue.
//
// Storefronts never carry advertising phrases, so their findings are licence
// findings only; product and room pages carry no licence block, since the
// licence rules apply to storefronts alone.
//
// Every room is also served at /live/{id}/stream as a JS livestream room:
// the initial markup is a skeleton, and a script shows the title, host and
// shop, fills the shelf item by item and rolls captions in and out on a
// fixed schedule (see Programme and live.go for the protocol), compressible
// with ?speed=. Config.LiveJS lists these pages instead of the static ones,
// with the on-screen window of every expected finding in the truth.
//
// Under /bad/ the market serves endpoints that misbehave on purpose, for
// crawler and browser tests (the /bad/ page lists them with their
// parameters): a redirect loop, a redirect chain, a huge body, a binary
// body, a slow drip, malformed markup and a server error; and hostile ones:
// a gzip bomb with and without Content-Encoding, GB 18030 bytes under a
// wrong or missing charset, a page and a sub-resource that never finish, a
// slow drip of response headers, a huge DOM, dialogs on load, a
// beforeunload handler, a pop-up storm, a script that never returns and a
// page that reloads itself forever. Each is bounded in server time and
// memory and stops when the client goes away; Running and Hits count their
// handlers.
//
// A Market is safe for concurrent use.
package marketsim

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"shopwatch"
)

// DefaultShops is the number of shops of a Config that names none.
const DefaultShops = 100

// Platform is the platform name given to every target.
const Platform = "marketsim"

// shopsPerIndexPage is how many shops one page of the index lists.
const shopsPerIndexPage = 50

// Config fixes a market.
type Config struct {
	Seed  int64 // generator seed; every seed is a different market
	Shops int   // number of shops; DefaultShops when zero or negative
	// LiveJS lists livestream rooms in Truth, Targets and the index at
	// their JS address /live/{id}/stream instead of the static /live/{id},
	// and gives every expected finding of a room the window its text is on
	// screen. Both addresses are served either way.
	LiveJS bool
	// LiveSpeed is the time compression of the listed JS room addresses
	// (?speed=N, 1 to MaxLiveSpeed; values outside are clamped). Truth
	// windows stay at speed 1.
	LiveSpeed int
}

// Market is a generated marketplace. It implements http.Handler.
type Market struct {
	seed      int64
	shops     int
	liveJS    bool
	liveSpeed int
	mux       *http.ServeMux

	pagesOnce sync.Once
	pages     int

	// Handlers of /bad/slow and /bad/huge still running, for tests.
	slowActive atomic.Int64
	hugeActive atomic.Int64

	// bad counts requests to and running handlers of each /bad/ endpoint,
	// by path. Built in New, read-only afterwards.
	bad map[string]*endpointStats
}

// New returns the market fixed by cfg. It does no work per page: pages are
// generated when they are requested.
func New(cfg Config) *Market {
	m := &Market{seed: cfg.Seed, shops: cfg.Shops, liveJS: cfg.LiveJS, liveSpeed: liveSpeed(cfg.LiveSpeed)}
	if m.shops <= 0 {
		m.shops = DefaultShops
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.serveIndex)
	mux.HandleFunc("GET /shop/{id}", m.serveShopRedirect)
	mux.HandleFunc("GET /shop/{id}/{$}", m.serveStorefront)
	mux.HandleFunc("GET /shop/{id}/item/{j}", m.serveProduct)
	mux.HandleFunc("GET /live/{id}", m.serveRoom)
	mux.HandleFunc("GET /live/{id}/stream", m.serveStream)
	mux.HandleFunc("GET /_truth", m.serveTruth)
	mux.HandleFunc("GET /_targets.csv", m.serveTargets)
	m.registerBad(mux)
	mux.HandleFunc("/", m.serveNotFound)
	m.mux = mux
	return m
}

// Seed returns the market's seed.
func (m *Market) Seed() int64 { return m.seed }

// Shops returns the number of shops.
func (m *Market) Shops() int { return m.shops }

// Pages returns the number of content pages: storefronts, products and
// livestream rooms. The first call walks every shop's shape (cheap, no text);
// later calls return the remembered count.
func (m *Market) Pages() int {
	m.pagesOnce.Do(func() {
		n := 0
		for id := 1; id <= m.shops; id++ {
			s, _ := m.shapeAt(id)
			n += 1 + s.items
			if s.room {
				n++
			}
		}
		m.pages = n
	})
	return m.pages
}

// ServeHTTP serves the market: GET (and HEAD) /, /shop/{id}/,
// /shop/{id}/item/{j}, /live/{id}, /live/{id}/stream, /_truth,
// /_targets.csv and /bad/….
// Unknown shops, items and rooms get 404 with a plain-text reason.
func (m *Market) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
}

// PageTruth is the ground truth of one content page.
type PageTruth struct {
	URL      string         `json:"url"`
	Kind     shopwatch.Kind `json:"kind"`
	Category string         `json:"category"` // food, cosmetics, apparel or electronics
	Charset  string         `json:"charset"`  // utf-8, or gbk for GB18030 bytes labelled gbk
	Expect   []Expect       `json:"expect"`   // findings a correct engine reports; empty, not nil, when compliant
	Shop     int            `json:"shop"`
	Licence  string         `json:"licence,omitempty"`   // storefronts: full, none, bad-uscc or no-food-permit
	LateMeta bool           `json:"late_meta,omitempty"` // the meta charset tag sits after more than 2 KB
	// Speed and ProgrammeMS are set for JS livestream rooms (Config.LiveJS):
	// the page's time compression, and when its programme ends, in
	// milliseconds after navigation start at speed 1 (divide by Speed for
	// the page as listed). A watcher that stays ProgrammeMS/Speed sees
	// every text.
	Speed       int   `json:"speed,omitempty"`
	ProgrammeMS int64 `json:"programme_ms,omitempty"`
}

// Expect is one finding a page must produce: the rule id and the original
// characters it matches (empty for rules that report an absence).
type Expect struct {
	Rule  string `json:"rule"`
	Match string `json:"match"`
	// Window is set on JS livestream rooms: when the text that carries
	// the match is on screen, at speed 1. Nil on every other page.
	Window *Window `json:"window,omitempty"`
}

// Charset labels used in PageTruth.
const (
	CharsetUTF8 = "utf-8"
	CharsetGBK  = "gbk"
)

func charsetOf(gbk bool) string {
	if gbk {
		return CharsetGBK
	}
	return CharsetUTF8
}

// Truth calls fn for every content page in a fixed order (shop by shop: the
// storefront, its products, its room), with absolute URLs under base (e.g.
// "http://127.0.0.1:8080"; a trailing slash is ignored). It holds one shop's
// pages at a time. It stops at the first error from fn and returns it
// wrapped with the page's URL.
func (m *Market) Truth(base string, fn func(PageTruth) error) error {
	base = strings.TrimRight(base, "/")
	for id := 1; id <= m.shops; id++ {
		s := m.shopAt(id)
		cat := categories[s.cat].id
		cs := charsetOf(s.gbk)
		pt := PageTruth{URL: storefrontURL(base, id), Kind: shopwatch.KindStorefront, Category: cat, Charset: cs,
			Expect: s.expect(), Shop: id, Licence: s.licence.String(), LateMeta: s.lateMeta}
		if err := fn(pt); err != nil {
			return fmt.Errorf("marketsim truth %s: %w", pt.URL, err)
		}
		for j := 1; j <= s.items; j++ {
			p := m.productAt(&s, j)
			pt := PageTruth{URL: productURL(base, id, j), Kind: shopwatch.KindProduct, Category: cat, Charset: cs,
				Expect: expectOf(p.paras), Shop: id, LateMeta: s.lateMeta}
			if err := fn(pt); err != nil {
				return fmt.Errorf("marketsim truth %s: %w", pt.URL, err)
			}
		}
		if s.room {
			rm := m.roomAt(&s)
			pt := PageTruth{URL: roomURL(base, id), Kind: shopwatch.KindLivestream, Category: cat, Charset: cs,
				Expect: rm.expect(), Shop: id, LateMeta: s.lateMeta}
			if m.liveJS {
				p := m.programmeOf(&s, &rm)
				pt.URL = roomStreamURL(base, id, m.liveSpeed)
				pt.Expect = p.expectWindows(&rm)
				pt.Speed, pt.ProgrammeMS = m.liveSpeed, p.EndMS
			}
			if err := fn(pt); err != nil {
				return fmt.Errorf("marketsim truth %s: %w", pt.URL, err)
			}
		}
	}
	return nil
}

// Target priorities and depths. Storefronts are crawled one level deep, which
// reaches exactly their product pages; rooms are crawled alone.
const (
	StorefrontPriority = 5
	RoomPriority       = 7
	StorefrontDepth    = 1
	RoomDepth          = 0
)

// Targets calls fn for every page an inspector would queue: each storefront
// (depth 1) and each livestream room (depth 0), in Truth's order, with
// absolute URLs under base. ID and Added are left zero for the store to set.
// It stops at the first error from fn and returns it wrapped with the URL.
func (m *Market) Targets(base string, fn func(shopwatch.Target) error) error {
	base = strings.TrimRight(base, "/")
	tags := []string{Platform, "seed-" + strconv.FormatInt(m.seed, 10)}
	for id := 1; id <= m.shops; id++ {
		sh := m.shopAt(id)
		t := shopwatch.Target{URL: storefrontURL(base, id), Platform: Platform, Kind: shopwatch.KindStorefront,
			Category: categories[sh.cat].id, Tags: tags, Jurisdiction: sh.region.jurisdiction(),
			Priority: StorefrontPriority, Depth: StorefrontDepth}
		if err := fn(t); err != nil {
			return fmt.Errorf("marketsim targets %s: %w", t.URL, err)
		}
		if sh.room {
			t.URL, t.Kind, t.Priority, t.Depth = m.listedRoomURL(base, id), shopwatch.KindLivestream, RoomPriority, RoomDepth
			if err := fn(t); err != nil {
				return fmt.Errorf("marketsim targets %s: %w", t.URL, err)
			}
		}
	}
	return nil
}

func storefrontURL(base string, id int) string {
	return base + "/shop/" + strconv.Itoa(id) + "/"
}

func productURL(base string, id, j int) string {
	return base + "/shop/" + strconv.Itoa(id) + "/item/" + strconv.Itoa(j)
}

func roomURL(base string, id int) string {
	return base + "/live/" + strconv.Itoa(id)
}

// listedRoomURL is the address Truth, Targets and the index give shop id's
// room: the static page, or the JS page with Config.LiveJS.
func (m *Market) listedRoomURL(base string, id int) string {
	if m.liveJS {
		return roomStreamURL(base, id, m.liveSpeed)
	}
	return roomURL(base, id)
}

// baseOf is the base URL a request reached the market at.
func baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// parseID returns n when s is the canonical decimal form of a number in
// [1, max].
func parseID(s string, max int) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

func notFound(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, "marketsim: "+format+"\n", args...)
}

func (m *Market) serveNotFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "marketsim: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	notFound(w, "no page at %s (pages: /, /shop/{id}/, /shop/{id}/item/{j}, /live/{id}, /live/{id}/stream, /_truth, /_targets.csv, /bad/)", r.URL.Path)
}

// shopFor resolves the {id} path value or writes a 404.
func (m *Market) shopFor(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, ok := parseID(r.PathValue("id"), m.shops)
	if !ok {
		notFound(w, "shop %q not found (this market has shops 1 to %d)", r.PathValue("id"), m.shops)
	}
	return id, ok
}

// writePage sends h in its charset and releases it.
func writePage(w http.ResponseWriter, h *html, gbk bool) {
	defer h.release()
	scratch := newHTML()
	defer scratch.release()
	body := h.encoded(gbk, scratch)
	if gbk {
		w.Header().Set("Content-Type", "text/html")
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (m *Market) serveShopRedirect(w http.ResponseWriter, r *http.Request) {
	id, ok := m.shopFor(w, r)
	if !ok {
		return
	}
	http.Redirect(w, r, "/shop/"+strconv.Itoa(id)+"/", http.StatusMovedPermanently)
}

func (m *Market) serveStorefront(w http.ResponseWriter, r *http.Request) {
	id, ok := m.shopFor(w, r)
	if !ok {
		return
	}
	s := m.shopAt(id)
	writePage(w, m.renderStorefront(&s), s.gbk)
}

func (m *Market) serveProduct(w http.ResponseWriter, r *http.Request) {
	id, ok := m.shopFor(w, r)
	if !ok {
		return
	}
	s := m.shopAt(id)
	j, ok := parseID(r.PathValue("j"), s.items)
	if !ok {
		notFound(w, "shop %d has no item %q (it has items 1 to %d)", id, r.PathValue("j"), s.items)
		return
	}
	p := m.productAt(&s, j)
	writePage(w, m.renderProduct(&s, &p), s.gbk)
}

func (m *Market) serveRoom(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"), m.shops)
	if !ok {
		notFound(w, "livestream room %q not found (rooms belong to shops 1 to %d)", r.PathValue("id"), m.shops)
		return
	}
	s := m.shopAt(id)
	if !s.room {
		notFound(w, "shop %d has no livestream room", id)
		return
	}
	rm := m.roomAt(&s)
	writePage(w, m.renderRoom(&s, &rm), s.gbk)
}

func (m *Market) serveIndex(w http.ResponseWriter, r *http.Request) {
	pages := (m.shops + shopsPerIndexPage - 1) / shopsPerIndexPage
	page := 1
	if q := r.URL.Query().Get("page"); q != "" {
		n, ok := parseID(q, pages)
		if !ok {
			notFound(w, "index page %q not found (pages 1 to %d)", q, pages)
			return
		}
		page = n
	}
	h := newHTML()
	h.head(siteName+" - 全部店铺 第"+strconv.Itoa(page)+"页", false, false, 0)
	h.raw("<div class=\"topbar\">")
	h.raw(siteName)
	h.raw("</div>\n<h1>全部店铺</h1>\n<ul class=\"shops\">\n")
	first := (page-1)*shopsPerIndexPage + 1
	for id := first; id < first+shopsPerIndexPage && id <= m.shops; id++ {
		s := m.shopAt(id)
		h.raw("<li><a href=\"/shop/")
		h.num(id)
		h.raw("/\">")
		h.text(s.name)
		h.raw("</a> <span class=\"cat\">")
		h.text(categories[s.cat].label)
		h.raw("</span>")
		if s.room {
			h.raw(" <a class=\"live\" href=\"")
			h.text(m.listedRoomURL("", id))
			h.raw("\">直播中</a>")
		}
		h.raw("</li>\n")
	}
	h.raw("</ul>\n<nav class=\"pager\">")
	if page > 1 {
		h.raw("<a rel=\"prev\" href=\"/?page=")
		h.num(page - 1)
		h.raw("\">上一页</a> ")
	}
	h.raw("<span>")
	h.num(page)
	h.raw(" / ")
	h.num(pages)
	h.raw("</span>")
	if page < pages {
		h.raw(" <a rel=\"next\" href=\"/?page=")
		h.num(page + 1)
		h.raw("\">下一页</a>")
	}
	h.raw("</nav>\n</body>\n</html>\n")
	writePage(w, h, false)
}

// serveTruth streams Truth as JSON lines, with URLs under the base the
// request came in at.
func (m *Market) serveTruth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	ctx := r.Context()
	err := m.Truth(baseOf(r), func(pt PageTruth) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return enc.Encode(pt)
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		slog.Debug("marketsim: truth stream stopped", "remote", r.RemoteAddr, "err", err)
	}
}

// TargetsCSVHeader is the header row of /_targets.csv.
var TargetsCSVHeader = []string{"url", "platform", "kind", "category", "tags", "jurisdiction", "priority", "depth"}

// serveTargets streams Targets as CSV; tags are joined with ";".
func (m *Market) serveTargets(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	cw := csv.NewWriter(w)
	ctx := r.Context()
	err := cw.Write(TargetsCSVHeader)
	if err == nil {
		err = m.Targets(baseOf(r), func(t shopwatch.Target) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return cw.Write([]string{t.URL, t.Platform, string(t.Kind), t.Category, strings.Join(t.Tags, ";"),
				t.Jurisdiction, strconv.Itoa(t.Priority), strconv.Itoa(t.Depth)})
		})
	}
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		slog.Debug("marketsim: targets stream stopped", "remote", r.RemoteAddr, "err", err)
	}
}
