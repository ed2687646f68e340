package marketsim

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Hostile endpoints: pages that attack the client rather than merely
// misbehave. Each one is bounded on the server: it streams from a few fixed
// buffers (never holding its whole body), stops as soon as the client goes
// away or the server shuts down, and ends by itself after a maximum time.

// Limits of the hostile endpoints' parameters.
const (
	DefaultBombMB     = 1024    // /bad/gzip-bomb inflated size without ?mb= (1 GiB)
	MaxBombMB         = 16384   // largest ?mb= honoured (16 GiB inflated)
	DefaultNeverSecs  = 300     // /bad/never-ends hold time without ?max=
	MaxNeverSecs      = 3600    // largest ?max= honoured
	DefaultDOMNodes   = 200000  // /bad/huge-dom rows without ?n=
	MaxDOMNodes       = 5000000 // largest ?n= honoured
	DefaultDOMDepth   = 1000    // /bad/huge-dom nesting without ?depth=
	MaxDOMDepth       = 100000  // largest ?depth= honoured
	DefaultPopups     = 20      // /bad/popups windows opened at load without ?n=
	MaxPopups         = 200     // largest ?n= honoured
	hijackWriteBudget = 5 * time.Second
)

// ProbeText is the sentence the charset and never-ending endpoints carry, so
// a test can tell whether it was decoded (or received) correctly.
const ProbeText = "本页用于测试：欢迎光临本店，全场包邮，客服在线时间九点至二十一点。"

// endpointStats counts one /bad/ endpoint's requests and running handlers.
type endpointStats struct {
	hits    atomic.Int64
	running atomic.Int64
}

// Running returns how many handlers of the /bad/ endpoint at path (e.g.
// "/bad/never-ends") are still running; 0 for any other path. Tests use it
// to check that a client that gave up closed its connection.
func (m *Market) Running(path string) int {
	if st := m.bad[path]; st != nil {
		return int(st.running.Load())
	}
	return 0
}

// Hits returns how many requests the /bad/ endpoint at path has received
// (e.g. how often /bad/reload-loop was reloaded); 0 for any other path.
func (m *Market) Hits(path string) int64 {
	if st := m.bad[path]; st != nil {
		return st.hits.Load()
	}
	return 0
}

// handleBad registers the GET handler of a /bad/ endpoint, counted.
func (m *Market) handleBad(mux *http.ServeMux, path string, h http.HandlerFunc) {
	st := &endpointStats{}
	if m.bad == nil {
		m.bad = map[string]*endpointStats{}
	}
	m.bad[path] = st
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		st.hits.Add(1)
		st.running.Add(1)
		defer st.running.Add(-1)
		h(w, r)
	})
}

func (m *Market) registerHostile(mux *http.ServeMux) {
	m.handleBad(mux, "/bad/gzip-bomb", m.serveGzipBomb)
	m.handleBad(mux, "/bad/gzip-unlabelled", m.serveGzipBomb)
	m.handleBad(mux, "/bad/charset-wrong", serveCharsetWrong)
	m.handleBad(mux, "/bad/charset-missing", serveCharsetMissing)
	m.handleBad(mux, "/bad/never-ends", serveNeverEnds)
	m.handleBad(mux, "/bad/stuck-resource", serveStuckResource)
	m.handleBad(mux, "/bad/slow-headers", serveSlowHeaders)
	m.handleBad(mux, "/bad/huge-dom", serveHugeDOM)
	m.handleBad(mux, "/bad/dialogs", scriptPage(dialogsBody))
	m.handleBad(mux, "/bad/beforeunload", scriptPage(beforeUnloadBody))
	m.handleBad(mux, "/bad/popups", servePopups)
	m.handleBad(mux, "/bad/popups/child", servePopupChild)
	m.handleBad(mux, "/bad/busy-loop", scriptPage(busyLoopBody))
	m.handleBad(mux, "/bad/reload-loop", scriptPage(reloadLoopBody))
}

