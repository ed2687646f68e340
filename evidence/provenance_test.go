package evidence_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/warc"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// serverPKI returns a root pool and a server certificate for 127.0.0.1
// issued by an intermediate, served with the intermediate.
func serverPKI(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	p := testparts.NewPKI(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	return p.Pool, p.Cert
}

func tinyPNG(t *testing.T, shade uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 3, 2))
	img.Pix[0] = shade
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// provenanceCapture fetches a marketsim storefront over HTTP → HTTPS with a
// real crawler, adds the browser artifacts a rendered live page has,
// captures it and exports the bundle.
type provenanceCapture struct {
	page           *shopwatch.Page
	chain          [][]byte
	plain, secure  *httptest.Server
	serverVersions []uint16 // TLS versions the server negotiated, per request
	serverCiphers  []uint16
	fx             *fixture
}

func newProvenanceCapture(t *testing.T) *provenanceCapture {
	t.Helper()
	pool, cert := serverPKI(t)
	pc := &provenanceCapture{chain: cert.Certificate}
	var mu sync.Mutex
	market := marketsim.New(marketsim.Config{Seed: 11, Shops: 2})
	pc.secure = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pc.serverVersions = append(pc.serverVersions, r.TLS.Version)
		pc.serverCiphers = append(pc.serverCiphers, r.TLS.CipherSuite)
		mu.Unlock()
		if r.URL.Path == "/robots.txt" {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("User-agent: *\nDisallow: /\n"))
			return
		}
		market.ServeHTTP(w, r)
	}))
	pc.secure.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	pc.secure.StartTLS()
	t.Cleanup(pc.secure.Close)
	pc.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pc.secure.URL+"/shop/1", http.StatusFound)
	}))
	t.Cleanup(pc.plain.Close)

	cfg := crawler.Config{RootCAs: pool, RecordRobots: true}
	cfg.AllowLoopback()
	f, err := crawler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	page, err := f.Fetch(context.Background(), pc.plain.URL+"/go")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(page.Exchanges) != 3 || page.Robots == nil || page.Robots.TLS == nil {
		t.Fatalf("fetched %d exchanges, robots %+v", len(page.Exchanges), page.Robots)
	}
	page.Kind, page.TargetID, page.VisitID = shopwatch.KindStorefront, "t-prov", "v-prov-1"
	page.Mobile = true
	page.ReadyBy = "quiet after 2.3s"
	page.MHTML = []byte("From: <Saved by Blink>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"text/html\";\r\n\tboundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>店铺</p>\r\n--b1--\r\n")
	page.PDF = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	at := page.FetchedAt.Add(2 * time.Second).UTC()
	page.Snapshots = []shopwatch.Snapshot{{At: at, PNG: tinyPNG(t, 10)}, {At: at.Add(5 * time.Second), PNG: tinyPNG(t, 200)}}
	page.Timeline = []shopwatch.TimedText{
		{Source: "caption", Text: "全网最低价", First: at, Last: at.Add(3 * time.Second), Offset: 0},
		{Source: "comment", Text: "<真的吗>", First: at.Add(time.Second), Last: at.Add(4 * time.Second), Offset: 16},
	}
	pc.page = page
	pc.fx = captureAndExport(t, page)
	return pc
}

