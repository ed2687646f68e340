package evidence

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"shopwatch"
)

// HTMLPrinter prints a complete HTML document to PDF. *pdf.Printer (the
// evidence/pdf package, a short-lived headless Chromium) implements it.
type HTMLPrinter interface {
	PrintHTML(ctx context.Context, html []byte) ([]byte, error)
}

// Exporter writes evidence bundles (see doc.go, "Bundle"). The zero value
// exports without a ledger proof and without report.pdf.
type Exporter struct {
	// Notary, when its Ledger is set, adds the ledger inclusion proof of
	// the manifest (ledger-proof.json); export fails when the manifest is
	// not in the ledger.
	Notary *Notary
	// PDF prints report.pdf; nil leaves it out of the bundle, which
	// README.txt then says. A printer that fails fails the export.
	PDF HTMLPrinter
	// Now is the export time recorded in datapackage.json and README.txt;
	// nil means time.Now.
	Now func() time.Time
	// Software names the exporting program in datapackage.json and
	// README.txt; "" means "shopwatch <shopwatch.Version>".
	Software string
	// Record is what the electronic data extraction record states about
	// the case, the party, the place and the officers; export writes it
	// to extraction-record.json (the party completed from the page's
	// licence block) and the report shows it. A record for a case must
	// pass CaseRecord.Check, or export fails with ErrIncompleteRecord.
	// nil leaves the file out; the report then says its record is not a
	// case record.
	Record *CaseRecord
	// TrustedTSARoots are the fingerprints (RootFingerprint) of the roots
	// of the RFC 3161 authorities the configuration marks as trusted: the
	// reports call a token 可信时间戳 only when it comes from one of them.
	TrustedTSARoots []string
	// Signer signs export-manifest.json, which lists every file derived at
	// export (README.txt, the verification script, the reports …) with
	// SHA-256 and SM3; Notary.TSA, when set, timestamps it. nil exports
	// without it, as bundles were exported before: their derived files
	// are not signed.
	Signer *Signer
	// SignedBy names who exports, recorded in export-manifest.json and
	// README.txt: a person, or "" for the node ("node <host name>").
	SignedBy string
}

// Export writes the capture rec indexes as a self-contained bundle to w
// with an Exporter that has the options' notary and no PDF printer.
func Export(ctx context.Context, store Store, rec *shopwatch.EvidenceRecord, w io.Writer, opts ...ExportOption) error {
	var cfg exportConfig
	for _, o := range opts {
		o(&cfg)
	}
	return (&Exporter{Notary: cfg.notary, Signer: cfg.signer, SignedBy: cfg.signedBy}).Export(ctx, store, rec, w)
}

