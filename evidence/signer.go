package evidence

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// File names of the node key in its data folder. SignerPubFile is also the
// name of the public key inside every capture and bundle.
const (
	SignerKeyFile = "signer.key" // PKCS #8 PEM, mode 0600
	SignerPubFile = "signer.pub" // PKIX (SubjectPublicKeyInfo) PEM
)

// ErrBadSignature is returned when a signature does not verify, or when a
// signer produces one that does not.
var ErrBadSignature = errors.New("signature does not verify")

// Signer signs manifests with the node's Ed25519 key. It is safe for
// concurrent use.
type Signer struct {
	key crypto.Signer
	pub ed25519.PublicKey
	id  string
}

// NewSigner returns a Signer around key, whose public key must be an
// Ed25519 key. An ed25519.PrivateKey is a crypto.Signer; so are keys held
// in hardware behind a crypto.Signer.
func NewSigner(key crypto.Signer) (*Signer, error) {
	if key == nil {
		return nil, errors.New("new signer: nil key")
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("new signer: public key is %T, want an Ed25519 key", key.Public())
	}
	return &Signer{key: key, pub: pub, id: KeyID(pub)}, nil
}

// KeyID returns the id of an Ed25519 public key: "ed25519:" followed by
// the first 16 lowercase hex digits of the SHA-256 of the 32 raw public key
// bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// KeyID returns the id of the signer's public key (see the function KeyID).
func (s *Signer) KeyID() string { return s.id }

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() ed25519.PublicKey { return bytes.Clone(s.pub) }

// PublicKeyPEM returns the public key as a PKIX "PUBLIC KEY" PEM block, the
// content of signer.pub, which `openssl pkeyutl -pubin -inkey` reads.
func (s *Signer) PublicKeyPEM() []byte { return MarshalPublicKeyPEM(s.pub) }

// Sign returns the raw 64-byte Ed25519 signature of msg. It checks the
// signature against the public key before returning it, so a faulty key or
// device yields an error, never a bad signature.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	sig, err := s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", s.id, err)
	}
	if !ed25519.Verify(s.pub, msg, sig) {
		return nil, fmt.Errorf("sign with %s: %w: the key produced a signature its public key rejects", s.id, ErrBadSignature)
	}
	return sig, nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		// Only fails for key types x509 does not know; Ed25519 it knows.
		panic(fmt.Sprintf("evidence: marshal ed25519 public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeyPEM decodes a PKIX "PUBLIC KEY" PEM block holding an
// Ed25519 key, as found in signer.pub.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, errors.New("parse public key: no PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("parse public key: PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("parse public key: data after the PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("parse public key: key is %T, want Ed25519", k)
	}
	return pub, nil
}

// LoadOrCreateSigner loads the node key from dir/signer.key, creating the
// folder, a new key (mode 0600) and dir/signer.pub when there is none. It
// never replaces an existing key: when several processes start at once, one
// creates the key and the others load it. It refuses a key file that
// others can read or write, and a signer.pub that does not match the key.
// A key kept encrypted (signer.key.enc) is loaded as LoadSigner does; no
// new key is made beside it.
func LoadOrCreateSigner(dir string, opts ...LoadOption) (*Signer, error) {
	keyPath := filepath.Join(dir, SignerKeyFile)
	pubPath := filepath.Join(dir, SignerPubFile)
	if _, err := os.Lstat(filepath.Join(dir, SignerKeyEncFile)); err == nil {
		return LoadSigner(dir, opts...)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("load signer %s: %w", dir, err)
	}
	priv, err := loadPrivateKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		_, fresh, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("create signer %s: %w", keyPath, gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(fresh)
		if merr != nil {
			return nil, fmt.Errorf("create signer %s: %w", keyPath, merr)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		werr := writeFileNoReplace(keyPath, data, 0o600)
		if werr != nil && !errors.Is(werr, fs.ErrExist) {
			return nil, fmt.Errorf("create signer %s: %w", keyPath, werr)
		}
		// Ours, or one another process created a moment ago: load what is there.
		priv, err = loadPrivateKey(keyPath)
	}
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(priv)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", keyPath, err)
	}
	want := s.PublicKeyPEM()
	werr := writeFileNoReplace(pubPath, want, 0o644)
	if werr != nil && !errors.Is(werr, fs.ErrExist) {
		return nil, fmt.Errorf("load signer %s: %w", pubPath, werr)
	}
	got, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", pubPath, err)
	}
	pub, err := ParsePublicKeyPEM(got)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", pubPath, err)
	}
	if !pub.Equal(s.pub) {
		return nil, fmt.Errorf("load signer %s: holds key %s, but %s is key %s", pubPath, KeyID(pub), keyPath, s.id)
	}
	return s, nil
}

