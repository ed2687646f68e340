package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"shopwatch/evidence/envcheck"
)

// Errors VerifyBundle reports, besides ErrNotFound, ErrDigestMismatch,
// ErrSizeMismatch, ErrBadManifest, ErrBadSignature, ErrKeyMismatch,
// ErrBadTimestamp, ErrBadLedgerProof and ErrBadWACZ.
var (
	// ErrUnlisted: the bundle holds a file that is neither an artifact the
	// manifest lists nor a bundle file, or a record lists a file the
	// bundle does not hold.
	ErrUnlisted = errors.New("not listed in manifest.json")
	// ErrUntrustedKey: the bundle was signed by a key outside the trusted
	// key ids given with WithTrustedKeys.
	ErrUntrustedKey = errors.New("signer key is not trusted")
	// ErrBadBundle: a malformed bundle entry: an unsafe or duplicate name,
	// an unreadable file, a malformed SHA256SUMS, a README.txt or report
	// that does not describe the capture.
	ErrBadBundle = errors.New("malformed bundle")
	// ErrEnvironmentFailed: the capture-environment check recorded with
	// the capture (environment.json) failed, or the record is unreadable:
	// the capture was made on a host whose clock, proxies, hosts file or
	// binaries were not as they must be.
	ErrEnvironmentFailed = errors.New("capture environment check failed")
)

// Size limits of the fixed files VerifyBundle reads into memory.
const (
	maxManifestSize = 64 << 20
	maxSigSize      = 1 << 10
	maxPubSize      = 64 << 10
)

// ItemError is one problem VerifyBundle found, naming the bundle item (a
// file name such as "page.html" or "manifest.sig") and the check that
// failed. Err wraps one of the package's sentinel errors.
type ItemError struct {
	Item  string
	Check string
	Err   error
}

func (e *ItemError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Item, e.Check, e.Err)
}

// Unwrap returns the underlying error.
func (e *ItemError) Unwrap() error { return e.Err }

// Check is one check VerifyBundle ran, passed or not.
type Check struct {
	Name   string // what was checked: "signature", "sha256", "listed" …
	Item   string // the bundle item it concerns
	OK     bool
	Detail string
}

// Report is the outcome of VerifyBundle: every check it ran and every
// problem it found.
type Report struct {
	Bundle     string // path of the bundle
	EvidenceID string // from the manifest; "" when it does not parse
	KeyID      string // id of the bundled public key; compare with a trusted one
	// TSARootSHA256 is the digest of the bundled TSA root certificate (DER)
	// when the timestamp was checked against it; compare with the published one.
	TSARootSHA256 string
	// TimestampTime is the time the TSA vouches for ("" when unchecked).
	TimestampTime time.Time
	Manifest      *Manifest // nil when it does not parse
	Checks        []Check
	Problems      []*ItemError

	// Trust names the trust file the bundle verified as TRUSTED under
	// (WithTrust); "" without one, or when the bundle failed under it.
	Trust string
	// KeyPinned and TSAPinned report whether the signer key and the
	// timestamp's root were judged against something from outside the
	// bundle (a trust file, WithTrustedKeys, WithTSARoots).
	KeyPinned, TSAPinned bool
	// Witnesses names the witnesses of the trust file that co-signed the
	// ledger checkpoint ("name (key id)"), when it lists any.
	Witnesses []string
	// ExportKeyID and ExportedBy name the key and the person or node that
	// signed export-manifest.json; Derived lists the files it signs. All
	// empty for a bundle exported before exports were signed.
	ExportKeyID string
	ExportedBy  string
	Derived     []string
	// Capture is the verdict of the capture check that export and the
	// resume of a sweep apply to a stored capture (CheckCapture), applied
	// to the bundle's capture files: nil when they pass, else an error
	// holding the *CaptureProblem. The rest of the report says which file
	// is at fault and checks what the bundle adds.
	Capture error
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Err returns nil when the bundle verified, or all problems joined.
func (r *Report) Err() error {
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Items returns the sorted, distinct items that problems name.
func (r *Report) Items() []string {
	var items []string
	for _, p := range r.Problems {
		items = append(items, p.Item)
	}
	slices.Sort(items)
	return slices.Compact(items)
}

// WriteText writes the report for people: one line per check, then a
// verdict.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "bundle:      %s\nevidence id: %s\nsigner key:  %s\n", r.Bundle, r.EvidenceID, r.KeyID)
	if r.TSARootSHA256 != "" {
		fmt.Fprintf(bw, "tsa root:    %s (bundled; compare with the published fingerprint)\n", r.TSARootSHA256)
	}
	for _, c := range r.Checks {
		status := "ok  "
		if !c.OK {
			status = "FAIL"
		}
		fmt.Fprintf(bw, "%s %-10s %s: %s\n", status, c.Name, c.Item, c.Detail)
	}
	if r.ExportKeyID != "" {
		fmt.Fprintf(bw, "export:      signed by %s, key %s\nderived:     %s (made at export, signed in %s)\n", r.ExportedBy, r.ExportKeyID, strings.Join(r.Derived, ", "), ExportManifestFile)
	} else {
		fmt.Fprintf(bw, "export:      not signed (no %s): the derived files (README.txt, report.html, report.pdf …) are unsigned\n", ExportManifestFile)
	}
	if r.OK() {
		fmt.Fprintln(bw, r.verdictLine())
	} else {
		fmt.Fprintf(bw, "NOT VERIFIED: %d problem(s)\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(bw, "  %v\n", p)
		}
	}
	return bw.Flush()
}

func (r *Report) pass(name, item, detail string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Item: item, OK: true, Detail: fmt.Sprintf(detail, args...)})
}

func (r *Report) fail(name, item string, err error) {
	r.Checks = append(r.Checks, Check{Name: name, Item: item, OK: false, Detail: err.Error()})
	r.Problems = append(r.Problems, &ItemError{Item: item, Check: name, Err: err})
}

// VerifyOption changes what VerifyBundle checks.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	trusted       []string
	tsaRoots      *x509.CertPool
	allowUnsealed bool
	maxSkew       time.Duration
	trust         *TrustFile

	requireSignedExport bool // see RequireSignedExport
}

// WithTrustedKeys makes VerifyBundle require that the bundle was signed by
// one of the given key ids ("ed25519:<16 hex>"), its export-manifest.json
// too when it has one. Without it VerifyBundle
// checks that the bundle is intact and self-consistent and reports the key
// id in Report.KeyID for the caller to judge.
func WithTrustedKeys(ids ...string) VerifyOption {
	return func(c *verifyConfig) { c.trusted = append(c.trusted, ids...) }
}

