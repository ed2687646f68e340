package evidence_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
	"shopwatch/internal/testparts"
)

// node is a capture node: its data folder (keys, ledger), store and
// notary, timestamping with the given authority.
type node struct {
	dir    string
	store  *folderstore.Store
	signer *evidence.Signer
	notary *evidence.Notary
}

func newNode(t *testing.T, ts evidence.Timestamper, rootPEM []byte) *node {
	t.Helper()
	dir := t.TempDir()
	store, err := folderstore.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evidence.LoadOrCreateSigner(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("no root certificate")
	}
	lg, err := ledger.Open(filepath.Join(dir, "ledger"), signer, ts, ledger.WithTSARoots(roots))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return &node{dir: dir, store: store, signer: signer, notary: &evidence.Notary{TSA: ts, TSARoot: rootPEM, Ledger: lg}}
}

// externalNode is a node whose authority is the openssl one.
func externalNode(t *testing.T, ext *testparts.OpenSSLTSA) *node {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ext.RootPEM)
	return newNode(t, &tsa.Client{URL: ext.URL, TrustedRoots: roots}, ext.RootPEM)
}

// builtinNode is a node with the built-in authority under its folder.
func builtinNode(t *testing.T) *node {
	t.Helper()
	a, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"))
	if err != nil {
		t.Fatal(err)
	}
	return newNode(t, a, a.RootPEM())
}

// captureNow captures the test page now and exports it; it returns the
// bundle's path.
func (n *node) captureNow(t *testing.T) string {
	t.Helper()
	return n.export(t, n.capture(t))
}

// capture captures the test page now.
func (n *node) capture(t *testing.T) *shopwatch.EvidenceRecord {
	t.Helper()
	page := testPage(t)
	meta := testMeta()
	meta.Now = time.Now
	meta.Notary = n.notary
	rec, err := evidence.Capture(context.Background(), n.store, n.signer, page, testFindings(page), meta)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	return rec
}

