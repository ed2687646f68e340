package evidence

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"shopwatch/evidence/tsa"
)

// TrustFileName is the name an office publishes its trust file under.
const TrustFileName = "trust.yaml"

// Errors of the checks under a trust file (WithTrust).
var (
	// ErrUntrustedTSA: the timestamp chains to a root the trust file does
	// not pin, or the bundle has no verified timestamp at all.
	ErrUntrustedTSA = errors.New("timestamp authority is not trusted")
	// ErrKeyNotValid: the signer key is listed in the trust file, but the
	// capture was signed outside the key's validity period.
	ErrKeyNotValid = errors.New("signer key was not valid at the capture time")
	// ErrBadTrustFile: a trust file that does not parse or is incomplete.
	ErrBadTrustFile = errors.New("malformed trust file")
)

// TrustFile is what an office publishes so that anyone can judge its
// evidence bundles without trusting the capture host: its signer keys with
// the period each was in use, the roots of the RFC 3161 authorities whose
// tokens it accepts, and the keys of the ledger witnesses. Under a trust
// file (WithTrust) a bundle verifies as TRUSTED only when its signer key is
// listed and valid at the time the timestamp vouches for, and its
// timestamp chains to a pinned root.
//
// The file is YAML with one entry a line (see Marshal), so that the
// standard-tools script reads it with grep and sed.
type TrustFile struct {
	Version     int              `yaml:"version"`
	Office      string           `yaml:"office"`
	SignerKeys  []TrustedKey     `yaml:"signer_keys"`
	TSARoots    []TrustedTSARoot `yaml:"tsa_roots"`
	WitnessKeys []TrustedWitness `yaml:"witness_keys"`

	// Source names where the file was read from ("" when made in memory).
	Source string `yaml:"-"`
}

// TrustedKey is a signer key and the period it signed in. ValidFrom and
// ValidUntil are RFC 3339 times; "" leaves that end open.
type TrustedKey struct {
	ID         string `yaml:"id"`
	ValidFrom  string `yaml:"valid_from"`
	ValidUntil string `yaml:"valid_until"`
}

// TrustedTSARoot pins the root certificate of an RFC 3161 authority by the
// SHA-256 of its DER bytes ("sha256:<64 hex>"). Subject is for people.
type TrustedTSARoot struct {
	Fingerprint string `yaml:"fingerprint"`
	Subject     string `yaml:"subject"`
}

// TrustedWitness is the key of a ledger witness ("ed25519:<16 hex>") that
// co-signs the office's checkpoints.
type TrustedWitness struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// TrustFileVersion is the version of the trust file format.
const TrustFileVersion = 1

var (
	keyIDPattern       = regexp.MustCompile(`^ed25519:[0-9a-f]{16}$`)
	fingerprintPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// ReadTrustFile reads and checks the trust file at path.
func ReadTrustFile(path string) (*TrustFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read trust file: %w", err)
	}
	t, err := ParseTrustFile(b)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	t.Source = path
	return t, nil
}

// ParseTrustFile parses and checks a trust file: known fields only, an
// office name, at least one signer key and one TSA root, ids and
// fingerprints in their canonical form, RFC 3339 validity times.
func ParseTrustFile(b []byte) (*TrustFile, error) {
	var t TrustFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTrustFile, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrBadTrustFile)
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTrustFile, err)
	}
	return &t, nil
}

func (t *TrustFile) check() error {
	if t.Version != TrustFileVersion {
		return fmt.Errorf("version %d, want %d", t.Version, TrustFileVersion)
	}
	if strings.TrimSpace(t.Office) == "" {
		return errors.New("no office name")
	}
	if len(t.SignerKeys) == 0 {
		return errors.New("no signer key")
	}
	if len(t.TSARoots) == 0 {
		return errors.New("no TSA root")
	}
	for _, k := range t.SignerKeys {
		if !keyIDPattern.MatchString(k.ID) {
			return fmt.Errorf("signer key id %q is not ed25519:<16 lowercase hex>", k.ID)
		}
		from, until, err := k.period()
		if err != nil {
			return err
		}
		if !from.IsZero() && !until.IsZero() && until.Before(from) {
			return fmt.Errorf("signer key %s: valid_until %s is before valid_from %s", k.ID, k.ValidUntil, k.ValidFrom)
		}
	}
	for _, r := range t.TSARoots {
		if !fingerprintPattern.MatchString(r.Fingerprint) {
			return fmt.Errorf("TSA root fingerprint %q is not sha256:<64 lowercase hex>", r.Fingerprint)
		}
	}
	for _, w := range t.WitnessKeys {
		if !keyIDPattern.MatchString(w.ID) {
			return fmt.Errorf("witness key id %q is not ed25519:<16 lowercase hex>", w.ID)
		}
	}
	return nil
}

