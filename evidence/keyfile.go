package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// SignerKeyEncFile is the passphrase-encrypted form of SignerKeyFile.
//
// The file is one PEM block of type "SHOPWATCH ENCRYPTED PRIVATE KEY"
// with these headers:
//
//	Version: 1
//	KDF: scrypt
//	Scrypt-N: 32768        (cost, a power of two, at most 2^20)
//	Scrypt-r: 8
//	Scrypt-p: 1
//	Salt: <32 random bytes, hex>
//	Cipher: chacha20poly1305
//	Nonce: <12 random bytes, hex>
//
// The 32-byte key is scrypt(passphrase, salt, N, r, p); the block's bytes
// are the ChaCha20-Poly1305 sealing, under that key and nonce, of the
// PKCS #8 DER of the Ed25519 private key, with the associated data
// "shopwatch-encrypted-key v1 scrypt N r p" (the numbers in decimal), so
// that changed parameters fail like a wrong passphrase. The file mode is
// 0600 like the plain key.
const SignerKeyEncFile = "signer.key.enc"

const (
	encKeyPEMType = "SHOPWATCH ENCRYPTED PRIVATE KEY"
	scryptN       = 1 << 15
	scryptR       = 8
	scryptP       = 1
	maxScryptN    = 1 << 20
)

// ErrWrongPassphrase is returned when an encrypted key does not open with
// the passphrase given (or the file was altered).
var ErrWrongPassphrase = errors.New("wrong passphrase, or the encrypted key file was altered")

// ErrNeedPassphrase is returned when the key is encrypted and no
// passphrase was given.
var ErrNeedPassphrase = errors.New("the signing key is encrypted and no passphrase was given")

// LoadOption configures LoadSigner and LoadOrCreateSigner.
type LoadOption func(*loadOptions)

type loadOptions struct {
	passphrase func() ([]byte, error)
}

// WithPassphrase gives the function that returns the passphrase of an
// encrypted key (signer.key.enc). It is called only when the key is
// encrypted.
func WithPassphrase(f func() ([]byte, error)) LoadOption {
	return func(o *loadOptions) { o.passphrase = f }
}

func encAD(n, r, p int) []byte {
	return fmt.Appendf(nil, "shopwatch-encrypted-key v1 scrypt %d %d %d", n, r, p)
}

// EncryptPrivateKey returns the SignerKeyEncFile form of priv, encrypted
// with passphrase.
func EncryptPrivateKey(priv ed25519.PrivateKey, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("encrypt key: empty passphrase")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	salt := make([]byte, 32)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	k, err := scrypt.Key(passphrase, salt, scryptN, scryptR, scryptP, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	aead, err := chacha20poly1305.New(k)
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{
		Type: encKeyPEMType,
		Headers: map[string]string{
			"Version":  "1",
			"KDF":      "scrypt",
			"Scrypt-N": strconv.Itoa(scryptN),
			"Scrypt-r": strconv.Itoa(scryptR),
			"Scrypt-p": strconv.Itoa(scryptP),
			"Salt":     hex.EncodeToString(salt),
			"Cipher":   "chacha20poly1305",
			"Nonce":    hex.EncodeToString(nonce),
		},
		Bytes: aead.Seal(nil, nonce, der, encAD(scryptN, scryptR, scryptP)),
	}), nil
}