// hostileEndpoints are the /bad/ index rows of the hostile endpoints.
var hostileEndpoints = [][2]string{
	{"/bad/gzip-bomb?mb=1024", "Content-Encoding: gzip; about 1 KiB on the wire per MiB inflated: mb MiB (1 GiB by default) of HTML and spaces"},
	{"/bad/gzip-unlabelled?mb=1024", "the same gzip stream labelled text/html with no Content-Encoding"},
	{"/bad/charset-wrong", "header says charset=utf-8, bytes are GB 18030; via=meta declares utf-8 in a meta tag instead"},
	{"/bad/charset-missing", "GB 18030 bytes, no charset in the header or the markup"},
	{"/bad/never-ends?max=300", "headers and part of the page, then the connection stays open until the client leaves (at most max seconds); type=css, js or png for a sub-resource"},
	{"/bad/stuck-resource?res=img&max=300", "a whole page with a sub-resource that never finishes: img (load never fires), css (in the head; first paint held up) or js (mid-body; parsing held up)"},
	{"/bad/slow-headers?s=10", "a header line every 200 ms for s seconds before the body; stops when the client goes away"},
	{"/bad/huge-dom?n=200000&depth=1000", "n rows inside depth nested elements, streamed"},
	{"/bad/dialogs", "alert, confirm and prompt while loading and on load"},
	{"/bad/beforeunload", "a beforeunload handler that asks to stay on the page"},
	{"/bad/popups?n=20", "window.open n times on load, then once every 250 ms up to 2n"},
	{"/bad/popups/child?i=1", "the page every pop-up opens"},
	{"/bad/busy-loop", "a script that never returns (while (true) {}) after the text"},
	{"/bad/reload-loop", "reloads itself as soon as it runs, forever"},
}

// --- gzip bomb ---

// bombUnit is how much one replayed deflate segment inflates to.
const bombUnit = 1 << 20

const bombPrefix = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>gzip bomb</title>\n</head>\n<body>\n<p>"

// bombParts is a gzip member cut into replayable pieces. Every deflate
// segment ends with a sync flush (byte-aligned, not final) and refers to no
// byte before its own start, so segments can be concatenated in any number.
type bombParts struct {
	header  []byte // the gzip member header
	first   []byte // deflate of bombPrefix and spaces up to bombUnit bytes
	unit    []byte // deflate of bombUnit spaces
	batch   []byte // unit repeated, about 64 KiB, for fewer writes
	perUnit int    // units in batch
	final   []byte // an empty final deflate block
	crcHead uint32 // CRC-32 of what first inflates to
	crcUnit uint32 // CRC-32 of what unit inflates to
	xUnit   uint32 // x^(8·bombUnit) mod the CRC polynomial, to extend a CRC by one unit
}

var gzipBomb = sync.OnceValue(func() *bombParts {
	spaces := bytes.Repeat([]byte{' '}, bombUnit)
	deflate := func(data []byte, final bool) []byte {
		var b bytes.Buffer
		zw, err := flate.NewWriter(&b, flate.BestCompression)
		if err != nil {
			panic("marketsim: flate writer: " + err.Error())
		}
		zw.Write(data)
		if final {
			zw.Close()
		} else {
			zw.Flush()
		}
		return b.Bytes()
	}
	head := append([]byte(bombPrefix), spaces[:bombUnit-len(bombPrefix)]...)
	p := &bombParts{
		// ID1 ID2, CM=deflate, no flags, no mtime, XFL 0, OS unknown.
		header:  []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff},
		first:   deflate(head, false),
		unit:    deflate(spaces, false),
		final:   deflate(nil, true),
		crcHead: crc32.ChecksumIEEE(head),
		crcUnit: crc32.ChecksumIEEE(spaces),
		xUnit:   crcXPow8(bombUnit),
	}
	p.perUnit = max(1, (64<<10)/len(p.unit))
	p.batch = bytes.Repeat(p.unit, p.perUnit)
	return p
})

// size is the compressed length of an mb MiB bomb.
func (p *bombParts) size(mb int) int64 {
	return int64(len(p.header)+len(p.first)) + int64(mb-1)*int64(len(p.unit)) + int64(len(p.final)) + 8
}

// trailer is the gzip trailer of an mb MiB bomb: CRC-32 and size mod 2^32.
func (p *bombParts) trailer(mb int) []byte {
	crc := p.crcHead
	for range mb - 1 {
		crc = crcCombine(crc, p.crcUnit, p.xUnit)
	}
	var t [8]byte
	binary.LittleEndian.PutUint32(t[0:], crc)
	binary.LittleEndian.PutUint32(t[4:], uint32(int64(mb)<<20))
	return t[:]
}

// crcPoly is the reflected CRC-32 (IEEE) polynomial.
const crcPoly = 0xedb88320

