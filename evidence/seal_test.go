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

	"shopwatch/evidence"
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