// VerifyBundle checks the evidence bundle at path offline, with nothing but
// the bundle: manifest.json parses; manifest.sig is a valid Ed25519
// signature over the exact manifest.json bytes by signer.pub, which is the
// key the manifest names (and, with WithTrustedKeys, a trusted one); the
// timestamp token verifies over manifest.json and chains to the TSA root,
// and its genTime lies within the accepted skew of the manifest's
// captured_at (WithMaxTimestampSkew); the ledger proof holds; the
// capture-environment check recorded in environment.json, when the
// capture has one, passed; every artifact the manifest lists is present with
// its size, SHA-256 and SM3; SHA256SUMS and the WACZ files
// (datapackage.json, datapackage-digest.json, pages/pages.jsonl, the CDXJ
// index) agree with the files and with each other; README.txt and the
// reports are as exported; and the bundle holds no other file.
//
// A signed export's export-manifest.json, its signature, timestamp and
// every file it lists are checked too (see doc.go, "The signed export");
// a bundle without one verifies with a note that its derived files are not
// signed.
//
// It runs every check it can and reports each problem as an *ItemError
// naming the damaged item; the first problem names the first broken item.
// The files derived at export are also recorded twice
// (SHA256SUMS and datapackage.json), so a file that differs from both
// records is the one that changed, and a record that disagrees with the
// file and the other record is the one at fault. The error is non-nil only
// when the bundle cannot be read as a zip file at all.
func VerifyBundle(path string, opts ...VerifyOption) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify bundle %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("verify bundle %s: %w", path, err)
	}
	r, err := VerifyBundleReader(f, st.Size(), opts...)
	if err != nil {
		return nil, fmt.Errorf("verify bundle %s: %w", path, err)
	}
	r.Bundle = path
	return r, nil
}

// VerifyBundleReader is VerifyBundle for a bundle held in r (size bytes),
// such as an upload.
func VerifyBundleReader(r io.ReaderAt, size int64, opts ...VerifyOption) (*Report, error) {
	var cfg verifyConfig
	for _, o := range opts {
		o(&cfg)
	}
	zr, err := zip.NewReader(r, size)
	if errors.Is(err, zip.ErrInsecurePath) && zr != nil {
		err = nil // reported per entry below
	}
	if err != nil {
		return nil, fmt.Errorf("open zip: %w", err)
	}
	v := &verifier{cfg: cfg, rep: &Report{}, files: map[string]*zip.File{}, digests: map[string]fileDigest{}}
	v.run(zr)
	return v.rep, nil
}

type verifier struct {
	cfg   verifyConfig
	rep   *Report
	files map[string]*zip.File
	dirs  []string

	manifest, sig, pub []byte // nil when missing or unreadable
	sums               map[string]string
	m                  *Manifest
	pubKey             ed25519.PublicKey
	authentic          bool // signature valid and key the one the manifest names

	// replaced are signed files that verify but differ from both records
	// of the export: the signed set of another capture.
	replaced []string
	// dp is datapackage.json (nil when missing or unparseable), dpRaw its
	// bytes and dpRes its resources by path.
	dp      *Datapackage
	dpRaw   []byte
	dpRes   map[string]DatapackageResource
	digests map[string]fileDigest // SHA-256 of bundle files, computed once
	readme  []byte                // README.txt when it is as exported

	// Under a trust file: whether the token's root is pinned and the
	// signer key listed and valid at the capture time.
	tsaPinned, keyValid bool
	// sealRoots are the roots the capture's token was judged against
	// (pinned ones under a trust file); nil when there were none.
	sealRoots *x509.CertPool
	// witnessChecked: the trust file lists witnesses and the ledger proof
	// was judged against them; witnessed: a listed witness co-signed.
	witnessChecked, witnessed bool
	em                        *ExportManifest // export-manifest.json when its signature holds
}

// fileDigest is the size and SHA-256 (lowercase hex) of a bundle file.
type fileDigest struct {
	size int64
	hex  string
}

// trusted reports whether the manifest can be relied on to judge the
// other files: it is authentic and it is the one the bundle was exported
// with.
func (v *verifier) trusted() bool {
	return v.authentic && !slices.Contains(v.replaced, ManifestFile)
}

func (v *verifier) run(zr *zip.Reader) {
	v.entries(zr)
	v.manifest = v.readFixed(ManifestFile, maxManifestSize)
	v.sig = v.readFixed(SignatureFile, maxSigSize)
	v.pub = v.readFixed(SignerPubFile, maxPubSize)
	v.readSums()
	v.readDatapackage()
	v.parse()
	blamed := v.fixedSums()
	v.signature(blamed)
	v.signedReplaced()
	v.fixedSumsAuthentic()
	v.fixedDatapackageAuthentic()
	v.verifySeal()
	v.capture()
	v.artifacts()
	v.environment()
	v.exportSigned()
	v.derived()
	v.sumsRecorded()
	v.checkDatapackage()
	v.unlisted()
	if v.sums != nil && !v.named(SumsFile) {
		v.rep.pass("sums", SumsFile, "agrees with manifest.json and the bundle's files")
	}
	v.trustKey()
	v.trustWitnessPresent()
	v.captureVerdict()
	v.noteTrust()
}

// named reports whether a problem already names item.
func (v *verifier) named(item string) bool {
	return slices.ContainsFunc(v.rep.Problems, func(p *ItemError) bool { return p.Item == item })
}

// signedSet are the files the signature binds together.
var signedSet = []string{ManifestFile, SignatureFile, SignerPubFile}

// fixed returns the content of one file of the signed set (nil when
// missing or unreadable).
func (v *verifier) fixed(name string) []byte {
	switch name {
	case ManifestFile:
		return v.manifest
	case SignatureFile:
		return v.sig
	case SignerPubFile:
		return v.pub
	}
	return nil
}

// entries indexes the zip and reports unsafe and duplicate names.
func (v *verifier) entries(zr *zip.Reader) {
	bad := 0
	for _, f := range zr.File {
		name := f.Name
		if strings.HasSuffix(name, "/") && ValidatePrefix(name) == nil {
			v.dirs = append(v.dirs, name)
			continue
		}
		if err := ValidateKey(name); err != nil {
			v.rep.fail("entry", name, fmt.Errorf("%w: %v", ErrBadBundle, err))
			bad++
			continue
		}
		if _, dup := v.files[name]; dup {
			v.rep.fail("entry", name, fmt.Errorf("%w: file appears twice in the zip", ErrBadBundle))
			bad++
			continue
		}
		v.files[name] = f
	}
	if bad == 0 {
		v.rep.pass("entries", "bundle", "%d files, names safe and distinct", len(v.files))
	}
}

