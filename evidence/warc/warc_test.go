package warc

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"shopwatch"
	"shopwatch/evidence/warc/warctest"
)

var captureTime = time.Date(2026, 3, 1, 10, 15, 0, 123456789, time.FixedZone("CST", 8*3600))

func testPage(t *testing.T) *shopwatch.Page {
	t.Helper()
	gbkBody, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(
		"<html><head><meta charset=\"gbk\"><title>商品详情</title></head><body>国家级产品，最佳效果</body></html>"))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var shot bytes.Buffer
	if err := png.Encode(&shot, img); err != nil {
		t.Fatal(err)
	}
	return &shopwatch.Page{
		URL:      "http://shop.example/item?id=1",
		FinalURL: "https://shop.example/item/1",
		Status:   200,
		HTML:     "<html><head><title>商品详情</title></head><body>国家级产品，最佳效果</body></html>",
		Text:     "商品详情\n国家级产品，最佳效果",
		Exchanges: []shopwatch.Exchange{
			{
				Method:         "GET",
				URL:            "http://shop.example/item?id=1",
				RequestHeader:  []byte("GET /item?id=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: shopwatch/test\r\n\r\n"),
				Status:         301,
				ResponseHeader: []byte("HTTP/1.1 301 Moved Permanently\r\nLocation: https://shop.example/item/1\r\nContent-Length: 9\r\n\r\n"),
				Body:           []byte("moved\r\n\r\n"), // looks like a record end on purpose
				ContentLength:  9,
				RemoteAddr:     "203.0.113.7:80",
			},
			{
				Method:         "GET",
				URL:            "https://shop.example/item/1",
				RequestHeader:  []byte("GET /item/1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: shopwatch/test\r\nReferer: http://shop.example/item?id=1\r\n\r\n"),
				Status:         200,
				ResponseHeader: []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/html; charset=GBK\r\nContent-Length: 4096\r\n\r\n"),
				Body:           gbkBody,
				BodyTruncated:  true,
				ContentLength:  4096,
				RemoteAddr:     "[2001:db8::1%eth0]:443",
			},
		},
		FetchedAt:  captureTime.Add(2 * time.Second),
		Screenshot: shot.Bytes(),
		Rendered:   true,
	}
}

func testInfo() Info {
	return Info{
		Software:     "shopwatch",
		Version:      "1.2.3",
		Operator:     "inspector-017",
		Host:         "node-a.samr.local",
		CaptureTime:  captureTime,
		ConfigDigest: "sha256:" + strings.Repeat("ab", 32),
		Extra:        map[string]string{"isPartOf": "sweep-42", "clock-source": "ntp: ntp.ntsc.ac.cn"},
	}
}

func writeFile(t *testing.T, page *shopwatch.Page, info Info) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, page, info); err != nil {
		t.Fatal(err)
	}
	// Every file these tests write must also read under gowarc's strict
	// validation, not only under this package's own reader.
	warctest.Check(t, buf.Bytes())
	return buf.Bytes()
}

