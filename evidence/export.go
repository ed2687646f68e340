package evidence

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"

	"shopwatch"
)

// Export writes the capture rec indexes as a self-contained zip bundle to
// w: manifest.json, manifest.sig, signer.pub, SHA256SUMS and README.txt at
// the root, then every artifact under its name (see doc.go).
//
// Every object is re-checked as it is read from store: its size, SHA-256
// and SM3 must match the record and the manifest, and the manifest's
// signature must verify. A damaged or missing object is an error naming
// its key; nothing is exported silently. On error what was written to w is
// an incomplete bundle and must be discarded. Export does not close w.
func Export(ctx context.Context, store Store, rec *shopwatch.EvidenceRecord, w io.Writer, opts ...ExportOption) error {
	var cfg exportConfig
	for _, o := range opts {
		o(&cfg)
	}
	if rec == nil {
		return errors.New("export: nil evidence record")
	}
	if store == nil {
		return fmt.Errorf("export %s: nil store", rec.ID)
	}
	fail := func(err error) error { return fmt.Errorf("export %s: %w", rec.ID, err) }

	byName := make(map[string]shopwatch.Artifact, len(rec.Artifacts))
	for _, a := range rec.Artifacts {
		if _, dup := byName[a.Name]; dup {
			return fail(fmt.Errorf("record lists artifact %q twice", a.Name))
		}
		byName[a.Name] = a
	}
	readFixed := func(name string) ([]byte, shopwatch.Artifact, error) {
		a, ok := byName[name]
		if !ok {
			return nil, a, fmt.Errorf("record lists no %s", name)
		}
		want, err := artifactSums(a)
		if err != nil {
			return nil, a, err
		}
		b, err := ReadVerified(ctx, store, a.Key, want.Size, want.SHA256, want.SM3)
		return b, a, err
	}
	manifest, ma, err := readFixed(ManifestFile)
	if err != nil {
		return fail(err)
	}
	if ma.Key != rec.ManifestKey || ma.SHA256 != rec.ManifestDigest {
		return fail(fmt.Errorf("record's manifest key %q / digest %s disagree with its artifact list (%q, %s)", rec.ManifestKey, rec.ManifestDigest, ma.Key, ma.SHA256))
	}
	sig, sa, err := readFixed(SignatureFile)
	if err != nil {
		return fail(err)
	}
	pubPEM, pa, err := readFixed(SignerPubFile)
	if err != nil {
		return fail(err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", pa.Key, err))
	}
	if !ed25519.Verify(pub, manifest, sig) {
		return fail(fmt.Errorf("%s: %w over %s with key %s", sa.Key, ErrBadSignature, ma.Key, KeyID(pub)))
	}
	m, err := ParseManifest(manifest)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", ma.Key, err))
	}
	if m.EvidenceID != rec.ID {
		return fail(fmt.Errorf("%s: manifest is for evidence %s", ma.Key, m.EvidenceID))
	}
	if m.SignerKeyID != KeyID(pub) {
		return fail(fmt.Errorf("%s: %w: manifest names key %s, stored key is %s", pa.Key, ErrKeyMismatch, m.SignerKeyID, KeyID(pub)))
	}

	// The manifest is authentic; check the record agrees with it.
	keys := make([]string, len(m.Artifacts))
	for i, e := range m.Artifacts {
		a, ok := byName[e.Name]
		if !ok {
			return fail(fmt.Errorf("manifest lists %q, the record does not", e.Name))
		}
		if a.SHA256 != e.SHA256.String() || a.SM3 != e.SM3.String() || a.Size != e.Size {
			return fail(fmt.Errorf("artifact %q (key %q): record and manifest disagree on size or digests", e.Name, a.Key))
		}
		keys[i] = a.Key
	}
	fixed := map[string][]byte{ManifestFile: manifest, SignatureFile: sig, SignerPubFile: pubPEM}
	// The seal, when the capture has one.
	for _, name := range []string{TimestampFile, TSARootFile} {
		if _, ok := byName[name]; !ok {
			continue
		}
		b, _, err := readFixed(name)
		if err != nil {
			return fail(err)
		}
		fixed[name] = b
	}
	if cfg.notary != nil && cfg.notary.Ledger != nil {
		p, err := cfg.notary.proof(ctx, rec.ManifestDigest)
		if err != nil {
			return fail(err)
		}
		fixed[LedgerProofFile] = p
	}
	nfixed := 0
	for name := range byName {
		if IsFixedFile(name) {
			nfixed++
		}
	}
	if len(byName) != len(m.Artifacts)+nfixed {
		return fail(fmt.Errorf("record lists %d artifacts, the manifest %d plus %d fixed files", len(byName), len(m.Artifacts), nfixed))
	}

	sums := sumsFile(m, fixed)
	readme, err := readmeText(m)
	if err != nil {
		return fail(err)
	}

	zw := zip.NewWriter(w)
	mod := m.CapturedAt
	for _, f := range []struct {
		name string
		data []byte
	}{
		{ManifestFile, manifest}, {SignatureFile, sig}, {SignerPubFile, pubPEM},
		{TimestampFile, fixed[TimestampFile]}, {TSARootFile, fixed[TSARootFile]}, {LedgerProofFile, fixed[LedgerProofFile]},
		{SumsFile, sums}, {ReadmeFile, readme},
	} {
		if f.data == nil {
			continue
		}
		if err := writeZipEntry(zw, f.name, "", mod, bytes.NewReader(f.data)); err != nil {
			return fail(err)
		}
	}
	for i, e := range m.Artifacts {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		rc, err := OpenVerified(ctx, store, keys[i], e.Size, e.SHA256, e.SM3)
		if err != nil {
			return fail(fmt.Errorf("artifact %q: %w", e.Name, err))
		}
		err = writeZipEntry(zw, e.Name, e.MediaType, mod, rc)
		rc.Close()
		if err != nil {
			return fail(fmt.Errorf("artifact %q: %w", e.Name, err))
		}
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	return nil
}

// ErrKeyMismatch is returned when signer.pub is not the key the manifest
// names in signer_key_id.
var ErrKeyMismatch = errors.New("public key is not the one the manifest names")

func artifactSums(a shopwatch.Artifact) (Sums, error) {
	s := Sums{Size: a.Size}
	var err error
	if s.SHA256, err = ParseDigest(a.SHA256); err != nil {
		return s, fmt.Errorf("artifact %q (key %q): %w", a.Name, a.Key, err)
	}
	if a.SM3 != "" {
		if s.SM3, err = ParseDigest(a.SM3); err != nil {
			return s, fmt.Errorf("artifact %q (key %q): %w", a.Name, a.Key, err)
		}
	}
	return s, nil
}

func writeZipEntry(zw *zip.Writer, name, media string, mod time.Time, r io.Reader) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mod.UTC()}
	if media == MediaPNG {
		h.Method = zip.Store // already compressed
	}
	h.SetMode(0o444)
	fw, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	if _, err := io.Copy(fw, r); err != nil {
		return err
	}
	return nil
}

