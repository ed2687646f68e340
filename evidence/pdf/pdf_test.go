package pdf_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"shopwatch/evidence/pdf"
	"shopwatch/internal/testparts"
)

func smallPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range 32 {
		img.Set(i, i, color.RGBA{R: 255, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The printer returns a PDF of the document, shows images that sit beside
// it, and reaches nothing on the network, loopback included.
func TestPrintHTML(t *testing.T) {
	exe := testparts.Chromium(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write(smallPNG(t))
	}))
	defer srv.Close()
	doc := `<!DOCTYPE html><html><head><meta charset="utf-8"><title>print test</title>
<link rel="stylesheet" href="` + srv.URL + `/style.css"></head>
<body><h1>Evidence ev-20260301T101500Z-000000000001</h1>
<img src="shots/a.png" width="64" height="64">
<img src="` + srv.URL + `/remote.png">
<script>fetch("` + srv.URL + `/beacon")</script>
</body></html>`
	p := &pdf.Printer{ExecPath: exe, Files: map[string][]byte{"shots/a.png": smallPNG(t)}}
	out, err := p.PrintHTML(context.Background(), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("%PDF-")) || !bytes.Contains(out[max(0, len(out)-64):], []byte("%%EOF")) {
		t.Fatalf("not a PDF: %q", out[:min(len(out), 32)])
	}
	if !bytes.Contains(out, []byte("/Subtype /Image")) {
		t.Error("the PDF shows no image: the local file was not loaded")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the browser made %d requests to the network while printing", n)
	}
}

func TestPrintHTMLFailures(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-chromium")
	_, err := (&pdf.Printer{ExecPath: missing}).PrintHTML(context.Background(), []byte("<p>x</p>"))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("printing with a missing browser = %v, want an error naming it", err)
	}
	_, err = (&pdf.Printer{ExecPath: "/bin/true", Files: map[string][]byte{"../escape.png": nil}}).PrintHTML(context.Background(), []byte("<p>x</p>"))
	if err == nil || !strings.Contains(err.Error(), "escape.png") {
		t.Errorf("a file outside the document folder = %v, want an error", err)
	}

	exe := testparts.Chromium(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&pdf.Printer{ExecPath: exe}).PrintHTML(ctx, []byte("<p>x</p>")); err == nil {
		t.Error("printing with a cancelled context succeeded")
	}
}
