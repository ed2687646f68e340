package evidence_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence"
)

// verifyEntries writes es as a bundle and verifies it.
func verifyEntries(t *testing.T, es []zipEntry, opts ...evidence.VerifyOption) *evidence.Report {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tampered.zip")
	writeZip(t, path, es)
	rep, err := evidence.VerifyBundle(path, opts...)
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	return rep
}

// checkNamed asserts that verification failed, that the first problem
// names item, and that every problem names item or one of also.
func checkNamed(t *testing.T, rep *evidence.Report, item string, also ...string) {
	t.Helper()
	if rep.OK() {
		t.Fatal("tampered bundle verified")
	}
	if first := rep.Problems[0]; first.Item != item {
		t.Errorf("first problem names %s, want %s:\n%v", first.Item, item, rep.Err())
	}
	for _, p := range rep.Problems {
		if p.Item != item && !slices.Contains(also, p.Item) {
			t.Errorf("problem names %s, want only %s: %v", p.Item, append([]string{item}, also...), p)
		}
		if !strings.HasPrefix(p.Error(), p.Item+": ") {
			t.Errorf("problem %v does not lead with its item", p)
		}
	}
}

// Checks whose failure follows from another file's: without tsa-root.pem
// the timestamp and the ledger checkpoint cannot be checked, without
// manifest.json or signer.pub neither can the ledger proof.
var dependents = map[string][]string{
	"manifest.json": {"timestamp.tsr", "ledger-proof.json"},
	"signer.pub":    {"ledger-proof.json"},
	"tsa-root.pem":  {"timestamp.tsr", "ledger-proof.json"},
}

// richPage is the test page with every kind of artifact a capture can
// have: a TLS chain, robots.txt, MHTML, PDF, timed snapshots and a
// livestream timeline.
func richPage(t *testing.T) *shopwatch.Page {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: captureTime.Add(-time.Hour), NotAfter: captureTime.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPage(t)
	p.Screenshot = realPNG(t)
	p.Exchanges[1].TLS = &shopwatch.TLSInfo{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ServerName: "127.0.0.1", PeerCertificates: [][]byte{der}}
	started := p.Exchanges[0].Started
	p.Robots = &shopwatch.Exchange{Method: "GET", URL: "http://127.0.0.1:8080/robots.txt", Proto: "HTTP/1.1",
		RequestHeader: []byte("GET /robots.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"), Status: 200,
		ResponseHeader: []byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), Body: []byte("User-agent"),
		ContentLength: 9, Started: started.Add(-time.Second), Duration: time.Millisecond}
	p.Rendered = true
	p.MHTML = []byte("From: <Saved by Blink>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b--\r\n")
	p.PDF = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	p.Snapshots = []shopwatch.Snapshot{{At: started.Add(time.Second), PNG: realPNG(t)}, {At: started.Add(2 * time.Second), PNG: realPNG(t)}}
	p.Timeline = []shopwatch.TimedText{{Source: "caption", Text: p.Text, First: started, Last: started.Add(time.Second), Offset: 0}}
	return p
}

// One flipped byte in any file of the bundle, and any file dropped, is
// caught, and the first problem names that file.
func TestTamperEveryFile(t *testing.T) {
	f := newFixture(t)
	page := richPage(t)
	meta := testMeta()
	meta.Notary = f.notary
	rec, err := evidence.Capture(t.Context(), f.store, f.signer, page, testFindings(page), meta)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "rich.zip")
	out, err := os.Create(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&evidence.Exporter{Notary: f.notary}).Export(t.Context(), f.store, rec, out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if rep, err := evidence.VerifyBundle(bundle); err != nil || !rep.OK() {
		t.Fatalf("the untouched bundle does not verify: %v %v", err, rep.Err())
	}
	base := readZip(t, bundle)
	kinds := map[string]bool{}
	var names []string
	for _, e := range base {
		kinds[e.name] = true
		names = append(names, e.name)
	}
	t.Logf("tampering with each of %q", names)
	for _, name := range []string{"manifest.json", "manifest.sig", "signer.pub", "timestamp.tsr", "tsa-root.pem", "ledger-proof.json",
		"SHA256SUMS", "README.txt", "datapackage.json", "datapackage-digest.json", "pages/pages.jsonl", "indexes/index.cdxj",
		"report.html", "archive/capture.warc.gz", "screenshot.png", "page.html", "text.txt", "findings.json", "metadata.json",
		"exchanges/001-request.http", "exchanges/002-response.http", "exchanges/002.json"} {
		if !kinds[name] {
			t.Errorf("the bundle has no %s to tamper with", name)
		}
	}
	for _, e := range base {
		t.Run("flip "+e.name, func(t *testing.T) {
			es := readZip(t, bundle)
			b := entryRef(t, es, e.name)
			(*b)[len(*b)/2] ^= 0x01
			checkNamed(t, verifyEntries(t, es), e.name, dependents[e.name]...)
		})
		t.Run("drop "+e.name, func(t *testing.T) {
			es := slices.DeleteFunc(readZip(t, bundle), func(x zipEntry) bool { return x.name == e.name })
			rep := verifyEntries(t, es)
			checkNamed(t, rep, e.name, dependents[e.name]...)
			if !errors.Is(rep.Problems[0], evidence.ErrNotFound) {
				t.Errorf("first problem %v is not ErrNotFound", rep.Problems[0])
			}
		})
	}
}

