package evidence

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"shopwatch/evidence/tsa"
)

// ExportManifestFormat is the value of ExportManifest.Format this version
// writes and reads.
const ExportManifestFormat = "shopwatch-export-manifest/1"

// Files of the signed export: the export manifest, its signature, the
// exporting key and the timestamp over it. manifest.json and its seal are
// the capture's and stay as they are; these sign what export derived from
// them.
const (
	// ExportManifestFile lists every file derived at export (README.txt,
	// the verification script, the reports, the WACZ index and page list,
	// the ledger proof) with size, SHA-256 and SM3.
	ExportManifestFile = "export-manifest.json"
	// ExportSignatureFile is the raw Ed25519 signature over the exact
	// bytes of ExportManifestFile.
	ExportSignatureFile = "export-manifest.sig"
	// ExportSignerPubFile is the exporting key (PKIX PEM), the one
	// ExportManifest.SignerKeyID names.
	ExportSignerPubFile = "export-signer.pub"
	// ExportTimestampFile is the RFC 3161 TimeStampResp over
	// ExportManifestFile.
	ExportTimestampFile = "export-timestamp.tsr"
	// ExportTSARootFile is the PEM root the export timestamp chains to.
	ExportTSARootFile = "export-tsa-root.pem"
	// VerifyScriptFile is the standard-tools verification script README.txt
	// quotes, as a file of the bundle.
	VerifyScriptFile = "verify-bundle.sh"
)

// exportSet are the files that sign the export, in bundle order.
var exportSet = []string{ExportManifestFile, ExportSignatureFile, ExportSignerPubFile, ExportTimestampFile, ExportTSARootFile}

// ErrBadExportManifest is returned when export-manifest.json does not
// parse, breaks the format's rules, or does not belong to the capture.
var ErrBadExportManifest = errors.New("bad export manifest")

// ExportManifest is the content of export-manifest.json: who exported the
// capture, when, and every file derived at export, signed as a whole in
// export-manifest.sig and timestamped in export-timestamp.tsr.
type ExportManifest struct {
	Format     string `json:"format"`
	EvidenceID string `json:"evidence_id"`
	// CaptureManifest is the SHA-256 of the capture's manifest.json: the
	// export is bound to that capture.
	CaptureManifest Digest    `json:"capture_manifest"`
	ExportedAt      time.Time `json:"exported_at"`
	// ExportedBy names the person or node that exported and signed.
	ExportedBy  string          `json:"exported_by"`
	Software    string          `json:"software"`
	SignerKeyID string          `json:"signer_key_id"`
	Files       []ManifestEntry `json:"files"`
}

// Marshal returns the export-manifest.json bytes, in the form of
// manifest.json (indented JSON ending in a newline).
func (e *ExportManifest) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("marshal export manifest %s: %w", e.EvidenceID, err)
	}
	return buf.Bytes(), nil
}

// ParseExportManifest decodes export-manifest.json bytes and checks the
// format's rules. Errors wrap ErrBadExportManifest.
func ParseExportManifest(b []byte) (*ExportManifest, error) {
	var e ExportManifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("parse export manifest: %w: %v", ErrBadExportManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse export manifest: %w: data after the JSON object", ErrBadExportManifest)
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("parse export manifest %s: %w: %v", e.EvidenceID, ErrBadExportManifest, err)
	}
	return &e, nil
}

