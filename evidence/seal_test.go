package evidence_test

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"shopwatch/internal/testparts"
	"slices"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/envcheck"
	"shopwatch/evidence/tsa"
)

// A sealed bundle's timestamp verifies with openssl alone, against the
// bundled root, over the exact manifest.json bytes.
func TestSealVerifiesWithOpenSSL(t *testing.T) {
	openssl := testparts.Tool(t, "openssl")
	f := newFixture(t)
	dir := t.TempDir()
	for _, e := range readZip(t, f.bundle) {
		p := filepath.Join(dir, e.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() (string, error) {
		out, err := exec.Command(openssl, "ts", "-verify", "-data", filepath.Join(dir, "manifest.json"),
			"-in", filepath.Join(dir, "timestamp.tsr"), "-CAfile", filepath.Join(dir, "tsa-root.pem")).CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
	m, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	os.WriteFile(filepath.Join(dir, "manifest.json"), append(m, ' '), 0o644)
	if out, err := run(); err == nil {
		t.Fatalf("openssl accepted the token over a changed manifest:\n%s", out)
	}
}

// Swapping the signed files of two bundles (manifest, signature, key,
// token) is caught: the artifacts and the ledger proof belong to the other.
func TestSwappedManifestsAreCaught(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	ea, eb := readZip(t, a.bundle), readZip(t, b.bundle)
	for _, name := range []string{"manifest.json", "manifest.sig", "signer.pub", "timestamp.tsr", "tsa-root.pem"} {
		*entryRef(t, ea, name) = slices.Clone(*entryRef(t, eb, name))
	}
	path := filepath.Join(t.TempDir(), "swapped.zip")
	writeZip(t, path, ea)
	rep, err := evidence.VerifyBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("a bundle with another capture's manifest verified")
	}
	var proofBlamed bool
	for _, p := range rep.Problems {
		if errors.Is(p, evidence.ErrBadLedgerProof) || errors.Is(p, evidence.ErrDigestMismatch) {
			proofBlamed = true
		}
	}
	if !proofBlamed {
		t.Errorf("problems %v name neither the ledger proof nor a digest", rep.Items())
	}
}

func TestUnsealedAndUntrustedRoots(t *testing.T) {
	f := newFixture(t)
	// Against the roots of another authority the token does not verify.
	other, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.VerifyBundle(f.bundle, evidence.WithTSARoots(other.Roots()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !slices.Contains(rep.Items(), "timestamp.tsr") {
		t.Errorf("foreign TSA roots: OK=%v items %v, want timestamp.tsr named", rep.OK(), rep.Items())
	}
	// Against its own roots, passed as trusted, everything holds.
	var pool *x509.CertPool = x509.NewCertPool()
	pool.AppendCertsFromPEM(f.notary.TSARoot)
	if rep, _ := evidence.VerifyBundle(f.bundle, evidence.WithTSARoots(pool)); !rep.OK() {
		t.Errorf("own TSA roots: %v", rep.Err())
	}

	// A capture made without a notary exports an unsealed bundle: refused by
	// default, accepted with AllowUnsealed.
	rec, err := evidence.Capture(context.Background(), f.store, f.signer, f.page, nil, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "unsealed.zip")
	out, _ := os.Create(path)
	if err := evidence.Export(context.Background(), f.store, rec, out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	rep, _ = evidence.VerifyBundle(path)
	if rep.OK() || !slices.Equal(rep.Items(), []string{"ledger-proof.json", "timestamp.tsr", "tsa-root.pem"}) {
		t.Errorf("unsealed bundle: OK=%v items %v", rep.OK(), rep.Items())
	}
	if rep, _ := evidence.VerifyBundle(path, evidence.AllowUnsealed()); !rep.OK() {
		t.Errorf("unsealed bundle with AllowUnsealed: %v", rep.Err())
	}
	// Exporting it with the notary fails: its manifest is not in the ledger.
	if err := evidence.Export(context.Background(), f.store, rec, &strings.Builder{}, evidence.WithNotary(f.notary)); err == nil || !strings.Contains(err.Error(), "not in the ledger") {
		t.Errorf("export of an unledgered capture with the notary: %v", err)
	}
}

// redatedCapture captures the fixture's page again with captured_at shift
// away from the time of the fixture's authority, with the notary's
// capture-time skew check set to maxSkew (0: the default).
func redatedCapture(t *testing.T, f *fixture, shift, maxSkew time.Duration) (*shopwatch.EvidenceRecord, error) {
	t.Helper()
	meta := testMeta()
	meta.Now = func() time.Time { return captureTime.Add(shift) }
	n := *f.notary
	n.MaxSkew = maxSkew
	meta.Notary = &n
	return evidence.Capture(context.Background(), f.store, f.signer, f.page, testFindings(f.page), meta)
}

// redatedBundle is the exported bundle of a capture re-dated by shift, made
// as someone holding the node's keys would: with the check at capture
// switched off. Everything in it is signed, timestamped and in the ledger.
func redatedBundle(t *testing.T, f *fixture, shift time.Duration) string {
	t.Helper()
	rec, err := redatedCapture(t, f, shift, 2*365*24*time.Hour)
	if err != nil {
		t.Fatalf("Capture with the skew check off: %v", err)
	}
	path := filepath.Join(t.TempDir(), "redated.zip")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := evidence.Export(context.Background(), f.store, rec, out, evidence.WithNotary(f.notary)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A capture re-dated against its timestamp fails verification: one made by
// someone who holds the node's keys and switched the capture-time check
// off (Notary.MaxSkew), with captured_at 50 minutes, and a year, away from
// the token's genTime. The report names both times. With the default skew
// Capture itself refuses such a token.
func TestCapturedAtSkew(t *testing.T) {
	f := newFixture(t)
	info, err := tsa.Verify(entry(t, readZip(t, f.bundle), "timestamp.tsr"), entry(t, readZip(t, f.bundle), "manifest.json"), f.notary.TSA.(*tsa.Authority).Roots())
	if err != nil {
		t.Fatal(err)
	}
	if d := info.GenTime.Sub(captureTime); d < -time.Second || d > time.Minute {
		t.Fatalf("the fixture's token is dated %s, not with its capture at %s", info.GenTime, captureTime)
	}
	rep, err := evidence.VerifyBundle(f.bundle)
	if err != nil || !rep.OK() {
		t.Fatalf("fixture: %v %v", err, rep.Err())
	}

	for _, c := range []struct {
		name  string
		shift time.Duration
		rel   string
	}{
		{"50 minutes earlier", -50 * time.Minute, "after"},
		{"a year later", 365 * 24 * time.Hour, "before"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := redatedCapture(t, f, c.shift, 0); !errors.Is(err, evidence.ErrTimestampSkew) {
				t.Errorf("Capture with captured_at %v from the authority's time = %v, want ErrTimestampSkew", c.shift, err)
			}
			path := redatedBundle(t, f, c.shift)
			rep, err := evidence.VerifyBundle(path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("a bundle with captured_at %v from its token's time verified", c.shift)
			}
			checkNamed(t, rep, "manifest.json")
			msg := rep.Err().Error()
			captured := captureTime.Add(c.shift).UTC().Format(time.RFC3339Nano)
			gen := rep.TimestampTime.UTC().Format(time.RFC3339)
			if !errors.Is(rep.Err(), evidence.ErrTimestampSkew) || !strings.Contains(msg, captured) || !strings.Contains(msg, gen) || !strings.Contains(msg, " "+c.rel+" ") {
				t.Errorf("problem does not name captured_at %s and genTime %s (%s):\n%s", captured, gen, c.rel, msg)
			}
			// A verifier may allow more, and the gap then passes.
			if rep, _ := evidence.VerifyBundle(path, evidence.WithMaxTimestampSkew(c.shift.Abs()+time.Hour)); !rep.OK() {
				t.Errorf("with a skew of %v allowed: %v", c.shift.Abs()+time.Hour, rep.Err())
			}
		})
	}
}

// A capture whose recorded capture-environment check failed (a proxy in
// the environment) verifies as intact but is reported; one whose check
// passed is not.
func TestVerifyReportsFailedEnvironment(t *testing.T) {
	f := newFixture(t)
	capture := func(t *testing.T) string {
		t.Helper()
		rep, err := envcheck.Check(context.Background(), envcheck.Config{Targets: []string{f.page.URL}, Version: "v1.0.0-test"})
		if err != nil {
			t.Fatal(err)
		}
		env, err := rep.JSON()
		if err != nil {
			t.Fatal(err)
		}
		meta := testMeta()
		meta.Notary = f.notary
		meta.Environment = env
		rec, err := evidence.Capture(context.Background(), f.store, f.signer, f.page, testFindings(f.page), meta)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "env.zip")
		out, _ := os.Create(path)
		if err := evidence.Export(context.Background(), f.store, rec, out, evidence.WithNotary(f.notary)); err != nil {
			t.Fatal(err)
		}
		out.Close()
		return path
	}
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(v, "")
	}
	good := capture(t)
	if rep, _ := evidence.VerifyBundle(good); !rep.OK() || !slices.ContainsFunc(rep.Checks, func(c evidence.Check) bool {
		return c.Name == "environment" && c.Item == "environment.json" && c.OK
	}) {
		t.Errorf("capture with a passed environment check: OK=%v\n%v", rep.OK(), rep.Checks)
	}

	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	bad := capture(t)
	rep, err := evidence.VerifyBundle(bad)
	if err != nil {
		t.Fatal(err)
	}
	checkNamed(t, rep, "environment.json")
	if !errors.Is(rep.Err(), evidence.ErrEnvironmentFailed) || !strings.Contains(rep.Err().Error(), "HTTPS_PROXY") {
		t.Errorf("problems of a capture with a failed environment check: %v", rep.Err())
	}
}
