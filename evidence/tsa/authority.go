package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/digitorus/timestamp"
)

// File names inside an authority's folder (see the package documentation).
const (
	RootCertFile = "root.pem"
	RootKeyFile  = "root.key"
	CertFile     = "tsa.pem"
	KeyFile      = "tsa.key"
)

// DefaultPolicy is the TSA policy the built-in authority puts in its tokens
// unless WithPolicy names another. It is an identifier in the 2.25 arc
// (ITU-T X.667, free to use without registration), fixed for shopwatch's
// built-in authority; its last arc is kept below 2^31 because Go's
// encoding/asn1 cannot parse larger arcs. An office that has registered a
// policy of its own sets it with WithPolicy.
var DefaultPolicy = asn1.ObjectIdentifier{2, 25, 1162458991}

// Validity of the certificates a new authority creates.
const (
	rootValidity = 30 * 365 * 24 * time.Hour
	certValidity = 20 * 365 * 24 * time.Hour
	// backdate tolerates clocks of verifiers that run a little behind.
	backdate = time.Hour
)

var (
	oidTimeStamping   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidContentTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
)

// Authority is a built-in RFC 3161 time-stamping authority: a root
// certificate and a signing certificate with its key. It is safe for
// concurrent use.
type Authority struct {
	dir     string
	root    *x509.Certificate
	rootPEM []byte
	cert    *x509.Certificate
	key     crypto.Signer
	roots   *x509.CertPool
	policy  asn1.ObjectIdentifier
	now     func() time.Time
	log     *slog.Logger
}

// Option configures LoadOrCreateAuthority.
type Option func(*options)

type options struct {
	policy asn1.ObjectIdentifier
	now    func() time.Time
	log    *slog.Logger
	org    string
}

// WithPolicy sets the TSA policy object identifier put in every token
// (default DefaultPolicy). Requests over HTTP that ask for another policy
// are rejected.
func WithPolicy(oid asn1.ObjectIdentifier) Option {
	return func(o *options) { o.policy = append(asn1.ObjectIdentifier(nil), oid...) }
}

// WithClock sets the clock that gives genTime and the validity of new
// certificates (default time.Now), e.g. one corrected against NTP. The CMS
// signing-time attribute always carries the host clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithOrganization sets the organisation (O) in the subject names of the
// certificates a new authority creates, e.g. the name of the inspecting
// office (default "shopwatch"). It has no effect on an existing authority.
func WithOrganization(org string) Option {
	return func(o *options) { o.org = org }
}

// LoadOrCreateAuthority loads the authority kept in dir, creating it (the
// folder, a root and a signing certificate with their keys) when dir does
// not exist or is empty. dir must be a folder of its own: a folder that
// holds other files but no root.pem is refused. Creation is atomic; of
// several processes starting at once one creates the authority and the
// others load it.
func LoadOrCreateAuthority(dir string, opts ...Option) (*Authority, error) {
	o := options{policy: DefaultPolicy, now: time.Now, log: slog.Default(), org: "shopwatch"}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.policy) < 2 || slices.ContainsFunc(o.policy, func(arc int) bool { return arc < 0 || arc > math.MaxInt32 }) {
		return nil, fmt.Errorf("load authority %s: policy %v is not an object identifier with arcs below 2^31", dir, o.policy)
	}
	_, err := os.Stat(filepath.Join(dir, RootCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		if err := create(dir, o); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("load authority %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, RootCertFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load authority %s: the folder holds other files but no %s; give the authority a folder of its own", dir, RootCertFile)
	}
	return load(dir, o)
}

// create writes a new authority into a temporary folder beside dir and
// renames it to dir. When dir appears meanwhile (another process), the
// rename fails and the caller loads what is there.
func create(dir string, o options) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create authority %s: %w", dir, err)
	}
	files, err := newAuthorityFiles(o)
	if err != nil {
		return fmt.Errorf("create authority %s: %w", dir, err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-*")
	if err != nil {
		return fmt.Errorf("create authority %s: %w", dir, err)
	}
	defer os.RemoveAll(stage) // a no-op once renamed
	for _, f := range files {
		if err := writeSynced(filepath.Join(stage, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("create authority %s: %w", dir, err)
		}
	}
	if err := syncDir(stage); err != nil {
		return fmt.Errorf("create authority %s: %w", dir, err)
	}
	// os.Rename does not replace a directory, even an empty one: remove an
	// empty dir first (Remove fails on a non-empty one, which is left).
	if entries, err := os.ReadDir(dir); err == nil && len(entries) == 0 {
		os.Remove(dir)
	}
	if err := os.Rename(stage, dir); err != nil {
		// dir exists and is not empty: another process created it, or it
		// holds other files; load decides which.
		o.log.Debug("authority folder appeared while creating", "dir", dir, "err", err)
		return nil
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("create authority %s: %w", dir, err)
	}
	o.log.Info("created built-in time-stamping authority", "dir", dir)
	return nil
}

type authorityFile struct {
	name string
	data []byte
	mode os.FileMode
}

func newAuthorityFiles(o options) ([]authorityFile, error) {
	now := o.now().UTC()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tsaKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rootSKI, err := subjectKeyID(rootKey.Public())
	if err != nil {
		return nil, err
	}
	tsaSKI, err := subjectKeyID(tsaKey.Public())
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			Organization: []string{o.org},
			CommonName:   "shopwatch TSA root " + hex.EncodeToString(rootSKI[:4]),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          rootSKI,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}
	// crypto/x509 marks extended key usage non-critical; RFC 3161 wants it
	// critical, so the extension is supplied whole.
	ekuValue, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return nil, err
	}
	tsaTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			Organization: []string{o.org},
			CommonName:   "shopwatch TSA " + hex.EncodeToString(tsaSKI[:4]),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          tsaSKI,
		ExtraExtensions: []pkix.Extension{
			{Id: oidExtKeyUsage, Critical: true, Value: ekuValue},
		},
	}
	tsaDER, err := x509.CreateCertificate(rand.Reader, tsaTmpl, root, tsaKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	rootKeyPEM, err := marshalKey(rootKey)
	if err != nil {
		return nil, err
	}
	tsaKeyPEM, err := marshalKey(tsaKey)
	if err != nil {
		return nil, err
	}
	return []authorityFile{
		{RootKeyFile, rootKeyPEM, 0o600},
		{RootCertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o644},
		{KeyFile, tsaKeyPEM, 0o600},
		{CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tsaDER}), 0o644},
	}, nil
}

