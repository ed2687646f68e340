package marketsim

import (
	"bytes"
	"strconv"
	"sync"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// siteName is the marketplace's name in page chrome.
const siteName = "模拟集市"

const baseCSS = `body{font-family:sans-serif;margin:0 auto;max-width:960px;color:#222}
.topbar{background:#f40;color:#fff;padding:6px 12px}
.crumbs{font-size:13px;color:#666;margin:8px 0}
.price{color:#f40;font-weight:bold}
.licence{border:1px solid #ddd;padding:8px;font-size:13px}
footer{border-top:1px solid #eee;margin-top:24px;font-size:12px;color:#999}
`

// html accumulates a page as UTF-8.
type html struct{ bytes.Buffer }

func (h *html) raw(s string) { h.WriteString(s) }

// text writes s escaped for HTML text and attribute values.
func (h *html) text(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		h.WriteString(s[last:i])
		h.WriteString(esc)
		last = i + 1
	}
	h.WriteString(s[last:])
}

func (h *html) num(n int) { h.WriteString(strconv.Itoa(n)) }

// price writes fen as yuan with the half-width yen sign (four bytes in
// GB18030, which strict GBK decoders garble).
func (h *html) price(fen int) {
	h.raw("¥")
	h.num(fen / 100)
	h.raw(".")
	c := fen % 100
	if c < 10 {
		h.raw("0")
	}
	h.num(c)
}

// head writes everything up to and including <body>. GBK pages declare their
// charset only in a meta tag; late ones put it after a long inline style so
// that 1024-byte prescans miss it.
func (h *html) head(title string, gbk, late bool, styleLen int) {
	h.raw("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n")
	switch {
	case !gbk:
		h.raw("<meta charset=\"utf-8\">\n")
	case !late:
		h.raw("<meta charset=\"gbk\">\n")
	default:
		h.raw("<style>\n")
		for n := 0; h.Len() < styleLen; n++ {
			h.raw(".g")
			h.num(n)
			h.raw("{margin:")
			h.num(n % 7)
			h.raw("px ")
			h.num(n % 5)
			h.raw("px;color:#")
			h.raw(strconv.FormatUint(uint64(0x100000+(n*2654435761)%0xefffff), 16))
			h.raw("}\n")
		}
		h.raw("</style>\n<meta charset=\"gbk\">\n")
	}
	h.raw("<title>")
	h.text(title)
	h.raw("</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>\n")
	h.raw(baseCSS)
	h.raw("</style>\n</head>\n<body>\n")
}

// htmlPool recycles page buffers; pages are a few KB.
var htmlPool = sync.Pool{New: func() any { h := &html{}; h.Grow(8 << 10); return h }}

func newHTML() *html {
	h := htmlPool.Get().(*html)
	h.Reset()
	return h
}

// release returns h to the pool; h must not be used afterwards.
func (h *html) release() {
	if h.Cap() <= 256<<10 {
		htmlPool.Put(h)
	}
}

// encoded returns the page in its charset, using scratch for GB18030 bytes.
func (h *html) encoded(gbk bool, scratch *html) []byte {
	if !gbk {
		return h.Bytes()
	}
	b, _, err := transform.Append(simplifiedchinese.GB18030.NewEncoder(), scratch.AvailableBuffer(), h.Bytes())
	if err != nil {
		// GB18030 encodes every Unicode scalar value; the generator
		// writes only valid UTF-8.
		panic("marketsim: gb18030 encoding failed: " + err.Error())
	}
	return b
}

func (m *Market) renderStorefront(s *shop) *html {
	ci := &categories[s.cat]
	h := newHTML()
	h.head(s.name+" - "+siteName, s.gbk, s.lateMeta, s.styleLen)
	h.raw("<div class=\"topbar\">")
	h.raw(siteName)
	h.raw(" · 商家店铺</div>\n<nav class=\"crumbs\"><span>首页</span> › <span>")
	h.text(ci.label)
	h.raw("</span> › <span>")
	h.text(s.name)
	h.raw("</span></nav>\n<header class=\"shop\">\n<h1>")
	h.text(s.name)
	h.raw("</h1>\n")
	for _, t := range s.intro {
		h.raw("<p class=\"intro\">")
		h.text(t)
		h.raw("</p>\n")
	}
	h.raw("</header>\n")
	if s.blockTop {
		h.licenceBlock(s)
	}
	h.raw("<section class=\"items\">\n<h2>全部商品</h2>\n<ul>\n")
	for j := 1; j <= s.items; j++ {
		p := m.productAt(s, j)
		h.raw("<li><a href=\"/shop/")
		h.num(s.id)
		h.raw("/item/")
		h.num(j)
		h.raw("\">")
		h.text(p.title)
		h.raw("</a> <span class=\"price\">")
		h.price(p.price)
		h.raw("</span></li>\n")
	}
	h.raw("</ul>\n</section>\n<p class=\"notice\">店铺公告：")
	h.text(s.notice)
	h.raw("</p>\n")
	if !s.blockTop {
		h.licenceBlock(s)
	}
	h.raw("<footer>\n")
	if s.licence == licNone {
		h.raw("<p>© 2026 ")
		h.text(s.name)
		h.raw("</p>\n")
	} else {
		h.raw("<p>")
		h.text(s.company)
		h.raw(" 版权所有</p>\n<p class=\"icp\">")
		h.text(s.icp)
		h.raw("</p>\n")
	}
	h.raw("</footer>\n</body>\n</html>\n")
	return h
}