// gfMul multiplies a and b, polynomials over GF(2) in the reflected
// representation of CRC-32 (bit 31 is x^0), modulo the CRC polynomial.
func gfMul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcXPow8 returns x^(8n) modulo the CRC polynomial.
func crcXPow8(n int64) uint32 {
	result := uint32(1) << 31 // x^0
	sq := uint32(1) << 30     // x^1
	for e := uint64(n) * 8; e != 0; e >>= 1 {
		if e&1 != 0 {
			result = gfMul(result, sq)
		}
		sq = gfMul(sq, sq)
	}
	return result
}

// crcCombine returns the CRC-32 of A followed by B from crcA, crcB and
// xLenB = crcXPow8(len(B)): the initial and final inversions cancel, so the
// CRC of the concatenation is crcA shifted over B's length plus crcB.
func crcCombine(crcA, crcB, xLenB uint32) uint32 {
	return gfMul(xLenB, crcA) ^ crcB
}

// serveGzipBomb streams a gzip member that inflates to ?mb= MiB of HTML
// (bombPrefix, then spaces): with Content-Encoding: gzip at
// /bad/gzip-bomb, unlabelled at /bad/gzip-unlabelled. Content-Length is
// announced; the body is built from three fixed buffers.
func (m *Market) serveGzipBomb(w http.ResponseWriter, r *http.Request) {
	mb, ok := queryInt(r, "mb", DefaultBombMB, MaxBombMB)
	if !ok || mb < 1 {
		http.Error(w, "marketsim: query parameter mb must be a whole number from 1 to "+strconv.Itoa(MaxBombMB), http.StatusBadRequest)
		return
	}
	p := gzipBomb()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Path == "/bad/gzip-bomb" {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.FormatInt(p.size(mb), 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	ctx := r.Context()
	if _, err := w.Write(p.header); err != nil {
		return
	}
	if _, err := w.Write(p.first); err != nil {
		return
	}
	for left := mb - 1; left > 0; {
		if ctx.Err() != nil {
			return
		}
		n := min(left, p.perUnit)
		if _, err := w.Write(p.batch[:n*len(p.unit)]); err != nil {
			return
		}
		left -= n
	}
	if _, err := w.Write(p.final); err != nil {
		return
	}
	w.Write(p.trailer(mb))
}

// --- charsets ---

// charsetPage is a small Chinese page in GB 18030 bytes; meta, when not
// empty, is declared in a meta tag.
func charsetPage(meta string) []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n")
	if meta != "" {
		b.WriteString("<meta charset=\"" + meta + "\">\n")
	}
	b.WriteString("<title>字符集测试页</title>\n</head>\n<body>\n<h1>字符集测试页</h1>\n<p>")
	b.WriteString(ProbeText)
	b.WriteString("</p>\n<p class=\"price\">¥128.00</p>\n</body>\n</html>\n")
	out, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(b.String()))
	if err != nil {
		panic("marketsim: gb18030 encoding failed: " + err.Error())
	}
	return out
}

var (
	gbPageNoMeta   = sync.OnceValue(func() []byte { return charsetPage("") })
	gbPageUTF8Meta = sync.OnceValue(func() []byte { return charsetPage("utf-8") })
)

