package evidence_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"shopwatch/internal/testparts"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
	"shopwatch/evidence/warc/warctest"
)

var captureTime = time.Date(2026, 3, 1, 10, 15, 0, 123456789, time.UTC)

func testMeta() evidence.CaptureMeta {
	return evidence.CaptureMeta{
		Operator:    "inspector-07",
		Host:        "node-a",
		ClockSource: "system clock",
		Now:         func() time.Time { return captureTime.In(time.FixedZone("CST", 8*3600)) },
		Version:     "v1.0.0-test",
	}
}

// testPage is a storefront fetched through one redirect, served in GBK.
func testPage(t *testing.T) *shopwatch.Page {
	t.Helper()
	text := "全网最佳口碑 旗舰店 营业执照信息"
	html := "<html><head><meta charset=\"gbk\"><title>旗舰店</title></head><body><p>" + text + "</p></body></html>"
	body, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(html))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 3, 1, 10, 14, 59, 0, time.UTC)
	return &shopwatch.Page{
		URL:             "http://127.0.0.1:8080/shop/7",
		FinalURL:        "http://127.0.0.1:8080/shop/7/",
		Kind:            shopwatch.KindStorefront,
		Category:        "food",
		TargetID:        "t-7",
		VisitID:         "v-7-1",
		Status:          200,
		ContentType:     "text/html; charset=gbk",
		DeclaredCharset: "gbk",
		CharsetSource:   "header",
		Charset:         "gb18030",
		HTML:            html,
		Title:           "旗舰店",
		Text:            text,
		Links:           []string{"http://127.0.0.1:8080/shop/7/item/1"},
		FetchedAt:       started,
		Screenshot:      []byte("\x89PNG\r\n\x1a\nnot really a png"),
		Exchanges: []shopwatch.Exchange{
			{
				Method:         "GET",
				URL:            "http://127.0.0.1:8080/shop/7",
				Proto:          "HTTP/1.1",
				RequestHeader:  []byte("GET /shop/7 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: shopwatch\r\n\r\n"),
				Status:         301,
				ResponseHeader: []byte("HTTP/1.1 301 Moved Permanently\r\nLocation: /shop/7/\r\nContent-Length: 0\r\n\r\n"),
				ContentLength:  0,
				RemoteAddr:     "127.0.0.1:8080",
				Started:        started,
				Duration:       3 * time.Millisecond,
			},
			{
				Method:         "GET",
				URL:            "http://127.0.0.1:8080/shop/7/",
				Proto:          "HTTP/1.1",
				RequestHeader:  []byte("GET /shop/7/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: shopwatch\r\n\r\n"),
				Status:         200,
				ResponseHeader: []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=gbk\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"),
				Body:           body,
				ContentLength:  int64(len(body)),
				RemoteAddr:     "127.0.0.1:8080",
				Started:        started.Add(5 * time.Millisecond),
				Duration:       12 * time.Millisecond,
			},
		},
	}
}

func testFindings(page *shopwatch.Page) []shopwatch.Finding {
	return []shopwatch.Finding{
		{Rule: "ad.absolute-term", Title: "绝对化用语", Category: "advertising", Law: "《中华人民共和国广告法》", Article: "第九条第三项",
			Severity: shopwatch.SeverityViolation, Match: "最佳", Snippet: "全网最佳口碑", Offset: strings.Index(page.Text, "最佳"), URL: page.URL},
		{Rule: "licence.icp-missing", Title: "未展示ICP备案号", Category: "licence", Law: "《非经营性互联网信息服务备案管理办法》", Article: "第十三条",
			Severity: shopwatch.SeverityReview, Offset: -1, URL: page.URL},
	}
}

// captureClock is the clock of the test authorities: it starts at
// captureTime, the time testMeta captures at, and runs on from there, so
// that tokens are dated with the captures.
func captureClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return captureTime.Add(time.Since(start)) }
}