// readKeyFile reads a private-key file, refusing one that users other
// than its owner may read or write. A missing file gives an error
// wrapping fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", path, err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load signer %s: mode %v lets others read or write the key; run chmod 600 on it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", path, err)
	}
	return data, nil
}

func loadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load signer %s: no \"PRIVATE KEY\" PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load signer %s: key is %T, want Ed25519", path, k)
	}
	return priv, nil
}

// writeFileNoReplace writes data to path through a temporary file in the
// same folder, synced and then hard-linked into place, so that path appears
// complete or not at all and an existing path is never replaced (the error
// then wraps fs.ErrExist).
func writeFileNoReplace(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmpName, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// RetiredKeysDir is the folder, inside the key folder, that keeps the
// keys RotateSigner retired: <hex id>.pub for verification, and the old
// key file beside it.
const RetiredKeysDir = "retired"

// LoadSigner loads the node key from dir/signer.key, or, when there is
// none, from its encrypted form dir/signer.key.enc with the passphrase of
// WithPassphrase, and checks it against dir/signer.pub when that exists.
// Unlike LoadOrCreateSigner it never creates or writes anything. When
// neither key file exists the error wraps fs.ErrNotExist; an encrypted
// key without a passphrase gives ErrNeedPassphrase, a wrong one
// ErrWrongPassphrase.
func LoadSigner(dir string, opts ...LoadOption) (*Signer, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	priv, keyPath, err := loadAnyKey(dir, o)
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(priv)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", keyPath, err)
	}
	pubPath := filepath.Join(dir, SignerPubFile)
	b, err := os.ReadFile(pubPath)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", pubPath, err)
	}
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", pubPath, err)
	}
	if !pub.Equal(s.pub) {
		return nil, fmt.Errorf("load signer %s: holds key %s, but %s is key %s", pubPath, KeyID(pub), keyPath, s.id)
	}
	return s, nil
}