// sumsFile returns SHA256SUMS in the format sha256sum -c reads: the fixed
// files first, then every artifact in manifest order.
func sumsFile(m *Manifest, fixed map[string][]byte) []byte {
	var b strings.Builder
	for _, name := range []string{ManifestFile, SignatureFile, SignerPubFile, TimestampFile, TSARootFile, LedgerProofFile} {
		if data, ok := fixed[name]; ok {
			fmt.Fprintf(&b, "%s  %s\n", SumBytes(SHA256, data).Hex(), name)
		}
	}
	for _, e := range m.Artifacts {
		fmt.Fprintf(&b, "%s  %s\n", e.SHA256.Hex(), e.Name)
	}
	return []byte(b.String())
}

var readmeTemplate = template.Must(template.New("readme").Parse(`shopwatch evidence bundle

Evidence id:   {{.EvidenceID}}
URL:           {{.URL}}
Captured at:   {{.CapturedAt.Format "2006-01-02T15:04:05.999999999Z07:00"}} ({{.ClockSource}})
Captured on:   {{.Host}}, shopwatch {{.ShopwatchVersion}}
Signer key id: {{.SignerKeyID}}
Artifacts:     {{len .Artifacts}}

manifest.json lists every artifact of the capture with its size, SHA-256
and SM3 digest. manifest.sig is the raw 64-byte Ed25519 signature over the
exact bytes of manifest.json. signer.pub is the signing public key (PEM).
SHA256SUMS repeats the SHA-256 digests for sha256sum; it is not signed.

To verify with standard tools, unpack the bundle (unzip bundle.zip -d b;
cd b) and:

1. Check the signature (OpenSSL 3.0 or later):
     openssl pkeyutl -verify -pubin -inkey signer.pub -rawin \
         -in manifest.json -sigfile manifest.sig
   It must print "Signature Verified Successfully".

2. Check that signer.pub is the key of the office that made the capture:
     openssl pkey -pubin -in signer.pub -outform DER | tail -c 32 \
         | sha256sum | cut -c1-16
   prints the 16 hex digits after "ed25519:" in the key id, which must
   match the key id the office publishes.

3. Check the files:
     sha256sum -c SHA256SUMS
   must report OK for every line, and every line must show the same
   digest as the "sha256" of that name in manifest.json. SM3 digests
   ("sm3" in manifest.json) can be checked with: openssl dgst -sm3 FILE

4. Check that the bundle holds only the files manifest.json lists, plus
   manifest.json, manifest.sig, signer.pub, SHA256SUMS and README.txt.

"shopwatch evidence verify BUNDLE.zip" runs all of these checks.
`))

func readmeText(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	if err := readmeTemplate.Execute(&b, m); err != nil {
		return nil, fmt.Errorf("readme: %w", err)
	}
	return b.Bytes(), nil
}