// readFixed reads one fixed file, reporting it when missing or unreadable.
func (v *verifier) readFixed(name string, limit int64) []byte {
	f, ok := v.files[name]
	if !ok {
		v.rep.fail("present", name, fmt.Errorf("%w: the bundle has no %s", ErrNotFound, name))
		return nil
	}
	b, err := readZipFile(f, limit)
	if err != nil {
		v.rep.fail("read", name, err)
		return nil
	}
	return b
}

func readZipFile(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrSizeMismatch, limit)
	}
	return b, nil
}

func (v *verifier) readSums() {
	f, ok := v.files[SumsFile]
	if !ok {
		v.rep.fail("present", SumsFile, fmt.Errorf("%w: the bundle has no %s", ErrNotFound, SumsFile))
		return
	}
	b, err := readZipFile(f, maxManifestSize)
	if err != nil {
		v.rep.fail("read", SumsFile, err)
		return
	}
	sums := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		hexSum, name, ok := strings.Cut(line, "  ")
		if !ok {
			hexSum, name, ok = strings.Cut(line, " *")
		}
		if _, err := ParseDigest("sha256:" + hexSum); !ok || err != nil || name == "" {
			v.rep.fail("parse", SumsFile, fmt.Errorf("%w: line %d is not \"<sha256 hex>  <name>\"", ErrBadBundle, i+1))
			return
		}
		if _, dup := sums[name]; dup {
			v.rep.fail("parse", SumsFile, fmt.Errorf("%w: line %d repeats %q", ErrBadBundle, i+1, name))
			return
		}
		sums[name] = hexSum
	}
	v.sums = sums
	v.rep.pass("parse", SumsFile, "%d lines", len(sums))
}

func (v *verifier) parse() {
	if v.manifest != nil {
		m, err := ParseManifest(v.manifest)
		if err != nil {
			v.rep.fail("parse", ManifestFile, err)
		} else {
			v.m = m
			v.rep.Manifest = m
			v.rep.EvidenceID = m.EvidenceID
			v.rep.pass("parse", ManifestFile, "evidence %s, %d artifacts", m.EvidenceID, len(m.Artifacts))
		}
	}
	if v.pub != nil {
		k, err := ParsePublicKeyPEM(v.pub)
		if err != nil {
			v.rep.fail("parse", SignerPubFile, err)
		} else {
			v.pubKey = k
			v.rep.KeyID = KeyID(k)
			v.rep.pass("parse", SignerPubFile, "Ed25519 key %s", v.rep.KeyID)
		}
	}
	if v.m != nil && v.pubKey != nil {
		if v.m.SignerKeyID != v.rep.KeyID {
			// The key is at fault unless it is as exported and the
			// manifest is not.
			item := SignerPubFile
			if v.changedSinceExport(ManifestFile, v.manifest) && !v.changedSinceExport(SignerPubFile, v.pub) {
				item = ManifestFile
			}
			v.rep.fail("key id", item, fmt.Errorf("%w: manifest names %s, signer.pub is %s", ErrKeyMismatch, v.m.SignerKeyID, v.rep.KeyID))
		} else {
			v.rep.pass("key id", SignerPubFile, "the key manifest.json names")
		}
	}
	if len(v.cfg.trusted) > 0 && v.pubKey != nil {
		if slices.Contains(v.cfg.trusted, v.rep.KeyID) {
			v.rep.pass("trusted", SignerPubFile, "%s is trusted", v.rep.KeyID)
		} else {
			v.rep.fail("trusted", SignerPubFile, fmt.Errorf("%w: %s is not one of %s", ErrUntrustedKey, v.rep.KeyID, strings.Join(v.cfg.trusted, ", ")))
		}
	}
}

// changedSinceExport reports whether b, the content of bundle file name,
// differs from a digest SHA256SUMS or datapackage.json recorded at export.
func (v *verifier) changedSinceExport(name string, b []byte) bool {
	if b == nil {
		return false
	}
	return v.bytesRecords(name, b).changed()
}

// Fault names which of a bundle file and its two records of the export,
// its SHA256SUMS line and its datapackage.json resource, is at fault.
type Fault int