// newNotary returns a built-in TSA, whose clock is captureClock, and a
// ledger kept in dir.
func newNotary(t *testing.T, dir string, signer *evidence.Signer) *evidence.Notary {
	t.Helper()
	a, err := tsa.LoadOrCreateAuthority(filepath.Join(dir, "tsa"), tsa.WithClock(captureClock()))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(filepath.Join(dir, "ledger"), signer, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return &evidence.Notary{TSA: a, TSARoot: a.RootPEM(), Ledger: lg}
}

type fixture struct {
	dir    string // holds the store, the keys, the authority (tsa/) and the ledger
	store  *folderstore.Store
	signer *evidence.Signer
	notary *evidence.Notary
	page   *shopwatch.Page
	rec    *shopwatch.EvidenceRecord
	bundle string // exported bundle path
}

func newFixture(t *testing.T) *fixture {
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
	page := testPage(t)
	notary := newNotary(t, dir, signer)
	meta := testMeta()
	meta.Notary = notary
	rec, err := evidence.Capture(context.Background(), store, signer, page, testFindings(page), meta)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	f := &fixture{dir: dir, store: store, signer: signer, notary: notary, page: page, rec: rec, bundle: filepath.Join(dir, "bundle.zip")}
	out, err := os.Create(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	x := &evidence.Exporter{Notary: notary, Signer: signer, Now: captureClock()}
	if err := x.Export(context.Background(), store, rec, out); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

var wantArtifacts = []string{
	"exchanges/001-request.http", "exchanges/001-response.http", "exchanges/001.json",
	"exchanges/002-request.http", "exchanges/002-response.http", "exchanges/002.json",
	"page.html", "text.txt", "screenshot.png", "archive/capture.warc.gz", "network.json", "findings.json", "metadata.json",
}

func TestCaptureRecord(t *testing.T) {
	f := newFixture(t)
	rec := f.rec
	if !regexp.MustCompile(`^ev-20260301T101500Z-[0-9a-f]{12}$`).MatchString(rec.ID) {
		t.Errorf("evidence id %q, want ev-20260301T101500Z-<12 hex>", rec.ID)
	}
	if !rec.CapturedAt.Equal(captureTime) || rec.CapturedAt.Location() != time.UTC {
		t.Errorf("CapturedAt = %v, want %v in UTC", rec.CapturedAt, captureTime)
	}
	if rec.TargetID != "t-7" || rec.VisitID != "v-7-1" || rec.URL != f.page.URL || rec.Findings != 2 || rec.ClockSource != "system clock" {
		t.Errorf("record = %+v", rec)
	}
	var names []string
	for _, a := range rec.Artifacts {
		names = append(names, a.Name)
		if a.Key != "evidence/"+rec.ID+"/"+a.Name {
			t.Errorf("artifact %s has key %q", a.Name, a.Key)
		}
		b := readStored(t, f.store, a.Key)
		if s := evidence.SumAll(b); s.SHA256.String() != a.SHA256 || s.SM3.String() != a.SM3 || s.Size != a.Size {
			t.Errorf("artifact %s: stored bytes have %+v, record says %s %s %d", a.Name, s, a.SHA256, a.SM3, a.Size)
		}
	}
	want := append(slices.Clone(wantArtifacts), "timestamp.tsr", "tsa-root.pem", "manifest.json", "manifest.sig", "signer.pub")
	if !slices.Equal(names, want) {
		t.Errorf("artifacts = %q, want %q", names, want)
	}
	if rec.ManifestKey != "evidence/"+rec.ID+"/manifest.json" {
		t.Errorf("ManifestKey = %q", rec.ManifestKey)
	}
	manifest := readStored(t, f.store, rec.ManifestKey)
	if got := evidence.SumBytes(evidence.SHA256, manifest).String(); got != rec.ManifestDigest {
		t.Errorf("ManifestDigest = %s, stored manifest hashes to %s", rec.ManifestDigest, got)
	}

	// Exact bytes of the exchanges.
	ex := f.page.Exchanges[1]
	if got := readStored(t, f.store, key(rec, "exchanges/002-request.http")); !bytes.Equal(got, ex.RequestHeader) {
		t.Errorf("002-request.http = %q, want the request header bytes", got)
	}
	wantResp := append(slices.Clone(ex.ResponseHeader), ex.Body...)
	if got := readStored(t, f.store, key(rec, "exchanges/002-response.http")); !bytes.Equal(got, wantResp) {
		t.Errorf("002-response.http = %q, want header then raw GBK body", got)
	}
	if got := readStored(t, f.store, key(rec, "page.html")); string(got) != f.page.HTML {
		t.Errorf("page.html = %q, want the decoded HTML", got)
	}

	var exMeta map[string]any
	mustJSON(t, readStored(t, f.store, key(rec, "exchanges/002.json")), &exMeta)
	for k, v := range map[string]any{"status": 200.0, "remote_addr": "127.0.0.1:8080", "body_truncated": false,
		"response_header_size": float64(len(ex.ResponseHeader)), "body_size": float64(len(ex.Body)),
		"started": "2026-03-01T10:14:59.005Z", "finished": "2026-03-01T10:14:59.017Z",
		"response": "exchanges/002-response.http", "url": "http://127.0.0.1:8080/shop/7/"} {
		if exMeta[k] != v {
			t.Errorf("002.json %s = %v, want %v", k, exMeta[k], v)
		}
	}

	var md map[string]any
	mustJSON(t, readStored(t, f.store, key(rec, "metadata.json")), &md)
	for k, v := range map[string]any{"evidence_id": rec.ID, "target_id": "t-7", "visit_id": "v-7-1", "url": f.page.URL,
		"final_url": f.page.FinalURL, "captured_at": "2026-03-01T10:15:00.123456789Z", "clock_source": "system clock",
		"shopwatch_version": "v1.0.0-test", "host": "node-a", "operator": "inspector-07",
		"declared_charset": "gbk", "charset_source": "header", "charset": "gb18030", "content_type": "text/html; charset=gbk"} {
		if md[k] != v {
			t.Errorf("metadata.json %s = %v, want %v", k, md[k], v)
		}
	}

	var fs []shopwatch.Finding
	mustJSON(t, readStored(t, f.store, key(rec, "findings.json")), &fs)
	if len(fs) != 2 || fs[0].Rule != "ad.absolute-term" || fs[0].Match != "最佳" || fs[0].EvidenceID != rec.ID {
		t.Errorf("findings.json = %+v", fs)
	}

	m, err := evidence.ParseManifest(manifest)
	if err != nil {
		t.Fatalf("stored manifest: %v", err)
	}
	if m.EvidenceID != rec.ID || m.SignerKeyID != f.signer.KeyID() || len(m.Artifacts) != len(wantArtifacts) || m.Operator != "inspector-07" {
		t.Errorf("manifest = %+v", m)
	}
	sig := readStored(t, f.store, key(rec, "manifest.sig"))
	if !ed25519.Verify(f.signer.PublicKey(), manifest, sig) {
		t.Error("stored manifest.sig does not verify over the stored manifest.json")
	}
}

func TestCaptureIDsAreUnique(t *testing.T) {
	f := newFixture(t)
	rec2, err := evidence.Capture(context.Background(), f.store, f.signer, f.page, nil, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if rec2.ID == f.rec.ID {
		t.Fatalf("two captures in the same second share id %s", rec2.ID)
	}
	if !strings.HasPrefix(rec2.ID, "ev-20260301T101500Z-") {
		t.Errorf("id %s", rec2.ID)
	}
	// The first capture is untouched.
	if got := readStored(t, f.store, f.rec.ManifestKey); evidence.SumBytes(evidence.SHA256, got).String() != f.rec.ManifestDigest {
		t.Error("the first manifest changed")
	}
}

func TestCaptureWithoutResponseOrScreenshot(t *testing.T) {
	f := newFixture(t)
	page := testPage(t)
	page.Screenshot = nil
	page.Exchanges = page.Exchanges[:1]
	page.Exchanges[0].Status, page.Exchanges[0].ResponseHeader, page.Exchanges[0].Err = 0, nil, "dial tcp: connection refused"
	rec, err := evidence.Capture(context.Background(), f.store, f.signer, page, nil, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range rec.Artifacts {
		names = append(names, a.Name)
	}
	want := []string{"exchanges/001-request.http", "exchanges/001.json", "page.html", "text.txt", "archive/capture.warc.gz", "network.json", "findings.json", "metadata.json", "manifest.json", "manifest.sig", "signer.pub"}
	if !slices.Equal(names, want) {
		t.Errorf("artifacts = %q, want %q", names, want)
	}
	if got := string(readStored(t, f.store, key(rec, "findings.json"))); got != "[]\n" {
		t.Errorf("findings.json = %q, want []", got)
	}
}

func TestCaptureNeverStoresUnsignedManifest(t *testing.T) {
	dir := t.TempDir()
	store, err := folderstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	broken, err := evidence.NewSigner(brokenKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	page := testPage(t)
	for _, s := range []*evidence.Signer{broken, nil} {
		if rec, err := evidence.Capture(context.Background(), store, s, page, nil, testMeta()); err == nil {
			t.Fatalf("Capture with a failing signer = %+v, nil; want an error", rec)
		}
	}
	err = store.List(context.Background(), "", func(info evidence.Info) error {
		t.Errorf("failed capture stored %s", info.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type brokenKey struct{ pub ed25519.PublicKey }

func (k brokenKey) Public() crypto.PublicKey { return k.pub }
func (k brokenKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hardware token removed")
}

func TestExportVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	rep, err := evidence.VerifyBundle(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var buf bytes.Buffer
		rep.WriteText(&buf)
		t.Fatalf("fresh bundle does not verify:\n%s", buf.String())
	}
	if rep.EvidenceID != f.rec.ID || rep.KeyID != f.signer.KeyID() || rep.Manifest == nil {
		t.Errorf("report: evidence %s key %s, want %s %s", rep.EvidenceID, rep.KeyID, f.rec.ID, f.signer.KeyID())
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %+v failed", c)
		}
	}
	artifactChecks := 0
	for _, c := range rep.Checks {
		if c.Name == "artifact" {
			artifactChecks++
		}
	}
	if artifactChecks != len(wantArtifacts) {
		t.Errorf("%d artifact checks, want %d", artifactChecks, len(wantArtifacts))
	}

	// The bundle holds exactly the fixed files and the artifacts, byte for byte.
	entries := readZip(t, f.bundle)
	var names []string
	for _, e := range entries {
		names = append(names, e.name)
	}
	want := append([]string{"README.txt", "verify-bundle.sh", "manifest.json", "manifest.sig", "signer.pub", "timestamp.tsr", "tsa-root.pem", "ledger-proof.json"}, wantArtifacts...)
	want = append(want, "indexes/index.cdxj", "pages/pages.jsonl", "report.html",
		"export-manifest.json", "export-manifest.sig", "export-signer.pub", "export-timestamp.tsr", "export-tsa-root.pem",
		"SHA256SUMS", "datapackage.json", "datapackage-digest.json")
	if !slices.Equal(names, want) {
		t.Errorf("bundle files = %q, want %q", names, want)
	}
	for _, a := range f.rec.Artifacts {
		if got := entry(t, entries, a.Name); !bytes.Equal(got, readStored(t, f.store, a.Key)) {
			t.Errorf("bundle %s differs from the stored object", a.Name)
		}
	}
	readme := string(entry(t, entries, "README.txt"))
	for _, s := range []string{f.rec.ID, f.signer.KeyID(), "openssl pkeyutl -verify -pubin -inkey signer.pub -rawin", "sha256sum -c SHA256SUMS"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README.txt lacks %q", s)
		}
	}

	// Trusted keys.
	rep, err = evidence.VerifyBundle(f.bundle, evidence.WithTrustedKeys(f.signer.KeyID()))
	if err != nil || !rep.OK() {
		t.Fatalf("VerifyBundle with the signer trusted = %v, %v", rep.Err(), err)
	}
	rep, err = evidence.VerifyBundle(f.bundle, evidence.WithTrustedKeys("ed25519:0000000000000000"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !slices.Equal(rep.Items(), []string{"export-signer.pub", "signer.pub"}) || !errors.Is(rep.Err(), evidence.ErrUntrustedKey) {
		t.Fatalf("VerifyBundle with another key trusted: ok=%v items=%q err=%v", rep.OK(), rep.Items(), rep.Err())
	}

	// Not a zip at all.
	junk := filepath.Join(t.TempDir(), "junk.zip")
	os.WriteFile(junk, []byte("not a zip"), 0o644)
	if _, err := evidence.VerifyBundle(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("VerifyBundle(junk) error = %v, want one naming the file", err)
	}
}

// TestTamperedBundles damages one item of a good bundle at a time and
// checks that every problem reported names exactly that item.
func TestTamperedBundles(t *testing.T) {
	f := newFixture(t)
	otherSigner, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, es []zipEntry) []zipEntry
		items  []string
		is     []error
	}{
		{"artifact byte flipped", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "exchanges/002-response.http")
			(*b)[len(*b)-3] ^= 0x01
			return es
		}, []string{"exchanges/002-response.http"}, []error{evidence.ErrDigestMismatch}},
		{"artifact truncated", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "text.txt")
			*b = (*b)[:len(*b)-1]
			return es
		}, []string{"text.txt"}, []error{evidence.ErrSizeMismatch, evidence.ErrDigestMismatch}},
		{"manifest byte flipped", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.json")
			i := bytes.Index(*b, []byte("/shop/7"))
			(*b)[i+6] = '8' // the URL now names another shop
			return es
		}, []string{"manifest.json"}, []error{evidence.ErrBadSignature}},
		{"manifest digest of an artifact altered", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.json")
			m, _ := evidence.ParseManifest(*b)
			old := m.Artifacts[6].SHA256.Hex() // page.html
			forged := strings.Repeat("0", 64)
			*b = bytes.Replace(*b, []byte(old), []byte(forged), 1)
			return es
		}, []string{"manifest.json"}, []error{evidence.ErrBadSignature, evidence.ErrDigestMismatch}},
		{"manifest unparseable", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.json")
			*b = (*b)[:len(*b)/2]
			return es
		}, []string{"manifest.json"}, []error{evidence.ErrBadManifest, evidence.ErrBadSignature}},
		{"timestamp token byte flipped", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "timestamp.tsr")
			(*b)[len(*b)/2] ^= 0x01
			return es
		}, []string{"timestamp.tsr"}, []error{evidence.ErrBadTimestamp}},
		{"timestamp token removed", func(t *testing.T, es []zipEntry) []zipEntry {
			return slices.DeleteFunc(es, func(e zipEntry) bool { return e.name == "timestamp.tsr" })
		}, []string{"timestamp.tsr"}, []error{evidence.ErrNotFound}},
		{"ledger proof altered", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "ledger-proof.json")
			*b = bytes.Replace(*b, []byte(`"leaf_index": 0`), []byte(`"leaf_index": 1`), 1)
			*b = bytes.Replace(*b, []byte(`"leaf_index":0`), []byte(`"leaf_index":1`), 1)
			return es
		}, []string{"ledger-proof.json"}, []error{evidence.ErrBadLedgerProof}},
		{"signature byte flipped", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.sig")
			(*b)[10] ^= 0x80
			return es
		}, []string{"manifest.sig"}, []error{evidence.ErrBadSignature}},
		{"signature hex-encoded", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.sig")
			*b = []byte(hex.EncodeToString(*b))
			return es
		}, []string{"manifest.sig"}, []error{evidence.ErrBadSignature}},
		{"artifact removed", func(t *testing.T, es []zipEntry) []zipEntry {
			return slices.DeleteFunc(es, func(e zipEntry) bool { return e.name == "exchanges/001-request.http" })
		}, []string{"exchanges/001-request.http"}, []error{evidence.ErrNotFound}},
		{"unlisted file added", func(t *testing.T, es []zipEntry) []zipEntry {
			return append(es, zipEntry{name: "exchanges/003-response.http", data: []byte("HTTP/1.1 200 OK\r\n\r\nplanted")})
		}, []string{"exchanges/003-response.http"}, []error{evidence.ErrUnlisted}},
		{"signer.pub replaced", func(t *testing.T, es []zipEntry) []zipEntry {
			*entryRef(t, es, "signer.pub") = otherSigner.PublicKeyPEM()
			return es
		}, []string{"signer.pub"}, []error{evidence.ErrBadSignature, evidence.ErrKeyMismatch}},
		{"re-signed with another key", func(t *testing.T, es []zipEntry) []zipEntry {
			// A forger who re-signs the unchanged manifest and ships their
			// own key and fresh sums: the manifest still names our key.
			m := *entryRef(t, es, "manifest.json")
			sig, err := otherSigner.Sign(m)
			if err != nil {
				t.Fatal(err)
			}
			*entryRef(t, es, "manifest.sig") = sig
			*entryRef(t, es, "signer.pub") = otherSigner.PublicKeyPEM()
			return reseal(t, es) // fresh SHA256SUMS, datapackage.json and datapackage-digest.json
		}, []string{"signer.pub"}, []error{evidence.ErrKeyMismatch}},
		{"SHA256SUMS line altered", func(t *testing.T, es []zipEntry) []zipEntry {
			sums := entryRef(t, es, "SHA256SUMS")
			*sums = rewriteSum(*sums, "text.txt", []byte("something else"))
			return es
		}, []string{"SHA256SUMS"}, []error{evidence.ErrDigestMismatch}},
		{"unsafe entry name", func(t *testing.T, es []zipEntry) []zipEntry {
			return append(es, zipEntry{name: "../evil", data: []byte("x")})
		}, []string{"../evil"}, []error{evidence.ErrBadBundle}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			entries := c.tamper(t, readZip(t, f.bundle))
			path := filepath.Join(t.TempDir(), "tampered.zip")
			writeZip(t, path, entries)
			rep, err := evidence.VerifyBundle(path)
			if err != nil {
				t.Fatalf("VerifyBundle: %v", err)
			}
			if rep.OK() {
				t.Fatal("tampered bundle verified")
			}
			if got := rep.Items(); !slices.Equal(got, c.items) {
				t.Errorf("problems name %q, want only %q; problems:\n%v", got, c.items, rep.Err())
			}
			for _, want := range c.is {
				if !errors.Is(rep.Err(), want) {
					t.Errorf("problems do not include %v:\n%v", want, rep.Err())
				}
			}
			for _, p := range rep.Problems {
				var ie *evidence.ItemError
				if !errors.As(p, &ie) || !strings.HasPrefix(p.Error(), p.Item+": ") {
					t.Errorf("problem %v does not lead with its item", p)
				}
			}
		})
	}
}