// captureAndExport captures page with a notary and exports its bundle.
func captureAndExport(t *testing.T, page *shopwatch.Page) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := folderstore.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evidence.LoadOrCreateSigner(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	notary := newNotary(t, dir, signer)
	meta := testMeta()
	meta.Notary = notary
	rec, err := evidence.Capture(context.Background(), store, signer, page, nil, meta)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	fx := &fixture{store: store, signer: signer, notary: notary, page: page, rec: rec, bundle: filepath.Join(dir, "bundle.zip")}
	out, err := os.Create(fx.bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := evidence.Export(context.Background(), store, rec, out, evidence.WithNotary(notary)); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

func TestCaptureProvenanceArtifacts(t *testing.T) {
	pc := newProvenanceCapture(t)
	fx, page := pc.fx, pc.page

	// Every artifact is in the manifest with the digests of its stored bytes.
	m, err := evidence.ParseManifest(readStored(t, fx.store, fx.rec.ManifestKey))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range m.Artifacts {
		names = append(names, a.Name)
		if got := evidence.SumAll(readStored(t, fx.store, key(fx.rec, a.Name))); got != a.Sums() {
			t.Errorf("%s: stored bytes give %+v, manifest says %+v", a.Name, got, a.Sums())
		}
	}
	want := []string{
		"exchanges/001-request.http", "exchanges/001-response.http", "exchanges/001.json",
		"exchanges/002-request.http", "exchanges/002-response.http", "exchanges/002-chain.pem", "exchanges/002.json",
		"exchanges/003-request.http", "exchanges/003-response.http", "exchanges/003-chain.pem", "exchanges/003.json",
		"robots/request.http", "robots/response.http", "robots/chain.pem", "robots/robots.json",
		"page.html", "text.txt", "page.mhtml", "page.pdf", "snapshots/001.png", "snapshots/002.png", "snapshots.json",
		"timeline.json", "archive/capture.warc.gz", "network.json", "findings.json", "metadata.json",
	}
	if !slices.Equal(names, want) {
		t.Errorf("manifest artifacts\n got %q\nwant %q", names, want)
	}
	media := map[string]string{}
	for _, a := range m.Artifacts {
		media[a.Name] = a.MediaType
	}
	for name, mt := range map[string]string{"exchanges/002-chain.pem": "application/x-pem-file", "network.json": "application/json",
		"page.mhtml": "multipart/related", "page.pdf": "application/pdf", "snapshots/002.png": "image/png",
		"robots/response.http": "application/http; msgtype=response", "timeline.json": "application/json"} {
		if media[name] != mt {
			t.Errorf("%s media type %q, want %q", name, media[name], mt)
		}
	}

	// The exported bundle verifies as a whole.
	if rep, err := evidence.VerifyBundle(fx.bundle); err != nil {
		t.Errorf("VerifyBundle: %v", err)
	} else if !rep.OK() {
		t.Errorf("VerifyBundle: %v\n%v", rep.Err(), rep.Items())
	}

	// Exchange records: resolved addresses and the TLS session.
	stored := func(name string) []byte { return readStored(t, fx.store, key(fx.rec, name)) }
	var ex1 map[string]any
	mustJSON(t, stored("exchanges/001.json"), &ex1)
	if ex1["tls"] != nil || !slices.Equal(anyStrings(ex1["resolved_ips"]), []string{"127.0.0.1"}) {
		t.Errorf("001.json: tls %v, resolved_ips %v", ex1["tls"], ex1["resolved_ips"])
	}
	for _, n := range []string{"002", "003"} {
		var rec struct {
			ResolvedIPs []string `json:"resolved_ips"`
			TLS         *struct {
				Version      string `json:"version"`
				CipherSuite  string `json:"cipher_suite"`
				ServerName   string `json:"server_name"`
				ALPN         string `json:"alpn"`
				Resumed      bool   `json:"resumed"`
				Verified     bool   `json:"verified"`
				Certificates int    `json:"certificates"`
				Chain        string `json:"chain"`
			} `json:"tls"`
		}
		mustJSON(t, stored("exchanges/"+n+".json"), &rec)
		if rec.TLS == nil {
			t.Fatalf("%s.json has no tls", n)
		}
		wantVersion, wantCipher := tls.VersionName(pc.serverVersions[0]), tls.CipherSuiteName(pc.serverCiphers[0])
		if rec.TLS.Version != wantVersion || rec.TLS.CipherSuite != wantCipher || !rec.TLS.Verified || rec.TLS.Resumed ||
			rec.TLS.ALPN != "http/1.1" || rec.TLS.Chain != "exchanges/"+n+"-chain.pem" || rec.TLS.Certificates != 2 || rec.TLS.ServerName != "" {
			t.Errorf("%s.json tls = %+v, want %s %s verified, chain of 2", n, *rec.TLS, wantVersion, wantCipher)
		}
		if !slices.Equal(rec.ResolvedIPs, []string{"127.0.0.1"}) {
			t.Errorf("%s.json resolved_ips %v", n, rec.ResolvedIPs)
		}
		certs := parsePEMChain(t, stored(rec.TLS.Chain))
		if len(certs) != 2 || !bytes.Equal(certs[0].Raw, pc.chain[0]) || !bytes.Equal(certs[1].Raw, pc.chain[1]) {
			t.Errorf("%s: chain PEM does not hold the served chain", n)
		}
		if !bytes.Equal(certs[0].Raw, pc.secure.Certificate().Raw) {
			t.Errorf("%s: leaf is not the server's certificate", n)
		}
	}

	// network.json: the redirect chain, exactly.
	sec := pc.secure.Listener.Addr().String()
	tv, tc := tls.VersionName(pc.serverVersions[0]), tls.CipherSuiteName(pc.serverCiphers[0])
	wantNet := map[string]any{
		"url":       pc.plain.URL + "/go",
		"final_url": pc.secure.URL + "/shop/1/",
		"redirect_chain": []any{
			map[string]any{"index": 1.0, "url": pc.plain.URL + "/go", "status": 302.0, "location": pc.secure.URL + "/shop/1",
				"remote_addr": pc.plain.Listener.Addr().String(), "resolved_ips": []any{"127.0.0.1"}, "proto": "HTTP/1.1",
				"exchange": "exchanges/001.json"},
			map[string]any{"index": 2.0, "url": pc.secure.URL + "/shop/1", "status": 301.0, "location": "/shop/1/",
				"remote_addr": sec, "resolved_ips": []any{"127.0.0.1"}, "proto": "HTTP/1.1",
				"tls_version": tv, "tls_cipher_suite": tc, "exchange": "exchanges/002.json"},
			map[string]any{"index": 3.0, "url": pc.secure.URL + "/shop/1/", "status": 200.0,
				"remote_addr": sec, "resolved_ips": []any{"127.0.0.1"}, "proto": "HTTP/1.1",
				"tls_version": tv, "tls_cipher_suite": tc, "exchange": "exchanges/003.json"},
		},
	}
	var gotNet map[string]any
	mustJSON(t, stored("network.json"), &gotNet)
	if g, w := mustMarshal(t, gotNet), mustMarshal(t, wantNet); g != w {
		t.Errorf("network.json\n got %s\nwant %s", g, w)
	}

	// robots.txt, recorded and not obeyed.
	if got := stored("robots/request.http"); !bytes.Equal(got, page.Robots.RequestHeader) || !bytes.HasPrefix(got, []byte("GET /robots.txt HTTP/1.1\r\n")) {
		t.Errorf("robots/request.http = %q", got)
	}
	if got := stored("robots/response.http"); !bytes.HasSuffix(got, []byte("\r\n\r\nUser-agent: *\nDisallow: /\n")) {
		t.Errorf("robots/response.http = %q", got)
	}
	var rj map[string]any
	mustJSON(t, stored("robots/robots.json"), &rj)
	if rj["status"] != 200.0 || rj["url"] != pc.secure.URL+"/robots.txt" || rj["request"] != "robots/request.http" ||
		rj["response"] != "robots/response.http" || rj["tls"].(map[string]any)["chain"] != "robots/chain.pem" {
		t.Errorf("robots.json = %v", rj)
	}

	// Browser artifacts.
	if !bytes.Equal(stored("page.mhtml"), page.MHTML) || !bytes.Equal(stored("page.pdf"), page.PDF) ||
		!bytes.Equal(stored("snapshots/002.png"), page.Snapshots[1].PNG) {
		t.Error("browser artifacts differ from the page")
	}
	var snaps []struct {
		Index int       `json:"index"`
		Name  string    `json:"name"`
		At    time.Time `json:"at"`
	}
	mustJSON(t, stored("snapshots.json"), &snaps)
	if len(snaps) != 2 || snaps[1].Name != "snapshots/002.png" || !snaps[1].At.Equal(page.Snapshots[1].At) || snaps[0].Index != 1 {
		t.Errorf("snapshots.json = %+v", snaps)
	}
	var tl []shopwatch.TimedText
	mustJSON(t, stored("timeline.json"), &tl)
	if len(tl) != 2 || tl[1].Text != "<真的吗>" || !tl[1].First.Equal(page.Timeline[1].First) || !strings.Contains(string(stored("timeline.json")), "<真的吗>") {
		t.Errorf("timeline.json = %s", stored("timeline.json"))
	}
	var md map[string]any
	mustJSON(t, stored("metadata.json"), &md)
	if md["mobile"] != true {
		t.Errorf("metadata.json mobile = %v", md["mobile"])
	}
	if md["ready_by"] != "quiet after 2.3s" {
		t.Errorf("metadata.json ready_by = %v", md["ready_by"])
	}

	// The WARC holds the same, and every record verifies.
	recs, err := warc.Read(bytes.NewReader(stored("archive/capture.warc.gz")))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]warc.Record{}
	for _, r := range recs {
		if err := r.Verify(); err != nil {
			t.Error(err)
		}
		byID[r.Headers.Get("WARC-Record-ID")] = r
	}
	var responses, metadata int
	resources := map[string][]byte{}
	for _, r := range recs {
		uri := r.Headers.Get("WARC-Target-URI")
		switch r.Type {
		case "request", "response":
			if ip := r.Headers.Get("WARC-IP-Address"); ip != "127.0.0.1" {
				t.Errorf("%s %s: WARC-IP-Address %q", r.Type, uri, ip)
			}
			if r.Type == "response" {
				responses++
			}
		case "metadata":
			if r.Headers.Get("Content-Type") != "application/x-pem-file" {
				continue
			}
			metadata++
			res, ok := byID[r.Headers.Get("WARC-Concurrent-To")]
			if !ok || res.Type != "response" || res.Headers.Get("WARC-Target-URI") != uri || !strings.HasPrefix(uri, "https://") {
				t.Errorf("TLS metadata for %s is not concurrent to its HTTPS response", uri)
			}
			certs := parsePEMChain(t, r.Block)
			if len(certs) != 2 || !bytes.Equal(certs[0].Raw, pc.chain[0]) {
				t.Errorf("TLS metadata for %s: chain of %d", uri, len(certs))
			}
			for _, line := range []string{"tls-version: " + tv + "\n", "tls-cipher-suite: " + tc + "\n", "tls-verified: true\n", "resolved-ip: 127.0.0.1\n"} {
				if !strings.Contains(string(r.Block), line) {
					t.Errorf("TLS metadata for %s lacks %q", uri, line)
				}
			}
			if got := r.Headers.Values("WARC-Protocol"); !slices.Equal(got, []string{"http/1.1", "tls/" + strings.TrimPrefix(tv, "TLS ")}) {
				t.Errorf("TLS metadata WARC-Protocol %v", got)
			}
		case "resource":
			resources[uri] = r.Block
		}
	}
	if responses != 4 || metadata != 3 {
		t.Errorf("WARC has %d responses and %d TLS metadata records, want 4 (3 page hops + robots.txt) and 3", responses, metadata)
	}
	final := page.FinalURL
	for uri, want := range map[string][]byte{
		"urn:shopwatch:mhtml:" + final:        page.MHTML,
		"urn:shopwatch:pdf:" + final:          page.PDF,
		"urn:shopwatch:snapshot:001:" + final: page.Snapshots[0].PNG,
		"urn:shopwatch:snapshot:002:" + final: page.Snapshots[1].PNG,
		"urn:shopwatch:timeline:" + final:     stored("timeline.json"),
	} {
		if got, ok := resources[uri]; !ok || !bytes.Equal(got, want) {
			t.Errorf("WARC resource %s missing or different", uri)
		}
	}
}

func parsePEMChain(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("PEM certificate: %v", err)
		}
		out = append(out, c)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