// Export writes the capture rec indexes as a self-contained zip bundle to
// w, which is also a WACZ 1.1.1 package: README.txt, the signed files and
// the seal at the root, every artifact under its name, then the CDXJ index,
// pages.jsonl, report.html, report.pdf (with a PDF printer), SHA256SUMS,
// datapackage.json and datapackage-digest.json (see doc.go).
//
// Every object is re-checked as it is read from store: its size, SHA-256
// and SM3 must match the record and the manifest, and the manifest's
// signature and timestamp must verify. A damaged or missing object is an
// error naming its key; nothing is exported silently. On error what was
// written to w is an incomplete bundle and must be discarded. Export does
// not close w.
func (x *Exporter) Export(ctx context.Context, store Store, rec *shopwatch.EvidenceRecord, w io.Writer) error {
	if rec == nil {
		return errors.New("export: nil evidence record")
	}
	if store == nil {
		return fmt.Errorf("export %s: nil store", rec.ID)
	}
	fail := func(err error) error { return fmt.Errorf("export %s: %w", rec.ID, err) }
	if err := x.Record.Check(); err != nil {
		return fail(err)
	}

	// One check with the resume of a sweep and verification: the signed
	// files as the record gives them, the seal, and the record agreeing
	// with the signed manifest.
	cp, err := CheckRecord(ctx, store, rec, CaptureCheck{})
	if err != nil {
		return fail(err)
	}
	m, pub := cp.Manifest, cp.PublicKey
	keyOf := make(map[string]string, len(rec.Artifacts))
	for _, a := range rec.Artifacts {
		keyOf[a.Name] = a.Key
	}
	// Every artifact must be able to sit in a WACZ under its name.
	keys := make([]string, len(m.Artifacts))
	warcs := 0
	for i, e := range m.Artifacts {
		if err := checkWACZName(e.Name); err != nil {
			return fail(err)
		}
		if isWARCName(e.Name) {
			warcs++
		}
		keys[i] = keyOf[e.Name]
	}
	if warcs == 0 {
		return fail(fmt.Errorf("the capture has no WARC file under %s; a WACZ needs one", waczArchiveDir))
	}
	fixed := map[string][]byte{ManifestFile: cp.ManifestBytes, SignatureFile: cp.Signature, SignerPubFile: cp.SignerPub}
	if cp.Timestamp != nil {
		fixed[TimestampFile], fixed[TSARootFile] = cp.Timestamp, cp.TSARoot
	}
	if x.Notary != nil && x.Notary.Ledger != nil {
		p, err := x.Notary.proof(ctx, rec.ManifestDigest, KeyID(pub))
		if err != nil {
			return fail(err)
		}
		fixed[LedgerProofFile] = p
	}

	now := time.Now
	if x.Now != nil {
		now = x.Now
	}
	info := exportInfo{Created: now().UTC().Truncate(time.Second), Software: x.Software, PDF: x.PDF != nil}
	if info.Software == "" {
		info.Software = "shopwatch " + shopwatch.Version
	}
	if x.Signer != nil {
		info.SignedBy = cmp.Or(x.SignedBy, defaultExporter())
		info.SignerKeyID = x.Signer.KeyID()
	}
	readme, err := readmeText(m, info)
	if err != nil {
		return fail(err)
	}

	bw := &bundleWriter{zw: zip.NewWriter(w), mod: m.CapturedAt}
	if err := bw.add(ReadmeFile, "", readme); err != nil {
		return fail(err)
	}
	if x.Signer != nil {
		if err := bw.add(VerifyScriptFile, "", []byte(verifyScript)); err != nil {
			return fail(err)
		}
	}
	for _, name := range []string{ManifestFile, SignatureFile, SignerPubFile, TimestampFile, TSARootFile, LedgerProofFile} {
		if b, ok := fixed[name]; ok {
			if err := bw.add(name, "", b); err != nil {
				return fail(err)
			}
		}
	}
	// The report reads the signed files, the seal and a few artifacts.
	keep := maps.Clone(fixed)
	var index []string
	for i, e := range m.Artifacts {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		lines, kept, err := x.copyArtifact(ctx, store, bw, keys[i], e)
		if err != nil {
			return fail(fmt.Errorf("artifact %q: %w", e.Name, err))
		}
		index = append(index, lines...)
		if kept != nil {
			keep[e.Name] = kept
		}
	}
	slices.Sort(index)
	var idx bytes.Buffer
	for _, l := range index {
		idx.WriteString(l)
		idx.WriteByte('\n')
	}
	if err := bw.add(IndexFile, "", idx.Bytes()); err != nil {
		return fail(err)
	}
	pages, err := pagesFile(m, pageTitle(keep[MetadataFile]))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", PagesFile, err))
	}
	if err := bw.add(PagesFile, "", pages); err != nil {
		return fail(err)
	}
	read := func(name string) ([]byte, error) {
		if b, ok := keep[name]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if x.Record != nil {
		b, err := marshalRecord(x.Record.withParty(keep[TextFile], pageTitle(keep[MetadataFile])))
		if err != nil {
			return fail(err)
		}
		if err := bw.add(RecordFile, "", b); err != nil {
			return fail(err)
		}
		keep[RecordFile] = b
	}
	html, err := RenderReport(read, false, WithTrustedTSARoots(x.TrustedTSARoots...))
	if err != nil {
		return fail(err)
	}
	if err := bw.add(ReportHTMLFile, "", html); err != nil {
		return fail(err)
	}
	if x.PDF != nil {
		printable, err := RenderReport(read, true, WithTrustedTSARoots(x.TrustedTSARoots...))
		if err != nil {
			return fail(err)
		}
		pdf, err := x.PDF.PrintHTML(ctx, printable)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", ReportPDFFile, err))
		}
		if err := bw.add(ReportPDFFile, MediaPDF, pdf); err != nil {
			return fail(err)
		}
	}
	if x.Signer != nil {
		if err := x.signExport(ctx, bw, m, cp.ManifestBytes, info); err != nil {
			return fail(err)
		}
	}
	if err := bw.add(SumsFile, "", bw.sums()); err != nil {
		return fail(err)
	}
	dp, err := marshalJSONFile(datapackageFor(m, info.Created, info.Software, bw.files))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", DatapackageFile, err))
	}
	if err := bw.add(DatapackageFile, "", dp); err != nil {
		return fail(err)
	}
	digest, err := marshalJSONFile(DatapackageDigest{Path: DatapackageFile, Hash: SumBytes(SHA256, dp).String()})
	if err != nil {
		return fail(fmt.Errorf("%s: %w", DatapackageDigestFile, err))
	}
	if err := bw.add(DatapackageDigestFile, "", digest); err != nil {
		return fail(err)
	}
	if err := bw.zw.Close(); err != nil {
		return fail(err)
	}
	return nil
}

