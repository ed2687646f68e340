package evidence

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSurtKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://www.Example.org/index.html", "org,example,www)/index.html"},
		{"http://example.com", "com,example)/"},
		{"http://example.com:80/a?b=C", "com,example)/a?b=c"},
		{"https://shop.example.cn:8443/item/1", "cn,example,shop:8443)/item/1"},
		{"http://127.0.0.1:8080/shop/7/", "127.0.0.1:8080)/shop/7/"},
		{"http://[::1]:9/x", "[::1]:9)/x"},
		{"urn:shopwatch:text:http://Example.com/", "urn:shopwatch:text:http://example.com/"},
	} {
		if got := surtKey(c.in); got != c.want {
			t.Errorf("surtKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestResourceNames(t *testing.T) {
	got := resourceNames([]string{"SHA256SUMS", "README.txt", "robots/a b.txt", "readme.txt", "README.txt-2", "exchanges/001.json"})
	want := []string{"sha256sums", "readme.txt", "robots/a_b.txt", "readme.txt-2", "readme.txt-2-2", "exchanges/001.json"}
	if !slices.Equal(got, want) {
		t.Errorf("resourceNames = %q, want %q", got, want)
	}
}

func TestCheckWACZName(t *testing.T) {
	for name, ok := range map[string]bool{
		"archive/capture.warc.gz": true, "exchanges/001-chain.pem": true, "snapshots/001.png": true, "robots/example.com.txt": true,
		"archive/notes.json": false, "indexes/extra.cdxj": false, "pages/extra.jsonl": false, "report.html": false,
		"datapackage.json": false, "report.pdf": false, "SHA256SUMS": false,
	} {
		if err := checkWACZName(name); (err == nil) != ok {
			t.Errorf("checkWACZName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// The indexer finds each record's gzip member exactly and refuses a WARC
// that is not one member per record.
func TestIndexWARCMembers(t *testing.T) {
	rec := func(typ, uri, extra, block string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte("WARC/1.1\r\nWARC-Type: " + typ + "\r\nWARC-Target-URI: " + uri + "\r\nWARC-Date: 2026-03-01T10:14:59Z\r\n" + extra +
			"Content-Length: " + itoa(len(block)) + "\r\n\r\n" + block + "\r\n\r\n"))
		zw.Close()
		return buf.Bytes()
	}
	resp := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=gbk\r\n\r\nbody"
	members := [][]byte{
		rec("warcinfo", "", "Content-Type: application/warc-fields\r\n", "software: x\r\n"),
		rec("request", "http://a.example/x", "", "GET /x HTTP/1.1\r\n\r\n"),
		rec("response", "http://a.example/x", "Content-Type: application/http;msgtype=response\r\n", resp),
		rec("resource", "urn:shopwatch:text:http://a.example/x", "Content-Type: text/plain; charset=utf-8\r\n", "text"),
	}
	file := bytes.Join(members, nil)
	lines, err := indexWARC(bytes.NewReader(file), "f.warc.gz")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 {
		t.Fatalf("lines = %q, want the response and the resource", lines)
	}
	off := int64(len(members[0]) + len(members[1]))
	for i, want := range []string{
		`example,a)/x 20260301101459 {"url":"http://a.example/x","mime":"text/html","offset":` + itoa(int(off)) + `,"length":` + itoa(len(members[2])) + `,"status":404,"filename":"f.warc.gz"}`,
		`urn:shopwatch:text:http://a.example/x 20260301101459 {"url":"urn:shopwatch:text:http://a.example/x","mime":"text/plain","offset":` + itoa(int(off)+len(members[2])) + `,"length":` + itoa(len(members[3])) + `,"status":200,"filename":"f.warc.gz"}`,
	} {
		if lines[i] != want {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want)
		}
	}
	if n, err := parseIndex([]byte(strings.Join(lines, "\n")+"\n"), map[string]int64{"f.warc.gz": int64(len(file))}); err != nil || n != 2 {
		t.Errorf("parseIndex of the lines = %d, %v", n, err)
	}
	if _, err := parseIndex([]byte(lines[1]+"\n"+lines[0]+"\n"), map[string]int64{"f.warc.gz": int64(len(file))}); err == nil {
		t.Error("parseIndex accepted lines out of order")
	}
	if _, err := parseIndex([]byte(lines[0]+"\n"), map[string]int64{"f.warc.gz": off}); err == nil {
		t.Error("parseIndex accepted a record outside the file")
	}
	// An offset and length whose sum overflows int64 lie outside too.
	huge := `a)/ 20260301101459 {"url":"http://a/","offset":1,"length":9223372036854775807,"filename":"f.warc.gz"}` + "\n"
	if _, err := parseIndex([]byte(huge), map[string]int64{"f.warc.gz": int64(len(file))}); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("parseIndex of a record at 1+MaxInt64: %v", err)
	}

	// Two records in one member cannot be indexed.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, m := range members[2:] {
		zr, _ := gzip.NewReader(bytes.NewReader(m))
		var plain bytes.Buffer
		plain.ReadFrom(zr)
		zw.Write(plain.Bytes())
	}
	zw.Close()
	if _, err := indexWARC(&buf, "g.warc.gz"); err == nil || !strings.Contains(err.Error(), "g.warc.gz") {
		t.Errorf("indexWARC of two records in one member: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