// LoadPublicKeys reads the public keys of dir without the private key:
// current from signer.pub (nil when there is none) and every key retired
// by RotateSigner. It writes nothing.
func LoadPublicKeys(dir string) (current ed25519.PublicKey, retired []ed25519.PublicKey, err error) {
	b, err := os.ReadFile(filepath.Join(dir, SignerPubFile))
	switch {
	case err == nil:
		if current, err = ParsePublicKeyPEM(b); err != nil {
			return nil, nil, fmt.Errorf("load public key %s: %w", filepath.Join(dir, SignerPubFile), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("load public key: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, RetiredKeysDir, "*.pub"))
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, nil, fmt.Errorf("load retired key: %w", err)
		}
		k, err := ParsePublicKeyPEM(b)
		if err != nil {
			return nil, nil, fmt.Errorf("load retired key %s: %w", name, err)
		}
		retired = append(retired, k)
	}
	return current, retired, nil
}

// KeepRetiredKey keeps pub among the retired keys of dir, so that what it
// signed verifies: for a key lost with its signer.pub, whose public key is
// found elsewhere (every bundle carries it as signer.pub).
func KeepRetiredKey(dir string, pub ed25519.PublicKey) error {
	retiredDir := filepath.Join(dir, RetiredKeysDir)
	if err := os.MkdirAll(retiredDir, 0o700); err != nil {
		return fmt.Errorf("keep retired key %s: %w", KeyID(pub), err)
	}
	path := filepath.Join(retiredDir, strings.TrimPrefix(KeyID(pub), "ed25519:")+".pub")
	if err := writeFileNoReplace(path, MarshalPublicKeyPEM(pub), 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keep retired key %s: %w", KeyID(pub), err)
	}
	return nil
}

// RotateSigner retires the node key of dir and creates a new one. The old
// public key (from signer.pub, else from signer.key) is kept as
// retired/<hex id>.pub so that what it signed still verifies, and the old
// key file, readable or not, is moved into retired/ rather than deleted.
// old is nil when no old key was known. A crash part way leaves no key in
// place, which loading refuses until RotateSigner runs again.
func RotateSigner(dir string) (old ed25519.PublicKey, s *Signer, err error) {
	if old, err = retireKey(dir); err != nil {
		return nil, nil, fmt.Errorf("rotate signer %s: %w", dir, err)
	}
	s, err = LoadOrCreateSigner(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("rotate signer %s: %w", dir, err)
	}
	return old, s, nil
}

// AdoptSigner makes s, whose private key is kept outside dir (in a
// PKCS#11 token), the node key of dir: its public key becomes signer.pub.
// A different key dir had is retired as RotateSigner retires it, and
// returned as old; old is nil when dir had no key, or already had s's
// public key and no key file.
func AdoptSigner(dir string, s *Signer) (old ed25519.PublicKey, err error) {
	fail := func(err error) (ed25519.PublicKey, error) {
		return nil, fmt.Errorf("adopt signer %s in %s: %w", s.id, dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	pubPath := filepath.Join(dir, SignerPubFile)
	var cur ed25519.PublicKey
	if b, err := os.ReadFile(pubPath); err == nil {
		cur, _ = ParsePublicKeyPEM(b)
	}
	keyFile := false
	for _, name := range []string{SignerKeyFile, SignerKeyEncFile} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			keyFile = true
		}
	}
	_, pubErr := os.Lstat(pubPath)
	if keyFile || (pubErr == nil && !cur.Equal(s.pub)) {
		if old, err = retireKey(dir); err != nil {
			return fail(err)
		}
	}
	if err := writeFileNoReplace(pubPath, s.PublicKeyPEM(), 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return fail(err)
	}
	b, err := os.ReadFile(pubPath)
	if err != nil {
		return fail(err)
	}
	if got, err := ParsePublicKeyPEM(b); err != nil || !got.Equal(s.pub) {
		return fail(fmt.Errorf("%s changed while the key was adopted", pubPath))
	}
	return old, nil
}

// retireKey retires the node key of dir for RotateSigner and AdoptSigner,
// leaving dir without a key.
func retireKey(dir string) (old ed25519.PublicKey, err error) {
	fail := func(err error) (ed25519.PublicKey, error) { return nil, err }
	keyPath, pubPath := filepath.Join(dir, SignerKeyFile), filepath.Join(dir, SignerPubFile)
	retiredDir := filepath.Join(dir, RetiredKeysDir)
	if err := os.MkdirAll(retiredDir, 0o700); err != nil {
		return fail(err)
	}
	if b, err := os.ReadFile(pubPath); err == nil {
		old, _ = ParsePublicKeyPEM(b)
	}
	if old == nil {
		if priv, err := loadPrivateKey(keyPath); err == nil {
			old = priv.Public().(ed25519.PublicKey)
		}
	}
	name := "unknown-" + time.Now().UTC().Format("20060102T150405Z")
	if old != nil {
		name = strings.TrimPrefix(KeyID(old), "ed25519:")
		if err := KeepRetiredKey(dir, old); err != nil {
			return fail(err)
		}
	}
	if _, err := os.Lstat(keyPath); err == nil {
		dst := filepath.Join(retiredDir, name+".key")
		if _, err := os.Lstat(dst); err == nil {
			dst = filepath.Join(retiredDir, name+"-"+time.Now().UTC().Format("20060102T150405.000000000Z")+".key")
		}
		if err := os.Rename(keyPath, dst); err != nil {
			return fail(err)
		}
	}
	encPath := filepath.Join(dir, SignerKeyEncFile)
	if _, err := os.Lstat(encPath); err == nil {
		dst := filepath.Join(retiredDir, name+"-"+time.Now().UTC().Format("20060102T150405.000000000Z")+".key.enc")
		if err := os.Rename(encPath, dst); err != nil {
			return fail(err)
		}
	}
	if err := os.Remove(pubPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	return old, nil
}
