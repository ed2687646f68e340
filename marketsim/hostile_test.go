package marketsim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// rawClient fetches without transparent gzip, so bodies arrive as sent.
func rawClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}
}

func TestCRCCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {3, 5}, {100, 1000}, {4096, 77}, {1, 1 << 16}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte(nil), a...), b...))
		got := crcCombine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), crcXPow8(int64(len(b))))
		if got != want {
			t.Errorf("combine %d+%d bytes: %08x, want %08x", n[0], n[1], got, want)
		}
	}
}

// inflated reads a gzip stream through a bounded reader and returns how many
// bytes it inflates to (at most limit), its first bytes, and whether every
// byte after bombPrefix is a space.
func inflated(t *testing.T, body io.Reader, limit int64) (n int64, head []byte, spaces bool, err error) {
	t.Helper()
	zr, err := gzip.NewReader(body)
	if err != nil {
		return 0, nil, false, err
	}
	defer zr.Close()
	spaces = true
	buf := make([]byte, 64<<10)
	lr := io.LimitReader(zr, limit)
	for {
		k, rerr := lr.Read(buf)
		chunk := buf[:k]
		if n < int64(len(bombPrefix)) {
			take := min(int64(k), int64(len(bombPrefix))-n)
			head = append(head, chunk[:take]...)
			chunk = chunk[take:]
		}
		if len(chunk) > 0 && len(bytes.Trim(chunk, " ")) != 0 {
			spaces = false
		}
		n += int64(k)
		if rerr == io.EOF {
			return n, head, spaces, nil
		}
		if rerr != nil {
			return n, head, spaces, rerr
		}
	}
}

func TestGzipBomb(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	c := rawClient()

	// The default bomb: about 1 MiB on the wire for 1 GiB inflated.
	resp, body := fetch(t, c, http.MethodGet, srv.URL+"/bad/gzip-bomb")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != int64(len(body)) {
		t.Fatalf("gzip-bomb: %d, encoding %q, length %d for %d bytes", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.ContentLength, len(body))
	}
	if len(body) > 1100<<10 {
		t.Errorf("gzip-bomb: %d bytes on the wire for %d MiB", len(body), DefaultBombMB)
	}
	const peek = 32 << 20
	n, head, spaces, err := inflated(t, bytes.NewReader(body), peek)
	if err != nil || n != peek || string(head) != bombPrefix || !spaces {
		t.Errorf("gzip-bomb: first %d inflated bytes (err %v), head %q, spaces %v", n, err, head, spaces)
	}
	t.Logf("gzip-bomb: %d bytes inflate to %d MiB (%.0f:1)", len(body), DefaultBombMB, float64(int64(DefaultBombMB)<<20)/float64(len(body)))

	// A small bomb inflated to the end: exactly mb MiB, and gzip's own
	// CRC-32 and length check pass at EOF.
	for _, mb := range []int{1, 2, 9} {
		resp, body := fetch(t, c, http.MethodGet, srv.URL+"/bad/gzip-bomb?mb="+strconv.Itoa(mb))
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("mb=%d: length %d, body %d", mb, resp.ContentLength, len(body))
		}
		n, head, spaces, err := inflated(t, bytes.NewReader(body), int64(mb)<<20+1)
		if err != nil || n != int64(mb)<<20 || string(head) != bombPrefix || !spaces {
			t.Errorf("mb=%d: inflates to %d bytes (err %v), want %d", mb, n, err, int64(mb)<<20)
		}
	}

	// The unlabelled bomb: the same bytes, no Content-Encoding.
	resp, raw := fetch(t, c, http.MethodGet, srv.URL+"/bad/gzip-unlabelled")
	if resp.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!bytes.Equal(raw, body) || !bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		t.Errorf("gzip-unlabelled: encoding %q, type %q, %d bytes, same as labelled %v",
			resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"), len(raw), bytes.Equal(raw, body))
	}
	for _, q := range []string{"0", "-1", "x", strconv.Itoa(MaxBombMB + 1)} {
		if resp, _ := fetch(t, c, http.MethodGet, srv.URL+"/bad/gzip-bomb?mb="+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("mb=%s: %d", q, resp.StatusCode)
		}
	}

	// The biggest bomb stops when the reader gives up.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/bad/gzip-bomb?mb="+strconv.Itoa(MaxBombMB), nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength < 16<<20 {
		t.Errorf("mb=%d announces %d bytes", MaxBombMB, resp.ContentLength)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	if m.Running("/bad/gzip-bomb") != 1 {
		t.Errorf("%d bomb handlers running, want 1", m.Running("/bad/gzip-bomb"))
	}
	cancel()
	resp.Body.Close()
	waitZero(t, "gzip-bomb", func() int64 { return int64(m.Running("/bad/gzip-bomb")) })
}