// copyArtifact streams one artifact from the store into the bundle,
// checking it against the manifest as it goes. It returns the CDXJ lines
// of a WARC file, and the bytes of an artifact the report reads.
func (x *Exporter) copyArtifact(ctx context.Context, store Store, bw *bundleWriter, key string, e ManifestEntry) (lines []string, kept []byte, err error) {
	rc, err := OpenVerified(ctx, store, key, e.Size, e.SHA256, e.SM3)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	var sinks []io.Writer
	var keep *bytes.Buffer
	if e.Name == MetadataFile || e.Name == FindingsFile || e.Name == EnvironmentFile || e.Name == NetworkFile ||
		(x.Record != nil && e.Name == TextFile) || (x.PDF != nil && isReportImage(e.MediaType)) {
		keep = bytes.NewBuffer(make([]byte, 0, e.Size))
		sinks = append(sinks, keep)
	}
	var ix *warcIndexer
	if isWARCName(e.Name) {
		ix = startWARCIndexer(strings.TrimPrefix(e.Name, waczArchiveDir))
		sinks = append(sinks, ix)
	}
	err = bw.copy(e.Name, e.MediaType, rc, e.Size, e.SHA256, sinks...)
	if ix != nil {
		var ierr error
		lines, ierr = ix.finish(err)
		if err == nil {
			err = ierr
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if keep != nil {
		kept = keep.Bytes()
	}
	return lines, kept, nil
}

// warcIndexer indexes a WARC file written to it.
type warcIndexer struct {
	pw    *io.PipeWriter
	done  chan struct{}
	lines []string
	err   error
}

func startWARCIndexer(filename string) *warcIndexer {
	pr, pw := io.Pipe()
	ix := &warcIndexer{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(ix.done)
		ix.lines, ix.err = indexWARC(pr, filename)
		// Unblock the writer when indexing stopped early.
		pr.CloseWithError(cmp.Or(ix.err, errors.New("index: trailing data after the last record")))
	}()
	return ix
}

func (ix *warcIndexer) Write(p []byte) (int, error) { return ix.pw.Write(p) }

// finish ends the input (with copyErr when the copy failed) and returns the
// index lines.
func (ix *warcIndexer) finish(copyErr error) ([]string, error) {
	ix.pw.CloseWithError(copyErr)
	<-ix.done
	return ix.lines, ix.err
}

// pageTitle returns the page title from metadata.json, "" when unknown.
func pageTitle(metadata []byte) string {
	var md struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(metadata, &md) != nil {
		return ""
	}
	return md.Title
}

// bundleWriter writes zip entries and records the size and SHA-256 of
// each file for SHA256SUMS and datapackage.json.
type bundleWriter struct {
	zw    *zip.Writer
	mod   time.Time
	files []bundleFile
}

// add writes one file held in memory.
func (bw *bundleWriter) add(name, media string, b []byte) error {
	s := SumAll(b)
	if err := bw.copy(name, media, bytes.NewReader(b), s.Size, s.SHA256); err != nil {
		return err
	}
	bw.files[len(bw.files)-1].sm3 = s.SM3
	return nil
}

// copy writes one file from r, which must yield size bytes with the given
// SHA-256 (the caller's reader checks that), and hands the bytes to sinks
// as well.
func (bw *bundleWriter) copy(name, media string, r io.Reader, size int64, sha Digest, sinks ...io.Writer) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: bw.mod.UTC()}
	if storedInZip(name, media) {
		h.Method = zip.Store
	}
	h.SetMode(0o444)
	fw, err := bw.zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	w := io.Writer(fw)
	if len(sinks) > 0 {
		w = io.MultiWriter(append([]io.Writer{fw}, sinks...)...)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("zip %s: %w: wrote %d bytes, want %d", name, ErrSizeMismatch, n, size)
	}
	bw.files = append(bw.files, bundleFile{name: name, size: size, sha256: sha})
	return nil
}