// rewriteSum replaces the digest on name's line of a SHA256SUMS file with
// the digest of data.
func rewriteSum(sums []byte, name string, data []byte) []byte {
	lines := strings.Split(string(sums), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "  "+name) {
			lines[i] = evidence.SumBytes(evidence.SHA256, data).Hex() + "  " + name
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func TestExportDetectsDamagedStore(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		is     error
	}{
		{"byte flipped", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)/2] ^= 0x20
			os.Chmod(path, 0o644)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, evidence.ErrDigestMismatch},
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, evidence.ErrNotFound},
	}
	for _, c := range cases {
		for _, name := range []string{"page.html", "exchanges/002-response.http", "manifest.json", "manifest.sig"} {
			t.Run(c.name+" "+name, func(t *testing.T) {
				f := newFixture(t)
				k := key(f.rec, name)
				p, err := f.store.Path(k)
				if err != nil {
					t.Fatal(err)
				}
				c.damage(t, p)
				err = evidence.Export(context.Background(), f.store, f.rec, io.Discard)
				if !errors.Is(err, c.is) || !strings.Contains(err.Error(), k) {
					t.Fatalf("Export of a damaged store = %v, want %v naming %s", err, c.is, k)
				}
			})
		}
	}
}

// TestStandardTools checks a bundle with openssl and sha256sum only.
func TestStandardTools(t *testing.T) {
	openssl := testparts.Tool(t, "openssl")
	f := newFixture(t)
	dir := t.TempDir()
	for _, e := range readZip(t, f.bundle) {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "signer.pub", "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig")
	if err != nil || !strings.Contains(out, "Signature Verified Successfully") {
		t.Fatalf("openssl pkeyutl -verify: %v\n%s", err, out)
	}

	// The key id recipe from README.txt.
	der, err := exec.Command(openssl, "pkey", "-pubin", "-in", filepath.Join(dir, "signer.pub"), "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl pkey: %v", err)
	}
	sum := sha256.Sum256(der[len(der)-32:])
	if id := "ed25519:" + hex.EncodeToString(sum[:])[:16]; id != f.signer.KeyID() {
		t.Errorf("key id from openssl DER = %s, want %s", id, f.signer.KeyID())
	}

	// SM3 with openssl.
	m, err := evidence.ParseManifest(readFile(t, filepath.Join(dir, "manifest.json")))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(openssl, "dgst", "-sm3", "page.html"); err == nil {
		if !strings.Contains(out, m.Artifacts[6].SM3.Hex()) {
			t.Errorf("openssl dgst -sm3 page.html = %q, manifest says %s", out, m.Artifacts[6].SM3)
		}
	} else {
		t.Logf("openssl has no SM3 here: %s", out)
	}

	if _, err := exec.LookPath("sha256sum"); err == nil {
		if out, err := run("sha256sum", "-c", "SHA256SUMS"); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
		}
	}

	// A changed manifest fails openssl too.
	b := readFile(t, filepath.Join(dir, "manifest.json"))
	b[bytes.Index(b, []byte("/shop/7"))+6] = '8'
	os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
	if out, err := run(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "signer.pub", "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig"); err == nil {
		t.Fatalf("openssl accepted a changed manifest:\n%s", out)
	}
}