func TestCharsetEndpoints(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	gb := func(raw []byte) string {
		s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	for _, tc := range []struct {
		path, ct string
		meta     bool
	}{
		{"/bad/charset-wrong", "text/html; charset=utf-8", false},
		{"/bad/charset-wrong?via=header", "text/html; charset=utf-8", false},
		{"/bad/charset-wrong?via=meta", "text/html", true},
		{"/bad/charset-missing", "text/html", false},
	} {
		resp, raw := fetch(t, srv.Client(), http.MethodGet, srv.URL+tc.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ct {
			t.Errorf("%s: %d %q, want %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ct)
		}
		if utf8.Valid(raw) {
			t.Errorf("%s: body is valid UTF-8, want GB 18030 bytes", tc.path)
		}
		page := gb(raw)
		if !strings.Contains(page, ProbeText) || !strings.Contains(page, "¥128.00") {
			t.Errorf("%s: GB 18030 decoding lacks the probe text", tc.path)
		}
		if got := bytes.Contains(raw, []byte(`<meta charset="utf-8">`)); got != tc.meta {
			t.Errorf("%s: meta charset present %v, want %v", tc.path, got, tc.meta)
		}
		if !tc.meta && bytes.Contains(bytes.ToLower(raw), []byte("charset")) {
			t.Errorf("%s: the markup names a charset", tc.path)
		}
	}
	if resp, _ := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/charset-wrong?via=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("via=x: %d", resp.StatusCode)
	}
}

// startNeverEnds sends a GET of url and returns the response once its head
// has arrived.
func startNeverEnds(t *testing.T, ctx context.Context, c *http.Client, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestNeverEnds(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	c := rawClient()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := startNeverEnds(t, ctx, c, srv.URL+"/bad/never-ends")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.ContentLength != -1 {
		t.Fatalf("never-ends: %d %q length %d", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength)
	}
	part := neverParts["html"][1]
	got := make([]byte, len(part))
	if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != part || !strings.Contains(part, ProbeText) {
		t.Fatalf("never-ends: first bytes %q (%v)", got, err)
	}
	if n := m.Running("/bad/never-ends"); n != 1 {
		t.Errorf("%d never-ends handlers, want 1", n)
	}
	cancel()
	resp.Body.Close()
	waitZero(t, "never-ends", func() int64 { return int64(m.Running("/bad/never-ends")) })

	// At its maximum the server aborts the body: the client sees an error,
	// not a finished page.
	resp = startNeverEnds(t, context.Background(), c, srv.URL+"/bad/never-ends?max=1&type=css")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || string(body) != neverParts["css"][1] {
		t.Errorf("never-ends max=1: %q, %q, err %v; want the partial body and an error", resp.Header.Get("Content-Type"), body, err)
	}
	for typ, ct := range map[string]string{"js": "text/javascript; charset=utf-8", "png": "image/png"} {
		resp := startNeverEnds(t, context.Background(), c, srv.URL+"/bad/never-ends?max=0&type="+typ)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != ct || err == nil || string(body) != neverParts[typ][1] {
			t.Errorf("never-ends type=%s: %q, %q, %v", typ, resp.Header.Get("Content-Type"), body, err)
		}
	}
	for _, q := range []string{"max=-1", "max=" + strconv.Itoa(MaxNeverSecs+1), "type=gif"} {
		if resp, _ := fetch(t, c, http.MethodGet, srv.URL+"/bad/never-ends?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("never-ends?%s: %d", q, resp.StatusCode)
		}
	}

	// The stuck resource: a whole page with a never-ending sub-resource.
	for q, want := range map[string]string{
		"?max=7":         `<img src="/bad/never-ends?type=png&amp;max=7"`,
		"?res=img":       `<img src="/bad/never-ends?type=png&amp;max=300"`,
		"?res=css&max=2": `<link rel="stylesheet" href="/bad/never-ends?type=css&amp;max=2">`,
		"?res=js&max=3":  `<script src="/bad/never-ends?type=js&amp;max=3"></script>`,
	} {
		resp, page := fetch(t, c, http.MethodGet, srv.URL+"/bad/stuck-resource"+q)
		if resp.StatusCode != 200 || !bytes.Contains(page, []byte(ProbeText)) || !bytes.HasSuffix(page, []byte("</html>\n")) ||
			!bytes.Contains(page, []byte(want)) || bytes.Count(page, []byte("/bad/never-ends")) != 1 {
			t.Errorf("stuck-resource%s: %d %s", q, resp.StatusCode, page)
		}
	}
	if resp, _ := fetch(t, c, http.MethodGet, srv.URL+"/bad/stuck-resource?res=gif"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("res=gif: %d", resp.StatusCode)
	}
	waitZero(t, "never-ends", func() int64 { return int64(m.Running("/bad/never-ends")) })
}

func TestNeverEndsDoesNotHoldUpShutdown(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, err := ListenAndServe(ctx, "127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	c := rawClient()
	for _, path := range []string{"/bad/never-ends", "/bad/slow-headers?s=60"} {
		go func() {
			resp, err := c.Get(base + path)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	for m.Running("/bad/never-ends") == 0 || m.Running("/bad/slow-headers") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("handlers did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("done: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("server still running 4 s after cancel")
	}
	waitZero(t, "never-ends", func() int64 { return int64(m.Running("/bad/never-ends")) })
	waitZero(t, "slow-headers", func() int64 { return int64(m.Running("/bad/slow-headers")) })
}

func TestSlowHeaders(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)

	// Over a raw connection: the head arrives a line at a time.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "GET /bad/slow-headers?s=60 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	var lines []string
	for range 3 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", lines, err)
		}
		lines = append(lines, l)
	}
	if lines[0] != "HTTP/1.1 200 OK\r\n" || lines[1] != "X-Slow-Header-1: 1\r\n" || lines[2] != "X-Slow-Header-2: 2\r\n" {
		t.Errorf("head starts %q", lines)
	}
	if el := time.Since(start); el < 2*SlowInterval {
		t.Errorf("two header lines after %v, want at least %v", el, 2*SlowInterval)
	}
	if n := m.Running("/bad/slow-headers"); n != 1 {
		t.Errorf("%d slow-headers handlers, want 1", n)
	}
	conn.Close()
	waitZero(t, "slow-headers", func() int64 { return int64(m.Running("/bad/slow-headers")) })

	// A short drip ends in a whole response.
	resp, body := fetch(t, rawClient(), http.MethodGet, srv.URL+"/bad/slow-headers?s=1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Slow-Header-2") != "2" || !bytes.Contains(body, []byte(ProbeText)) {
		t.Errorf("slow-headers s=1: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if resp, _ := fetch(t, rawClient(), http.MethodGet, srv.URL+"/bad/slow-headers?s=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("s=x: %d", resp.StatusCode)
	}
}

func TestHugeDOM(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/huge-dom?n=5000&depth=300")
	if resp.StatusCode != 200 || !bytes.HasSuffix(body, []byte("</html>\n")) {
		t.Fatalf("huge-dom: %d, ends %q", resp.StatusCode, body[max(0, len(body)-20):])
	}
	if n := bytes.Count(body, []byte(`<div class="row">`)); n != 5000 {
		t.Errorf("%d rows, want 5000", n)
	}
	if n := bytes.Count(body, []byte(`<div class="d">`)); n != 300 || !bytes.Contains(body, bytes.Repeat([]byte(`<div class="d">`), 300)) {
		t.Errorf("%d nested divs, want 300 in a row", n)
	}
	if !bytes.Contains(body, []byte("第5000行")) {
		t.Error("last row missing")
	}
	for _, q := range []string{"n=-1", "depth=" + strconv.Itoa(MaxDOMDepth+1)} {
		if resp, _ := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/huge-dom?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("huge-dom?%s: %d", q, resp.StatusCode)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/bad/huge-dom?n="+strconv.Itoa(MaxDOMNodes), nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	waitZero(t, "huge-dom", func() int64 { return int64(m.Running("/bad/huge-dom")) })
}

func TestScriptPages(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	for path, want := range map[string][]string{
		"/bad/dialogs":      {"alert(", "confirm(", "prompt(", `addEventListener("load"`},
		"/bad/beforeunload": {`addEventListener("beforeunload"`, "preventDefault()"},
		"/bad/popups?n=3":   {"var n = 3,", "window.open(\"/bad/popups/child?i=\""},
		"/bad/busy-loop":    {"while (true) {}"},
		"/bad/reload-loop":  {"location.reload()"},
	} {
		resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+path)
		page := string(body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// The text comes before any script, so a static fetch (or a
		// browser stuck in the script) still has it.
		probe, script := strings.Index(page, ProbeText), strings.Index(page, "<script>")
		if probe < 0 || script < probe {
			t.Errorf("%s: probe text at %d, first script at %d", path, probe, script)
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	before := m.Hits("/bad/reload-loop")
	fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/reload-loop")
	if got := m.Hits("/bad/reload-loop"); got != before+1 {
		t.Errorf("reload-loop hits %d, then %d", before, got)
	}
	if resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/popups/child?i=4"); resp.StatusCode != 200 || !strings.Contains(string(body), "第4个弹出窗口") {
		t.Errorf("popup child: %d %s", resp.StatusCode, body)
	}
	for _, q := range []string{"/bad/popups?n=" + strconv.Itoa(MaxPopups+1), "/bad/popups/child?i=<b>"} {
		if resp, _ := fetch(t, srv.Client(), http.MethodGet, srv.URL+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
	if m.Hits("/nowhere") != 0 || m.Running("/nowhere") != 0 {
		t.Error("counts for an unknown path")
	}
}

func TestBadIndexListsEveryEndpoint(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	page := render(t, m, http.MethodGet, "/bad/").Body.String()
	if len(m.bad) < 20 {
		t.Fatalf("only %d /bad/ endpoints registered", len(m.bad))
	}
	for path := range m.bad {
		if !strings.Contains(page, "<code>"+path) {
			t.Errorf("/bad/ does not list %s", path)
		}
		// Every listed endpoint answers (the never-ending ones are
		// checked over HTTP elsewhere).
		switch path {
		case "/bad/never-ends", "/bad/slow-headers", "/bad/slow", "/bad/huge", "/bad/huge-dom", "/bad/gzip-bomb", "/bad/gzip-unlabelled":
			continue
		}
		if rec := render(t, m, http.MethodGet, path); rec.Code == http.StatusNotFound {
			t.Errorf("%s: 404", path)
		}
	}
}