// period parses the validity period; zero times are open ends.
func (k TrustedKey) period() (from, until time.Time, err error) {
	if k.ValidFrom != "" {
		if from, err = time.Parse(time.RFC3339, k.ValidFrom); err != nil {
			return from, until, fmt.Errorf("signer key %s: valid_from %q is not an RFC 3339 time", k.ID, k.ValidFrom)
		}
	}
	if k.ValidUntil != "" {
		if until, err = time.Parse(time.RFC3339, k.ValidUntil); err != nil {
			return from, until, fmt.Errorf("signer key %s: valid_until %q is not an RFC 3339 time", k.ID, k.ValidUntil)
		}
	}
	return from, until, nil
}

// Name names the trust file for people: its path and office.
func (t *TrustFile) Name() string {
	src := t.Source
	if src == "" {
		src = "the trust file"
	}
	return fmt.Sprintf("%s (office %s)", src, t.Office)
}

// Key returns the entry of key id, if listed.
func (t *TrustFile) Key(id string) (TrustedKey, bool) {
	i := slices.IndexFunc(t.SignerKeys, func(k TrustedKey) bool { return k.ID == id })
	if i < 0 {
		return TrustedKey{}, false
	}
	return t.SignerKeys[i], true
}

// Witness returns the entry of witness key id, if listed.
func (t *TrustFile) Witness(id string) (TrustedWitness, bool) {
	i := slices.IndexFunc(t.WitnessKeys, func(w TrustedWitness) bool { return w.ID == id })
	if i < 0 {
		return TrustedWitness{}, false
	}
	return t.WitnessKeys[i], true
}

// PinsRoot reports whether the trust file pins the root certificate.
func (t *TrustFile) PinsRoot(root *x509.Certificate) bool {
	fp := RootFingerprint(root)
	return slices.ContainsFunc(t.TSARoots, func(r TrustedTSARoot) bool { return r.Fingerprint == fp })
}

// RootFingerprint is the fingerprint a trust file pins a root by:
// "sha256:" and the SHA-256 of its DER bytes in lowercase hex (the digits
// of `openssl x509 -outform DER | sha256sum`).
func RootFingerprint(c *x509.Certificate) string {
	return SumBytes(SHA256, c.Raw).String()
}

// Marshal writes the trust file in the form shopwatch publishes: YAML with
// every signer key, root and witness on one line of its own, so that the
// standard-tools script can read it with grep and sed.
func (t *TrustFile) Marshal() []byte {
	q := func(s string) string {
		b, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
		return string(b)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# shopwatch trust file: the keys and time-stamping authorities of %s.\n", t.Office)
	b.WriteString("# Check a bundle with it: shopwatch evidence verify --trust trust.yaml BUNDLE.zip\n")
	b.WriteString("# or, with standard tools: bash verify-bundle.sh UNPACKED-BUNDLE-DIR trust.yaml\n")
	b.WriteString("# Keep one entry a line: the verification script reads the file with grep and sed.\n")
	fmt.Fprintf(&b, "version: %d\n", TrustFileVersion)
	fmt.Fprintf(&b, "office: %s\n", q(t.Office))
	b.WriteString("# Ed25519 signer key ids and when each was in use (RFC 3339, UTC; \"\": open end)\n")
	b.WriteString("signer_keys:\n")
	for _, k := range t.SignerKeys {
		fmt.Fprintf(&b, "  - {id: %s, valid_from: %s, valid_until: %s}\n", q(k.ID), q(k.ValidFrom), q(k.ValidUntil))
	}
	b.WriteString("# RFC 3161 authorities: SHA-256 of the DER root certificate\n")
	b.WriteString("tsa_roots:\n")
	for _, r := range t.TSARoots {
		fmt.Fprintf(&b, "  - {fingerprint: %s, subject: %s}\n", q(r.Fingerprint), q(r.Subject))
	}
	b.WriteString("# ledger witnesses that co-sign the checkpoints\n")
	if len(t.WitnessKeys) == 0 {
		b.WriteString("witness_keys: []\n")
	} else {
		b.WriteString("witness_keys:\n")
		for _, w := range t.WitnessKeys {
			fmt.Fprintf(&b, "  - {id: %s, name: %s}\n", q(w.ID), q(w.Name))
		}
	}
	return b.Bytes()
}

// WithTrust makes VerifyBundle judge the bundle under an office's trust
// file: the signer key must be listed and valid at the time the timestamp
// vouches for, and the timestamp must chain to a root the file pins (only
// the pinned roots of the bundled tsa-root.pem are used, for the ledger
// checkpoint's token too). A bundle without a verified timestamp fails:
// its capture time would rest on the capture host alone.
func WithTrust(t *TrustFile) VerifyOption {
	return func(c *verifyConfig) { c.trust = t }
}

// pinnedRoots keeps, under a trust file, only the pinned certificates of
// the bundled tsa-root.pem, so that every token is judged against roots
// the office trusts. With none pinned it returns the pool unchanged: the
// token's root is then reported as not pinned (trustTSA).
func (v *verifier) pinnedRoots(rootPEM []byte, roots *x509.CertPool) *x509.CertPool {
	if v.cfg.trust == nil || v.cfg.tsaRoots != nil || rootPEM == nil {
		return roots
	}
	pinned := x509.NewCertPool()
	n := 0
	for rest := rootPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && v.cfg.trust.PinsRoot(c) {
			pinned.AddCert(c)
			n++
		}
	}
	if n == 0 {
		return roots
	}
	return pinned
}

