package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/evidence/envcheck"
	"shopwatch/evidence/pdf"
	"shopwatch/internal/testparts"
	"shopwatch/rules/licence"
)

// recordUSCC is a valid unified social credit code for the test party.
func recordUSCC(t *testing.T) string {
	t.Helper()
	c, err := licence.USCCCheckChar("91330106MA2B1C3D4")
	if err != nil {
		t.Fatal(err)
	}
	return "91330106MA2B1C3D4" + string(c)
}

func testCaseRecord() *evidence.CaseRecord {
	return &evidence.CaseRecord{
		CaseNo: "杭市监案〔2026〕17号", Cause: "涉嫌发布虚假广告",
		Office: "杭州市市场监督管理局", OfficeAddress: "杭州市解放东路18号",
		Officers: []evidence.Officer{{Name: "王明", CertNo: "33010012345"}, {Name: "李华", CertNo: "33010012346"}},
		Storage:  "folder store /srv/shopwatch/store",
	}
}

// exportRecord captures a storefront whose page shows its licence block,
// with an environment check, and exports it with record (and a PDF with
// exe, when set). It returns the bundle path.
func exportRecord(t *testing.T, f *fixture, record *evidence.CaseRecord, exe string) string {
	t.Helper()
	page := testPage(t)
	block := "\n营业执照信息\n企业名称\n杭州某某食品有限公司\n统一社会信用代码\n" + recordUSCC(t) + "\n住所\n杭州市西湖区文三路1号"
	page.Text += block
	page.HTML = strings.Replace(page.HTML, "</body>", "<p>"+block+"</p></body>", 1)
	env, err := envcheck.Check(context.Background(), envcheck.Config{Targets: []string{page.URL}, Version: "v1.0.0-test",
		Versions: map[string]string{"chromium": "131.0.6778.85"}})
	if err != nil {
		t.Fatal(err)
	}
	meta := testMeta()
	meta.Notary = f.notary
	if meta.Environment, err = env.JSON(); err != nil {
		t.Fatal(err)
	}
	rec, err := evidence.Capture(context.Background(), f.store, f.signer, page, testFindings(page), meta)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "record.wacz")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	x := &evidence.Exporter{Notary: f.notary, Record: record}
	if exe != "" {
		x.PDF = &pdf.Printer{ExecPath: exe}
	}
	if err := x.Export(t.Context(), f.store, rec, out); err != nil {
		t.Fatalf("export: %v", err)
	}
	return path
}