// storedInZip reports whether a file is stored without compression:
// WARC files (WACZ readers seek into them) and files that are compressed
// already.
func storedInZip(name, media string) bool {
	switch {
	case isWARCName(name), strings.HasSuffix(name, ".gz"), isReportImage(media), media == MediaPDF:
		return true
	}
	return false
}

// sums returns SHA256SUMS in the format sha256sum -c reads: one line per
// file written so far, in zip order.
func (bw *bundleWriter) sums() []byte {
	var b strings.Builder
	for _, f := range bw.files {
		fmt.Fprintf(&b, "%s  %s\n", f.sha256.Hex(), f.name)
	}
	return []byte(b.String())
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

// verifyScript is the standard-tools check quoted in README.txt; the tests
// run this very file against exported bundles.
//
//go:embed testdata/verify-bundle.sh
var verifyScript string

// exportInfo is what README.txt and datapackage.json record about the
// export itself.
type exportInfo struct {
	Created  time.Time // export time, UTC, whole seconds
	Software string    // the exporting program and version
	PDF      bool      // report.pdf is in the bundle
	// SignedBy and SignerKeyID name who signs export-manifest.json; ""
	// when the export is not signed.
	SignedBy, SignerKeyID string
}

// README.txt lines that record the export; VerifyBundle reads them back to
// check datapackage.json.
const (
	readmeExportedAt = "Exported at:   "
	readmeExportedBy = "Exported by:   "
	readmeReportPDF  = "Report:        report.html and report.pdf"
)

var readmeTemplate = template.Must(template.New("readme").Parse(`shopwatch evidence bundle

Evidence id:   {{.M.EvidenceID}}
URL:           {{.M.URL}}
Captured at:   {{.M.CapturedAt.Format "2006-01-02T15:04:05.999999999Z07:00"}} ({{.M.ClockSource}})
Captured on:   {{.M.Host}}, shopwatch {{.M.ShopwatchVersion}}
Signer key id: {{.M.SignerKeyID}}
Artifacts:     {{len .M.Artifacts}}
` + readmeExportedAt + `{{.Info.Created.Format "2006-01-02T15:04:05Z07:00"}}
` + readmeExportedBy + `{{.Info.Software}}
{{if .Info.PDF}}` + readmeReportPDF + `{{else}}Report:        report.html (no report.pdf: exported without PDF printing){{end}}

manifest.json lists every artifact of the capture with its size, SHA-256
and SM3 digest. manifest.sig is the raw 64-byte Ed25519 signature over the
exact bytes of manifest.json. signer.pub is the signing public key (PEM).
timestamp.tsr is an RFC 3161 timestamp over manifest.json by the authority
whose root certificate is tsa-root.pem; ledger-proof.json proves that
manifest.json is entered in the append-only ledger.

{{if .Info.SignedBy}}The files derived at export are signed: export-manifest.json lists this
README.txt, verify-bundle.sh (the script quoted below), report.html and
report.pdf (the report for people, with the electronic data extraction
record), ledger-proof.json and the WACZ index and page list, each with
size, SHA-256 and SM3. export-manifest.sig is the Ed25519 signature over
it by export-signer.pub, the key of {{.Info.SignedBy}} ({{.Info.SignerKeyID}});
export-timestamp.tsr is an RFC 3161 timestamp over it by the authority
whose root certificate is export-tsa-root.pem. Not signed are only the
hash lists that cover every file, these included: SHA256SUMS (SHA-256 of
every file but itself and the two datapackage files, for sha256sum) and
the WACZ 1.1.1 files datapackage.json and datapackage-digest.json.

The WACZ 1.1.1
files{{else}}The other files are derived at export and are not signed: SHA256SUMS
(SHA-256 of every file but itself and the two datapackage files, for
sha256sum), this README.txt, report.html and report.pdf (the report for
people, with the electronic data extraction record), and the WACZ 1.1.1
files{{end}} that make the bundle a web archive that WACZ readers open
(rename it to .wacz): datapackage.json (every file but itself and
datapackage-digest.json, with sha256 and size), datapackage-digest.json
(the sha256 of datapackage.json), pages/pages.jsonl and
indexes/index.cdxj (a CDXJ index of archive/*.warc.gz).

To verify with standard tools, unpack the bundle (unzip BUNDLE.zip -d b),
save the script below as verify-bundle.sh and run it with the trust file
the office publishes (trust.yaml: its signer keys and TSA roots):
bash verify-bundle.sh b trust.yaml
It must end with "TRUSTED". Without a trust file it ends with
"SELF-CONSISTENT ONLY": the bundle is intact, but anyone holding a key
could have made it; compare the key id and the TSA root fingerprint it
prints with the ones the office publishes.{{if .Info.SignedBy}}
The bundle's copy of the script is verify-bundle.sh; a copy the office
publishes is better still: it checks this README.txt and the bundle's
copy against export-manifest.json too.{{end}}

"shopwatch evidence verify --trust trust.yaml BUNDLE.zip" runs all of
these checks and the ledger proof's.

-----8<----- verify-bundle.sh -----8<-----
{{.Script}}-----8<----- end -----8<-----
`))

func readmeText(m *Manifest, info exportInfo) ([]byte, error) {
	var b bytes.Buffer
	if err := readmeTemplate.Execute(&b, struct {
		M      *Manifest
		Info   exportInfo
		Script string
	}{m, info, verifyScript}); err != nil {
		return nil, fmt.Errorf("readme: %w", err)
	}
	return b.Bytes(), nil
}

// readmeExport reads back the export time and software README.txt records.
func readmeExport(readme []byte) (created, software string) {
	for _, l := range strings.Split(string(readme), "\n") {
		if v, ok := strings.CutPrefix(l, readmeExportedAt); ok && created == "" {
			created = v
		}
		if v, ok := strings.CutPrefix(l, readmeExportedBy); ok && software == "" {
			software = v
		}
	}
	return created, software
}