// trustTSA checks, under a trust file, the root a verified token chains to.
func (v *verifier) trustTSA(info *tsa.Info) {
	t := v.cfg.trust
	if t == nil || len(info.Chain) == 0 {
		return
	}
	root := info.Chain[len(info.Chain)-1]
	v.tsaPinned = t.PinsRoot(root)
	if !v.tsaPinned {
		v.rep.fail("trust", TSARootFile, fmt.Errorf("%w: the timestamp chains to root %s (%s), which %s does not pin: the authority that dated the capture is not one the office trusts",
			ErrUntrustedTSA, RootFingerprint(root), root.Subject, t.Name()))
		return
	}
	v.rep.pass("trust", TSARootFile, "the timestamp chains to root %s, pinned by %s", RootFingerprint(root), t.Name())
}

// trustKey checks, under a trust file, that the signer key is listed and
// was valid when the capture was made (the time the timestamp vouches
// for), and that the capture has a verified timestamp at all.
func (v *verifier) trustKey() {
	t := v.cfg.trust
	if t == nil {
		return
	}
	if v.rep.TimestampTime.IsZero() && !v.named(TimestampFile) && !v.named(TSARootFile) {
		v.rep.fail("trust", TimestampFile, fmt.Errorf("%w: the bundle has no verified timestamp, so its capture time rests on the capture host alone", ErrUntrustedTSA))
	}
	if v.pubKey == nil {
		return
	}
	id := KeyID(v.pubKey)
	k, ok := t.Key(id)
	if !ok {
		v.rep.fail("trust", SignerPubFile, fmt.Errorf("%w: %s is not a signer key of %s: someone else made or re-signed this bundle", ErrUntrustedKey, id, t.Name()))
		return
	}
	at, what := v.rep.TimestampTime, "the timestamp's time"
	if at.IsZero() {
		if v.m == nil {
			return
		}
		at, what = v.m.CapturedAt, "captured_at"
	}
	from, until, _ := k.period() // checked when the file was parsed
	if (!from.IsZero() && at.Before(from)) || (!until.IsZero() && at.After(until)) {
		v.rep.fail("trust", SignerPubFile, fmt.Errorf("%w: %s is valid in %s from %s until %s, but %s is %s",
			ErrKeyNotValid, id, t.Name(), openEnd(k.ValidFrom), openEnd(k.ValidUntil), what, at.UTC().Format(time.RFC3339)))
		return
	}
	v.keyValid = true
	v.rep.pass("trust", SignerPubFile, "%s is a signer key of %s, valid at %s %s", id, t.Name(), what, at.UTC().Format(time.RFC3339))
}

func openEnd(s string) string {
	if s == "" {
		return "(open)"
	}
	return s
}

// Verdicts of a verification (Report.Verdict).
const (
	// VerdictTrusted: intact, signed by a key the trust file (or
	// --trusted-key) lists and timestamped by an authority it pins.
	VerdictTrusted = "TRUSTED"
	// VerdictSelfConsistent: intact and consistent with itself, but judged
	// against nothing from outside the bundle.
	VerdictSelfConsistent = "SELF-CONSISTENT ONLY"
	// VerdictFailed: a check failed.
	VerdictFailed = "NOT VERIFIED"
)

// Verdict is the one-word outcome: VerdictFailed when a check failed;
// VerdictTrusted when the signer key and the TSA root were pinned (a trust
// file, or both WithTrustedKeys and WithTSARoots); else
// VerdictSelfConsistent.
func (r *Report) Verdict() string {
	switch {
	case !r.OK():
		return VerdictFailed
	case r.Trust != "" || (r.KeyPinned && r.TSAPinned):
		return VerdictTrusted
	}
	return VerdictSelfConsistent
}

