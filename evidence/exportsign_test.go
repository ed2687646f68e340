package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch/evidence"
)

// thisNode is how an export by this host's node names its exporter.
func thisNode(t *testing.T) string {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return "node " + host
}

// unsignedExport exports f's capture as bundles were exported before
// exports were signed: no export-manifest.json.
func unsignedExport(t *testing.T, f *fixture) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "unsigned.zip")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&evidence.Exporter{Notary: f.notary}).Export(context.Background(), f.store, f.rec, out); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// dropFiles removes files from a bundle, from SHA256SUMS and from
// datapackage.json (reseal then rewrites the digests).
func dropFiles(t *testing.T, es []zipEntry, names ...string) []zipEntry {
	t.Helper()
	es = slices.DeleteFunc(es, func(e zipEntry) bool { return slices.Contains(names, e.name) })
	sums := entryRef(t, es, "SHA256SUMS")
	lines := strings.SplitAfter(string(*sums), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool {
		_, name, _ := strings.Cut(strings.TrimSuffix(l, "\n"), "  ")
		return slices.Contains(names, name)
	})
	*sums = []byte(strings.Join(lines, ""))
	var dp evidence.Datapackage
	mustJSON(t, entry(t, es, "datapackage.json"), &dp)
	dp.Resources = slices.DeleteFunc(dp.Resources, func(r evidence.DatapackageResource) bool { return slices.Contains(names, r.Path) })
	return setDatapackage(t, es, dp)
}

// editReport changes what report.html says about the operator and the
// findings' severity.
func editReport(t *testing.T, es []zipEntry) []zipEntry {
	t.Helper()
	b := entryRef(t, es, "report.html")
	edited := strings.Replace(string(*b), "</body>", "<p>Operator: someone else. Severity: low.</p></body>", 1)
	if edited == string(*b) {
		t.Fatal("report.html has no </body>")
	}
	*b = []byte(edited)
	return es
}

// exitZeroScript makes the bundle's verification script, and the copy
// README.txt quotes, exit 0 before checking anything.
func exitZeroScript(t *testing.T, es []zipEntry) []zipEntry {
	t.Helper()
	const shebang = "#!/usr/bin/env bash\n"
	for _, name := range []string{"verify-bundle.sh", "README.txt"} {
		b := entryRef(t, es, name)
		if !bytes.Contains(*b, []byte(shebang)) {
			t.Fatalf("%s does not hold the script", name)
		}
		*b = bytes.Replace(*b, []byte(shebang), []byte(shebang+"echo VERIFIED; exit 0\n"), 1)
	}
	return es
}