func TestTamperBundleWide(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	cases := []struct {
		name   string
		tamper func(t *testing.T, es []zipEntry) []zipEntry
		item   string
		also   []string
		is     error
	}{
		{"stray file", func(t *testing.T, es []zipEntry) []zipEntry {
			return append(es, zipEntry{name: "notes/planted.txt", data: []byte("x")})
		}, "notes/planted.txt", nil, evidence.ErrUnlisted},
		{"stray report.pdf", func(t *testing.T, es []zipEntry) []zipEntry {
			return append(es, zipEntry{name: "report.pdf", data: []byte("%PDF-1.4\n%%EOF\n")})
		}, "report.pdf", nil, evidence.ErrUnlisted},
		{"stray index", func(t *testing.T, es []zipEntry) []zipEntry {
			return append(es, zipEntry{name: "indexes/extra.cdxj", data: []byte("x\n")})
		}, "indexes/extra.cdxj", nil, evidence.ErrUnlisted},
		{"ledger proof truncated", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "ledger-proof.json")
			*b = (*b)[:len(*b)/3]
			return es
		}, "ledger-proof.json", nil, evidence.ErrBadLedgerProof},
		{"ledger proof emptied", func(t *testing.T, es []zipEntry) []zipEntry {
			*entryRef(t, es, "ledger-proof.json") = nil
			return es
		}, "ledger-proof.json", nil, evidence.ErrBadLedgerProof},
		{"manifest of another bundle", func(t *testing.T, es []zipEntry) []zipEntry {
			*entryRef(t, es, "manifest.json") = bytes.Clone(entry(t, readZip(t, other.bundle), "manifest.json"))
			return es
		}, "manifest.json", nil, evidence.ErrBadSignature},
		{"signed set and seal of another bundle", func(t *testing.T, es []zipEntry) []zipEntry {
			oes := readZip(t, other.bundle)
			for _, name := range []string{"manifest.json", "manifest.sig", "signer.pub", "timestamp.tsr", "tsa-root.pem"} {
				*entryRef(t, es, name) = bytes.Clone(entry(t, oes, name))
			}
			return es
		}, "manifest.json", []string{"manifest.sig", "signer.pub", "timestamp.tsr", "tsa-root.pem"}, evidence.ErrDigestMismatch},
		{"page.html changed and every unsigned record rewritten to match", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "page.html")
			*b = bytes.Replace(*b, []byte("旗舰店"), []byte("专卖店"), 1)
			return reseal(t, es)
		}, "page.html", []string{"SHA256SUMS", "datapackage.json"}, evidence.ErrDigestMismatch},
		{"report.html rewritten with every record to match", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "report.html")
			*b = bytes.ReplaceAll(*b, []byte(f.rec.ID), []byte("ev-forged"))
			return reseal(t, es)
		}, "report.html", nil, evidence.ErrBadBundle},
		{"pages.jsonl points elsewhere, records rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "pages/pages.jsonl")
			*b = bytes.ReplaceAll(*b, []byte("/shop/7/"), []byte("/shop/8/"))
			return reseal(t, es)
		}, "pages/pages.jsonl", nil, evidence.ErrBadWACZ},
		{"index out of order, records rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "indexes/index.cdxj")
			lines := strings.Split(strings.TrimSuffix(string(*b), "\n"), "\n")
			slices.Reverse(lines)
			*b = []byte(strings.Join(lines, "\n") + "\n")
			return reseal(t, es)
		}, "indexes/index.cdxj", nil, evidence.ErrBadWACZ},
		{"datapackage.json entry altered", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "datapackage.json")
			*b = bytes.Replace(*b, []byte(`"bytes": `), []byte(`"bytes": 1`), 1)
			return es
		}, "datapackage.json", nil, evidence.ErrDigestMismatch},
		{"datapackage.json created altered", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "datapackage.json")
			i := bytes.Index(*b, []byte(`"created": "20`)) + len(`"created": "20`)
			(*b)[i+1]++ // another year, still a valid time
			return es
		}, "datapackage.json", nil, evidence.ErrBadWACZ},
		{"datapackage-digest.json hash altered", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "datapackage-digest.json")
			i := bytes.Index(*b, []byte("sha256:")) + len("sha256:")
			(*b)[i] = "01"[((*b)[i]-'0'+1)%2&1] // another hex digit
			if (*b)[i] == entry(t, readZip(t, f.bundle), "datapackage-digest.json")[i] {
				(*b)[i] = 'f'
			}
			return es
		}, "datapackage-digest.json", nil, evidence.ErrDigestMismatch},
		{"SHA256SUMS line for report.html altered", func(t *testing.T, es []zipEntry) []zipEntry {
			sums := entryRef(t, es, "SHA256SUMS")
			*sums = rewriteSum(*sums, "report.html", []byte("other"))
			return es
		}, "SHA256SUMS", nil, evidence.ErrDigestMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := verifyEntries(t, c.tamper(t, readZip(t, f.bundle)))
			checkNamed(t, rep, c.item, c.also...)
			if !errors.Is(rep.Err(), c.is) {
				t.Errorf("problems do not include %v:\n%v", c.is, rep.Err())
			}
		})
	}
}