// export exports rec now and returns the bundle's path.
func (n *node) export(t *testing.T, rec *shopwatch.EvidenceRecord) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), rec.ID+".zip")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	x := &evidence.Exporter{Notary: n.notary, TrustedTSARoots: trustedRootsOf(t, n.notary.TSARoot)}
	if err := x.Export(context.Background(), n.store, rec, out); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func trustedRootsOf(t *testing.T, rootPEM []byte) []string {
	t.Helper()
	roots, err := evidence.TrustedRootsOf(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, r := range roots {
		fps = append(fps, r.Fingerprint)
	}
	return fps
}

// trustFile is the trust file the node's office publishes: its keys and
// the external authority's root, written to a file and read back.
func (n *node) trustFile(t *testing.T, rootPEM []byte, edit func(*evidence.TrustFile)) *evidence.TrustFile {
	t.Helper()
	keys, err := evidence.TrustedKeysOf(filepath.Join(n.dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := evidence.TrustedRootsOf(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	tf := &evidence.TrustFile{Version: evidence.TrustFileVersion, Office: "某市市场监督管理局 \"东区\" 分局", SignerKeys: keys, TSARoots: roots}
	if edit != nil {
		edit(tf)
	}
	path := filepath.Join(t.TempDir(), evidence.TrustFileName)
	if err := os.WriteFile(path, tf.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := evidence.ReadTrustFile(path)
	if err != nil {
		t.Fatalf("the trust file does not read back: %v\n%s", err, tf.Marshal())
	}
	return back
}

func verifyWith(t *testing.T, bundle string, opts ...evidence.VerifyOption) (*evidence.Report, string) {
	t.Helper()
	rep, err := evidence.VerifyBundle(bundle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := rep.WriteText(&sb); err != nil {
		t.Fatal(err)
	}
	return rep, sb.String()
}

// runScript runs the standard-tools script on the unpacked bundle, with the
// trust file when one is given.
func runScript(t *testing.T, bundle string, trust string) (string, int) {
	t.Helper()
	bash := testparts.Tool(t, "bash")
	openssl := testparts.Tool(t, "openssl")
	testparts.Tool(t, "sha256sum")
	script, err := filepath.Abs("testdata/verify-bundle.sh")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{script, unpack(t, readZip(t, bundle))}
	if trust != "" {
		args = append(args, trust)
	}
	return runBash(t, bash, openssl, args)
}

// A capture timestamped by an RFC 3161 authority shopwatch did not write
// (openssl ts -reply on loopback, with its own CA) verifies as TRUSTED
// under the trust file its office publishes, in VerifyBundle and in the
// standard-tools script; without the trust file it is SELF-CONSISTENT
// ONLY. Under the trust file every forgery fails: a bundle made with a
// foreign key, one timestamped by a foreign authority, a capture re-signed
// with an unlisted key, and one signed outside its key's validity period.
func TestTrustFile(t *testing.T) {
	ext := testparts.StartOpenSSLTSA(t)
	office := externalNode(t, ext)
	bundle := office.captureNow(t)
	tf := office.trustFile(t, ext.RootPEM, nil)

	rep, text := verifyWith(t, bundle, evidence.WithTrust(tf))
	if !rep.OK() || rep.Verdict() != evidence.VerdictTrusted || !strings.Contains(text, "TRUSTED under "+tf.Source) {
		t.Fatalf("the office's bundle under its trust file: %s\n%s", rep.Verdict(), text)
	}
	if !strings.Contains(text, "External TSA test authority") {
		t.Errorf("the report does not name the external authority:\n%s", text)
	}
	out, code := runScript(t, bundle, tf.Source)
	if code != 0 || !strings.Contains(out, "TRUSTED under "+tf.Source) || !strings.Contains(out, "ok   tsa-root.pem: "+tf.TSARoots[0].Fingerprint+" is pinned") {
		t.Errorf("script with the trust file: exit %d\n%s", code, out)
	}

	// Without a trust file: intact, but nothing says who made it.
	rep, text = verifyWith(t, bundle)
	if !rep.OK() || rep.Verdict() != evidence.VerdictSelfConsistent || !strings.Contains(text, "SELF-CONSISTENT ONLY") || !strings.Contains(text, "anyone holding") {
		t.Errorf("without a trust file: %s\n%s", rep.Verdict(), text)
	}
	out, code = runScript(t, bundle, "")
	if code != 0 || !strings.Contains(out, "SELF-CONSISTENT ONLY") || strings.Contains(out, "TRUSTED") {
		t.Errorf("script without a trust file: exit %d\n%s", code, out)
	}
	// The --trusted-key and --tsa-root pins keep working, and with both the
	// bundle is trusted under them.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ext.RootPEM)
	if rep, text := verifyWith(t, bundle, evidence.WithTrustedKeys(office.signer.KeyID()), evidence.WithTSARoots(roots)); !rep.OK() || rep.Verdict() != evidence.VerdictTrusted {
		t.Errorf("with --trusted-key and --tsa-root: %s\n%s", rep.Verdict(), text)
	}
	if rep, text := verifyWith(t, bundle, evidence.WithTrustedKeys(office.signer.KeyID())); !rep.OK() || rep.Verdict() != evidence.VerdictSelfConsistent || !strings.Contains(text, "authority is not") {
		t.Errorf("with --trusted-key alone: %s\n%s", rep.Verdict(), text)
	}

	foreignKey := externalNode(t, ext).captureNow(t) // another node, same authority
	foreignTSA := func() string {                    // the office's key, the built-in authority
		n := builtinNode(t)
		n.signer = office.signer
		lg, err := ledger.Open(filepath.Join(t.TempDir(), "ledger"), office.signer, n.notary.TSA.(*tsa.Authority))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lg.Close() })
		n.notary.Ledger = lg
		return n.captureNow(t)
	}()
	resigned := resignedBundle(t, bundle, ext)
	expired := office.trustFile(t, ext.RootPEM, func(tf *evidence.TrustFile) {
		tf.SignerKeys[0].ValidUntil = time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
		tf.SignerKeys[0].ValidFrom = time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	})
	notYet := office.trustFile(t, ext.RootPEM, func(tf *evidence.TrustFile) {
		tf.SignerKeys[0].ValidFrom = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	})

	cases := []struct {
		name       string
		bundle     string
		trust      *evidence.TrustFile
		err        error
		item       string
		scriptFail string
	}{
		{"foreign key", foreignKey, tf, evidence.ErrUntrustedKey, "signer.pub", "FAIL signer.pub: ed25519:"},
		{"foreign authority", foreignTSA, tf, evidence.ErrUntrustedTSA, "tsa-root.pem", "FAIL tsa-root.pem: sha256:"},
		// The script stops earlier: the office's ledger proof is of the
		// manifest before it was re-dated.
		{"re-signed with an unlisted key", resigned, tf, evidence.ErrUntrustedKey, "signer.pub", "FAIL ledger-proof.json: is the proof of another leaf than manifest.json"},
		{"key retired before the capture", bundle, expired, evidence.ErrKeyNotValid, "signer.pub", "is valid until"},
		{"key not yet in use at the capture", bundle, notYet, evidence.ErrKeyNotValid, "signer.pub", "is valid from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, text := verifyWith(t, c.bundle, evidence.WithTrust(c.trust))
			if rep.OK() || rep.Verdict() != evidence.VerdictFailed || strings.Contains(text, "TRUSTED") {
				t.Fatalf("verified under the trust file: %s\n%s", rep.Verdict(), text)
			}
			var found bool
			for _, p := range rep.Problems {
				if errors.Is(p, c.err) && p.Item == c.item && p.Check == "trust" {
					found = true
				}
			}
			if !found {
				t.Errorf("no trust problem %v on %s among:\n%v", c.err, c.item, rep.Err())
			}
			out, code := runScript(t, c.bundle, c.trust.Source)
			if code != 1 || !strings.Contains(out, c.scriptFail) || strings.Contains(out, "TRUSTED") {
				t.Errorf("script: exit %d, want 1 and %q:\n%s", code, c.scriptFail, out)
			}
		})
	}
	// A foreign authority's root put beside the pinned one in tsa-root.pem:
	// the token chains to the foreign root, which must not pass as pinned.
	t.Run("foreign authority beside the pinned root", func(t *testing.T) {
		es := readZip(t, foreignTSA)
		root := entryRef(t, es, "tsa-root.pem")
		*root = append(append([]byte{}, ext.RootPEM...), *root...)
		es = reseal(t, es)
		path := filepath.Join(t.TempDir(), "two-roots.zip")
		writeZip(t, path, es)
		rep, text := verifyWith(t, path, evidence.WithTrust(tf))
		if rep.OK() || !errors.Is(rep.Err(), evidence.ErrBadTimestamp) || strings.Contains(text, "TRUSTED") {
			t.Errorf("verified under the trust file: %s\n%s", rep.Verdict(), text)
		}
		out, code := runScript(t, path, tf.Source)
		if code != 1 || !strings.Contains(out, "FAIL tsa-root.pem: holds other than exactly one certificate") || strings.Contains(out, "TRUSTED") {
			t.Errorf("script: exit %d\n%s", code, out)
		}
	})
	// The foreign-key bundle is self-consistent: only the trust file tells
	// it apart.
	if rep, text := verifyWith(t, foreignKey); !rep.OK() || rep.Verdict() != evidence.VerdictSelfConsistent {
		t.Errorf("the foreign-key bundle without a trust file: %s\n%s", rep.Verdict(), text)
	}
}

// resignedBundle is the office's bundle with manifest.json re-dated by a
// minute, signed with a fresh key, timestamped anew by the same external
// authority (anyone can ask it) and every record rewritten to match.
func resignedBundle(t *testing.T, bundle string, ext *testparts.OpenSSLTSA) string {
	t.Helper()
	es := readZip(t, bundle)
	thief, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var m evidence.Manifest
	mustJSON(t, entry(t, es, "manifest.json"), &m)
	mb := entryRef(t, es, "manifest.json")
	old := string(*mb)
	s := strings.Replace(old, m.SignerKeyID, thief.KeyID(), 1)
	s = strings.Replace(s, m.CapturedAt.UTC().Format(time.RFC3339Nano), m.CapturedAt.Add(-time.Minute).UTC().Format(time.RFC3339Nano), 1)
	if s == old {
		t.Fatal("manifest.json did not change")
	}
	*mb = []byte(s)
	sig, err := thief.Sign(*mb)
	if err != nil {
		t.Fatal(err)
	}
	*entryRef(t, es, "manifest.sig") = sig
	*entryRef(t, es, "signer.pub") = thief.PublicKeyPEM()
	d := sha256.Sum256(*mb)
	tok, err := tsa.Request(context.Background(), ext.URL, d[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	*entryRef(t, es, "timestamp.tsr") = tok
	es = reseal(t, es)
	path := filepath.Join(t.TempDir(), "resigned.zip")
	writeZip(t, path, es)
	return path
}

// The reports call a timestamp 可信时间戳 only when its authority is one
// the configuration marks as trusted (Exporter.TrustedTSARoots); a token
// of the built-in authority is labelled as self-issued, and one of an
// external authority not marked trusted as such.
func TestReportTimestampLabel(t *testing.T) {
	ext := testparts.StartOpenSSLTSA(t)
	external := externalNode(t, ext).captureNow(t) // exported with the external root trusted
	builtin := newFixture(t).bundle
	render := func(bundle string, opts ...evidence.ReportOption) string {
		t.Helper()
		b, err := evidence.RenderReport(zipReader(t, bundle), false, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		name, html, want string
	}{
		{"external, trusted: the exported report", string(entry(t, readZip(t, external), "report.html")), evidence.LabelTrustedTimestamp},
		{"external, trusted", render(external, evidence.WithTrustedTSARoots(trustedRootsOf(t, ext.RootPEM)...)), evidence.LabelTrustedTimestamp},
		{"external, not marked trusted", render(external), evidence.LabelUntrustedTimestamp},
		{"built-in", render(builtin), evidence.LabelBuiltinTimestamp},
		{"built-in, another authority trusted", render(builtin, evidence.WithTrustedTSARoots(trustedRootsOf(t, ext.RootPEM)...)), evidence.LabelBuiltinTimestamp},
		{"built-in: the exported report", string(entry(t, readZip(t, builtin), "report.html")), evidence.LabelBuiltinTimestamp},
	}
	labels := []string{evidence.LabelTrustedTimestamp + " ", evidence.LabelBuiltinTimestamp, evidence.LabelUntrustedTimestamp}
	for _, c := range cases {
		if n := strings.Count(c.html, c.want); n < 2 {
			t.Errorf("%s: the label %q appears %d times, want in the summary and the extraction record", c.name, c.want, n)
		}
		for _, l := range labels {
			if !strings.HasPrefix(l, c.want) && strings.Contains(c.html, l) {
				t.Errorf("%s: the report also says %q", c.name, l)
			}
		}
	}
}

// The trust file an office publishes reads back as written, and the
// parser refuses incomplete or malformed files.
func TestParseTrustFile(t *testing.T) {
	good := &evidence.TrustFile{Version: 1, Office: "东区分局",
		SignerKeys: []evidence.TrustedKey{{ID: "ed25519:0123456789abcdef", ValidFrom: "2026-01-01T00:00:00Z", ValidUntil: "2026-06-01T00:00:00Z"}, {ID: "ed25519:fedcba9876543210"}},
		TSARoots:   []evidence.TrustedTSARoot{{Fingerprint: "sha256:" + strings.Repeat("ab", 32), Subject: "CN=x"}}}
	back, err := evidence.ParseTrustFile(good.Marshal())
	if err != nil {
		t.Fatalf("%v\n%s", err, good.Marshal())
	}
	if back.Office != good.Office || len(back.SignerKeys) != 2 || back.SignerKeys[0] != good.SignerKeys[0] || back.TSARoots[0] != good.TSARoots[0] || len(back.WitnessKeys) != 0 {
		t.Errorf("read back %+v, wrote %+v", back, good)
	}
	bad := map[string]string{
		"no office":       "version: 1\nsigner_keys:\n  - {id: \"ed25519:0123456789abcdef\"}\ntsa_roots:\n  - {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}\n",
		"no key":          "version: 1\noffice: x\nsigner_keys: []\ntsa_roots:\n  - {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}\n",
		"no root":         "version: 1\noffice: x\nsigner_keys:\n  - {id: \"ed25519:0123456789abcdef\"}\n",
		"bad key id":      "version: 1\noffice: x\nsigner_keys:\n  - {id: \"ed25519:0123\"}\ntsa_roots:\n  - {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}\n",
		"bad fingerprint": "version: 1\noffice: x\nsigner_keys:\n  - {id: \"ed25519:0123456789abcdef\"}\ntsa_roots:\n  - {fingerprint: \"AB:CD\"}\n",
		"bad time":        "version: 1\noffice: x\nsigner_keys:\n  - {id: \"ed25519:0123456789abcdef\", valid_from: \"yesterday\"}\ntsa_roots:\n  - {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}\n",
		"unknown field":   "version: 1\noffice: x\nsigners: []\n",
		"wrong version":   "version: 2\noffice: x\nsigner_keys:\n  - {id: \"ed25519:0123456789abcdef\"}\ntsa_roots:\n  - {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}\n",
		"until before from": "version: 1\noffice: x\nsigner_keys:\n  - {id: \"ed25519:0123456789abcdef\", valid_from: \"2026-02-01T00:00:00Z\", valid_until: \"2026-01-01T00:00:00Z\"}\n" +
			"tsa_roots:\n  - {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}\n",
	}
	for name, text := range bad {
		if _, err := evidence.ParseTrustFile([]byte(text)); !errors.Is(err, evidence.ErrBadTrustFile) {
			t.Errorf("%s: %v, want ErrBadTrustFile", name, err)
		}
	}
}

// The keys of a key folder carry the period each signed in: a retired key
// until its rotation, the current one from its creation on.
func TestTrustedKeysOf(t *testing.T) {
	dir := t.TempDir()
	first, err := evidence.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	old, second, err := evidence.RotateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	if evidence.KeyID(old) != first.KeyID() {
		t.Fatalf("rotated %s, want %s", evidence.KeyID(old), first.KeyID())
	}
	keys, err := evidence.TrustedKeysOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != first.KeyID() || keys[1].ID != second.KeyID() {
		t.Fatalf("keys %+v, want %s then %s", keys, first.KeyID(), second.KeyID())
	}
	parse := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	if u := parse(keys[0].ValidUntil); u.Before(before.Truncate(time.Second)) || u.After(after) {
		t.Errorf("retired key valid until %s, want the rotation between %s and %s", u, before, after)
	}
	if keys[0].ValidFrom == "" || parse(keys[0].ValidFrom).After(parse(keys[0].ValidUntil)) {
		t.Errorf("retired key valid from %q until %q", keys[0].ValidFrom, keys[0].ValidUntil)
	}
	if keys[1].ValidUntil != "" || parse(keys[1].ValidFrom).Before(before.Truncate(time.Second)) {
		t.Errorf("current key %+v, want from the rotation on, open-ended", keys[1])
	}
	if _, err := evidence.TrustedKeysOf(t.TempDir()); err == nil {
		t.Error("TrustedKeysOf of an empty folder: no error")
	}
}
