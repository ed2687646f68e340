package warc

import (
	"bytes"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

// provenancePage has an HTTPS exchange, a TLS handshake that failed on its
// certificate, a robots.txt exchange and every browser artifact.
func provenancePage() *shopwatch.Page {
	chain := [][]byte{[]byte("leaf certificate DER"), []byte("intermediate DER")}
	at := captureTime.Add(3 * time.Second)
	return &shopwatch.Page{
		URL:      "https://shop.example/live/3",
		FinalURL: "https://shop.example/live/3",
		Status:   200,
		Text:     "全网最低价\n",
		Exchanges: []shopwatch.Exchange{
			{
				Method: "GET", URL: "https://shop.example/live/3", Proto: "HTTP/1.1",
				RequestHeader:  []byte("GET /live/3 HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
				Status:         200,
				ResponseHeader: []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
				Body:           []byte("ok"),
				RemoteAddr:     "203.0.113.9:443",
				ResolvedIPs:    []string{"203.0.113.9", "2001:db8::9"},
				TLS: &shopwatch.TLSInfo{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ServerName: "shop.example",
					ALPN: "http/1.1", Verified: true, PeerCertificates: chain},
			},
			{
				Method: "GET", URL: "https://cdn.example/a.js", RemoteAddr: "198.51.100.4:443",
				ResolvedIPs: []string{"198.51.100.4"}, Err: "TLS handshake with cdn.example:443: certificate signed by unknown authority",
				TLS: &shopwatch.TLSInfo{Version: "TLS 1.2", CipherSuite: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
					ServerName: "cdn.example", PeerCertificates: [][]byte{[]byte("self-signed DER")}},
			},
		},
		Robots: &shopwatch.Exchange{
			Method: "GET", URL: "http://shop.example/robots.txt", Proto: "HTTP/1.1",
			RequestHeader:  []byte("GET /robots.txt HTTP/1.1\r\nHost: shop.example\r\n\r\n"),
			Status:         404,
			ResponseHeader: []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
			RemoteAddr:     "203.0.113.9:80",
		},
		FetchedAt: captureTime,
		Rendered:  true,
		MHTML:     []byte("MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"x\"\r\n\r\n--x--\r\n"),
		PDF:       []byte("%PDF-1.7\n%%EOF\n"),
		Snapshots: []shopwatch.Snapshot{{At: at, PNG: []byte("\x89PNG one")}, {At: at.Add(time.Second), PNG: []byte("\x89PNG two")}},
		Timeline:  []shopwatch.TimedText{{Source: "caption", Text: "全网最低价", First: at, Last: at.Add(2 * time.Second)}},
	}
}

func TestProvenanceRecords(t *testing.T) {
	page := provenancePage()
	recs, err := Read(bytes.NewReader(writeFile(t, page, testInfo())))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
		if err := r.Verify(); err != nil {
			t.Error(err)
		}
	}
	want := []string{"warcinfo",
		"request", "response", "metadata", // HTTPS exchange and its TLS session
		"metadata",            // the failed handshake: its session only
		"request", "response", // robots.txt
		"resource",             // text
		"resource", "resource", // MHTML, PDF
		"resource", "metadata", "resource", "metadata", // snapshots and their times
		"resource", // timeline
	}
	if !slices.Equal(types, want) {
		t.Fatalf("record types\n got %v\nwant %v", types, want)
	}

	req, res, tlsMeta := recs[1], recs[2], recs[3]
	for _, r := range []Record{req, res, tlsMeta} {
		if got := r.Headers.Values("WARC-Protocol"); !slices.Equal(got, []string{"http/1.1", "tls/1.3"}) {
			t.Errorf("%s: WARC-Protocol %v", r.Type, got)
		}
		if got := r.Headers.Get("WARC-Cipher-Suite"); got != "TLS_AES_128_GCM_SHA256" {
			t.Errorf("%s: WARC-Cipher-Suite %q", r.Type, got)
		}
		if got := r.Headers.Get("WARC-IP-Address"); got != "203.0.113.9" {
			t.Errorf("%s: WARC-IP-Address %q", r.Type, got)
		}
	}
	if tlsMeta.Headers.Get("WARC-Concurrent-To") != res.Headers.Get("WARC-Record-ID") ||
		tlsMeta.Headers.Get("WARC-Target-URI") != page.Exchanges[0].URL ||
		tlsMeta.Headers.Get("Content-Type") != "application/x-pem-file" {
		t.Errorf("TLS metadata record fields: %v", tlsMeta.Headers)
	}
	wantHead := "tls-version: TLS 1.3\ntls-cipher-suite: TLS_AES_128_GCM_SHA256\ntls-server-name: shop.example\n" +
		"tls-alpn: http/1.1\ntls-resumed: false\ntls-verified: true\nresolved-ip: 203.0.113.9\nresolved-ip: 2001:db8::9\n\n-----BEGIN CERTIFICATE-----\n"
	if !strings.HasPrefix(string(tlsMeta.Block), wantHead) {
		t.Errorf("TLS metadata block starts\n%q\nwant\n%q", tlsMeta.Block[:min(len(tlsMeta.Block), len(wantHead))], wantHead)
	}
	if got := pemBlocks(t, tlsMeta.Block); !slices.EqualFunc(got, page.Exchanges[0].TLS.PeerCertificates, bytes.Equal) {
		t.Errorf("TLS metadata chain %q", got)
	}

	failed := recs[4]
	if failed.Headers.Get("WARC-Concurrent-To") != "" || failed.Headers.Get("WARC-Target-URI") != "https://cdn.example/a.js" ||
		!strings.Contains(string(failed.Block), "tls-verified: false\n") || failed.Headers.Get("WARC-IP-Address") != "198.51.100.4" {
		t.Errorf("failed handshake record: %v\n%s", failed.Headers, failed.Block)
	}
	if got := failed.Headers.Values("WARC-Protocol"); !slices.Equal(got, []string{"tls/1.2"}) {
		t.Errorf("failed handshake WARC-Protocol %v", got)
	}
	if got := pemBlocks(t, failed.Block); len(got) != 1 || string(got[0]) != "self-signed DER" {
		t.Errorf("failed handshake chain %q", got)
	}

	rreq, rres := recs[5], recs[6]
	if rreq.Headers.Get("WARC-Target-URI") != "http://shop.example/robots.txt" || !bytes.Equal(rreq.Block, page.Robots.RequestHeader) ||
		!bytes.Equal(rres.Block, page.Robots.ResponseHeader) || rres.Headers.Get("WARC-IP-Address") != "203.0.113.9" {
		t.Errorf("robots.txt records: %v / %v", rreq.Headers, rres.Headers)
	}
	if got := rres.Headers.Values("WARC-Protocol"); !slices.Equal(got, []string{"http/1.1"}) || rres.Headers.Get("WARC-Cipher-Suite") != "" {
		t.Errorf("plain HTTP robots.txt: WARC-Protocol %v, cipher %q", got, rres.Headers.Get("WARC-Cipher-Suite"))
	}

	url := page.FinalURL
	tl, err := TimelineJSON(page.Timeline)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []struct {
		idx         int
		uri, ctype  string
		block       []byte
		snapshotRef bool
	}{
		{8, "urn:shopwatch:mhtml:" + url, "multipart/related", page.MHTML, false},
		{9, "urn:shopwatch:pdf:" + url, "application/pdf", page.PDF, false},
		{10, "urn:shopwatch:snapshot:001:" + url, "image/png", page.Snapshots[0].PNG, true},
		{12, "urn:shopwatch:snapshot:002:" + url, "image/png", page.Snapshots[1].PNG, true},
		{14, "urn:shopwatch:timeline:" + url, "application/json", tl, false},
	} {
		r := recs[w.idx]
		if r.Headers.Get("WARC-Target-URI") != w.uri || r.Headers.Get("Content-Type") != w.ctype || !bytes.Equal(r.Block, w.block) ||
			r.Headers.Get("WARC-Payload-Digest") != sha(w.block) {
			t.Errorf("resource %d: %v", i, r.Headers)
		}
		if !w.snapshotRef {
			continue
		}
		m := recs[w.idx+1]
		at := page.Snapshots[(w.idx-10)/2].At.UTC().Format(time.RFC3339Nano)
		if m.Headers.Get("WARC-Refers-To") != r.Headers.Get("WARC-Record-ID") || m.Headers.Get("WARC-Target-URI") != w.uri ||
			string(m.Block) != "snapshot-time: "+at+"\r\n" || m.Headers.Get("Content-Type") != "application/warc-fields" {
			t.Errorf("snapshot %d time record: %v %q", i, m.Headers, m.Block)
		}
	}
	if !strings.Contains(string(tl), "全网最低价") || !strings.HasSuffix(string(tl), "}\n]\n") {
		t.Errorf("timeline JSON %s", tl)
	}
}

func pemBlocks(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			t.Errorf("PEM block %q", blk.Type)
		}
		out = append(out, blk.Bytes)
	}
}

func TestProtocols(t *testing.T) {
	for _, c := range []struct {
		x    shopwatch.Exchange
		want []string
	}{
		{shopwatch.Exchange{Proto: "HTTP/1.0"}, []string{"http/1.0"}},
		{shopwatch.Exchange{Proto: "HTTP/2.0", TLS: &shopwatch.TLSInfo{Version: "TLS 1.2"}}, []string{"h2", "tls/1.2"}},
		{shopwatch.Exchange{Proto: "HTTP/2.0"}, []string{"h2c"}},
		{shopwatch.Exchange{Proto: "", TLS: &shopwatch.TLSInfo{Version: "SSLv3"}}, []string{"ssl/3"}},
		{shopwatch.Exchange{}, nil},
	} {
		if got := protocols(c.x); !slices.Equal(got, c.want) {
			t.Errorf("protocols(%q, %v) = %v, want %v", c.x.Proto, c.x.TLS, got, c.want)
		}
	}
}
