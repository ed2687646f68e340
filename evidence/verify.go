package evidence

import (
	"archive/zip"
	"bufio"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Errors VerifyBundle reports, besides ErrNotFound, ErrDigestMismatch,
// ErrSizeMismatch, ErrBadManifest, ErrBadSignature and ErrKeyMismatch.
var (
	// ErrUnlisted: the bundle holds a file the manifest does not list.
	ErrUnlisted = errors.New("not listed in manifest.json")
	// ErrUntrustedKey: the bundle was signed by a key outside the trusted
	// key ids given with WithTrustedKeys.
	ErrUntrustedKey = errors.New("signer key is not trusted")
	// ErrBadBundle: a malformed bundle entry: an unsafe or duplicate name,
	// an unreadable file, a malformed SHA256SUMS.
	ErrBadBundle = errors.New("malformed bundle")
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
	if r.OK() {
		fmt.Fprintf(bw, "VERIFIED: %d checks passed\n", len(r.Checks))
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
}

// WithTrustedKeys makes VerifyBundle require that the bundle was signed by
// one of the given key ids ("ed25519:<16 hex>"). Without it VerifyBundle
// checks that the bundle is intact and self-consistent and reports the key
// id in Report.KeyID for the caller to judge.
func WithTrustedKeys(ids ...string) VerifyOption {
	return func(c *verifyConfig) { c.trusted = append(c.trusted, ids...) }
}

// VerifyBundle checks the evidence bundle at path offline, with nothing but
// the bundle: manifest.json parses; manifest.sig is a valid Ed25519
// signature over the exact manifest.json bytes by signer.pub, which is the
// key the manifest names (and, with WithTrustedKeys, a trusted one); every
// artifact the manifest lists is present with its size, SHA-256 and SM3;
// SHA256SUMS agrees; and the bundle holds no unlisted file.
//
// It runs every check it can and reports each problem as an *ItemError
// naming the damaged item. When the signature fails it uses SHA256SUMS,
// written at export, to tell which of manifest.json, manifest.sig and
// signer.pub changed. The error is non-nil only when the bundle cannot be
// read as a zip file at all.
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
	v := &verifier{cfg: cfg, rep: &Report{}, files: map[string]*zip.File{}}
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
}

func (v *verifier) run(zr *zip.Reader) {
	v.entries(zr)
	v.manifest = v.readFixed(ManifestFile, maxManifestSize)
	v.sig = v.readFixed(SignatureFile, maxSigSize)
	v.pub = v.readFixed(SignerPubFile, maxPubSize)
	v.readSums()
	v.parse()
	blamed := v.fixedSums()
	v.signature(blamed)
	v.fixedSumsAuthentic()
	v.verifySeal()
	v.artifacts()
	v.unlisted()
	if v.sums != nil && !slices.ContainsFunc(v.rep.Problems, func(p *ItemError) bool { return p.Item == SumsFile }) {
		v.rep.pass("sums", SumsFile, "agrees with manifest.json and the signed files")
	}
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
			v.rep.fail("key id", SignerPubFile, fmt.Errorf("%w: manifest names %s, signer.pub is %s", ErrKeyMismatch, v.m.SignerKeyID, v.rep.KeyID))
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

// fixedSums compares the three signed-set files with the digests
// SHA256SUMS recorded at export, and returns those that differ. It reports
// nothing yet: whom to blame depends on whether the signature holds.
func (v *verifier) fixedSums() []string {
	var differ []string
	for _, name := range signedSet {
		b := v.fixed(name)
		rec, ok := v.sums[name]
		if b != nil && ok && SumBytes(SHA256, b).Hex() != rec {
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

// fixedSumsAuthentic: with a valid signature the three files are as
// signed, so a SHA256SUMS line that disagrees with them is SHA256SUMS's
// fault.
func (v *verifier) fixedSumsAuthentic() {
	if v.sums == nil {
		return
	}
	for _, name := range signedSet {
		rec, ok := v.sums[name]
		if !ok {
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: no line for %s", ErrBadBundle, name))
			continue
		}
		b := v.fixed(name)
		if v.authentic && b != nil && SumBytes(SHA256, b).Hex() != rec {
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s disagrees with the signed file", ErrDigestMismatch, name))
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

func (v *verifier) artifact(e ManifestEntry) {
	recorded, hasLine := v.sums[e.Name]
	if v.sums != nil {
		switch {
		case !hasLine:
			v.rep.fail("sums", SumsFile, fmt.Errorf("%w: no line for %s", ErrBadBundle, e.Name))
		case recorded != e.SHA256.Hex():
			// Unless the file itself matches SHA256SUMS while the
			// manifest is unsigned — then the manifest changed, reported
			// below.
			if v.authentic || !v.fileMatches(e.Name, recorded) {
				v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s disagrees with manifest.json", ErrDigestMismatch, e.Name))
			}
		}
	}
	f, ok := v.files[e.Name]
	if !ok {
		v.rep.fail("present", e.Name, fmt.Errorf("%w: listed in manifest.json but not in the bundle", ErrNotFound))
		return
	}
	got, err := sumZipFile(f, e.Size)
	if err != nil {
		v.rep.fail("read", e.Name, err)
		return
	}
	// blame is the item at fault when the file and its entry disagree: the
	// file, unless the manifest is not authentic and the file still has
	// the digest recorded at export.
	blame, what := e.Name, ""
	if !v.authentic && hasLine && got.SHA256.Hex() == recorded {
		blame, what = ManifestFile, fmt.Sprintf(" (entry for %s altered; the file matches SHA256SUMS)", e.Name)
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

// fileMatches reports whether the bundle's file name hashes to hexSum.
func (v *verifier) fileMatches(name, hexSum string) bool {
	f, ok := v.files[name]
	if !ok {
		return false
	}
	got, err := sumZipFile(f, int64(f.UncompressedSize64))
	return err == nil && got.SHA256.Hex() == hexSum
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
		if !listed[name] && !IsFixedFile(name) {
			v.rep.fail("listed", name, fmt.Errorf("%w: the bundle holds a file the manifest does not list", ErrUnlisted))
			extra++
		}
	}
	for _, d := range v.dirs {
		used := false
		for name := range listed {
			if strings.HasPrefix(name, d) {
				used = true
				break
			}
		}
		if !used {
			v.rep.fail("listed", d, fmt.Errorf("%w: folder holds no listed file", ErrUnlisted))
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
			if !listed[name] && !slices.Contains(signedSet, name) && !isSealFile(name) {
				v.rep.fail("sums", SumsFile, fmt.Errorf("%w: line for %s, which manifest.json does not list", ErrUnlisted, name))
			}
		}
	}
	if extra == 0 {
		v.rep.pass("listed", "bundle", "no file outside manifest.json and the fixed files")
	}
}
