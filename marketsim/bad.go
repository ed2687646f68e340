package marketsim

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of the misbehaving endpoints' parameters.
const (
	DefaultHugeMB    = 64   // /bad/huge body size without ?mb=
	MaxHugeMB        = 1024 // largest ?mb= honoured
	DefaultSlowSecs  = 10   // /bad/slow duration without ?s=
	MaxSlowSecs      = 600  // largest ?s= honoured
	SlowInterval     = 200 * time.Millisecond
	DefaultRedirects = 3  // /bad/redirect chain length without ?n=
	MaxRedirects     = 50 // largest ?n= honoured
)

// badEndpoints are the paths under /bad/ and what they do.
var badEndpoints = [][2]string{
	{"/bad/redirect-loop", "302 to itself, forever"},
	{"/bad/redirect?n=3", "a chain of n 302s ending at a small page"},
	{"/bad/huge?mb=64", "streams mb MiB of HTML (64 by default); add cl=1 to announce Content-Length"},
	{"/bad/binary", "a PNG image"},
	{"/bad/slow?s=10", "drips one byte every 200 ms for s seconds; stops when the client goes away"},
	{"/bad/malformed", "broken, unclosed HTML with stray bytes"},
	{"/bad/status500", "an internal server error"},
}

func (m *Market) registerBad(mux *http.ServeMux) {
	mux.HandleFunc("GET /bad/{$}", m.serveBadIndex)
	m.handleBad(mux, "/bad/redirect-loop", serveRedirectLoop)
	m.handleBad(mux, "/bad/redirect", serveRedirectChain)
	m.handleBad(mux, "/bad/huge", m.serveHuge)
	m.handleBad(mux, "/bad/binary", serveBinary)
	m.handleBad(mux, "/bad/slow", m.serveSlow)
	m.handleBad(mux, "/bad/malformed", serveMalformed)
	m.handleBad(mux, "/bad/status500", serveStatus500)
	m.registerHostile(mux)
	m.registerLate(mux)
}

// queryInt returns the query parameter key as a number in [0, max], def when
// it is absent, and false when it is present but not such a number.
func queryInt(r *http.Request, key string, def, max int) (int, bool) {
	q := r.URL.Query().Get(key)
	if q == "" {
		return def, true
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 0 || n > max {
		return 0, false
	}
	return n, true
}

func badRequest(w http.ResponseWriter, key string, max int) {
	http.Error(w, "marketsim: query parameter "+key+" must be a whole number from 0 to "+strconv.Itoa(max), http.StatusBadRequest)
}

func (m *Market) serveBadIndex(w http.ResponseWriter, r *http.Request) {
	h := newHTML()
	h.head("misbehaving endpoints", false, false, 0)
	h.raw("<h1>misbehaving endpoints</h1>\n<ul>\n")
	for _, e := range append(append(append([][2]string(nil), badEndpoints...), hostileEndpoints...), lateEndpoints...) {
		h.raw("<li><code>")
		h.text(e[0])
		h.raw("</code> ")
		h.text(e[1])
		h.raw("</li>\n")
	}
	h.raw("</ul>\n</body>\n</html>\n")
	writePage(w, h, false)
}

func serveRedirectLoop(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", "/bad/redirect-loop")
	w.WriteHeader(http.StatusFound)
}

func serveRedirectChain(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(r, "n", DefaultRedirects, MaxRedirects)
	if !ok {
		badRequest(w, "n", MaxRedirects)
		return
	}
	if n > 0 {
		w.Header().Set("Location", "/bad/redirect?n="+strconv.Itoa(n-1))
		w.WriteHeader(http.StatusFound)
		return
	}
	h := newHTML()
	h.head("重定向终点", false, false, 0)
	h.raw("<p>重定向链的终点。</p>\n</body>\n</html>\n")
	writePage(w, h, false)
}

const (
	hugePrefix = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>huge page</title>\n</head>\n<body>\n"
	hugeSuffix = "</body>\n</html>\n"
)

// hugeChunk is 64 KiB of ASCII filler markup, so any cut is a character
// boundary.
var hugeChunk = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	for n := 0; b.Len() < 64<<10; n++ {
		b.WriteString("<p class=\"filler\">filler line ")
		b.WriteString(strconv.Itoa(n))
		b.WriteString(" of a page far larger than any sane product page</p>\n")
	}
	return b.Bytes()[:64<<10]
})

// serveHuge streams ?mb= MiB (exactly) of HTML. It stops early when the
// client goes away.
func (m *Market) serveHuge(w http.ResponseWriter, r *http.Request) {
	mb, ok := queryInt(r, "mb", DefaultHugeMB, MaxHugeMB)
	if !ok {
		badRequest(w, "mb", MaxHugeMB)
		return
	}
	m.hugeActive.Add(1)
	defer m.hugeActive.Add(-1)
	total := int64(mb) << 20
	fill := total - int64(len(hugePrefix)+len(hugeSuffix))
	if fill < 0 {
		fill, total = 0, int64(len(hugePrefix)+len(hugeSuffix))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Query().Get("cl") == "1" {
		w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	ctx := r.Context()
	if _, err := w.Write([]byte(hugePrefix)); err != nil {
		return
	}
	chunk := hugeChunk()
	for fill > 0 {
		if ctx.Err() != nil {
			return
		}
		n := min(fill, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		fill -= n
	}
	w.Write([]byte(hugeSuffix))
}

// pngImage is a small valid PNG, made once.
var pngImage = sync.OnceValue(func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 4), B: 0x80, A: 0xff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("marketsim: encode png: " + err.Error())
	}
	return b.Bytes()
})

func serveBinary(w http.ResponseWriter, r *http.Request) {
	b := pngImage()
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

const slowPrefix = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>slow page</title></head><body><p>"

// serveSlow writes one byte every SlowInterval for ?s= seconds, then closes
// the page. It returns as soon as the client goes away or the server stops.
func (m *Market) serveSlow(w http.ResponseWriter, r *http.Request) {
	secs, ok := queryInt(r, "s", DefaultSlowSecs, MaxSlowSecs)
	if !ok {
		badRequest(w, "s", MaxSlowSecs)
		return
	}
	m.slowActive.Add(1)
	defer m.slowActive.Add(-1)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	ctx := r.Context()
	end := time.Now().Add(time.Duration(secs) * time.Second)
	tick := time.NewTicker(SlowInterval)
	defer tick.Stop()
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c := byte('.')
		if i < len(slowPrefix) {
			c = slowPrefix[i]
		}
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	w.Write([]byte("</p></body></html>\n"))
}

// malformedPage is broken markup: no </head>, unclosed, stray and misnested
// end tags, a broken tag, a NUL and bytes that are not UTF-8, an unclosed
// script and no </body></html>, around readable text.
var malformedPage = strings.Join([]string{
	"<html><head><title>店铺公告</title>",
	"<body><div class=\"a\"><p>欢迎光临本店<p>营业时间 9:00-21:00</span></div></div>",
	"<table><tr><td>新品上架<td>\xff\xfe\x00 broken <b><i>本周上新</b></i>",
	"<div <p>联系客服请留言\x80\x81",
	"<ul><li>商品一<li>商品二",
	"<script>var x = '<p>not text</p>'",
}, "\n")

func serveMalformed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(malformedPage)))
	w.Write([]byte(malformedPage))
}

func serveStatus500(w http.ResponseWriter, r *http.Request) {
	const body = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>服务器错误</title></head><body><h1>500 服务器内部错误</h1></body></html>\n"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(body))
}