func TestReportText(t *testing.T) {
	f := newFixture(t)
	es := readZip(t, f.bundle)
	(*entryRef(t, es, "page.html"))[0] ^= 1
	path := filepath.Join(t.TempDir(), "b.zip")
	writeZip(t, path, es)
	rep, err := evidence.VerifyBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{path, f.rec.ID, f.signer.KeyID(), "FAIL", "page.html", "NOT VERIFIED"} {
		if !strings.Contains(out, s) {
			t.Errorf("report text lacks %q:\n%s", s, out)
		}
	}
}

// helpers

func key(rec *shopwatch.EvidenceRecord, name string) string { return "evidence/" + rec.ID + "/" + name }

func readStored(t *testing.T, s evidence.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(key, ".warc.gz") {
		// Every WARC a test reads back is also read by gowarc, strictly.
		warctest.Check(t, b)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

type zipEntry struct {
	name string
	data []byte
}

func readZip(t *testing.T, path string) []zipEntry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var es []zipEntry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		es = append(es, zipEntry{f.Name, b})
	}
	return es
}

func writeZip(t *testing.T, path string, es []zipEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func entryRef(t *testing.T, es []zipEntry, name string) *[]byte {
	t.Helper()
	for i := range es {
		if es[i].name == name {
			return &es[i].data
		}
	}
	t.Fatalf("bundle has no %s", name)
	return nil
}

func entry(t *testing.T, es []zipEntry, name string) []byte {
	t.Helper()
	return *entryRef(t, es, name)
}