func (e *ExportManifest) validate() error {
	switch {
	case e.Format != ExportManifestFormat:
		return fmt.Errorf("format %q, want %q", e.Format, ExportManifestFormat)
	case e.EvidenceID == "":
		return errors.New("no evidence_id")
	case e.CaptureManifest.Algorithm() != SHA256:
		return errors.New("no sha256 capture_manifest")
	case e.ExportedAt.IsZero():
		return errors.New("no exported_at")
	case e.ExportedBy == "":
		return errors.New("no exported_by")
	case !strings.HasPrefix(e.SignerKeyID, "ed25519:"):
		return fmt.Errorf("signer_key_id %q is not an ed25519 key id", e.SignerKeyID)
	case len(e.Files) == 0:
		return errors.New("no files")
	}
	seen := map[string]bool{}
	for _, f := range e.Files {
		if err := ValidateKey(f.Name); err != nil {
			return fmt.Errorf("file name: %w", err)
		}
		if seen[f.Name] {
			return fmt.Errorf("file %q listed twice", f.Name)
		}
		seen[f.Name] = true
		if !isExportDerived(f.Name) {
			return fmt.Errorf("file %q is not a file export derives", f.Name)
		}
		if f.Size < 0 || f.SHA256.Algorithm() != SHA256 || f.SM3.Algorithm() != SM3 {
			return fmt.Errorf("file %q: negative size or missing sha256 or sm3 digest", f.Name)
		}
	}
	return nil
}

// isExportDerived reports whether name is a file export derives, which
// the export manifest lists: not a capture file, not a file of the
// capture's or the export's seal, and not one of the three hash lists that
// cover the export manifest itself (SHA256SUMS, datapackage.json,
// datapackage-digest.json).
func isExportDerived(name string) bool {
	switch name {
	case ReadmeFile, VerifyScriptFile, LedgerProofFile, IndexFile, PagesFile, ReportHTMLFile, ReportPDFFile, RecordFile:
		return true
	}
	return false
}

// WithExportSigner makes Export sign the files it derives with s in
// export-manifest.json, naming by (a person; "" for the node) as the
// exporter, and timestamp it with the notary's TSA (see Exporter.Signer).
func WithExportSigner(s *Signer, by string) ExportOption {
	return func(c *exportConfig) { c.signer, c.signedBy = s, by }
}

// RequireSignedExport makes VerifyBundle fail a bundle without
// export-manifest.json (exported before exports were signed, or stripped
// of its signed export) instead of noting that its derived files are not
// signed.
func RequireSignedExport() VerifyOption {
	return func(c *verifyConfig) { c.requireSignedExport = true }
}

// defaultExporter names the node that exports when no person is named:
// "node <host name>".
func defaultExporter() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "(host name unknown)"
	}
	return "node " + host
}

// derivedMedia returns the media type of a file derived at export.
func derivedMedia(name string) string {
	switch name {
	case ReadmeFile:
		return MediaText
	case VerifyScriptFile:
		return "text/x-shellscript; charset=utf-8"
	case ReportHTMLFile:
		return MediaHTML
	case ReportPDFFile:
		return MediaPDF
	case IndexFile:
		return "application/cdxj+json"
	case PagesFile:
		return "application/jsonl"
	}
	return MediaJSON
}