// Everything a person reads is signed: export-manifest.json lists
// README.txt, the script, the reports and every other derived file with
// SHA-256 and SM3, signed by the exporting key and timestamped; verify
// checks it and says which parts are derived and who signed them.
func TestSignedExport(t *testing.T) {
	f := newFixture(t)
	es := readZip(t, f.bundle)
	em, err := evidence.ParseExportManifest(entry(t, es, "export-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantDerived := []string{"README.txt", "verify-bundle.sh", "ledger-proof.json", "indexes/index.cdxj", "pages/pages.jsonl", "report.html"}
	var names []string
	for _, e := range em.Files {
		names = append(names, e.Name)
		if s := evidence.SumAll(entry(t, es, e.Name)); s.SHA256 != e.SHA256 || s.SM3 != e.SM3 || s.Size != e.Size {
			t.Errorf("export-manifest.json entry %s: %+v, the file has %+v", e.Name, e, s)
		}
	}
	if !slices.Equal(names, wantDerived) {
		t.Errorf("export-manifest.json lists %q, want %q", names, wantDerived)
	}
	if em.EvidenceID != f.rec.ID || em.CaptureManifest.String() != f.rec.ManifestDigest || em.SignerKeyID != f.signer.KeyID() || em.ExportedBy != thisNode(t) {
		t.Errorf("export-manifest.json = %+v", em)
	}
	// The capture's own manifest stays as it is.
	if got := evidence.SumBytes(evidence.SHA256, entry(t, es, "manifest.json")).String(); got != f.rec.ManifestDigest {
		t.Errorf("manifest.json hashes to %s, the capture's is %s", got, f.rec.ManifestDigest)
	}
	readme := string(entry(t, es, "README.txt"))
	if !strings.Contains(readme, "export-manifest.json lists this\nREADME.txt") || !strings.Contains(readme, f.signer.KeyID()) {
		t.Errorf("README.txt does not describe the signed export:\n%s", readme)
	}

	rep := verifyEntries(t, es, evidence.WithTrustedKeys(f.signer.KeyID()))
	if !rep.OK() {
		t.Fatalf("signed export does not verify: %v", rep.Err())
	}
	if rep.ExportKeyID != f.signer.KeyID() || !slices.Equal(rep.Derived, wantDerived) {
		t.Errorf("report: export key %q, derived %q", rep.ExportKeyID, rep.Derived)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"export:      signed by " + thisNode(t) + ", key " + f.signer.KeyID(),
		"derived:     README.txt, verify-bundle.sh, ledger-proof.json, indexes/index.cdxj, pages/pages.jsonl, report.html (made at export, signed in export-manifest.json)",
		"ok   timestamp  export-timestamp.tsr: RFC 3161 token over export-manifest.json",
		"ok   content    report.html: HTML report (derived, signed in export-manifest.json)",
		"VERIFIED",
	} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("verify output lacks %q:\n%s", s, text.String())
		}
	}

	other := readZip(t, newFixture(t).bundle)
	cases := []struct {
		name   string
		tamper func(es []zipEntry) []zipEntry
		items  []string // every item a problem must name, the first first
		is     error
	}{
		{"report.html edited, hash lists rewritten", func(es []zipEntry) []zipEntry {
			return reseal(t, editReport(t, es))
		}, []string{"report.html"}, evidence.ErrDigestMismatch},
		{"exit 0 in the script and README.txt, hash lists rewritten", func(es []zipEntry) []zipEntry {
			return reseal(t, exitZeroScript(t, es))
		}, []string{"README.txt", "verify-bundle.sh"}, evidence.ErrDigestMismatch},
		{"report.html edited and its entry in export-manifest.json, not re-signed", func(es []zipEntry) []zipEntry {
			es = editReport(t, es)
			b := entryRef(t, es, "export-manifest.json")
			em, err := evidence.ParseExportManifest(*b)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range em.Files {
				if e.Name == "report.html" {
					s := evidence.SumAll(entry(t, es, e.Name))
					em.Files[i].Size, em.Files[i].SHA256, em.Files[i].SM3 = s.Size, s.SHA256, s.SM3
				}
			}
			if *b, err = em.Marshal(); err != nil {
				t.Fatal(err)
			}
			return es
		}, []string{"export-manifest.json"}, evidence.ErrBadSignature},
		{"export manifest dropped, hash lists rewritten", func(es []zipEntry) []zipEntry {
			return reseal(t, dropFiles(t, es, "export-manifest.json"))
		}, []string{"export-manifest.json"}, evidence.ErrNotFound},
		{"export timestamp of another bundle", func(es []zipEntry) []zipEntry {
			*entryRef(t, es, "export-timestamp.tsr") = entry(t, other, "export-timestamp.tsr")
			*entryRef(t, es, "export-tsa-root.pem") = entry(t, other, "export-tsa-root.pem")
			return reseal(t, es)
		}, []string{"export-timestamp.tsr"}, evidence.ErrBadTimestamp},
		{"export of another capture", func(es []zipEntry) []zipEntry {
			for _, name := range []string{"export-manifest.json", "export-manifest.sig", "export-signer.pub", "export-timestamp.tsr", "export-tsa-root.pem"} {
				*entryRef(t, es, name) = entry(t, other, name)
			}
			return reseal(t, es)
		}, []string{"manifest.json"}, evidence.ErrDigestMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := verifyEntries(t, c.tamper(readZip(t, f.bundle)))
			if rep.OK() {
				t.Fatal("tampered bundle verified")
			}
			if !errors.Is(rep.Err(), c.is) {
				t.Errorf("problems do not wrap %v: %v", c.is, rep.Err())
			}
			for _, item := range c.items {
				if !slices.Contains(rep.Items(), item) {
					t.Errorf("no problem names %s: %v", item, rep.Err())
				}
			}
		})
	}

	// Re-signed with another key after editing the report: without pins
	// it verifies and names the other key; with the office's key pinned it
	// fails naming export-signer.pub.
	t.Run("report edited and export re-signed with another key", func(t *testing.T) {
		es := editReport(t, readZip(t, f.bundle))
		forger, err := evidence.LoadOrCreateSigner(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		em, err := evidence.ParseExportManifest(entry(t, es, "export-manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range em.Files {
			s := evidence.SumAll(entry(t, es, e.Name))
			em.Files[i].Size, em.Files[i].SHA256, em.Files[i].SM3 = s.Size, s.SHA256, s.SM3
		}
		em.SignerKeyID = forger.KeyID()
		b, err := em.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := forger.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		*entryRef(t, es, "export-manifest.json") = b
		*entryRef(t, es, "export-manifest.sig") = sig
		*entryRef(t, es, "export-signer.pub") = forger.PublicKeyPEM()
		es = reseal(t, dropFiles(t, es, "export-timestamp.tsr", "export-tsa-root.pem"))
		rep := verifyEntries(t, es)
		if rep.OK() || !slices.Contains(rep.Items(), "export-timestamp.tsr") {
			t.Errorf("an export without its timestamp: %v", rep.Err())
		}
		rep = verifyEntries(t, es, evidence.AllowUnsealed())
		if !rep.OK() || rep.ExportKeyID != forger.KeyID() {
			t.Errorf("self-consistent re-signed export: ok %v, export key %s: %v", rep.OK(), rep.ExportKeyID, rep.Err())
		}
		rep = verifyEntries(t, es, evidence.AllowUnsealed(), evidence.WithTrustedKeys(f.signer.KeyID()))
		if rep.OK() || !errors.Is(rep.Err(), evidence.ErrUntrustedKey) || !slices.Equal(rep.Items(), []string{"export-signer.pub"}) {
			t.Errorf("re-signed export under the office's key: %v", rep.Err())
		}
	})
}

// A bundle exported before exports were signed still verifies, noting
// that its derived files are not signed.
func TestUnsignedExportVerifiesWithNote(t *testing.T) {
	f := newFixture(t)
	path := unsignedExport(t, f)
	es := readZip(t, path)
	for _, e := range es {
		if strings.HasPrefix(e.name, "export-") || e.name == "verify-bundle.sh" {
			t.Errorf("an unsigned export holds %s", e.name)
		}
	}
	rep, err := evidence.VerifyBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("unsigned export does not verify: %v", rep.Err())
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"ok   export     bundle: no export-manifest.json: exported before exports were signed; README.txt, report.html, report.pdf and the other derived files are NOT signed",
		"export:      not signed (no export-manifest.json)",
		"report.html: HTML report (derived, not signed)",
		"VERIFIED",
	} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("verify output lacks %q:\n%s", s, text.String())
		}
	}
	if rep.ExportKeyID != "" || rep.Derived != nil {
		t.Errorf("report names an export signer %q, derived %q", rep.ExportKeyID, rep.Derived)
	}
	// A signed export stripped of export-manifest.json after its report
	// was edited passes for an earlier export, with the note; required
	// (RequireSignedExport), the missing signed export fails.
	if rep, err := evidence.VerifyBundle(path, evidence.RequireSignedExport()); err != nil || rep.OK() || !slices.Equal(rep.Items(), []string{"export-manifest.json"}) || !errors.Is(rep.Err(), evidence.ErrNotFound) {
		t.Errorf("unsigned export with RequireSignedExport: %v, %v", rep.Err(), err)
	}
	stripped := reseal(t, dropFiles(t, editReport(t, readZip(t, f.bundle)),
		"export-manifest.json", "export-manifest.sig", "export-signer.pub", "export-timestamp.tsr", "export-tsa-root.pem", "verify-bundle.sh"))
	if rep := verifyEntries(t, stripped); !rep.OK() {
		t.Errorf("stripped export without RequireSignedExport: %v", rep.Err())
	}
	if rep := verifyEntries(t, stripped, evidence.RequireSignedExport()); rep.OK() || !slices.Equal(rep.Items(), []string{"export-manifest.json"}) {
		t.Errorf("stripped export with RequireSignedExport: %v", rep.Err())
	}
}