const (
	// FaultNone: the file agrees with every record the bundle has.
	FaultNone Fault = iota
	// FaultFile: the file differs from its records: changed since export.
	FaultFile
	// FaultSums: the SHA256SUMS line disagrees with the file and
	// datapackage.json.
	FaultSums
	// FaultDatapackage: the datapackage.json resource disagrees with the
	// file and SHA256SUMS.
	FaultDatapackage
	// FaultUnlisted: neither SHA256SUMS nor datapackage.json lists the file.
	FaultUnlisted
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultFile:
		return "file"
	case FaultSums:
		return SumsFile
	case FaultDatapackage:
		return DatapackageFile
	case FaultUnlisted:
		return "unlisted"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// exportRecords is what SHA256SUMS and datapackage.json record for one
// bundle file, compared with the file: the one place that decides which
// of the three disagrees.
type exportRecords struct {
	sumHex           string // the SHA256SUMS line, when inSums
	dpHex            string // the datapackage.json resource, when inDP
	dpSize           int64
	inSums, inDP     bool // whether each record lists the file
	haveSums, haveDP bool // whether the bundle has each record at all
	// sumsAgree and dpAgree: the file is known and matches the record
	// (datapackage.json: sha256 and size).
	sumsAgree, dpAgree bool
}

// records compares the file name, of digest d (nil when unknown or
// unreadable), with its two records of the export.
func (v *verifier) records(name string, d *fileDigest) exportRecords {
	r := exportRecords{haveSums: v.sums != nil, haveDP: v.dp != nil}
	r.sumHex, r.inSums = v.sums[name]
	r.dpHex, r.dpSize, r.inDP = v.dpEntry(name)
	if d != nil {
		r.sumsAgree = r.inSums && r.sumHex == d.hex
		r.dpAgree = r.inDP && r.dpHex == d.hex && r.dpSize == d.size
	}
	return r
}

// bytesRecords is records for b, the content of bundle file name.
func (v *verifier) bytesRecords(name string, b []byte) exportRecords {
	var d *fileDigest
	if b != nil {
		d = &fileDigest{size: int64(len(b)), hex: SumBytes(SHA256, b).Hex()}
	}
	return v.records(name, d)
}

// fileRecords is records for the bundle's file name, read once.
func (v *verifier) fileRecords(name string) exportRecords {
	d, err := v.digest(name)
	if err != nil {
		return v.records(name, nil)
	}
	return v.records(name, &d)
}

// changed reports whether the file differs from a record that lists it.
func (r exportRecords) changed() bool {
	return (r.inSums && !r.sumsAgree) || (r.inDP && !r.dpAgree)
}

// matchesAny reports whether the file matches either record.
func (r exportRecords) matchesAny() bool {
	return r.sumsAgree || r.dpAgree
}

// fault names the one of the file and its two records that disagrees
// with the other two.
func (r exportRecords) fault() Fault {
	switch {
	case (r.sumsAgree || !r.haveSums) && (r.dpAgree || !r.haveDP):
		return FaultNone
	case r.haveSums && r.haveDP && r.sumsAgree:
		return FaultDatapackage
	case r.haveSums && r.haveDP && r.dpAgree:
		return FaultSums
	case !r.inSums && !r.inDP:
		return FaultUnlisted
	}
	return FaultFile
}

// fixedSums compares the three signed-set files with the digests
// SHA256SUMS and datapackage.json recorded at export, and returns those
// that differ from either. It reports nothing yet: whom to blame depends
// on whether the signature holds.
func (v *verifier) fixedSums() []string {
	var differ []string
	for _, name := range signedSet {
		if v.changedSinceExport(name, v.fixed(name)) {
			differ = append(differ, name)
		}
	}
	slices.Sort(differ)
	return differ
}

func (v *verifier) signature(differ []string) {
	const check = "signature"
	var missing string
	for _, name := range signedSet {
		if v.fixed(name) == nil {
			missing = name
			break
		}
	}
	switch {
	case missing != "":
		v.rep.fail(check, missing, fmt.Errorf("%w: cannot be checked without %s", ErrBadSignature, missing))
		return
	case v.pubKey == nil:
		v.rep.fail(check, SignerPubFile, fmt.Errorf("%w: signer.pub holds no usable key", ErrBadSignature))
		return
	case len(v.sig) != ed25519.SignatureSize:
		v.rep.fail(check, SignatureFile, fmt.Errorf("%w: %d bytes, a raw Ed25519 signature has %d", ErrBadSignature, len(v.sig), ed25519.SignatureSize))
		return
	}
	if ed25519.Verify(v.pubKey, v.manifest, v.sig) {
		v.authentic = v.m != nil && v.m.SignerKeyID == v.rep.KeyID
		v.rep.pass(check, SignatureFile, "valid Ed25519 signature over manifest.json by %s", v.rep.KeyID)
		return
	}
	// Localise the damage. Files whose digest differs from SHA256SUMS are
	// the ones that changed since export; a key the manifest does not name
	// is a swapped key. Otherwise nothing tells which of the three changed.
	for _, name := range differ {
		v.rep.fail("recorded", name, fmt.Errorf("%w: sha256 %s differs from the digest SHA256SUMS recorded at export", ErrDigestMismatch, SumBytes(SHA256, v.fixed(name)).Hex()))
	}
	item := SignatureFile
	detail := "manifest.json, manifest.sig or signer.pub was altered"
	switch {
	case len(differ) > 0:
		item = differ[0]
		detail = strings.Join(differ, " and ") + " changed since export"
	case v.m != nil && v.m.SignerKeyID != v.rep.KeyID:
		item = SignerPubFile
		detail = "signer.pub is not the key the manifest names"
	}
	v.rep.fail(check, item, fmt.Errorf("%w over manifest.json with %s: %s", ErrBadSignature, v.rep.KeyID, detail))
}

// signedReplaced finds signed files that verify but differ from both
// records of the export, which agree with each other: the bundle carries
// the manifest (signature, key) of another capture.
func (v *verifier) signedReplaced() {
	if !v.authentic || v.sums == nil || v.dp == nil {
		return
	}
	for _, name := range signedSet {
		b := v.fixed(name)
		r := v.bytesRecords(name, b)
		if r.inSums && r.inDP && r.sumHex == r.dpHex && !r.sumsAgree {
			v.replaced = append(v.replaced, name)
			v.rep.fail("recorded", name, fmt.Errorf("%w: sha256 %s, but SHA256SUMS and datapackage.json both record %s: replaced since export by a validly signed file of another capture", ErrDigestMismatch, SumBytes(SHA256, b).Hex(), r.sumHex))
		}
	}
}

// fixedSumsAuthentic: with a valid signature the three files are as
// signed, so a SHA256SUMS line that disagrees with them is SHA256SUMS's
// fault.
func (v *verifier) fixedSumsAuthentic() {
	if v.sums == nil {
		return
	}
	for _, name := range signedSet {
		b := v.fixed(name)
		r := v.bytesRecords(name, b)
		if !r.inSums {
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: no line for %s", ErrBadBundle, name))
			continue
		}
		if v.authentic && b != nil && !slices.Contains(v.replaced, name) && !r.sumsAgree {
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s disagrees with the signed file", ErrDigestMismatch, name))
		}
	}
}

// fixedDatapackageAuthentic is fixedSumsAuthentic for datapackage.json.
func (v *verifier) fixedDatapackageAuthentic() {
	if v.dp == nil {
		return
	}
	for _, name := range signedSet {
		b := v.fixed(name)
		r := v.bytesRecords(name, b)
		if !r.inDP {
			v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: no resource for %s", ErrBadWACZ, name))
			continue
		}
		if v.authentic && b != nil && !slices.Contains(v.replaced, name) && !r.dpAgree {
			v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: resource %s disagrees with the signed file", ErrDigestMismatch, name))
		}
	}
}

func (v *verifier) artifacts() {
	if v.m == nil {
		return
	}
	for _, e := range v.m.Artifacts {
		v.artifact(e)
	}
}

// capture applies CheckCapture's rules to the bundle's capture files, read
// through bundleStore, with the roots the seal was judged against: the
// one check behind export and resume decides whether the signed set and
// the seal hold, so the three cannot drift apart. The artifacts are
// hashed once, by artifacts(), against the same manifest entries with the
// same rule (size, SHA-256 and SM3), and a mismatch there makes the
// capture damaged. Its verdict is Report.Capture; the other checks
// localise the damage.
func (v *verifier) capture() {
	if v.m == nil {
		return // reported: no capture to check
	}
	src := &storeSource{ctx: context.Background(), store: bundleStore(v.files), key: func(name string) string { return name }}
	_, err := check(context.Background(), src, v.m.EvidenceID, CaptureCheck{Sealed: !v.cfg.allowUnsealed, TSARoots: v.sealRoots})
	v.rep.Capture = err
}

// artifactDamaged makes the capture damaged by artifact name, unless the
// capture check already failed.
func (v *verifier) artifactDamaged(name string, err error) {
	if v.m != nil && v.rep.Capture == nil {
		v.rep.Capture = &CaptureProblem{Kind: ProblemDamaged, Key: name, Err: fmt.Errorf("artifact %q: %w", name, err)}
	}
}

// captureVerdict reports the capture check: a pass, or, should it have
// found a problem no other check reported, that problem as the "capture"
// check (run last, so that the other checks come first).
func (v *verifier) captureVerdict() {
	if v.m == nil {
		return
	}
	err := v.rep.Capture
	if err == nil {
		v.rep.pass("capture", ManifestFile, "the capture check of export and resume passes: signed, sealed, %d artifacts intact", len(v.m.Artifacts))
		return
	}
	if v.rep.OK() {
		item := ManifestFile
		var p *CaptureProblem
		if errors.As(err, &p) && p.Key != "" {
			item = p.Key
		}
		v.rep.fail("capture", item, err)
	}
}

// environment reports a capture whose recorded capture-environment check
// (environment.json, an artifact under the signature) failed. A capture
// without the record is not judged here.
func (v *verifier) environment() {
	const check = "environment"
	if v.m == nil || !slices.ContainsFunc(v.m.Artifacts, func(e ManifestEntry) bool { return e.Name == EnvironmentFile }) || v.named(EnvironmentFile) {
		return // absent, or already reported missing or damaged
	}
	b, err := readZipFile(v.files[EnvironmentFile], maxManifestSize)
	if err != nil {
		return // reported by the artifact checks
	}
	var env envcheck.Report
	if err := json.Unmarshal(b, &env); err != nil {
		v.rep.fail(check, EnvironmentFile, fmt.Errorf("%w: the record does not parse: %v", ErrEnvironmentFailed, err))
		return
	}
	if env.Format != envcheck.Format {
		v.rep.fail(check, EnvironmentFile, fmt.Errorf("%w: the record's format is %q, want %q", ErrEnvironmentFailed, env.Format, envcheck.Format))
		return
	}
	if failed := env.Failed(); len(failed) > 0 {
		var what []string
		for _, c := range failed {
			what = append(what, c.Name+": "+c.Detail)
		}
		v.rep.fail(check, EnvironmentFile, fmt.Errorf("%w at %s on %s: %s", ErrEnvironmentFailed,
			env.CheckedAt.UTC().Format(time.RFC3339), env.Host, strings.Join(what, "; ")))
		return
	}
	v.rep.pass(check, EnvironmentFile, "the capture-environment check of %s on %s passed (%d checks)",
		env.CheckedAt.UTC().Format(time.RFC3339), env.Host, len(env.Checks))
}

func (v *verifier) artifact(e ManifestEntry) {
	trusted := v.trusted()
	// The file first, then what SHA256SUMS and datapackage.json record.
	defer v.artifactRecords(e, trusted)
	f, ok := v.files[e.Name]
	if !ok {
		err := fmt.Errorf("%w: listed in manifest.json but not in the bundle", ErrNotFound)
		v.artifactDamaged(e.Name, err)
		v.rep.fail("present", e.Name, err)
		return
	}
	got, err := sumZipFile(f, e.Size)
	if err != nil {
		v.artifactDamaged(e.Name, err)
		v.rep.fail("read", e.Name, err)
		return
	}
	if merr := got.Mismatch(Sums{Size: e.Size, SHA256: e.SHA256, SM3: e.SM3}); merr != nil {
		v.artifactDamaged(e.Name, merr)
	}
	if got.Size <= e.Size {
		v.digests[e.Name] = fileDigest{size: got.Size, hex: got.SHA256.Hex()}
	}
	// blame is the item at fault when the file and its entry disagree: the
	// file, unless the manifest is not to be trusted and the file still
	// has a digest recorded at export.
	blame, what := e.Name, ""
	if !trusted && v.fileRecords(e.Name).matchesAny() {
		blame, what = ManifestFile, fmt.Sprintf(" (entry for %s altered; the file is as exported)", e.Name)
	}
	ok = true
	if got.Size != e.Size {
		ok = false
		v.rep.fail("size", blame, fmt.Errorf("%w: %s is %d bytes, manifest.json says %d%s", ErrSizeMismatch, e.Name, got.Size, e.Size, what))
	}
	if got.SHA256 != e.SHA256 {
		ok = false
		v.rep.fail("sha256", blame, fmt.Errorf("%w: %s hashes to %s, manifest.json says %s%s", ErrDigestMismatch, e.Name, got.SHA256, e.SHA256, what))
	}
	if got.SM3 != e.SM3 {
		ok = false
		v.rep.fail("sm3", blame, fmt.Errorf("%w: %s hashes to %s, manifest.json says %s%s", ErrDigestMismatch, e.Name, got.SM3, e.SM3, what))
	}
	if ok {
		v.rep.pass("artifact", e.Name, "%d bytes, sha256 and sm3 match", e.Size)
	}
}

// artifactRecords checks the lines SHA256SUMS and datapackage.json hold
// for an artifact against the manifest.
func (v *verifier) artifactRecords(e ManifestEntry, trusted bool) {
	recorded, hasLine := v.sums[e.Name]
	dpHex, dpSize, inDP := v.dpEntry(e.Name)
	if v.sums != nil {
		switch {
		case !hasLine:
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: no line for %s", ErrBadBundle, e.Name))
		case recorded != e.SHA256.Hex():
			// Unless the file itself matches SHA256SUMS while the
			// manifest is not to be trusted — then the manifest changed,
			// reported with the file.
			if trusted || !v.fileRecords(e.Name).sumsAgree {
				v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s disagrees with manifest.json", ErrDigestMismatch, e.Name))
			}
		}
	}
	if v.dp != nil {
		switch {
		case !inDP:
			v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: no resource for %s", ErrBadWACZ, e.Name))
		case dpHex != e.SHA256.Hex() || dpSize != e.Size:
			if trusted || !v.fileRecords(e.Name).dpAgree {
				v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: resource %s disagrees with manifest.json", ErrDigestMismatch, e.Name))
			}
		}
	}
}

// digest returns the size and SHA-256 of a bundle file, reading it once.
func (v *verifier) digest(name string) (fileDigest, error) {
	if d, ok := v.digests[name]; ok {
		return d, nil
	}
	f, ok := v.files[name]
	if !ok {
		return fileDigest{}, fmt.Errorf("%w: the bundle has no %s", ErrNotFound, name)
	}
	rc, err := f.Open()
	if err != nil {
		return fileDigest{}, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	defer rc.Close()
	h := SHA256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fileDigest{}, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	d := fileDigest{size: n, hex: hex.EncodeToString(h.Sum(nil))}
	v.digests[name] = d
	return d, nil
}

// readBundleFile reads a derived file whole (at most limit bytes) and
// records its digest.
func (v *verifier) readBundleFile(name string, limit int64) ([]byte, error) {
	f, ok := v.files[name]
	if !ok {
		return nil, fmt.Errorf("%w: the bundle has no %s", ErrNotFound, name)
	}
	b, err := readZipFile(f, limit)
	if err != nil {
		return nil, err
	}
	v.digests[name] = fileDigest{size: int64(len(b)), hex: SumBytes(SHA256, b).Hex()}
	return b, nil
}

// dpEntry returns the SHA-256 hex and size datapackage.json records for
// path; ok is false when it has no such resource (or does not parse).
func (v *verifier) dpEntry(path string) (hexSum string, size int64, ok bool) {
	r, ok := v.dpRes[path]
	if !ok {
		return "", 0, false
	}
	h, found := strings.CutPrefix(r.Hash, "sha256:")
	if !found {
		h = r.Hash // matches no file: the resource is at fault
	}
	return h, r.Bytes, true
}

// sumZipFile hashes a zip entry, reading at most size+1 bytes so a file
// far larger than the manifest says is not read to the end.
func sumZipFile(f *zip.File, size int64) (Sums, error) {
	rc, err := f.Open()
	if err != nil {
		return Sums{}, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	defer rc.Close()
	s := NewSummer()
	if _, err := io.Copy(s, io.LimitReader(rc, size+1)); err != nil {
		return Sums{}, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	return s.Sums(), nil
}

func (v *verifier) unlisted() {
	if v.m == nil {
		return // without a manifest nothing can be called unlisted
	}
	listed := make(map[string]bool, len(v.m.Artifacts))
	for _, e := range v.m.Artifacts {
		listed[e.Name] = true
	}
	var names []string
	for name := range v.files {
		names = append(names, name)
	}
	slices.Sort(names)
	extra := 0
	for _, name := range names {
		if !listed[name] && !IsBundleFile(name) {
			v.rep.fail("listed", name, fmt.Errorf("%w: the bundle holds a file the manifest does not list", ErrUnlisted))
			extra++
		}
	}
	for _, d := range v.dirs {
		used := false
		for name := range v.files {
			if strings.HasPrefix(name, d) {
				used = true
				break
			}
		}
		if !used {
			v.rep.fail("listed", d, fmt.Errorf("%w: folder holds no file of the bundle", ErrUnlisted))
			extra++
		}
	}
	if v.sums != nil {
		var sumNames []string
		for name := range v.sums {
			sumNames = append(sumNames, name)
		}
		slices.Sort(sumNames)
		for _, name := range sumNames {
			switch {
			case name == SumsFile || name == DatapackageFile || name == DatapackageDigestFile:
				v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s, which SHA256SUMS cannot cover", ErrBadBundle, name))
			case !listed[name] && !IsBundleFile(name):
				v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s, which manifest.json does not list", ErrUnlisted, name))
			}
		}
	}
	if extra == 0 {
		v.rep.pass("listed", "bundle", "no file outside manifest.json and the bundle files")
	}
}

// derivedFiles are the files a bundle holds besides the signed set, the
// artifacts, SHA256SUMS and the two datapackage files, in the order they
// are checked.
var derivedFiles = []string{ReadmeFile, TimestampFile, TSARootFile, LedgerProofFile, IndexFile, PagesFile, ReportHTMLFile, ReportPDFFile,
	RecordFile, VerifyScriptFile, ExportManifestFile, ExportSignatureFile, ExportSignerPubFile, ExportTimestampFile, ExportTSARootFile}

// requiredDerived reports whether every bundle must hold the derived file
// name. The seal files are required unless AllowUnsealed (see verifySeal);
// report.pdf is absent from bundles exported without PDF printing.
func requiredDerived(name string) bool {
	switch name {
	case ReadmeFile, IndexFile, PagesFile, ReportHTMLFile:
		return true
	}
	return false
}

// derived checks every derived file against its two records and its
// content.
func (v *verifier) derived() {
	for _, name := range derivedFiles {
		v.recorded(name)
	}
	v.checkReadme()
	v.checkIndex()
	v.checkPages()
	v.checkReports()
}

// recorded compares a derived file with the two records of the export,
// SHA256SUMS and datapackage.json, and blames the one of the three that
// disagrees with the other two.
func (v *verifier) recorded(name string) {
	_, present := v.files[name]
	r := v.records(name, nil)
	inSums, inDP, haveSums, haveDP := r.inSums, r.inDP, r.haveSums, r.haveDP
	if !present {
		switch {
		case v.named(name):
			// Already reported missing (the seal files).
		case (inSums || !haveSums) && (inDP || !haveDP) && (inSums || inDP):
			v.rep.fail("present", name, fmt.Errorf("%w: recorded at export, missing from the bundle", ErrNotFound))
		case inSums && haveDP:
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s, which the bundle does not hold", ErrUnlisted, name))
		case inDP && haveSums:
			v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: resource %s, which the bundle does not hold", ErrUnlisted, name))
		case requiredDerived(name):
			v.rep.fail("present", name, fmt.Errorf("%w: the bundle has no %s", ErrNotFound, name))
		}
		return
	}
	d, err := v.digest(name)
	if err != nil {
		v.rep.fail("read", name, err)
		return
	}
	switch v.records(name, &d).fault() {
	case FaultNone:
		if haveSums || haveDP {
			v.rep.pass("recorded", name, "%d bytes, sha256 as recorded at export", d.size)
		}
	case FaultDatapackage:
		v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: resource %s disagrees with the file and SHA256SUMS", ErrDigestMismatch, name))
	case FaultSums:
		v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s disagrees with the file and datapackage.json", ErrDigestMismatch, name))
	case FaultUnlisted:
		v.rep.fail("listed", name, fmt.Errorf("%w: neither SHA256SUMS nor datapackage.json lists it", ErrUnlisted))
	default:
		v.rep.fail("recorded", name, fmt.Errorf("%w: sha256 %s (%d bytes) is not what SHA256SUMS and datapackage.json record: changed since export", ErrDigestMismatch, d.hex, d.size))
	}
}

// content reads a derived file for a content check; nil when it is
// absent or unreadable (reported already).
func (v *verifier) content(name string) []byte {
	if _, ok := v.files[name]; !ok {
		return nil
	}
	b, err := v.readBundleFile(name, maxManifestSize)
	if err != nil {
		if !v.named(name) {
			v.rep.fail("read", name, err)
		}
		return nil
	}
	return b
}

func (v *verifier) checkReadme() {
	b := v.content(ReadmeFile)
	if b == nil {
		return
	}
	if v.trusted() && !bytes.Contains(b, []byte(v.m.EvidenceID)) {
		v.rep.fail("content", ReadmeFile, fmt.Errorf("%w: does not name evidence %s", ErrBadBundle, v.m.EvidenceID))
		return
	}
	if !v.named(ReadmeFile) {
		v.readme = b
	}
}

func (v *verifier) checkIndex() {
	b := v.content(IndexFile)
	if b == nil {
		return
	}
	// The WARC files the index may point into: those in the bundle, and
	// those the trusted manifest lists (a missing one is reported as such).
	sizes := map[string]int64{}
	if v.trusted() {
		for _, e := range v.m.Artifacts {
			if isWARCName(e.Name) {
				sizes[strings.TrimPrefix(e.Name, waczArchiveDir)] = e.Size
			}
		}
	}
	for name, f := range v.files {
		if isWARCName(name) {
			sizes[strings.TrimPrefix(name, waczArchiveDir)] = int64(f.UncompressedSize64)
		}
	}
	if len(sizes) == 0 {
		v.rep.fail("index", IndexFile, fmt.Errorf("%w: the bundle has no WARC file under %s", ErrBadWACZ, waczArchiveDir))
		return
	}
	n, err := parseIndex(b, sizes)
	if err != nil {
		v.rep.fail("index", IndexFile, fmt.Errorf("%w: %v", ErrBadWACZ, err))
		return
	}
	v.rep.pass("index", IndexFile, "CDXJ, %d records in %d WARC files", n, len(sizes))
}

func (v *verifier) checkPages() {
	b := v.content(PagesFile)
	if b == nil {
		return
	}
	pages, err := parsePages(b)
	if err != nil {
		v.rep.fail("pages", PagesFile, fmt.Errorf("%w: %v", ErrBadWACZ, err))
		return
	}
	if v.trusted() {
		p := pages[0]
		ts, _ := time.Parse(time.RFC3339Nano, p.TS)
		if len(pages) != 1 || p.ID != v.m.EvidenceID || p.URL != pageURL(v.m) || !ts.Equal(v.m.CapturedAt) {
			v.rep.fail("pages", PagesFile, fmt.Errorf("%w: page %s %s at %s is not the captured page %s %s at %s", ErrBadWACZ,
				p.ID, p.URL, p.TS, v.m.EvidenceID, pageURL(v.m), v.m.CapturedAt.UTC().Format(time.RFC3339Nano)))
			return
		}
	}
	v.rep.pass("pages", PagesFile, "%s, %d page", PagesFormat, len(pages))
}

func (v *verifier) checkReports() {
	if b := v.content(ReportHTMLFile); b != nil {
		switch {
		case !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")):
			v.rep.fail("content", ReportHTMLFile, fmt.Errorf("%w: not an HTML document", ErrBadBundle))
		case v.trusted() && !bytes.Contains(b, []byte(v.m.EvidenceID)):
			v.rep.fail("content", ReportHTMLFile, fmt.Errorf("%w: does not name evidence %s", ErrBadBundle, v.m.EvidenceID))
		default:
			v.rep.pass("content", ReportHTMLFile, "HTML report (derived, %s)", v.signedNote(ReportHTMLFile))
		}
	}
	_, present := v.files[ReportPDFFile]
	switch {
	case present:
		b := v.content(ReportPDFFile)
		if b == nil {
			return
		}
		tail := b[max(0, len(b)-1024):]
		if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.Contains(tail, []byte("%%EOF")) {
			v.rep.fail("content", ReportPDFFile, fmt.Errorf("%w: not a complete PDF file", ErrBadBundle))
			return
		}
		v.rep.pass("content", ReportPDFFile, "PDF report (derived, %s)", v.signedNote(ReportPDFFile))
	case v.named(ReportPDFFile):
	case v.readme != nil && bytes.Contains(v.readme, []byte(readmeReportPDF)):
		v.rep.fail("present", ReportPDFFile, fmt.Errorf("%w: README.txt says the bundle has report.pdf", ErrNotFound))
	case v.readme != nil:
		v.rep.pass("present", ReportPDFFile, "absent: the bundle was exported without PDF printing, as README.txt says")
	default:
		v.rep.pass("present", ReportPDFFile, "absent: the bundle was exported without PDF printing")
	}
}

// signedNote says whether a derived file is signed in the export manifest.
func (v *verifier) signedNote(name string) string {
	if v.em != nil && slices.ContainsFunc(v.em.Files, func(e ManifestEntry) bool { return e.Name == name }) {
		return "signed in " + ExportManifestFile
	}
	return "not signed"
}

// sumsRecorded checks SHA256SUMS against its record in datapackage.json.
// SHA256SUMS can be checked line by line against the files, so when it
// agrees with all of them a differing resource is datapackage.json's fault.
func (v *verifier) sumsRecorded() {
	if v.dp == nil {
		return
	}
	if _, ok := v.files[SumsFile]; !ok {
		return // reported by readSums
	}
	d, err := v.digest(SumsFile)
	if err != nil {
		return
	}
	r := v.records(SumsFile, &d)
	switch {
	case !r.inDP:
		v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: no resource for %s", ErrBadWACZ, SumsFile))
	case r.dpAgree:
		v.rep.pass("recorded", SumsFile, "%d bytes, sha256 as datapackage.json records", d.size)
	case v.named(SumsFile):
		// SHA256SUMS is at fault already; datapackage.json records it as exported.
	default:
		// Lines that disagree with datapackage.json show SHA256SUMS was
		// rewritten (to follow files changed since export); without such
		// lines the resource is what changed.
		var differ []string
		for name, h := range v.sums {
			if dh, _, ok := v.dpEntry(name); ok && dh != h {
				differ = append(differ, name)
			}
		}
		slices.Sort(differ)
		if len(differ) > 0 {
			v.rep.fail("recorded", SumsFile, fmt.Errorf("%w: sha256 %s is not what datapackage.json records; its lines for %s disagree with datapackage.json: rewritten since export", ErrDigestMismatch, d.hex, strings.Join(differ, ", ")))
			return
		}
		v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: resource %s disagrees with the file, whose every line agrees with datapackage.json", ErrDigestMismatch, SumsFile))
	}
}

// readDatapackage reads and parses datapackage.json.
func (v *verifier) readDatapackage() {
	b := v.readFixed(DatapackageFile, maxManifestSize)
	if b == nil {
		return
	}
	v.dpRaw = b
	v.digests[DatapackageFile] = fileDigest{size: int64(len(b)), hex: SumBytes(SHA256, b).Hex()}
	var dp Datapackage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&dp); err != nil || dec.More() {
		v.rep.fail("parse", DatapackageFile, fmt.Errorf("%w: not one JSON object: %v", ErrBadWACZ, err))
		return
	}
	res := make(map[string]DatapackageResource, len(dp.Resources))
	for _, r := range dp.Resources {
		if _, dup := res[r.Path]; dup || r.Path == "" {
			v.rep.fail("parse", DatapackageFile, fmt.Errorf("%w: resource path %q empty or repeated", ErrBadWACZ, r.Path))
			return
		}
		res[r.Path] = r
	}
	v.dp, v.dpRes = &dp, res
	v.rep.pass("parse", DatapackageFile, "profile %q, %d resources", dp.Profile, len(dp.Resources))
}

// checkDatapackage checks datapackage.json's own fields, which are all
// derived from the bundle, and datapackage-digest.json.
func (v *verifier) checkDatapackage() {
	if v.dp != nil {
		switch errs := v.datapackageFields(); {
		case len(errs) > 0:
			v.rep.fail("datapackage", DatapackageFile, fmt.Errorf("%w: %s", ErrBadWACZ, strings.Join(errs, "; ")))
		case v.dp.Profile == LegacyWACZProfile:
			v.rep.pass("datapackage", DatapackageFile, "fields agree with the bundle; profile %q of an earlier export, which web-archive players refuse: export again for a WACZ %s package", LegacyWACZProfile, WACZVersion)
		default:
			v.rep.pass("datapackage", DatapackageFile, "WACZ %s fields agree with the bundle", WACZVersion)
		}
	}
	b := v.readFixed(DatapackageDigestFile, maxPubSize)
	if b == nil {
		return
	}
	var dd DatapackageDigest
	err := json.Unmarshal(b, &dd)
	if err == nil {
		var d Digest
		switch d, err = ParseDigest(dd.Hash); {
		case err != nil:
		case d.Algorithm() != SHA256:
			err = fmt.Errorf("hash %q is not sha256", dd.Hash)
		case dd.Path != DatapackageFile:
			err = fmt.Errorf("path %q, want %q", dd.Path, DatapackageFile)
		default:
			if canon, _ := marshalJSONFile(dd); !bytes.Equal(canon, b) {
				err = errors.New("not in the form shopwatch writes")
			}
		}
	}
	if err != nil {
		v.rep.fail("parse", DatapackageDigestFile, fmt.Errorf("%w: %v", ErrBadWACZ, err))
		return
	}
	v.rep.pass("parse", DatapackageDigestFile, "path %s, hash %s", dd.Path, dd.Hash)
	if v.dpRaw == nil {
		return
	}
	got := SumBytes(SHA256, v.dpRaw).String()
	switch {
	case got == dd.Hash:
		v.rep.pass("digest", DatapackageFile, "sha256 as datapackage-digest.json records")
	case v.named(DatapackageFile):
		v.rep.fail("digest", DatapackageFile, fmt.Errorf("%w: hashes to %s, datapackage-digest.json records %s", ErrDigestMismatch, got, dd.Hash))
	default:
		v.rep.fail("digest", DatapackageDigestFile, fmt.Errorf("%w: records %s, but datapackage.json hashes to %s and agrees with every file of the bundle", ErrDigestMismatch, dd.Hash, got))
	}
}

// datapackageFields returns what is wrong with datapackage.json's fields.
func (v *verifier) datapackageFields() []string {
	var errs []string
	dp := v.dp
	legacy := dp.Profile == LegacyWACZProfile
	switch {
	case legacy:
		// Exported before WACZ 1.1.1: the 1.2 draft's form, which has
		// neither wacz_version nor the mainPage fields.
		if dp.WACZVersion != "" || dp.MainPageURL != "" || dp.MainPageDate != "" {
			errs = append(errs, fmt.Sprintf("profile %q with wacz_version or mainPage fields, which only profile %q has", dp.Profile, WACZProfile))
		}
	case dp.Profile != WACZProfile:
		errs = append(errs, fmt.Sprintf("profile %q, want %q", dp.Profile, WACZProfile))
	case dp.WACZVersion != WACZVersion:
		errs = append(errs, fmt.Sprintf("wacz_version %q, want %q", dp.WACZVersion, WACZVersion))
	case dp.Home == nil || dp.MainPageURL != dp.Home.URL || dp.MainPageDate != dp.Home.TS:
		errs = append(errs, "mainPageUrl and mainPageDate are not the home page")
	}
	if canon, err := marshalJSONFile(dp); err != nil || !bytes.Equal(canon, v.dpRaw) {
		errs = append(errs, "not in the form shopwatch writes (a field added, removed or reformatted)")
	}
	paths := make([]string, len(dp.Resources))
	for i, r := range dp.Resources {
		paths[i] = r.Path
	}
	known := map[string]bool{SumsFile: true}
	for _, name := range append(slices.Clone(signedSet), derivedFiles...) {
		known[name] = true
	}
	if v.m != nil {
		for _, e := range v.m.Artifacts {
			known[e.Name] = true
		}
	}
	for i, name := range resourceNames(paths) {
		r := dp.Resources[i]
		if r.Name != name {
			errs = append(errs, fmt.Sprintf("resource %s is named %q, want %q", r.Path, r.Name, name))
		}
		if _, ok := v.files[r.Path]; !ok && !known[r.Path] {
			errs = append(errs, fmt.Sprintf("resource %s, which the bundle does not hold", r.Path))
		}
	}
	if _, err := time.Parse(time.RFC3339, dp.Created); err != nil {
		errs = append(errs, fmt.Sprintf("created %q is not an RFC 3339 time", dp.Created))
	}
	if v.readme != nil {
		created, software := readmeExport(v.readme)
		if dp.Created != created {
			errs = append(errs, fmt.Sprintf("created %q, README.txt records the export at %q", dp.Created, created))
		}
		if dp.Software != software {
			errs = append(errs, fmt.Sprintf("software %q, README.txt records %q", dp.Software, software))
		}
	}
	if v.trusted() {
		m := v.m
		if dp.Title != datapackageTitle(m) {
			errs = append(errs, fmt.Sprintf("title %q, want %q", dp.Title, datapackageTitle(m)))
		}
		if dp.Description != datapackageDescription(m) {
			errs = append(errs, "description does not describe this capture")
		}
		home := datapackageHome(m)
		if dp.Home == nil || *dp.Home != home {
			errs = append(errs, fmt.Sprintf("home is not %s at %s", home.URL, home.TS))
		}
	}
	return errs
}
