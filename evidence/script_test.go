package evidence_test

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"shopwatch/evidence"
	"shopwatch/evidence/tsa"
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
	run := func(t *testing.T, es []zipEntry, env ...string) (string, int) {
		t.Helper()
		return runBash(t, bash, openssl, []string{script, unpack(t, es)}, env...)
	}

	out, code := run(t, base)
	if code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("script on a good bundle: exit %d\n%s", code, out)
	}
	for _, s := range []string{"ok   manifest.sig", "ok   timestamp.tsr: Time stamp:", "ok   tsa-root.pem", "ok   SHA256SUMS", f.signer.KeyID(), "ok   datapackage.json",
		"ok   export-manifest.sig: Ed25519 signature over export-manifest.json by " + thisNode(t) + ", key id " + f.signer.KeyID(), "ok   export-timestamp.tsr: Time stamp:",
		"ok   export-manifest.json: 6 derived files signed: README.txt verify-bundle.sh ledger-proof.json indexes/index.cdxj pages/pages.jsonl report.html",
		"ok   bundle: every file is a capture file, a signed derived file or a seal file"} {
		if !strings.Contains(out, s) {
			t.Errorf("script output lacks %q:\n%s", s, out)
		}
	}

	// A bundle exported before WACZ 1.1.1 (profile "wacz") passes too.
	if out, code := run(t, legacyBundle(t, f)); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Errorf("script on a bundle with the earlier profile \"wacz\": exit %d\n%s", code, out)
	}

	// The bundle's own copy of the script is the script.
	if got := entry(t, base, "verify-bundle.sh"); string(got) != string(scriptText) {
		t.Error("the bundle's verify-bundle.sh is not testdata/verify-bundle.sh")
	}
	// A bundle exported before exports were signed passes, noting that
	// its derived files are not signed.
	if out, code := run(t, readZip(t, unsignedExport(t, f))); code != 0 || !strings.Contains(out, "VERIFIED") ||
		!strings.Contains(out, "note export-manifest.json: absent (exported before exports were signed)") {
		t.Errorf("script on a bundle without export-manifest.json: exit %d\n%s", code, out)
	}
	if out, code := run(t, readZip(t, unsignedExport(t, f)), "REQUIRE_SIGNED_EXPORT=1"); code != 1 || !strings.Contains(out, "FAIL export-manifest.json: absent") {
		t.Errorf("script with REQUIRE_SIGNED_EXPORT=1 on a bundle without export-manifest.json: exit %d\n%s", code, out)
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
		{"report.html edited, hash lists rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			return reseal(t, editReport(t, es))
		}, "report.html"},
		{"exit 0 in the script and README.txt, hash lists rewritten", func(t *testing.T, es []zipEntry) []zipEntry {
			return reseal(t, exitZeroScript(t, es))
		}, "README.txt"},
		{"stray file listed in SHA256SUMS", func(t *testing.T, es []zipEntry) []zipEntry {
			sums := entryRef(t, es, "SHA256SUMS")
			*sums = append(*sums, []byte(evidence.SumBytes(evidence.SHA256, []byte("x")).Hex()+"  notes.txt\n")...)
			es = append(es, zipEntry{name: "notes.txt", data: []byte("x")})
			return reseal(t, es)
		}, "notes.txt"},
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

	// A token made with the authority's key but dated before its
	// certificate was valid, in a bundle whose records are rewritten to
	// match: openssl ts -verify alone checks the certificate at the time it
	// runs and accepts it; the script checks it at the token's genTime.
	t.Run("token dated before its certificate", func(t *testing.T) {
		es := readZip(t, f.bundle)
		tok := tokenBeforeCert(t, f, entry(t, es, "manifest.json"))
		*entryRef(t, es, "timestamp.tsr") = tok
		es = reseal(t, es)
		dir := unpack(t, es)
		plain, err := exec.Command(openssl, "ts", "-verify", "-data", filepath.Join(dir, "manifest.json"),
			"-in", filepath.Join(dir, "timestamp.tsr"), "-CAfile", filepath.Join(dir, "tsa-root.pem")).CombinedOutput()
		if err != nil {
			t.Logf("openssl ts -verify without -attime refused the token too: %v\n%s", err, plain)
		}
		out, code := run(t, es)
		if code != 1 || !strings.Contains(out, "FAIL timestamp.tsr: token does not verify") || !strings.Contains(out, "at its time") || strings.Contains(out, "VERIFIED") {
			t.Errorf("script on a token dated before its certificate: exit %d, want 1 and FAIL timestamp.tsr:\n%s", code, out)
		}
		rep := verifyEntries(t, es)
		if rep.OK() || !errors.Is(rep.Err(), evidence.ErrBadTimestamp) || !strings.Contains(rep.Err().Error(), "not yet valid") {
			t.Errorf("VerifyBundle on a token dated before its certificate: %v", rep.Err())
		}
	})

	// captured_at 50 minutes before the token's time: refused beyond
	// MAX_SKEW_SECONDS (by default the skew VerifyBundle allows), accepted
	// within it.
	t.Run("captured_at 50 minutes from the token", func(t *testing.T) {
		if want := fmt.Sprintf("max_skew=${MAX_SKEW_SECONDS:-%d}", int(evidence.DefaultMaxTimestampSkew.Seconds())); !strings.Contains(string(scriptText), want) {
			t.Errorf("the script's default skew is not evidence.DefaultMaxTimestampSkew: it lacks %q", want)
		}
		es := readZip(t, redatedBundle(t, f, -50*time.Minute))
		out, code := run(t, es)
		if code != 1 || !strings.Contains(out, "FAIL manifest.json: captured_at 2026-03-01T09:25:00.123456789Z is 30") || !strings.Contains(out, "s from the timestamp's time Mar  1 10:15:") || strings.Contains(out, "VERIFIED") {
			t.Errorf("script on a re-dated capture: exit %d, want 1 and FAIL manifest.json:\n%s", code, out)
		}
		if out, code := run(t, es, "MAX_SKEW_SECONDS=3600"); code != 0 || !strings.Contains(out, "VERIFIED") {
			t.Errorf("script with MAX_SKEW_SECONDS=3600: exit %d\n%s", code, out)
		}
	})
}

// tokenBeforeCert returns a TimeStampResp over manifest signed with the
// key of the fixture's authority, dated a day before its signing
// certificate's notBefore.
func tokenBeforeCert(t *testing.T, f *fixture, manifest []byte) []byte {
	t.Helper()
	a := f.notary.TSA.(*tsa.Authority)
	keyPEM, err := os.ReadFile(filepath.Join(f.dir, "tsa", tsa.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		t.Fatal("no PEM block in the authority's key file")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(manifest)
	ts := timestamp.Timestamp{
		HashAlgorithm:     crypto.SHA256,
		HashedMessage:     sum[:],
		Time:              a.Certificate().NotBefore.Add(-24 * time.Hour),
		Policy:            a.Policy(),
		AddTSACertificate: true,
	}
	resp, err := ts.CreateResponseWithOpts(a.Certificate(), k.(crypto.Signer), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// runBash runs bash with args (the script and its arguments) with only
// the standard tools on PATH (openssl's folder and the system's) and env
// added, and returns its output and exit code.
func runBash(t *testing.T, bash, openssl string, args []string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bash, args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(openssl)+":/usr/bin:/bin", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}