// verdictLine is the last line of WriteText for a bundle that verified.
func (r *Report) verdictLine() string {
	n := len(r.Checks)
	switch {
	case r.Verdict() == VerdictTrusted && r.Trust != "":
		witnessed := ""
		if len(r.Witnesses) > 0 {
			witnessed = ", the ledger checkpoint is co-signed by witness " + strings.Join(r.Witnesses, ", ")
		}
		return fmt.Sprintf("%s under %s: VERIFIED, %d checks passed; the signer key %s is listed and was valid at the capture time, the timestamp's root is pinned%s",
			VerdictTrusted, r.Trust, n, r.KeyID, witnessed)
	case r.Verdict() == VerdictTrusted:
		return fmt.Sprintf("%s under the given pins: VERIFIED, %d checks passed; the signer key %s is one of --trusted-key, the timestamp chains to --tsa-root",
			VerdictTrusted, n, r.KeyID)
	}
	var pinned string
	switch {
	case r.KeyPinned:
		pinned = " The signer key is pinned, but the timestamp's authority is not: the capture time rests on the bundle alone."
	case r.TSAPinned:
		pinned = " The timestamp's root is pinned, but the signer key is not."
	}
	return fmt.Sprintf("%s: VERIFIED, %d checks passed, but against nothing from outside the bundle: "+
		"anyone holding an Ed25519 key and a time-stamping authority could have made it.%s "+
		"Verify with --trust and the trust file the office publishes (shopwatch trust export).", VerdictSelfConsistent, n, pinned)
}

// noteTrust records in the report what the bundle was judged against.
func (v *verifier) noteTrust() {
	if t := v.cfg.trust; t != nil && v.keyValid && v.tsaPinned && (!v.witnessChecked || v.witnessed) {
		v.rep.Trust = t.Name()
	}
	v.rep.KeyPinned = len(v.cfg.trusted) > 0 || v.keyValid
	v.rep.TSAPinned = (v.cfg.tsaRoots != nil && !v.rep.TimestampTime.IsZero()) || v.tsaPinned
}

// TrustedKeysOf returns the signer keys of a key folder (see
// LoadOrCreateSigner and RotateSigner) with the period each was in use:
// the current key from the time its key file was made, open-ended; each
// retired key from the time its key file was made (when RotateSigner kept
// it) until it was retired (when its retired/<id>.pub was written). Times
// are whole seconds, widened outwards. It writes nothing.
func TrustedKeysOf(dir string) ([]TrustedKey, error) {
	cur, retired, err := LoadPublicKeys(dir)
	if err != nil {
		return nil, err
	}
	mtime := func(name string) time.Time {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return time.Time{}
		}
		return st.ModTime()
	}
	format := func(t time.Time, up bool) string {
		if t.IsZero() {
			return ""
		}
		if tr := t.Truncate(time.Second); up && !tr.Equal(t) {
			t = tr.Add(time.Second)
		} else {
			t = tr
		}
		return t.UTC().Format(time.RFC3339)
	}
	var keys []TrustedKey
	for _, k := range retired {
		hexID := strings.TrimPrefix(KeyID(k), "ed25519:")
		keys = append(keys, TrustedKey{ID: KeyID(k),
			ValidFrom:  format(mtime(filepath.Join(RetiredKeysDir, hexID+".key")), false),
			ValidUntil: format(mtime(filepath.Join(RetiredKeysDir, hexID+".pub")), true)})
	}
	slices.SortFunc(keys, func(a, b TrustedKey) int { return strings.Compare(a.ValidUntil, b.ValidUntil) })
	if cur != nil {
		from := mtime(SignerKeyFile)
		if from.IsZero() {
			from = mtime(SignerPubFile)
		}
		keys = append(keys, TrustedKey{ID: KeyID(cur), ValidFrom: format(from, false)})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("trusted keys of %s: no signer key", dir)
	}
	return keys, nil
}

// TrustedRootsOf returns the pins of the certificates in a PEM file of TSA
// roots.
func TrustedRootsOf(rootPEM []byte) ([]TrustedTSARoot, error) {
	var roots []TrustedTSARoot
	for rest := rootPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("TSA root: %w", err)
		}
		roots = append(roots, TrustedTSARoot{Fingerprint: RootFingerprint(c), Subject: c.Subject.String()})
	}
	if len(roots) == 0 {
		return nil, errors.New("TSA root: no PEM certificate")
	}
	return roots, nil
}