// signExport writes the export manifest over the derived files written
// so far, its signature, the exporting key and, with a TSA, its timestamp.
func (x *Exporter) signExport(ctx context.Context, bw *bundleWriter, m *Manifest, manifest []byte, info exportInfo) error {
	em := &ExportManifest{
		Format:          ExportManifestFormat,
		EvidenceID:      m.EvidenceID,
		CaptureManifest: SumBytes(SHA256, manifest),
		ExportedAt:      info.Created,
		ExportedBy:      info.SignedBy,
		Software:        info.Software,
		SignerKeyID:     x.Signer.KeyID(),
	}
	for _, f := range bw.files {
		if isExportDerived(f.name) {
			em.Files = append(em.Files, ManifestEntry{Name: f.name, Size: f.size, MediaType: derivedMedia(f.name), SHA256: f.sha256, SM3: f.sm3})
		}
	}
	b, err := em.Marshal()
	if err != nil {
		return err
	}
	sig, err := x.Signer.Sign(b)
	if err != nil {
		return fmt.Errorf("%s: %w", ExportSignatureFile, err)
	}
	files := map[string][]byte{ExportManifestFile: b, ExportSignatureFile: sig, ExportSignerPubFile: x.Signer.PublicKeyPEM()}
	if x.Notary != nil && x.Notary.TSA != nil {
		tok, err := x.Notary.timestamp(ctx, b, info.Created)
		if err != nil {
			return fmt.Errorf("%s: %w", ExportTimestampFile, err)
		}
		files[ExportTimestampFile] = tok
		files[ExportTSARootFile] = x.Notary.TSARoot
	}
	for _, name := range exportSet {
		if c, ok := files[name]; ok {
			if err := bw.add(name, "", c); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportSigned checks the signed export: export-manifest.json, its
// signature, key and timestamp, and every file it lists. Without it (a
// bundle exported before export manifests) it notes that the derived
// files are not signed.
func (v *verifier) exportSigned() {
	const check = "export"
	if _, ok := v.files[ExportManifestFile]; !ok {
		for _, name := range exportSet[1:] {
			if _, ok := v.files[name]; ok {
				v.rep.fail("present", ExportManifestFile, fmt.Errorf("%w: the bundle has %s but no %s", ErrNotFound, name, ExportManifestFile))
				return
			}
		}
		if v.cfg.requireSignedExport {
			v.rep.fail("present", ExportManifestFile, fmt.Errorf("%w: the export is not signed; README.txt, report.html, report.pdf and the other derived files could have been changed", ErrNotFound))
			return
		}
		v.rep.pass(check, "bundle", "no %s: exported before exports were signed; README.txt, report.html, report.pdf and the other derived files are NOT signed", ExportManifestFile)
		return
	}
	b := v.readFixed(ExportManifestFile, maxManifestSize)
	sig := v.readFixed(ExportSignatureFile, maxSigSize)
	pubPEM := v.readFixed(ExportSignerPubFile, maxPubSize)
	if b == nil || sig == nil || pubPEM == nil {
		return
	}
	em, err := ParseExportManifest(b)
	if err != nil {
		v.rep.fail("parse", ExportManifestFile, err)
		return
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil {
		v.rep.fail("parse", ExportSignerPubFile, err)
		return
	}
	id := KeyID(pub)
	v.rep.ExportKeyID, v.rep.ExportedBy = id, em.ExportedBy
	if em.SignerKeyID != id {
		v.rep.fail("key id", ExportSignerPubFile, fmt.Errorf("%w: export manifest names %s, export-signer.pub is %s", ErrKeyMismatch, em.SignerKeyID, id))
		return
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, b, sig) {
		// The one of the two that differs from the hash lists changed.
		item := ExportSignatureFile
		if v.changedSinceExport(ExportManifestFile, b) && !v.changedSinceExport(ExportSignatureFile, sig) {
			item = ExportManifestFile
		}
		v.rep.fail("signature", item, fmt.Errorf("%w over %s with %s", ErrBadSignature, ExportManifestFile, id))
		return
	}
	v.rep.pass("signature", ExportSignatureFile, "valid Ed25519 signature over %s by %s (%s)", ExportManifestFile, id, em.ExportedBy)
	if len(v.cfg.trusted) > 0 {
		if slices.Contains(v.cfg.trusted, id) {
			v.rep.pass("trusted", ExportSignerPubFile, "%s is trusted", id)
		} else {
			v.rep.fail("trusted", ExportSignerPubFile, fmt.Errorf("%w: the export was signed by %s, not one of %s", ErrUntrustedKey, id, strings.Join(v.cfg.trusted, ", ")))
		}
	}
	// The export's signature holds, so it says which capture was
	// exported: a manifest.json that is not that one is at fault.
	switch {
	case v.manifest != nil && em.CaptureManifest != SumBytes(SHA256, v.manifest):
		v.rep.fail("capture", ManifestFile, fmt.Errorf("%w: hashes to %s, but the signed %s is the export of evidence %s with manifest %s", ErrDigestMismatch, SumBytes(SHA256, v.manifest), ExportManifestFile, em.EvidenceID, em.CaptureManifest))
	case v.m != nil && em.EvidenceID != v.m.EvidenceID:
		v.rep.fail("capture", ExportManifestFile, fmt.Errorf("%w: export of evidence %s, manifest.json is of %s", ErrBadExportManifest, em.EvidenceID, v.m.EvidenceID))
	default:
		v.rep.pass("capture", ExportManifestFile, "export of evidence %s, manifest.json %s", em.EvidenceID, em.CaptureManifest)
	}
	v.exportTimestamp(b, em)
	v.em = em
	listed := map[string]bool{}
	var derived []string
	for _, f := range em.Files {
		listed[f.Name] = true
		derived = append(derived, f.Name)
		zf, ok := v.files[f.Name]
		if !ok {
			v.rep.fail("present", f.Name, fmt.Errorf("%w: listed in %s but not in the bundle", ErrNotFound, ExportManifestFile))
			continue
		}
		content, err := readZipFile(zf, maxManifestSize)
		if err != nil {
			v.rep.fail("read", f.Name, err)
			continue
		}
		if err := SumAll(content).Mismatch(f.Sums()); err != nil {
			v.rep.fail("signed", f.Name, fmt.Errorf("changed since the export was signed: %w", err))
			continue
		}
		v.rep.pass("signed", f.Name, "%d bytes, sha256 and sm3 as %s records (derived at export)", f.Size, ExportManifestFile)
	}
	v.rep.Derived = derived
	// Every derived file the bundle holds must be signed.
	for _, name := range derivedFiles {
		if _, ok := v.files[name]; ok && isExportDerived(name) && !listed[name] {
			v.rep.fail("signed", name, fmt.Errorf("%w: derived at export but not listed in %s", ErrUnlisted, ExportManifestFile))
		}
	}
}

// exportTimestamp checks export-timestamp.tsr over export-manifest.json
// and its time against exported_at.
func (v *verifier) exportTimestamp(b []byte, em *ExportManifest) {
	tsr := v.readOptional(ExportTimestampFile, maxSigSize<<10)
	rootPEM := v.readOptional(ExportTSARootFile, maxPubSize)
	if tsr == nil {
		if _, ok := v.files[ExportTimestampFile]; !ok && !v.cfg.allowUnsealed {
			v.rep.fail("present", ExportTimestampFile, fmt.Errorf("%w: the export is not timestamped (verify with --allow-unsealed to accept)", ErrNotFound))
		}
		return
	}
	roots, source := v.cfg.tsaRoots, "trusted roots"
	if roots == nil {
		roots = x509.NewCertPool()
		if rootPEM == nil || !roots.AppendCertsFromPEM(rootPEM) {
			v.rep.fail("parse", ExportTSARootFile, fmt.Errorf("%w: no PEM certificate", ErrBadBundle))
			return
		}
		source = "the bundled " + ExportTSARootFile
		if c, err := x509.ParseCertificate(pemBlock(rootPEM)); err == nil {
			source += " " + SumBytes(SHA256, c.Raw).String()
		}
	}
	info, err := tsa.Verify(tsr, b, roots)
	if err != nil {
		v.rep.fail("timestamp", ExportTimestampFile, fmt.Errorf("%w: %v", ErrBadTimestamp, err))
		return
	}
	v.rep.pass("timestamp", ExportTimestampFile, "RFC 3161 token over %s, time %s, by %s, chain to %s",
		ExportManifestFile, info.GenTime.UTC().Format(time.RFC3339), info.TSA, source)
	maxSkew := cmp.Or(max(v.cfg.maxSkew, 0), DefaultMaxTimestampSkew)
	if d := info.GenTime.Sub(em.ExportedAt).Abs(); d > maxSkew+info.Accuracy {
		v.rep.fail("exported_at", ExportManifestFile, fmt.Errorf("%w: exported_at %s is %v from the export timestamp's genTime %s (at most %v allowed)",
			ErrTimestampSkew, em.ExportedAt.UTC().Format(time.RFC3339), d.Round(time.Second), info.GenTime.UTC().Format(time.RFC3339), maxSkew))
		return
	}
	v.rep.pass("exported_at", ExportManifestFile, "exported_at %s is within %v of the export timestamp's genTime", em.ExportedAt.UTC().Format(time.RFC3339), maxSkew)
}