var uuidV4 = regexp.MustCompile(`^<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}>$`)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestWriteRead(t *testing.T) {
	page := testPage(t)
	file := writeFile(t, page, testInfo())
	recs, err := Read(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}

	wantTypes := []string{"warcinfo", "request", "response", "request", "response", "resource", "resource", "resource"}
	var gotTypes []string
	for _, r := range recs {
		gotTypes = append(gotTypes, r.Type)
	}
	if strings.Join(gotTypes, ",") != strings.Join(wantTypes, ",") {
		t.Fatalf("record types = %v, want %v", gotTypes, wantTypes)
	}

	date := "2026-03-01T02:15:00.123456789Z"
	ids := map[string]bool{}
	infoID := recs[0].Headers.Get("WARC-Record-ID")
	for i, r := range recs {
		if r.Version != "WARC/1.1" {
			t.Errorf("record %d: version %q", i, r.Version)
		}
		id := r.Headers.Get("WARC-Record-ID")
		if !uuidV4.MatchString(id) {
			t.Errorf("record %d: record id %q is not a v4 urn:uuid", i, id)
		}
		if ids[id] {
			t.Errorf("record %d: duplicate id %s", i, id)
		}
		ids[id] = true
		if got := r.Headers.Get("WARC-Date"); got != date {
			t.Errorf("record %d: WARC-Date %q, want %q", i, got, date)
		}
		if got := r.Headers.Get("WARC-Block-Digest"); got != sha(r.Block) {
			t.Errorf("record %d: block digest %q, recomputed %q", i, got, sha(r.Block))
		}
		if err := r.Verify(); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
		for _, name := range []string{"WARC-Type", "WARC-Record-ID", "WARC-Date", "Content-Type", "Content-Length", "WARC-Block-Digest"} {
			if n := len(r.Headers.Values(name)); n != 1 {
				t.Errorf("record %d: %d %s fields, want 1", i, n, name)
			}
		}
		if i > 0 {
			if got := r.Headers.Get("WARC-Warcinfo-ID"); got != infoID {
				t.Errorf("record %d: WARC-Warcinfo-ID %q, want %q", i, got, infoID)
			}
			if r.Headers.Get("WARC-Target-URI") == "" {
				t.Errorf("record %d: no WARC-Target-URI", i)
			}
		}
	}

	// warcinfo
	info := string(recs[0].Block)
	if ct := recs[0].Headers.Get("Content-Type"); ct != "application/warc-fields" {
		t.Errorf("warcinfo content type %q", ct)
	}
	for _, line := range []string{
		"software: shopwatch/1.2.3\r\n",
		"format: WARC File Format 1.1\r\n",
		"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n",
		"operator: inspector-017\r\n",
		"hostname: node-a.samr.local\r\n",
		"config-digest: sha256:" + strings.Repeat("ab", 32) + "\r\n",
		"clock-source: ntp: ntp.ntsc.ac.cn\r\nisPartOf: sweep-42\r\n",
	} {
		if !strings.Contains(info, line) {
			t.Errorf("warcinfo lacks %q:\n%s", line, info)
		}
	}

	// exchanges
	for i, x := range page.Exchanges {
		req, res := recs[1+2*i], recs[2+2*i]
		if !bytes.Equal(req.Block, x.RequestHeader) {
			t.Errorf("exchange %d: request block differs from the sent bytes", i)
		}
		want := append(append([]byte{}, x.ResponseHeader...), x.Body...)
		if !bytes.Equal(res.Block, want) {
			t.Errorf("exchange %d: response block differs from the received bytes", i)
		}
		if ct := req.Headers.Get("Content-Type"); ct != "application/http;msgtype=request" {
			t.Errorf("exchange %d: request content type %q", i, ct)
		}
		if ct := res.Headers.Get("Content-Type"); ct != "application/http;msgtype=response" {
			t.Errorf("exchange %d: response content type %q", i, ct)
		}
		for _, r := range []Record{req, res} {
			if got := r.Headers.Get("WARC-Target-URI"); got != x.URL {
				t.Errorf("exchange %d %s: target %q, want %q", i, r.Type, got, x.URL)
			}
		}
		if req.Headers.Get("WARC-Concurrent-To") != res.Headers.Get("WARC-Record-ID") ||
			res.Headers.Get("WARC-Concurrent-To") != req.Headers.Get("WARC-Record-ID") {
			t.Errorf("exchange %d: request and response do not name each other", i)
		}
		if got := res.Headers.Get("WARC-Payload-Digest"); got != sha(x.Body) {
			t.Errorf("exchange %d: payload digest %q, want %q", i, got, sha(x.Body))
		}
		if p, ok := res.Payload(); !ok || !bytes.Equal(p, x.Body) {
			t.Errorf("exchange %d: Payload() = %q, %v; want the body", i, p, ok)
		}
		trunc := res.Headers.Values("WARC-Truncated")
		wantTrunc := []string(nil)
		switch {
		case x.BodyTruncated:
			wantTrunc = []string{"length"}
		case x.BodyMissing:
			wantTrunc = []string{"unspecified"}
		}
		if !slices.Equal(trunc, wantTrunc) {
			t.Errorf("exchange %d: WARC-Truncated %v, want %v (body truncated %v, missing %v)", i, trunc, wantTrunc, x.BodyTruncated, x.BodyMissing)
		}
		if req.Headers.Get("WARC-Truncated") != "" {
			t.Errorf("exchange %d: request marked truncated", i)
		}
	}
	for i, want := range []string{"203.0.113.7", "2001:db8::1"} {
		for _, r := range recs[1+2*i : 3+2*i] {
			if got := r.Headers.Get("WARC-IP-Address"); got != want {
				t.Errorf("exchange %d %s: WARC-IP-Address %q, want %q", i, r.Type, got, want)
			}
		}
	}

	// resources
	for i, want := range []struct {
		uri, ctype string
		block      []byte
	}{
		{"urn:shopwatch:rendered-dom:https://shop.example/item/1", "text/html; charset=utf-8", []byte(page.HTML)},
		{"urn:shopwatch:text:https://shop.example/item/1", "text/plain; charset=utf-8", []byte(page.Text)},
		{"urn:shopwatch:screenshot:https://shop.example/item/1", "image/png", page.Screenshot},
	} {
		r := recs[5+i]
		if got := r.Headers.Get("WARC-Target-URI"); got != want.uri {
			t.Errorf("resource %d: target %q, want %q", i, got, want.uri)
		}
		if got := r.Headers.Get("Content-Type"); got != want.ctype {
			t.Errorf("resource %d: content type %q, want %q", i, got, want.ctype)
		}
		if !bytes.Equal(r.Block, want.block) {
			t.Errorf("resource %d: block differs", i)
		}
		if got := r.Headers.Get("WARC-Payload-Digest"); got != sha(want.block) {
			t.Errorf("resource %d: payload digest %q", i, got)
		}
	}
	if _, err := png.Decode(bytes.NewReader(recs[7].Block)); err != nil {
		t.Errorf("screenshot block is not a PNG: %v", err)
	}
}

