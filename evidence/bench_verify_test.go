package evidence_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
	"shopwatch/internal/testparts"
)

// Verify throughput is measured against sha256sum on the same bytes: the
// files of one bundle of a few MB (a 4 MB response body, a 1 MB
// screenshot, the WARC holding both again). All three benchmarks set
// b.SetBytes to the bundle's unpacked size, so their MB/s compare
// directly:
//
//	go test -run '^$' -bench 'VerifyBundle|Sha256' ./evidence/
//
// BenchmarkVerifyBundle runs VerifyBundle on the zip (inflating entries,
// SHA-256 and SM3 of every artifact, SHA-256 of every other file, the
// signature, timestamp and ledger checks). BenchmarkSha256sum runs the
// real sha256sum binary over the unpacked files; BenchmarkSha256Go hashes
// the same unpacked bytes with crypto/sha256 in one goroutine.
// BenchmarkVerifyVsSha256sum alternates verify and sha256sum and reports
// the ratio directly.

// benchBundle exports a bundle of a few MB and returns its path, the
// folder it is unpacked in, the unpacked file paths and their total size.
func benchBundle(b *testing.B) (bundle, dir string, files []string, total int64) {
	b.Helper()
	// Keep the authority's and the ledger's log lines out of the results.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	b.Cleanup(func() { slog.SetDefault(prev) })
	root := b.TempDir()
	store, err := folderstore.New(filepath.Join(root, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := evidence.LoadOrCreateSigner(filepath.Join(root, "keys"))
	if err != nil {
		b.Fatal(err)
	}
	auth, err := tsa.LoadOrCreateAuthority(filepath.Join(root, "tsa"))
	if err != nil {
		b.Fatal(err)
	}
	lg, err := ledger.Open(filepath.Join(root, "ledger"), signer, auth)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lg.Close() })
	notary := &evidence.Notary{TSA: auth, TSARoot: auth.RootPEM(), Ledger: lg}

	rng := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	body := randBytes(4 << 20)
	started := time.Date(2026, 3, 1, 10, 14, 59, 0, time.UTC)
	page := &shopwatch.Page{
		URL: "http://127.0.0.1:8080/big", FinalURL: "http://127.0.0.1:8080/big", Kind: shopwatch.KindProduct,
		Status: 200, ContentType: "application/octet-stream", Charset: "utf-8",
		HTML: "<html><title>big</title></html>", Title: "big", Text: "big", FetchedAt: started,
		Screenshot: append([]byte("\x89PNG\r\n\x1a\n"), randBytes(1<<20)...),
		Exchanges: []shopwatch.Exchange{{
			Method: "GET", URL: "http://127.0.0.1:8080/big", Proto: "HTTP/1.1",
			RequestHeader:  []byte("GET /big HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
			Status:         200,
			ResponseHeader: []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"),
			Body:           body, ContentLength: int64(len(body)), Started: started, Duration: time.Second,
		}},
	}
	// Captured now: the token is dated now, and captured_at must lie
	// within the accepted skew of it.
	meta := evidence.CaptureMeta{Operator: "bench", Host: "node-a", Version: "bench", Notary: notary, Now: time.Now}
	rec, err := evidence.Capture(context.Background(), store, signer, page, nil, meta)
	if err != nil {
		b.Fatal(err)
	}
	bundle = filepath.Join(root, "bundle.zip")
	out, err := os.Create(bundle)
	if err != nil {
		b.Fatal(err)
	}
	if err := (&evidence.Exporter{Notary: notary}).Export(context.Background(), store, rec, out); err != nil {
		b.Fatal(err)
	}
	out.Close()

	dir = filepath.Join(root, "unpacked")
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		b.Fatal(err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(zf.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		rc, err := zf.Open()
		if err != nil {
			b.Fatal(err)
		}
		w, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(w, rc)
		rc.Close()
		w.Close()
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, zf.Name)
		total += n
	}
	return bundle, dir, files, total
}

func BenchmarkVerifyBundle(b *testing.B) {
	bundle, _, _, total := benchBundle(b)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := evidence.VerifyBundle(bundle)
		if err != nil || !rep.OK() {
			b.Fatalf("verify: %v %v", err, rep.Err())
		}
	}
}

func BenchmarkSha256sum(b *testing.B) {
	exe := testparts.Tool(b, "sha256sum")
	_, dir, files, total := benchBundle(b)
	b.SetBytes(total)
	for b.Loop() {
		cmd := exec.Command(exe, files...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
	}
}

func BenchmarkSha256Go(b *testing.B) {
	_, dir, files, total := benchBundle(b)
	b.SetBytes(total)
	buf := make([]byte, 1<<20)
	for b.Loop() {
		for _, name := range files {
			f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.CopyBuffer(h, f, buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
}

// BenchmarkVerifyVsSha256sum runs VerifyBundle and the sha256sum binary
// alternately on the same bundle and reports the ratio of their total
// times (x-sha256sum: how many times longer verify takes), so both see
// the same load on a shared machine.
func BenchmarkVerifyVsSha256sum(b *testing.B) {
	exe := testparts.Tool(b, "sha256sum")
	bundle, dir, files, total := benchBundle(b)
	b.SetBytes(total)
	var tVerify, tSum time.Duration
	for b.Loop() {
		start := time.Now()
		rep, err := evidence.VerifyBundle(bundle)
		if err != nil || !rep.OK() {
			b.Fatalf("verify: %v %v", err, rep.Err())
		}
		mid := time.Now()
		cmd := exec.Command(exe, files...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
		tVerify += mid.Sub(start)
		tSum += time.Since(mid)
	}
	b.ReportMetric(float64(tVerify)/float64(tSum), "x-sha256sum")
}