func writeFixed(w http.ResponseWriter, contentType string, body []byte) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	} else {
		// An empty value keeps net/http from sniffing and adding one.
		w.Header()["Content-Type"] = nil
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// serveCharsetWrong sends GB 18030 bytes declared as UTF-8: in the header,
// or with ?via=meta in a meta tag and not in the header.
func serveCharsetWrong(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("via") {
	case "", "header":
		writeFixed(w, "text/html; charset=utf-8", gbPageNoMeta())
	case "meta":
		writeFixed(w, "text/html", gbPageUTF8Meta())
	default:
		http.Error(w, "marketsim: query parameter via must be header or meta", http.StatusBadRequest)
	}
}

// serveCharsetMissing sends GB 18030 bytes with no charset anywhere.
func serveCharsetMissing(w http.ResponseWriter, r *http.Request) {
	writeFixed(w, "text/html", gbPageNoMeta())
}

// --- pages that never finish ---

// neverParts are the content type and first bytes of /bad/never-ends by
// ?type=.
var neverParts = map[string][2]string{
	"html": {"text/html; charset=utf-8", "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>加载中的页面</title>\n</head>\n<body>\n<h1>加载中的页面</h1>\n<p>" + ProbeText + "</p>\n<p>"},
	"css":  {"text/css; charset=utf-8", "body { color: #222; }\n.slow { "},
	"js":   {"text/javascript; charset=utf-8", "var stillLoading = [1, 2, "},
	"png":  {"image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x40\x00\x00\x00\x40\x08\x06\x00\x00\x00"},
}

// serveNeverEnds sends its headers and the start of a body, then holds the
// connection until the client goes away, the server stops or ?max= seconds
// pass, and aborts the response rather than finishing it, so the client
// never sees a complete body.
func serveNeverEnds(w http.ResponseWriter, r *http.Request) {
	secs, ok := queryInt(r, "max", DefaultNeverSecs, MaxNeverSecs)
	if !ok {
		badRequest(w, "max", MaxNeverSecs)
		return
	}
	typ := r.URL.Query().Get("type")
	if typ == "" {
		typ = "html"
	}
	part, ok := neverParts[typ]
	if !ok {
		http.Error(w, "marketsim: query parameter type must be html, css, js or png", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", part[0])
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	w.Write([]byte(part[1]))
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	hold(r.Context(), time.Duration(secs)*time.Second)
	// Ending normally would close the chunked body cleanly; abort instead.
	panic(http.ErrAbortHandler)
}

// hold waits until ctx ends or d passes.
func hold(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// serveStuckResource is a whole page with a sub-resource from
// /bad/never-ends, by ?res=: img (the default; all text shows, the load
// event never fires), css (a stylesheet in the head, which holds up the
// first paint) or js (a script in the middle of the body, which holds up
// the parser: the text after it never appears).
func serveStuckResource(w http.ResponseWriter, r *http.Request) {
	secs, ok := queryInt(r, "max", DefaultNeverSecs, MaxNeverSecs)
	if !ok {
		badRequest(w, "max", MaxNeverSecs)
		return
	}
	res := r.URL.Query().Get("res")
	switch res {
	case "":
		res = "img"
	case "img", "css", "js":
	default:
		http.Error(w, "marketsim: query parameter res must be img, css or js", http.StatusBadRequest)
		return
	}
	src := func(h *html, typ string) {
		h.raw("/bad/never-ends?type=")
		h.raw(typ)
		h.raw("&amp;max=")
		h.num(secs)
	}
	h := newHTML()
	h.raw("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>资源加载不完的页面</title>\n")
	if res == "css" {
		h.raw("<link rel=\"stylesheet\" href=\"")
		src(h, "css")
		h.raw("\">\n")
	}
	h.raw("</head>\n<body>\n<h1>资源加载不完的页面</h1>\n<p>")
	h.text(ProbeText)
	h.raw("</p>\n")
	switch res {
	case "img":
		h.raw("<img src=\"")
		src(h, "png")
		h.raw("\" alt=\"\" width=\"64\" height=\"64\">\n")
	case "js":
		h.raw("<script src=\"")
		src(h, "js")
		h.raw("\"></script>\n")
	}
	h.raw("<p>资源之后的文字。</p>\n</body>\n</html>\n")
	w.Header().Set("Cache-Control", "no-store")
	writePage(w, h, false)
}

// serveSlowHeaders takes over the connection and drips the response head,
// one header line every SlowInterval for ?s= seconds, then sends a small
// page and closes. It stops when the client hangs up (noticed by a read that
// ends, or a write that fails) or the server stops.
func serveSlowHeaders(w http.ResponseWriter, r *http.Request) {
	secs, ok := queryInt(r, "s", DefaultSlowSecs, MaxSlowSecs)
	if !ok {
		badRequest(w, "s", MaxSlowSecs)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "marketsim: slow headers need an HTTP/1 connection: "+err.Error(), http.StatusHTTPVersionNotSupported)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		// The client sends nothing more; the read ends when it hangs up
		// or when the deferred Close runs.
		io.Copy(io.Discard, brw.Reader)
		cancel()
	}()
	write := func(s string) bool {
		conn.SetWriteDeadline(time.Now().Add(hijackWriteBudget))
		_, err := io.WriteString(conn, s)
		return err == nil && ctx.Err() == nil
	}
	if !write("HTTP/1.1 200 OK\r\n") {
		return
	}
	tick := time.NewTicker(SlowInterval)
	defer tick.Stop()
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for i := 1; time.Now().Before(end); i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !write("X-Slow-Header-" + strconv.Itoa(i) + ": " + strconv.Itoa(i) + "\r\n") {
			return
		}
	}
	const body = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>slow headers</title></head><body><p>" + ProbeText + "</p></body></html>\n"
	write("Content-Type: text/html; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}

// --- huge DOM ---

// serveHugeDOM streams ?n= rows inside ?depth= nested divs. It stops when
// the client goes away.
func serveHugeDOM(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(r, "n", DefaultDOMNodes, MaxDOMNodes)
	if !ok {
		badRequest(w, "n", MaxDOMNodes)
		return
	}
	depth, ok := queryInt(r, "depth", DefaultDOMDepth, MaxDOMDepth)
	if !ok {
		badRequest(w, "depth", MaxDOMDepth)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	ctx := r.Context()
	buf := make([]byte, 0, 64<<10)
	flush := func() bool {
		if ctx.Err() != nil {
			return false
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err == nil
	}
	buf = append(buf, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>巨型页面</title>\n</head>\n<body>\n<h1>巨型页面</h1>\n"...)
	for range depth {
		buf = append(buf, "<div class=\"d\">"...)
		if len(buf) > 60<<10 && !flush() {
			return
		}
	}
	for i := range n {
		buf = append(buf, "<div class=\"row\">第"...)
		buf = strconv.AppendInt(buf, int64(i+1), 10)
		buf = append(buf, "行 商品占位文字</div>\n"...)
		if len(buf) > 60<<10 && !flush() {
			return
		}
	}
	for range depth {
		buf = append(buf, "</div>"...)
		if len(buf) > 60<<10 && !flush() {
			return
		}
	}
	buf = append(buf, "\n</body>\n</html>\n"...)
	flush()
}

// --- script pages ---

// scriptPage serves a small page whose body is body (markup and scripts).
func scriptPage(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := newHTML()
		h.head("脚本测试页", false, false, 0)
		h.raw(body)
		h.raw("</body>\n</html>\n")
		w.Header().Set("Cache-Control", "no-store")
		writePage(w, h, false)
	}
}

const dialogsBody = `<h1>弹窗页面</h1>
<p>` + ProbeText + `</p>
<p id="after">等待弹窗关闭</p>
<script>
alert("alert while loading");
var answer = confirm("confirm while loading");
var given = prompt("prompt while loading", "default");
document.getElementById("after").textContent = "弹窗已关闭";
window.addEventListener("load", function () { alert("alert on load"); });
</script>
`

const beforeUnloadBody = `<h1>离开确认页面</h1>
<p>` + ProbeText + `</p>
<script>
window.addEventListener("beforeunload", function (e) {
  e.preventDefault();
  e.returnValue = "";
  return "";
});
</script>
`

const busyLoopBody = `<h1>死循环页面</h1>
<p>` + ProbeText + `</p>
<script>
while (true) {}
</script>
<p>循环之后的文字</p>
`

const reloadLoopBody = `<h1>不断刷新的页面</h1>
<p>` + ProbeText + `</p>
<script>
location.reload();
</script>
`

// servePopups opens ?n= windows on load, then one every 250 ms until 2n.
func servePopups(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(r, "n", DefaultPopups, MaxPopups)
	if !ok {
		badRequest(w, "n", MaxPopups)
		return
	}
	body := `<h1>弹出窗口页面</h1>
<p>` + ProbeText + `</p>
<script>
(function () {
  var n = ` + strconv.Itoa(n) + `, opened = 0;
  function pop() {
    opened++;
    window.open("/bad/popups/child?i=" + opened, "popup" + opened, "width=300,height=200");
  }
  window.addEventListener("load", function () {
    for (var i = 0; i < n; i++) { pop(); }
    var t = setInterval(function () {
      if (opened >= 2 * n) { clearInterval(t); return; }
      pop();
    }, 250);
  });
})();
</script>
`
	scriptPage(body)(w, r)
}

func servePopupChild(w http.ResponseWriter, r *http.Request) {
	i, ok := queryInt(r, "i", 0, 2*MaxPopups)
	if !ok {
		badRequest(w, "i", 2*MaxPopups)
		return
	}
	scriptPage("<h1>弹出的窗口</h1>\n<p>第"+strconv.Itoa(i)+"个弹出窗口</p>\n")(w, r)
}