func load(dir string, o options) (*Authority, error) {
	fail := func(err error) (*Authority, error) {
		return nil, fmt.Errorf("load authority %s: %w", dir, err)
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if err != nil {
		return fail(err)
	}
	root, err := parseCertPEM(rootPEM)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", RootCertFile, err))
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return fail(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", CertFile, err))
	}
	// The root's private key is optional: an authority installed from an
	// offline root (see Install) has only the root certificate.
	rootKey, err := loadKey(filepath.Join(dir, RootKeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	key, err := loadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return fail(err)
	}
	if !root.IsCA || root.CheckSignatureFrom(root) != nil {
		return fail(fmt.Errorf("%s is not a self-signed CA certificate", RootCertFile))
	}
	if rootKey != nil && !publicKeysEqual(rootKey.Public(), root.PublicKey) {
		return fail(fmt.Errorf("%s does not match %s", RootKeyFile, RootCertFile))
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return fail(fmt.Errorf("%s does not match %s", KeyFile, CertFile))
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if err := checkSigningCert(cert, nil, roots, o.now()); err != nil {
		return fail(fmt.Errorf("%s: %w", CertFile, err))
	}
	return &Authority{
		dir:     dir,
		root:    root,
		rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		cert:    cert,
		key:     key,
		roots:   roots,
		policy:  o.policy,
		now:     o.now,
		log:     o.log,
	}, nil
}

// RootPEM returns the authority's root certificate as a PEM "CERTIFICATE"
// block: the tsa-root.pem of bundles and the -CAfile of openssl ts -verify.
func (a *Authority) RootPEM() []byte { return bytes.Clone(a.rootPEM) }

// Root returns the authority's root certificate.
func (a *Authority) Root() *x509.Certificate { return a.root }

// Certificate returns the certificate that signs the authority's tokens.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// Roots returns a new pool holding only the authority's root, for Verify.
func (a *Authority) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.root)
	return p
}

// Policy returns the TSA policy the authority puts in its tokens.
func (a *Authority) Policy() asn1.ObjectIdentifier {
	return append(asn1.ObjectIdentifier(nil), a.policy...)
}

// Timestamp returns a DER TimeStampResp granting a token over digest, the
// SHA-256 of the data, with the signing certificate included and a fresh
// random nonce, as a request over HTTP would carry. The token is checked
// with Verify against the authority's own root, and its nonce against the
// one asked for, before it is returned, so a faulty key yields an error,
// never a bad token. Cost: one ECDSA signature and one verification, well
// under a millisecond.
func (a *Authority) Timestamp(ctx context.Context, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("timestamp %x: %w", digest, err)
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("timestamp %x: digest is %d bytes, want a %d-byte SHA-256", digest, len(digest), sha256.Size)
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, fmt.Errorf("timestamp %x: %w", digest, err)
	}
	resp, err := a.issue(crypto.SHA256, digest, nonce, true)
	if err != nil {
		return nil, fmt.Errorf("timestamp %x: %w", digest, err)
	}
	info, err := VerifyDigest(resp, digest, a.roots)
	if err != nil {
		return nil, fmt.Errorf("timestamp %x: the authority produced a token that does not verify: %w", digest, err)
	}
	if err := checkNonce(info.Nonce, nonce); err != nil {
		return nil, fmt.Errorf("timestamp %x: %w", digest, err)
	}
	a.log.DebugContext(ctx, "timestamp issued", "imprint", hex.EncodeToString(digest), "serial", info.Serial.Text(16), "gen_time", info.GenTime)
	return resp, nil
}

// issue signs a TSTInfo over hashed (made with h) and returns the DER
// TimeStampResp.
func (a *Authority) issue(h crypto.Hash, hashed []byte, nonce *big.Int, withCert bool) ([]byte, error) {
	now := a.now().UTC().Truncate(time.Second)
	if now.Before(a.cert.NotBefore) || now.After(a.cert.NotAfter) {
		return nil, fmt.Errorf("time %s is outside the validity of the TSA certificate (%s to %s)",
			now.Format(time.RFC3339), a.cert.NotBefore.Format(time.RFC3339), a.cert.NotAfter.Format(time.RFC3339))
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     h,
		HashedMessage:     hashed,
		Time:              now,
		Policy:            a.policy,
		Nonce:             nonce,
		AddTSACertificate: withCert,
	}
	return ts.CreateResponseWithOpts(a.cert, a.key, crypto.SHA256)
}

func randomSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b)
	b[0] &= 0x7f
	b[0] |= 0x40 // positive, and 16 bytes long in DER
	return new(big.Int).SetBytes(b)
}

// subjectKeyID is the SHA-256 of the key's SubjectPublicKeyInfo, cut to
// 20 bytes.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func marshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func loadKey(path string) (crypto.Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read or write the key; run chmod 600 on it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no \"PRIVATE KEY\" PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key type %T cannot sign", path, k)
	}
	return s, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no \"CERTIFICATE\" PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func writeSynced(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil { // not narrowed by the umask
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}