// licenceBlock writes the 营业执照信息 block in the shop's layout, or nothing
// for shops that show no licence.
func (h *html) licenceBlock(s *shop) {
	if s.licence == licNone {
		return
	}
	rows := [][2]string{
		{"企业名称", s.company},
		{"统一社会信用代码", s.uscc},
		{"住所", s.address},
		{"法定代表人", s.legalRep},
	}
	if s.foodPermit != "" {
		rows = append(rows, [2]string{"食品经营许可证", s.foodPermit})
	}
	h.raw("<section class=\"licence\">\n<h3>营业执照信息</h3>\n")
	switch s.layout {
	case 0:
		h.raw("<dl>\n")
		for _, r := range rows {
			h.raw("<dt>")
			h.text(r[0])
			h.raw("</dt><dd>")
			h.text(r[1])
			h.raw("</dd>\n")
		}
		h.raw("</dl>\n")
	case 1:
		h.raw("<table>\n")
		for _, r := range rows {
			h.raw("<tr><th>")
			h.text(r[0])
			h.raw("</th><td>")
			h.text(r[1])
			h.raw("</td></tr>\n")
		}
		h.raw("</table>\n")
	default:
		for _, r := range rows {
			h.raw("<p>")
			h.text(r[0])
			h.raw("：")
			h.text(r[1])
			h.raw("</p>\n")
		}
	}
	h.raw("</section>\n")
}

func (m *Market) renderProduct(s *shop, p *product) *html {
	ci := &categories[s.cat]
	h := newHTML()
	h.head(p.title+" - "+s.name, s.gbk, s.lateMeta, s.styleLen)
	h.raw("<div class=\"topbar\">")
	h.raw(siteName)
	h.raw("</div>\n<nav class=\"crumbs\"><a href=\"/\">首页</a> › <a href=\"/shop/")
	h.num(s.id)
	h.raw("/\">")
	h.text(s.name)
	h.raw("</a> › <span>")
	h.text(ci.label)
	h.raw("</span></nav>\n<main class=\"item\">\n<h1>")
	h.text(p.title)
	h.raw("</h1>\n<p class=\"price\">")
	h.price(p.price)
	h.raw("</p>\n<table class=\"spec\">\n<tr><th>品牌</th><td>")
	h.text(p.brand)
	h.raw("</td></tr>\n<tr><th>")
	h.text(p.item.specName)
	h.raw("</th><td>")
	h.text(p.item.spec)
	h.raw("</td></tr>\n<tr><th>产地</th><td>")
	h.text(p.origin)
	h.raw("</td></tr>\n</table>\n<section class=\"desc\">\n<h2>商品详情</h2>\n")
	for _, pp := range p.paras {
		h.raw("<p>")
		h.text(pp.text)
		h.raw("</p>\n")
	}
	h.raw("</section>\n</main>\n<footer><p>© 2026 ")
	h.raw(siteName)
	h.raw(" · 仅供测试</p></footer>\n</body>\n</html>\n")
	return h
}

func (m *Market) renderRoom(s *shop, rm *room) *html {
	h := newHTML()
	h.head(rm.title+" - "+siteName+"直播", s.gbk, s.lateMeta, s.styleLen)
	h.raw("<div class=\"topbar\">")
	h.raw(siteName)
	h.raw(" · 直播</div>\n<header class=\"room\">\n<h1>")
	h.text(rm.title)
	h.raw("</h1>\n<p class=\"host\">主播：<span class=\"name\">")
	h.text(rm.host)
	h.raw("</span> · <span id=\"viewers\">")
	h.num(rm.viewers)
	h.raw("人在看</span></p>\n<p class=\"shopref\">")
	h.text(s.name)
	h.raw("</p>\n</header>\n<section class=\"shelf\">\n<h2>商品橱窗</h2>\n<ol>\n")
	for _, it := range rm.shelf {
		h.raw("<li><span class=\"name\">")
		h.text(it.name)
		h.raw("</span> <span class=\"price\">")
		h.price(it.price)
		h.raw("</span> <span class=\"claim\">")
		h.text(it.claim.text)
		h.raw("</span></li>\n")
	}
	h.raw("</ol>\n</section>\n<section class=\"captions\">\n<h2>实时字幕</h2>\n<ul>\n")
	for i, c := range rm.captions {
		t := rm.stamps[i]
		h.raw("<li><time>[")
		two(h, t/3600)
		h.raw(":")
		two(h, t/60%60)
		h.raw(":")
		two(h, t%60)
		h.raw("]</time> ")
		h.text(rm.host)
		h.raw("：")
		h.text(c.text)
		h.raw("</li>\n")
	}
	h.raw("</ul>\n</section>\n<script>\n(function () {\n  var el = document.getElementById(\"viewers\");\n  if (el) { el.setAttribute(\"data-room\", \"")
	h.num(s.id)
	h.raw("\"); }\n})();\n</script>\n</body>\n</html>\n")
	return h
}

func two(h *html, n int) {
	if n < 10 {
		h.raw("0")
	}
	h.num(n)
}