// TestGzipMembers checks that every record is a gzip member of its own,
// with the exact framing: head, Content-Length bytes of block, CRLF CRLF.
func TestGzipMembers(t *testing.T) {
	file := writeFile(t, testPage(t), testInfo())
	br := bufio.NewReader(bytes.NewReader(file))
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	members := 0
	for {
		zr.Multistream(false)
		member, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("member %d: %v", members+1, err)
		}
		members++
		recs, err := Read(bytes.NewReader(member))
		if err != nil || len(recs) != 1 {
			t.Fatalf("member %d: %d records, %v; want one", members, len(recs), err)
		}
		head := member[:bytes.Index(member, []byte("\r\n\r\n"))+4]
		if !bytes.HasPrefix(head, []byte("WARC/1.1\r\n")) {
			t.Errorf("member %d does not start with the version line", members)
		}
		if want := len(head) + len(recs[0].Block) + 4; len(member) != want {
			t.Errorf("member %d: %d bytes, want head %d + block %d + 4", members, len(member), len(head), len(recs[0].Block))
		}
		if !bytes.HasSuffix(member, []byte("\r\n\r\n")) {
			t.Errorf("member %d does not end in CRLF CRLF", members)
		}
		if err := zr.Reset(br); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if members != 8 {
		t.Errorf("%d gzip members, want 8", members)
	}
}

