package crawler

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"

	"shopwatch"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// TestNeedsScript fetches a marketplace statically: its JavaScript
// livestream rooms need the browser, its storefronts, product pages and
// static rooms do not, and neither do saved real pages, whose text is in
// the markup.
func TestNeedsScript(t *testing.T) {
	m := marketsim.New(marketsim.Config{Seed: 7, Shops: 40, LiveJS: true, LiveSpeed: 10})
	s := httptest.NewServer(m)
	defer s.Close()
	cfg := Config{}
	cfg.AllowLoopback()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var js, static int
	err = m.Truth(s.URL, func(pt marketsim.PageTruth) error {
		p, err := f.Fetch(context.Background(), pt.URL)
		if err != nil {
			t.Errorf("%s: %v", pt.URL, err)
			return nil
		}
		want := pt.Kind == shopwatch.KindLivestream
		if got := NeedsScript(p); got != want {
			t.Errorf("NeedsScript(%s, %s, %d runes of text) = %v, want %v", pt.URL, pt.Kind, len([]rune(p.Text)), got, want)
		}
		if want {
			js++
		} else {
			static++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if js == 0 || static == 0 {
		t.Fatalf("%d JavaScript rooms and %d static pages checked", js, static)
	}
	// The same rooms served as static pages need no browser.
	for id := 1; id <= 40; id++ {
		p, err := f.Fetch(context.Background(), s.URL+"/live/"+strconv.Itoa(id))
		if err != nil {
			continue // not every shop has a room
		}
		if NeedsScript(p) {
			t.Errorf("static room %d needs the browser", id)
		}
	}
	for _, name := range []string{"tmall.html", "taobao.html", "zhanqi.html"} {
		raw := testparts.RealPage(t, name)
		h, _, _, _, err := DecodeHTML(raw, "text/html")
		if err != nil {
			t.Fatal(err)
		}
		_, text, _ := ExtractText(h)
		if NeedsScript(&shopwatch.Page{HTML: h, Text: text}) {
			t.Errorf("real page %s (%d runes of text) needs the browser", name, len([]rune(text)))
		}
	}
	spa := &shopwatch.Page{HTML: `<html><body><h1>店铺</h1><p>` + longText + `</p><div id="app"></div><script src="/app.js"></script></body></html>`}
	_, spa.Text, _ = ExtractText(spa.HTML)
	if !NeedsScript(spa) {
		t.Error("a page with an empty application root does not need the browser")
	}
	if NeedsScript(&shopwatch.Page{HTML: spa.HTML, Text: spa.Text, Rendered: true}) {
		t.Error("a rendered page needs the browser again")
	}
}

const longText = "本店所有商品均为正品，支持七天无理由退货，客服在线时间为每天九点至二十一点，欢迎咨询。本店所有商品均为正品，支持七天无理由退货，客服在线时间为每天九点至二十一点，欢迎咨询。"