// DecryptPrivateKey opens the SignerKeyEncFile form data with passphrase.
// A wrong passphrase gives an error wrapping ErrWrongPassphrase.
func DecryptPrivateKey(data, passphrase []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != encKeyPEMType {
		return nil, fmt.Errorf("decrypt key: no %q PEM block", encKeyPEMType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("decrypt key: data after the PEM block")
	}
	h := block.Headers
	if h["Version"] != "1" || h["KDF"] != "scrypt" || h["Cipher"] != "chacha20poly1305" {
		return nil, fmt.Errorf("decrypt key: unknown format (Version %q, KDF %q, Cipher %q)", h["Version"], h["KDF"], h["Cipher"])
	}
	num := func(name string, max int) (int, error) {
		v, err := strconv.Atoi(h[name])
		if err != nil || v < 1 || v > max {
			return 0, fmt.Errorf("decrypt key: bad %s %q", name, h[name])
		}
		return v, nil
	}
	n, err := num("Scrypt-N", maxScryptN)
	if err != nil {
		return nil, err
	}
	r, err := num("Scrypt-r", 32)
	if err != nil {
		return nil, err
	}
	p, err := num("Scrypt-p", 16)
	if err != nil {
		return nil, err
	}
	salt, err := hex.DecodeString(h["Salt"])
	if err != nil || len(salt) < 16 {
		return nil, fmt.Errorf("decrypt key: bad Salt %q", h["Salt"])
	}
	nonce, err := hex.DecodeString(h["Nonce"])
	if err != nil || len(nonce) != chacha20poly1305.NonceSize {
		return nil, fmt.Errorf("decrypt key: bad Nonce %q", h["Nonce"])
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("decrypt key: %w", ErrNeedPassphrase)
	}
	k, err := scrypt.Key(passphrase, salt, n, r, p, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("decrypt key: %w", err)
	}
	aead, err := chacha20poly1305.New(k)
	if err != nil {
		return nil, fmt.Errorf("decrypt key: %w", err)
	}
	der, err := aead.Open(nil, nonce, block.Bytes, encAD(n, r, p))
	if err != nil {
		return nil, fmt.Errorf("decrypt key: %w", ErrWrongPassphrase)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("decrypt key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("decrypt key: key is %T, want Ed25519", key)
	}
	return priv, nil
}

// loadEncryptedKey reads and opens path (a SignerKeyEncFile). A missing
// file gives an error wrapping fs.ErrNotExist.
func loadEncryptedKey(path string, o loadOptions) (ed25519.PrivateKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if o.passphrase == nil {
		return nil, fmt.Errorf("load signer %s: %w", path, ErrNeedPassphrase)
	}
	pass, err := o.passphrase()
	if err != nil {
		return nil, fmt.Errorf("load signer %s: passphrase: %w", path, err)
	}
	priv, err := DecryptPrivateKey(data, pass)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", path, err)
	}
	return priv, nil
}

// loadAnyKey loads the key of dir: the plain signer.key when there is
// one, else signer.key.enc. When there is neither, the error wraps
// fs.ErrNotExist.
func loadAnyKey(dir string, o loadOptions) (ed25519.PrivateKey, string, error) {
	keyPath := filepath.Join(dir, SignerKeyFile)
	priv, err := loadPrivateKey(keyPath)
	if !errors.Is(err, fs.ErrNotExist) {
		return priv, keyPath, err
	}
	encPath := filepath.Join(dir, SignerKeyEncFile)
	if _, serr := os.Lstat(encPath); serr != nil {
		return nil, keyPath, err
	}
	priv, err = loadEncryptedKey(encPath, o)
	return priv, encPath, err
}

// EncryptSigner replaces the plain key of dir (signer.key) with its
// passphrase-encrypted form (signer.key.enc). The plain file is removed
// only after the encrypted one, read back from disk, opened with the
// passphrase and signed a test message that verifies with signer.pub's
// key. An existing signer.key.enc is never replaced: when it holds the
// same key (an earlier run stopped before removing the plain file) the
// conversion completes, otherwise it is refused.
func EncryptSigner(dir string, passphrase []byte) (*Signer, error) {
	fail := func(err error) (*Signer, error) {
		return nil, fmt.Errorf("encrypt signer %s: %w", dir, err)
	}
	if len(passphrase) == 0 {
		return fail(errors.New("empty passphrase"))
	}
	keyPath, encPath := filepath.Join(dir, SignerKeyFile), filepath.Join(dir, SignerKeyEncFile)
	plain, err := LoadSigner(dir)
	if err != nil {
		return fail(err)
	}
	priv, err := loadPrivateKey(keyPath)
	if err != nil {
		return fail(err)
	}
	data, err := EncryptPrivateKey(priv, passphrase)
	if err != nil {
		return fail(err)
	}
	if err := writeFileNoReplace(encPath, data, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return fail(err)
	}
	opt := loadOptions{passphrase: func() ([]byte, error) { return passphrase, nil }}
	encPriv, err := loadEncryptedKey(encPath, opt)
	if err != nil {
		return fail(fmt.Errorf("%s exists already and does not open with this passphrase; nothing changed: %w", encPath, err))
	}
	s, err := NewSigner(encPriv)
	if err != nil {
		return fail(err)
	}
	if s.KeyID() != plain.KeyID() {
		return fail(fmt.Errorf("%s holds key %s, not the plain key %s; nothing changed", encPath, s.KeyID(), plain.KeyID()))
	}
	msg := make([]byte, 32)
	if _, err := rand.Read(msg); err != nil {
		return fail(err)
	}
	msg = append([]byte("shopwatch encrypted key check "), msg...)
	sig, err := s.Sign(msg)
	if err != nil {
		return fail(err)
	}
	if !ed25519.Verify(plain.PublicKey(), msg, sig) {
		return fail(fmt.Errorf("the encrypted key's test signature does not verify; %s kept: %w", keyPath, ErrBadSignature))
	}
	if err := os.Remove(keyPath); err != nil {
		return fail(err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return s, nil
}
