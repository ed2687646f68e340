package main

import (
	"archive/zip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/internal/testparts"
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
		!strings.Contains(o, "derived:     README.txt, verify-bundle.sh, ledger-proof.json, indexes/index.cdxj, pages/pages.jsonl, report.html, report.pdf (made at export, signed in export-manifest.json)") {
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
