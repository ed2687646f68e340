package evidence_test

import (
	"archive/zip"
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/pdf"
	"shopwatch/internal/testparts"
)

// zipReader returns a ReportFileReader over a bundle file.
func zipReader(t *testing.T, path string) evidence.ReportFileReader {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zr.Close() })
	return func(name string) ([]byte, error) { return fs.ReadFile(zr, name) }
}

// report.html shows everything the inspector needs and renders the same
// from the bundle's own files.
func TestReportContent(t *testing.T) {
	f := newFixture(t)
	es := readZip(t, f.bundle)
	html := string(entry(t, es, "report.html"))
	rep, err := evidence.VerifyBundle(f.bundle)
	if err != nil || !rep.OK() {
		t.Fatalf("bundle does not verify: %v %v", err, rep.Err())
	}
	m, err := evidence.ParseManifest(entry(t, es, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"<!DOCTYPE html>", "Content-Security-Policy",
		f.rec.ID, f.page.URL, f.page.FinalURL, "storefront", "food", "旗舰店",
		"2026-03-01 18:15:00.123456789 北京时间", "2026-03-01T10:15:00.123456789Z", "system clock",
		"node-a", "inspector-07", "shopwatch v1.0.0-test", f.signer.KeyID(),
		rep.TSARootSHA256, rep.TimestampTime.UTC().Format("2006-01-02T15:04:05"),
		"第 1 条，共 1 条", "(leaf 0 of 1)",
		// findings, with law and article
		"绝对化用语", "ad.absolute-term", "《中华人民共和国广告法》", "第九条第三项", "违法 violation", "全网<mark>最佳</mark>口碑",
		"未展示ICP备案号", "需核查 review", "第十三条",
		// the screenshot, from its file in the bundle
		`<img src="screenshot.png"`,
		// the extraction record
		"电子数据提取笔录", "案件编号", "笔录编号", "提取时间", "提取地点", "提取人", "见证人", "网络在线提取",
		"openssl ts -verify -data manifest.json -in timestamp.tsr -CAfile tsa-root.pem", "sha256sum -c SHA256SUMS",
		// derived, not signed
		"不属于签名清单", "not part of the signed manifest",
	}
	for _, e := range m.Artifacts {
		want = append(want, e.Name, e.SHA256.String(), e.SM3.String())
	}
	for _, s := range want {
		if !strings.Contains(html, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	if strings.Contains(html, "data:image") || strings.Contains(html, "http://127.0.0.1:8080/shop/7/\"") {
		t.Error("report.html inlines images or links to the page")
	}
	// Deterministic: the bundle's own files render the same bytes.
	again, err := evidence.RenderReport(zipReader(t, f.bundle), false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, []byte(html)) {
		t.Error("rendering report.html from the bundle's files gives other bytes than the bundled report.html")
	}
	// For printing, images are inlined.
	printable, err := evidence.RenderReport(zipReader(t, f.bundle), true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(printable, []byte(`src="data:image/png;base64,`)) || bytes.Contains(printable, []byte(`src="screenshot.png"`)) {
		t.Error("the printable report does not inline the screenshot")
	}
}

// Page text is hostile input: markup in titles, matches and snippets is
// shown, never run.
func TestReportEscapesHostileText(t *testing.T) {
	f := newFixture(t)
	page := testPage(t)
	evil := `<script>alert(1)</script>"><img src=x onerror=alert(2)>`
	page.Title = "店铺" + evil
	page.Text = "全网最佳" + evil
	findings := []shopwatch.Finding{{Rule: "ad.absolute-term", Title: "绝对化用语" + evil, Law: "《广告法》" + evil, Article: "第九条",
		Severity: shopwatch.SeverityViolation, Match: evil, Snippet: "前" + evil + "后", Offset: 12, Reason: evil, URL: page.URL}}
	meta := testMeta()
	meta.Notary = f.notary
	rec, err := evidence.Capture(context.Background(), f.store, f.signer, page, findings, meta)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (&evidence.Exporter{Notary: f.notary}).Export(context.Background(), f.store, rec, &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	html, err := fs.ReadFile(zr, "report.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "onerror=alert(2)>"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("report.html holds page markup unescaped: %q", bad)
		}
	}
	if n := bytes.Count(html, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")); n < 6 {
		t.Errorf("escaped page text appears %d times, want it in title, finding title, law, match, snippet and reason", n)
	}
	if bytes.Count(html, []byte("<script")) != 0 {
		t.Error("report.html has a script element")
	}
}

// realPNG returns a small PNG image.
func realPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{R: uint8(4 * x), G: 40, B: uint8(5 * y), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A bundle exported with Chromium holds report.pdf: a PDF whose text
// shows the evidence id and the findings' legal basis, with the
// screenshot inlined; it verifies, and a flipped byte in it is caught.
func TestReportPDFWithChromium(t *testing.T) {
	exe := testparts.Chromium(t)
	f := newFixture(t)
	page := testPage(t)
	page.Screenshot = realPNG(t)
	meta := testMeta()
	meta.Notary = f.notary
	rec, err := evidence.Capture(context.Background(), f.store, f.signer, page, testFindings(page), meta)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "with-pdf.wacz")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	x := &evidence.Exporter{Notary: f.notary, PDF: &pdf.Printer{ExecPath: exe}}
	if err := x.Export(t.Context(), f.store, rec, out); err != nil {
		t.Fatalf("export with PDF: %v", err)
	}
	out.Close()
	es := readZip(t, path)
	doc := entry(t, es, "report.pdf")
	if !bytes.HasPrefix(doc, []byte("%PDF-")) || !bytes.Contains(doc[len(doc)-64:], []byte("%%EOF")) {
		t.Fatalf("report.pdf is not a PDF file: %q … %q", doc[:min(16, len(doc))], doc[max(0, len(doc)-16):])
	}
	if !bytes.Contains(doc, []byte("/Subtype /Image")) {
		t.Error("report.pdf has no image: the screenshot was not inlined")
	}
	text := pdfText(t, doc)
	for _, s := range []string{rec.ID, f.signer.KeyID(), "ad.absolute-term", "inspector-07", "node-a"} {
		if !strings.Contains(text, s) {
			t.Errorf("the text of report.pdf lacks %q; text:\n%s", s, text)
		}
	}
	readme := string(entry(t, es, "README.txt"))
	if !strings.Contains(readme, "report.html and report.pdf") {
		t.Errorf("README.txt does not say report.pdf is in the bundle:\n%s", readme)
	}
	rep, err := evidence.VerifyBundle(path)
	if err != nil || !rep.OK() {
		t.Fatalf("bundle with report.pdf does not verify: %v %v", err, rep.Err())
	}
	if !slices.ContainsFunc(rep.Checks, func(c evidence.Check) bool { return c.Item == "report.pdf" && c.Name == "content" && c.OK }) {
		t.Error("verify did not check report.pdf")
	}

	// A flipped byte in report.pdf, and report.pdf dropped.
	for _, c := range []struct {
		name   string
		tamper func([]zipEntry) []zipEntry
	}{
		{"flipped", func(es []zipEntry) []zipEntry { b := entryRef(t, es, "report.pdf"); (*b)[len(*b)/2] ^= 0x01; return es }},
		{"dropped", func(es []zipEntry) []zipEntry {
			return slices.DeleteFunc(es, func(e zipEntry) bool { return e.name == "report.pdf" })
		}},
	} {
		bad := filepath.Join(t.TempDir(), c.name+".zip")
		writeZip(t, bad, c.tamper(readZip(t, path)))
		rep, err := evidence.VerifyBundle(bad)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || !slices.Equal(rep.Items(), []string{"report.pdf"}) {
			t.Errorf("report.pdf %s: OK=%v items %q, want only report.pdf:\n%v", c.name, rep.OK(), rep.Items(), rep.Err())
		}
	}
}

// Export fails loudly when the PDF cannot be printed: no bundle without
// the report.pdf that was asked for.
func TestExportFailsWhenPDFFails(t *testing.T) {
	f := newFixture(t)
	x := &evidence.Exporter{Notary: f.notary, PDF: &pdf.Printer{ExecPath: filepath.Join(t.TempDir(), "no-such-chromium")}}
	err := x.Export(t.Context(), f.store, f.rec, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "report.pdf") || !strings.Contains(err.Error(), "no-such-chromium") {
		t.Fatalf("export with a missing browser = %v, want an error naming report.pdf and the browser", err)
	}
}
