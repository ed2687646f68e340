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

// bundleFile returns one file of a bundle.
func bundleFile(t *testing.T, bundle, name string) string {
	t.Helper()
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A sweep whose configured authority is an external one (openssl ts
// -reply on loopback, with its own CA) captures evidence that verifies as
// TRUSTED under the trust file trust export writes; the report calls its
// token 可信时间戳. A bundle of another data directory, signed with another
// key and timestamped by its built-in authority (labelled as such in its
// report), fails under that trust file, and is SELF-CONSISTENT ONLY
// without one.
func TestTrustExportWithExternalTSA(t *testing.T) {
	ext := testparts.StartOpenSSLTSA(t)
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("tsa:\n  url: "+ext.URL+"\n  root_file: "+ext.RootFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := market(t, 1)
	data := t.TempDir()
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/1/", "--category", "food", "--platform", "淘宝", "--jurisdiction", "杭州市西湖区")
	mustSW(t, "--config", cfg, "--data", data, "--allow-private", "sweep")
	id := evidenceIDs(t, data)[0]
	bundle := filepath.Join(t.TempDir(), id+".zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", id, "-o", bundle, "--no-pdf")

	trust := filepath.Join(t.TempDir(), "trust.yaml")
	if _, _, code := sw(t, "--config", cfg, "--data", data, "trust", "export", "-o", trust); code != exitUsage {
		t.Errorf("trust export without --office: exit %d, want %d", code, exitUsage)
	}
	mustSW(t, "--config", cfg, "--data", data, "trust", "export", "--office", "杭州市西湖区市场监督管理局", "-o", trust)
	tf, err := evidence.ReadTrustFile(trust)
	if err != nil {
		t.Fatal(err)
	}
	keys := keyIDs(t, data)
	if len(tf.SignerKeys) != 1 || tf.SignerKeys[0].ID != keys.Current || tf.SignerKeys[0].ValidFrom == "" || tf.SignerKeys[0].ValidUntil != "" {
		t.Errorf("trust file keys %+v, want the current key %s from its creation, open-ended", tf.SignerKeys, keys.Current)
	}
	if len(tf.TSARoots) != 1 || !strings.Contains(tf.TSARoots[0].Subject, "External TSA test root") {
		t.Errorf("trust file roots %+v, want the external root", tf.TSARoots)
	}

	if o := mustSW(t, "evidence", "verify", "--trust", trust, bundle); !strings.Contains(o, "TRUSTED under "+trust) {
		t.Errorf("verify --trust:\n%s", o)
	}
	var v struct{ Verdict, Trust string }
	if err := json.Unmarshal([]byte(mustSW(t, "evidence", "verify", "--json", "--trust", trust, bundle)), &v); err != nil || v.Verdict != evidence.VerdictTrusted || !strings.Contains(v.Trust, trust) {
		t.Errorf("verify --json --trust: %+v, %v", v, err)
	}
	if o := mustSW(t, "evidence", "verify", bundle); !strings.Contains(o, "SELF-CONSISTENT ONLY") {
		t.Errorf("verify without a trust file:\n%s", o)
	}
	if r := bundleFile(t, bundle, "report.html"); !strings.Contains(r, evidence.LabelTrustedTimestamp) || strings.Contains(r, evidence.LabelBuiltinTimestamp) {
		t.Errorf("report.html of an external token does not say %s", evidence.LabelTrustedTimestamp)
	}

	// Another data directory: its own key, its built-in authority.
	_, other, _ := sweptData(t)
	if r := bundleFile(t, other, "report.html"); !strings.Contains(r, evidence.LabelBuiltinTimestamp) || strings.Contains(r, evidence.LabelTrustedTimestamp+" ") {
		t.Errorf("report.html of a built-in token is not labelled %s", evidence.LabelBuiltinTimestamp)
	}
	o, _, code := sw(t, "evidence", "verify", "--trust", trust, other)
	if code != exitFailed || strings.Contains(o, "TRUSTED") || !strings.Contains(o, "is not a signer key of") || !strings.Contains(o, "does not pin") {
		t.Errorf("a foreign bundle under the trust file: exit %d\n%s", code, o)
	}
	if o := mustSW(t, "evidence", "verify", other); !strings.Contains(o, "SELF-CONSISTENT ONLY") {
		t.Errorf("a foreign bundle without a trust file:\n%s", o)
	}
	// A malformed trust file is a usage error.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("office: x\n"), 0o644)
	if _, _, code := sw(t, "evidence", "verify", "--trust", bad, bundle); code != exitUsage {
		t.Errorf("verify with a malformed trust file: exit %d, want %d", code, exitUsage)
	}
}
