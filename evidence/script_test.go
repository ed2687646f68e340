package evidence_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/internal/testparts"
)

// unpack writes the entries of a bundle into a fresh folder.
func unpack(t *testing.T, es []zipEntry) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range es {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The script README.txt quotes checks a bundle with standard tools only
// (openssl ts -verify, openssl pkeyutl, sha256sum -c …): it passes a good
// bundle and stops at the first broken item of a damaged one.
func TestStandardToolsScript(t *testing.T) {
	bash := testparts.Tool(t, "bash")
	openssl := testparts.Tool(t, "openssl")
	testparts.Tool(t, "sha256sum")
	script, err := filepath.Abs("testdata/verify-bundle.sh")
	if err != nil {
		t.Fatal(err)
	}
	scriptText, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	base := readZip(t, f.bundle)
	if readme := string(entry(t, base, "README.txt")); !strings.Contains(readme, string(scriptText)) {
		t.Error("README.txt does not quote testdata/verify-bundle.sh verbatim")
	}
	run := func(t *testing.T, es []zipEntry) (string, int) {
		t.Helper()
		cmd := exec.Command(bash, script, unpack(t, es))
		// Only the standard tools on PATH: openssl's folder and the system's.
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(openssl)+":/usr/bin:/bin", "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}

	out, code := run(t, base)
	if code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("script on a good bundle: exit %d\n%s", code, out)
	}
	for _, s := range []string{"ok   manifest.sig", "ok   timestamp.tsr: Time stamp:", "ok   tsa-root.pem", "ok   SHA256SUMS", f.signer.KeyID(), "ok   datapackage.json"} {
		if !strings.Contains(out, s) {
			t.Errorf("script output lacks %q:\n%s", s, out)
		}
	}

	// A bundle exported before WACZ 1.1.1 (profile "wacz") passes too.
	if out, code := run(t, legacyBundle(t, f)); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Errorf("script on a bundle with the earlier profile \"wacz\": exit %d\n%s", code, out)
	}

	other := readZip(t, newFixture(t).bundle)
	cases := []struct {
		name   string
		tamper func(t *testing.T, es []zipEntry) []zipEntry
		item   string
	}{
		{"artifact byte flipped", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "page.html")
			(*b)[len(*b)/2] ^= 1
			return es
		}, "page.html"},
		{"manifest byte flipped", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.json")
			(*b)[len(*b)/2] ^= 1
			return es
		}, "manifest.json"},
		{"report dropped", func(t *testing.T, es []zipEntry) []zipEntry {
			return slices.DeleteFunc(es, func(e zipEntry) bool { return e.name == "report.html" })
		}, "report.html"},
		{"stray file", func(t *testing.T, es []zipEntry) []zipEntry {
			return append(es, zipEntry{name: "extra.txt", data: []byte("x")})
		}, "extra.txt"},
		{"manifest changed and SHA256SUMS rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "manifest.json")
			*b = []byte(strings.Replace(string(*b), "/shop/7", "/shop/8", 1))
			sums := entryRef(t, es, "SHA256SUMS")
			*sums = rewriteSum(*sums, "manifest.json", *b)
			return es
		}, "manifest.sig"},
		{"timestamp of another capture, SHA256SUMS rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			*entryRef(t, es, "timestamp.tsr") = entry(t, other, "timestamp.tsr")
			*entryRef(t, es, "tsa-root.pem") = entry(t, other, "tsa-root.pem")
			sums := entryRef(t, es, "SHA256SUMS")
			*sums = rewriteSum(*sums, "timestamp.tsr", entry(t, other, "timestamp.tsr"))
			*sums = rewriteSum(*sums, "tsa-root.pem", entry(t, other, "tsa-root.pem"))
			return es
		}, "timestamp.tsr"},
		{"datapackage.json altered", func(t *testing.T, es []zipEntry) []zipEntry {
			b := entryRef(t, es, "datapackage.json")
			*b = []byte(strings.Replace(string(*b), `"profile": "data-package"`, `"profile": "data-packagE"`, 1))
			return es
		}, "datapackage.json"},
		{"datapackage.json of another profile, digest rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			var dp evidence.Datapackage
			mustJSON(t, entry(t, es, "datapackage.json"), &dp)
			dp.Profile = "wacz-package"
			return setDatapackage(t, es, dp)
		}, "datapackage.json"},
		{"data-package without wacz_version, digest rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			var dp evidence.Datapackage
			mustJSON(t, entry(t, es, "datapackage.json"), &dp)
			dp.WACZVersion = ""
			return setDatapackage(t, es, dp)
		}, "datapackage.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(t, c.tamper(t, readZip(t, f.bundle)))
			if code != 1 || !strings.Contains(out, "FAIL "+c.item+": ") || strings.Contains(out, "VERIFIED") {
				t.Errorf("script: exit %d, want 1 and FAIL %s:\n%s", code, c.item, out)
			}
		})
	}
}
