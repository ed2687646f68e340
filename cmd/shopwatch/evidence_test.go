package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/internal/testparts"
	"shopwatch/rules/licence"
)

// zipFile returns one file of a zip, and whether it is there.
func zipFile(t *testing.T, path, name string) ([]byte, bool) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open(name)
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// evidence export prints report.pdf with the configured Chromium; with
// --no-pdf the bundle has none and says so; a browser that cannot start
// fails the export loudly; verify names the first broken item.
func TestEvidenceExportReport(t *testing.T) {
	exe := testparts.Chromium(t)
	_, base := market(t, 2)
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")
	mustSW(t, "--data", data, "--allow-private", "sweep")
	var recs []struct{ ID string }
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs); err != nil || len(recs) == 0 {
		t.Fatalf("no evidence: %v", err)
	}
	id := recs[0].ID
	cfgDir := t.TempDir()
	config := func(name, execPath string) string {
		p := filepath.Join(cfgDir, name)
		if err := os.WriteFile(p, []byte("browser:\n  exec_path: "+execPath+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, broken := config("good.yaml", exe), config("broken.yaml", filepath.Join(cfgDir, "no-such-chromium"))
	out := t.TempDir()

	// With Chromium: report.html and report.pdf, and it verifies.
	withPDF := filepath.Join(out, id+".wacz")
	mustSW(t, "--config", good, "--data", data, "evidence", "export", id, "-o", withPDF)
	if b, ok := zipFile(t, withPDF, "report.pdf"); !ok || !strings.HasPrefix(string(b), "%PDF-") {
		t.Errorf("bundle exported with Chromium has no report.pdf (%v)", ok)
	}
	if html, ok := zipFile(t, withPDF, "report.html"); !ok || !strings.Contains(string(html), id) || !strings.Contains(string(html), "电子数据提取笔录") {
		t.Error("bundle has no report.html with the evidence id and the extraction record")
	}
	if o := mustSW(t, "evidence", "verify", withPDF); !strings.Contains(o, "VERIFIED") || !strings.Contains(o, "report.pdf") || !strings.Contains(o, "datapackage.json") {
		t.Errorf("verify of the bundle:\n%s", o)
	}
	// What a person reads is signed at export: by the node's key, or by
	// the exporting person's key with --key and --by.
	nodeKey, err := evidence.LoadSigner(filepath.Join(data, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if o := mustSW(t, "evidence", "verify", withPDF); !strings.Contains(o, "export:      signed by node "+host+", key "+nodeKey.KeyID()) ||
		!strings.Contains(o, "derived:     README.txt, verify-bundle.sh, ledger-proof.json, indexes/index.cdxj, pages/pages.jsonl, extraction-record.json, report.html, report.pdf (made at export, signed in export-manifest.json)") {
		t.Errorf("verify does not say the derived files are signed by the node:\n%s", o)
	}
	personKeys := filepath.Join(t.TempDir(), "zhang")
	person, err := evidence.LoadOrCreateSigner(personKeys)
	if err != nil {
		t.Fatal(err)
	}
	byPerson := filepath.Join(out, "by-person.zip")
	mustSW(t, "--config", broken, "--data", data, "evidence", "export", id, "-o", byPerson, "--no-pdf", "--by", "张三 (执法证号 A-001)", "--key", personKeys)
	if o := mustSW(t, "evidence", "verify", byPerson, "--trusted-key", nodeKey.KeyID()+","+person.KeyID()); !strings.Contains(o, "VERIFIED") ||
		!strings.Contains(o, "export:      signed by 张三 (执法证号 A-001), key "+person.KeyID()) {
		t.Errorf("verify of a bundle exported by a person:\n%s", o)
	}
	if o, _, code := sw(t, "evidence", "verify", byPerson, "--trusted-key", nodeKey.KeyID()); code != 1 || !strings.Contains(o, "FAIL trusted    export-signer.pub") {
		t.Errorf("verify with only the node's key trusted: exit %d\n%s", code, o)
	}

	// --no-pdf: no report.pdf, and README.txt and verify say so.
	noPDF := filepath.Join(out, "no-pdf.zip")
	mustSW(t, "--config", broken, "--data", data, "evidence", "export", id, "-o", noPDF, "--no-pdf")
	if _, ok := zipFile(t, noPDF, "report.pdf"); ok {
		t.Error("--no-pdf bundle has report.pdf")
	}
	if readme, _ := zipFile(t, noPDF, "README.txt"); !strings.Contains(string(readme), "no report.pdf") {
		t.Errorf("README.txt of a --no-pdf bundle does not say report.pdf is left out:\n%s", readme)
	}
	if o := mustSW(t, "evidence", "verify", noPDF); !strings.Contains(o, "VERIFIED") || !strings.Contains(o, "report.pdf: absent") {
		t.Errorf("verify of a --no-pdf bundle:\n%s", o)
	}

	// A browser that cannot start fails the export and leaves no bundle.
	failed := filepath.Join(out, "failed.zip")
	_, e, code := sw(t, "--config", broken, "--data", data, "evidence", "export", id, "-o", failed)
	if code == 0 || !strings.Contains(e, "report.pdf") || !strings.Contains(e, "--no-pdf") || !strings.Contains(e, "no-such-chromium") {
		t.Errorf("export with a broken browser: exit %d, stderr:\n%s", code, e)
	}
	if _, err := os.Stat(failed); err == nil {
		t.Error("a failed export left a bundle behind")
	}

	// Verify exits 1 and names the first broken item.
	for _, name := range []string{"report.html", "datapackage.json", "pages/pages.jsonl"} {
		tampered := filepath.Join(t.TempDir(), "tampered.zip")
		flipByte(t, withPDF, tampered, name)
		o, e, code := sw(t, "evidence", "verify", tampered)
		if code != exitFailed || !strings.Contains(e, "first broken item: "+name+" ") || !strings.Contains(o, "FAIL") {
			t.Errorf("verify with %s damaged: exit %d\nstdout:\n%s\nstderr:\n%s", name, code, o, e)
		}
	}
}

// evidence export --case writes the extraction record of the case: the
// case number and cause, the office from the config, both officers with
// their 执法证号, and the party's name and 统一社会信用代码 from the licence
// block the page shows. A case record with one officer is a usage error
// naming what is missing; an export without a case says it is not a case
// record; officers may come from the config.
func TestEvidenceExportCaseRecord(t *testing.T) {
	c, err := licence.USCCCheckChar("91330106MA2B1C3D4")
	if err != nil {
		t.Fatal(err)
	}
	uscc := "91330106MA2B1C3D4" + string(c)
	mux := http.NewServeMux()
	mux.HandleFunc("/shop/9/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><head><title>某某食品旗舰店</title></head><body><h1>牛肉干</h1><p>全网最佳口碑</p>
<section class="licence"><h3>营业执照信息</h3><dl><dt>企业名称</dt><dd>杭州某某食品有限公司</dd><dt>统一社会信用代码</dt><dd>%s</dd></dl></section></body></html>`, uscc)
	})
	base := serve(t, mux)
	data := t.TempDir()
	cfgDir := t.TempDir()
	writeConfig := func(name, body string) string {
		p := filepath.Join(cfgDir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	office := "office:\n  name: 杭州市市场监督管理局\n  address: 杭州市解放东路18号\n"
	cfg := writeConfig("office.yaml", office)
	withOfficers := writeConfig("officers.yaml", office+"officers: [\"赵六:33010099001\", \"钱七:33010099002\"]\n")
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/9/", "--category", "food")
	mustSW(t, "--config", cfg, "--data", data, "--allow-private", "sweep")
	var recs []struct{ ID string }
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs); err != nil || len(recs) == 0 {
		t.Fatalf("no evidence: %v", err)
	}
	id := recs[0].ID
	out := t.TempDir()

	bundle := filepath.Join(out, "case.zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", id, "-o", bundle, "--no-pdf",
		"--case", "杭市监案〔2026〕17号", "--cause", "涉嫌发布虚假广告", "--officer", "王明:33010012345", "--officer", "李华：33010012346")
	html, ok := zipFile(t, bundle, "report.html")
	if !ok {
		t.Fatal("bundle has no report.html")
	}
	for _, s := range []string{"杭市监案〔2026〕17号", "涉嫌发布虚假广告", "杭州市市场监督管理局", "杭州市解放东路18号",
		"王明", "33010012345", "李华", "33010012346", "杭州某某食品有限公司", uscc, "某某食品旗舰店",
		"跳转链", "存储介质", "folder store", "当事人（签名或者盖章）", "当事人拒绝签名或者盖章"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("report.html of the case lacks %q", s)
		}
	}
	if strings.Contains(string(html), "不是案件笔录") {
		t.Error("the record of a case says it is not a case record")
	}
	if o := mustSW(t, "evidence", "verify", bundle); !strings.Contains(o, "VERIFIED") || !strings.Contains(o, "extraction-record.json") {
		t.Errorf("verify of the case bundle:\n%s", o)
	}

	// Fewer than two officers, or a cause without a case: exit 2, no bundle.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--case", "杭市监案〔2026〕18号", "--cause", "涉嫌发布虚假广告", "--officer", "王明:33010012345"},
			[]string{"2 officers", "执法证号", "1 given", "--officer NAME:NO"}},
		{[]string{"--case", "杭市监案〔2026〕18号", "--cause", "涉嫌发布虚假广告"}, []string{"2 officers", "0 given"}},
		{[]string{"--case", "杭市监案〔2026〕18号", "--officer", "王明:33010012345", "--officer", "李华:33010012346"}, []string{"the cause (案由)"}},
		{[]string{"--cause", "涉嫌发布虚假广告"}, []string{"--cause needs --case"}},
		{[]string{"--case", "X", "--cause", "Y", "--officer", "王明", "--officer", "李华:1"}, []string{"NAME:NO"}},
		{[]string{"--uscc", "91330106MA2B1C3D40"}, []string{"--uscc"}},
	} {
		path := filepath.Join(out, "refused.zip")
		args := append([]string{"--config", cfg, "--data", data, "evidence", "export", id, "-o", path, "--no-pdf"}, tc.args...)
		_, e, code := sw(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (usage); stderr:\n%s", tc.args, code, exitUsage, e)
		}
		for _, w := range tc.want {
			if !strings.Contains(e, w) {
				t.Errorf("%v: stderr does not say %q:\n%s", tc.args, w, e)
			}
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%v: a refused export left a bundle", tc.args)
			os.Remove(path)
		}
	}

	// Officers from the config make a case record.
	fromConfig := filepath.Join(out, "config-officers.zip")
	mustSW(t, "--config", withOfficers, "--data", data, "evidence", "export", id, "-o", fromConfig, "--no-pdf",
		"--case", "杭市监案〔2026〕19号", "--cause", "涉嫌发布虚假广告")
	if html, _ := zipFile(t, fromConfig, "report.html"); !strings.Contains(string(html), "赵六") || !strings.Contains(string(html), "33010099002") {
		t.Error("the case record does not name the officers from the config")
	}

	// A malformed officer in the config stops every command, naming the key.
	badOfficer := writeConfig("bad-officer.yaml", "officers: [\"赵六\"]\n")
	if _, e, code := sw(t, "--config", badOfficer, "--data", data, "evidence", "list"); code != exitUsage || !strings.Contains(e, "officers[0]") || !strings.Contains(e, "NAME:NO") {
		t.Errorf("config with officer \"赵六\": exit %d, stderr:\n%s", code, e)
	}

	// Without a case: the record says it is not a case record.
	plain := filepath.Join(out, "plain.zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", id, "-o", plain, "--no-pdf")
	if html, _ := zipFile(t, plain, "report.html"); !strings.Contains(string(html), "本笔录不是案件笔录") || !strings.Contains(string(html), "杭州某某食品有限公司") {
		t.Error("the record of an export without a case does not say it is not a case record, or lacks the party")
	}
}