// recordWants is what the extraction record of a case shows: the case,
// the party from the page's licence block, the place, both officers with
// their certificate numbers, method and tools with versions, the
// environment check, the source URL and redirect chain, every file with
// SHA-256 and SM3, the storage medium statement and the signature and
// refusal lines.
func recordWants(t *testing.T, es []zipEntry) []string {
	t.Helper()
	m, err := evidence.ParseManifest(entry(t, es, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"电子数据提取笔录", "《市场监督管理行政执法电子数据取证暂行规定》",
		"案件编号", "杭市监案〔2026〕17号", "案由", "涉嫌发布虚假广告",
		"当事人", "杭州某某食品有限公司", "统一社会信用代码", recordUSCC(t), "杭州市西湖区文三路1号", "旗舰店",
		"提取地点", "杭州市市场监督管理局", "杭州市解放东路18号", "node-a",
		"王明", "33010012345", "李华", "33010012346", "执法证号",
		"网络在线提取", "提取工具及版本", "shopwatch v1.0.0-test", "chromium 131.0.6778.85",
		"提取环境检查", "跳转链", "http://127.0.0.1:8080/shop/7", "http://127.0.0.1:8080/shop/7/", "301",
		"存储介质", "原始存储介质", "folder store /srv/shopwatch/store",
		"执法人员（签名）", "当事人（签名或者盖章）", "当事人拒绝签名或者盖章",
	}
	for _, e := range m.Artifacts {
		want = append(want, e.SHA256.String(), e.SM3.String())
	}
	return want
}

// The record of a case in report.html states every field, the party taken
// from the licence block the page shows; the bundle verifies and renders
// the same from its own files.
func TestExtractionRecordOfCase(t *testing.T) {
	f := newFixture(t)
	path := exportRecord(t, f, testCaseRecord(), "")
	es := readZip(t, path)
	html := string(entry(t, es, "report.html"))
	record := html[strings.Index(html, `<div class="record">`):]
	for _, s := range recordWants(t, es) {
		if !strings.Contains(record, s) {
			t.Errorf("the extraction record lacks %q", s)
		}
	}
	if strings.Contains(record, "不是案件笔录") {
		t.Error("the record of a case says it is not a case record")
	}
	// 操作人 names the officers, never "—".
	if !regexp.MustCompile(`操作人 <span class="en">Operator</span></th><td>王明（执法证号 33010012345）、李华`).MatchString(html) {
		t.Error("the summary's operator does not name the officers")
	}
	rep, err := evidence.VerifyBundle(path)
	if err != nil || !rep.OK() {
		t.Fatalf("bundle does not verify: %v %v", err, rep.Err())
	}
	again, err := evidence.RenderReport(zipReader(t, path), false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, []byte(html)) {
		t.Error("rendering report.html from the bundle's files gives other bytes than the bundled report.html")
	}
	// extraction-record.json is derived: changing it is caught, and named.
	ref := entryRef(t, es, evidence.RecordFile)
	*ref = bytes.Replace(*ref, []byte("王明"), []byte("王五"), 1)
	checkNamed(t, verifyEntries(t, es), evidence.RecordFile)
}

// report.pdf carries the same record: its text holds every field.
func TestExtractionRecordPDF(t *testing.T) {
	exe := testparts.Chromium(t)
	f := newFixture(t)
	path := exportRecord(t, f, testCaseRecord(), exe)
	es := readZip(t, path)
	text := pdfText(t, entry(t, es, "report.pdf"))
	// Long values wrap across lines in print.
	flat := strings.Join(strings.Fields(text), "")
	for _, s := range recordWants(t, es) {
		if !strings.Contains(flat, strings.Join(strings.Fields(s), "")) {
			t.Errorf("the text of report.pdf lacks %q", s)
		}
	}
}

// A case record with fewer than two officers, or an officer without a
// certificate number, or no cause, is refused, naming what is missing; a
// record without a case exports and says it is not a case record.
func TestExtractionRecordIncomplete(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		edit func(*evidence.CaseRecord)
		want string
	}{
		{"one officer", func(r *evidence.CaseRecord) { r.Officers = r.Officers[:1] }, "2 officers with enforcement certificate numbers (执法证号), 1 given"},
		{"no certificate", func(r *evidence.CaseRecord) { r.Officers[1].CertNo = "" }, "enforcement certificate number (执法证号) of 李华"},
		{"no cause", func(r *evidence.CaseRecord) { r.Cause = "" }, "the cause (案由)"},
	} {
		r := testCaseRecord()
		tc.edit(r)
		var buf bytes.Buffer
		err := (&evidence.Exporter{Notary: f.notary, Record: r}).Export(t.Context(), f.store, f.rec, &buf)
		if !errors.Is(err, evidence.ErrIncompleteRecord) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: export = %v, want ErrIncompleteRecord naming %q", tc.name, err, tc.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: a refused export wrote %d bytes", tc.name, buf.Len())
		}
	}

	plain := testCaseRecord()
	plain.CaseNo, plain.Cause, plain.Officers = "", "", plain.Officers[:1]
	es := readZip(t, exportRecord(t, f, plain, ""))
	html := string(entry(t, es, "report.html"))
	for _, s := range []string{"本笔录不是案件笔录", "Not a case record", "王明", "杭州某某食品有限公司", "执法人员（签名）", "当事人（签名或者盖章）"} {
		if !strings.Contains(html, s) {
			t.Errorf("the record of a plain export lacks %q", s)
		}
	}
	// Without a record at all (the library's zero Exporter) the report
	// says the same.
	if html := string(entry(t, readZip(t, f.bundle), "report.html")); !strings.Contains(html, "本笔录不是案件笔录") || strings.Contains(html, "杭市监案") {
		t.Error("the report of an export without a record does not say it is not a case record")
	}
}