func TestPlainAndTamper(t *testing.T) {
	file := writeFile(t, testPage(t), testInfo())
	zr, err := gzip.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Read(bytes.NewReader(plain))
	if err != nil || len(recs) != 8 {
		t.Fatalf("plain read: %d records, %v", len(recs), err)
	}

	// A flipped body byte breaks both digests of the response.
	res := recs[4]
	res.Block = bytes.Clone(res.Block)
	res.Block[len(res.Block)-1] ^= 1
	if err := res.Verify(); err == nil || !strings.Contains(err.Error(), "block") {
		t.Errorf("tampered block: Verify = %v", err)
	}
	res.Headers = append(Header{}, res.Headers...)
	for i, f := range res.Headers {
		if f.Name == "WARC-Block-Digest" {
			res.Headers[i].Value = sha(res.Block)
		}
	}
	if err := res.Verify(); err == nil || !strings.Contains(err.Error(), "payload") {
		t.Errorf("tampered payload with fixed block digest: Verify = %v", err)
	}

	// A file cut short is an error, not fewer records.
	if _, err := Read(bytes.NewReader(plain[:len(plain)-3])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut file: %v, want unexpected EOF", err)
	}
}

func TestNoResponseAndDefaults(t *testing.T) {
	page := &shopwatch.Page{
		URL: "https://down.example/",
		Exchanges: []shopwatch.Exchange{
			{Method: "GET", URL: "https://down.example/", Err: "connection refused"},
			{Method: "GET", URL: "https://down.example/",
				RequestHeader: []byte("GET / HTTP/1.1\r\nHost: down.example\r\n\r\n"),
				Err:           "read: connection reset", RemoteAddr: "198.51.100.2:443"},
		},
		FetchedAt: captureTime,
	}
	recs, err := Read(bytes.NewReader(writeFile(t, page, Info{})))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Type != "warcinfo" || recs[1].Type != "request" {
		t.Fatalf("got %d records, want warcinfo and one request", len(recs))
	}
	if recs[1].Headers.Get("WARC-Concurrent-To") != "" {
		t.Error("request without response names a concurrent record")
	}
	if got := recs[1].Headers.Get("WARC-Date"); got != "2026-03-01T02:15:00.123456789Z" {
		t.Errorf("WARC-Date from FetchedAt = %q", got)
	}
	if !strings.Contains(string(recs[0].Block), "software: shopwatch/"+shopwatch.Version+"\r\n") {
		t.Errorf("default software field missing:\n%s", recs[0].Block)
	}
	for _, r := range recs {
		if err := r.Verify(); err != nil {
			t.Error(err)
		}
	}

	// A non-rendered page's markup is the decoded body, not a DOM.
	page.HTML = "<p>x</p>"
	recs, err = Read(bytes.NewReader(writeFile(t, page, Info{})))
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[len(recs)-1].Headers.Get("WARC-Target-URI"); got != "urn:shopwatch:decoded-html:https://down.example/" {
		t.Errorf("decoded markup target %q", got)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	good := testPage(t)
	cases := map[string]struct {
		page *shopwatch.Page
		info Info
	}{
		"nil page":       {nil, testInfo()},
		"no time":        {&shopwatch.Page{URL: "https://x.example/"}, Info{}},
		"extra colon":    {good, Info{CaptureTime: captureTime, Extra: map[string]string{"a:b": "c"}}},
		"extra reserved": {good, Info{CaptureTime: captureTime, Extra: map[string]string{"Operator": "x"}}},
		"newline value":  {good, Info{CaptureTime: captureTime, Operator: "a\r\nWARC-Type: resource"}},
		"newline url": {&shopwatch.Page{FetchedAt: captureTime, Exchanges: []shopwatch.Exchange{{
			URL: "https://x.example/\r\nX: y", RequestHeader: []byte("GET / HTTP/1.1\r\n\r\n")}}}, Info{}},
	}
	for name, c := range cases {
		var buf bytes.Buffer
		err := Write(&buf, c.page, c.info)
		if err == nil || !strings.HasPrefix(err.Error(), "warc: ") {
			t.Errorf("%s: err = %v", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", name, buf.Len())
		}
	}
	err := Write(&failWriter{n: 600}, good, testInfo())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failing writer: %v", err)
	}
}

// TestIndependentReader reads the file with gowarc, an implementation that
// shares no code with this package, in its strict mode: the same records in
// the same order, the request and response blocks byte for byte as they
// crossed the wire, the HTTP payload equal to the stored body, each request
// and response naming the other with WARC-Concurrent-To.
func TestIndependentReader(t *testing.T) {
	page := testPage(t)
	recs := warctest.Check(t, writeFile(t, page, testInfo()))
	wantTypes := []string{"warcinfo", "request", "response", "request", "response", "resource", "resource", "resource"}
	var gotTypes []string
	for _, r := range recs {
		gotTypes = append(gotTypes, r.Type)
	}
	if !slices.Equal(gotTypes, wantTypes) {
		t.Fatalf("gowarc read record types %v, want %v", gotTypes, wantTypes)
	}
	for i, x := range page.Exchanges {
		req, res := recs[1+2*i], recs[2+2*i]
		if !bytes.Equal(req.Block, x.RequestHeader) {
			t.Errorf("exchange %d: request block %q, want %q", i+1, req.Block, x.RequestHeader)
		}
		if want := append(slices.Clone(x.ResponseHeader), x.Body...); !bytes.Equal(res.Block, want) {
			t.Errorf("exchange %d: response block differs from head and body as stored", i+1)
		}
		if req.Get("WARC-Concurrent-To") != res.ID || res.Get("WARC-Concurrent-To") != req.ID {
			t.Errorf("exchange %d: request %s and response %s do not name each other (%q, %q)",
				i+1, req.ID, res.ID, req.Get("WARC-Concurrent-To"), res.Get("WARC-Concurrent-To"))
		}
		if req.Get("WARC-Target-URI") != x.URL || res.Get("WARC-Target-URI") != x.URL {
			t.Errorf("exchange %d: target URIs %q, %q, want %q", i+1, req.Get("WARC-Target-URI"), res.Get("WARC-Target-URI"), x.URL)
		}
	}
	// gowarc takes the payload to start after the first HTTP head; the
	// first exchange has no interim response, so it is the body as stored.
	if !bytes.Equal(recs[2].Payload, page.Exchanges[0].Body) {
		t.Errorf("payload of the first response %q, want %q", recs[2].Payload, page.Exchanges[0].Body)
	}
	for i, want := range [][]byte{[]byte(page.HTML), []byte(page.Text), page.Screenshot} {
		if r := recs[5+i]; !bytes.Equal(r.Block, want) {
			t.Errorf("resource %s: block differs from the page's", r.Get("WARC-Target-URI"))
		}
	}
}

// TestBodyMissing: a response whose body the browser did not hand over is
// written with its head, an empty payload and WARC-Truncated: unspecified,
// so a reader does not take it for an empty response.
func TestBodyMissing(t *testing.T) {
	page := testPage(t)
	page.Exchanges = append(page.Exchanges, shopwatch.Exchange{
		Method:         "GET",
		URL:            "https://shop.example/broken.png",
		RequestHeader:  []byte("GET /broken.png HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
		Status:         404,
		ResponseHeader: []byte("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n\r\n"),
		BodyMissing:    true,
		ContentLength:  19,
	})
	recs, err := Read(bytes.NewReader(writeFile(t, page, testInfo())))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range recs {
		if r.Type != "response" || r.Headers.Get("WARC-Target-URI") != "https://shop.example/broken.png" {
			continue
		}
		found = true
		if got := r.Headers.Values("WARC-Truncated"); !slices.Equal(got, []string{"unspecified"}) {
			t.Errorf("WARC-Truncated %v, want [unspecified]", got)
		}
		if p, ok := r.Payload(); !ok || len(p) != 0 {
			t.Errorf("payload %q, %v; want empty", p, ok)
		}
	}
	if !found {
		t.Fatal("no response record for the image")
	}
}