// reseal rewrites the unsigned records (SHA256SUMS, datapackage.json,
// datapackage-digest.json) to match the files, as a forger would.
func reseal(t *testing.T, es []zipEntry) []zipEntry {
	t.Helper()
	data := map[string][]byte{}
	for _, e := range es {
		data[e.name] = e.data
	}
	sums := entryRef(t, es, "SHA256SUMS")
	for _, l := range strings.Split(strings.TrimSuffix(string(*sums), "\n"), "\n") {
		_, name, _ := strings.Cut(l, "  ")
		*sums = rewriteSum(*sums, name, data[name])
	}
	data["SHA256SUMS"] = *sums
	dpb := entryRef(t, es, "datapackage.json")
	var dp evidence.Datapackage
	mustJSON(t, *dpb, &dp)
	for i, r := range dp.Resources {
		dp.Resources[i].Hash = evidence.SumBytes(evidence.SHA256, data[r.Path]).String()
		dp.Resources[i].Bytes = int64(len(data[r.Path]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(dp); err != nil {
		t.Fatal(err)
	}
	*dpb = buf.Bytes()
	*entryRef(t, es, "datapackage-digest.json") = []byte("{\n  \"path\": \"datapackage.json\",\n  \"hash\": \"" + evidence.SumBytes(evidence.SHA256, *dpb).String() + "\"\n}\n")
	return es
}

// A forger who re-signs with their own key and rewrites every unsigned
// record is still caught: the manifest names the office's key.
func TestTamperResignedAndResealed(t *testing.T) {
	f := newFixture(t)
	otherSigner, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	es := readZip(t, f.bundle)
	sig, err := otherSigner.Sign(entry(t, es, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	*entryRef(t, es, "manifest.sig") = sig
	*entryRef(t, es, "signer.pub") = otherSigner.PublicKeyPEM()
	rep := verifyEntries(t, reseal(t, es))
	checkNamed(t, rep, "signer.pub")
	if !errors.Is(rep.Err(), evidence.ErrKeyMismatch) {
		t.Errorf("problems do not include ErrKeyMismatch:\n%v", rep.Err())
	}
}
