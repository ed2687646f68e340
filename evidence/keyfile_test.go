package evidence

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func passphrase(p string) LoadOption {
	return WithPassphrase(func() ([]byte, error) { return []byte(p), nil })
}

// TestEncryptSigner converts a plain key into its encrypted form: the plain
// file is gone, the encrypted one loads only with the right passphrase,
// signs with the same key id, and a wrong or missing passphrase is a clear
// error that changes no file and never makes a new key.
func TestEncryptSigner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	plain, err := LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := EncryptSigner(dir, []byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != plain.KeyID() {
		t.Fatalf("encrypted key is %s, want %s", s.KeyID(), plain.KeyID())
	}
	if _, err := os.Stat(filepath.Join(dir, SignerKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("plain key still there: %v", err)
	}
	encPath := filepath.Join(dir, SignerKeyEncFile)
	enc, err := os.ReadFile(encPath)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(encPath); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if bytes.Contains(enc, []byte("BEGIN PRIVATE KEY")) || !bytes.Contains(enc, []byte("BEGIN SHOPWATCH ENCRYPTED PRIVATE KEY")) {
		t.Fatalf("not encrypted:\n%s", enc)
	}

	got, err := LoadSigner(dir, passphrase("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("manifest")
	sig, err := got.Sign(msg)
	if err != nil || !ed25519.Verify(plain.PublicKey(), msg, sig) {
		t.Fatalf("encrypted key does not sign for %s: %v", plain.KeyID(), err)
	}
	// LoadOrCreateSigner loads it too and makes no plain key beside it.
	if again, err := LoadOrCreateSigner(dir, passphrase("correct horse battery staple")); err != nil || again.KeyID() != plain.KeyID() {
		t.Fatalf("LoadOrCreateSigner: %v", err)
	}

	for name, opts := range map[string][]LoadOption{
		"wrong":   {passphrase("wrong")},
		"missing": nil,
	} {
		_, err := LoadSigner(dir, opts...)
		want := ErrWrongPassphrase
		if opts == nil {
			want = ErrNeedPassphrase
		}
		if !errors.Is(err, want) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s passphrase: got %v, want %v", name, err, want)
		}
		if _, err := LoadOrCreateSigner(dir, opts...); !errors.Is(err, want) {
			t.Errorf("%s passphrase, LoadOrCreateSigner: got %v, want %v", name, err, want)
		}
		after, _ := os.ReadFile(encPath)
		if !bytes.Equal(after, enc) {
			t.Errorf("%s passphrase changed %s", name, encPath)
		}
		if _, err := os.Stat(filepath.Join(dir, SignerKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s passphrase made a plain key", name)
		}
	}

	// An altered file fails like a wrong passphrase.
	bad := bytes.Replace(enc, []byte("Scrypt-p: 1"), []byte("Scrypt-p: 2"), 1)
	if _, err := DecryptPrivateKey(bad, []byte("correct horse battery staple")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("altered parameters: %v", err)
	}
}

// TestEncryptSignerKeepsPlainKeyOnConflict refuses to replace an encrypted
// key that opens with another passphrase, and keeps the plain key.
func TestEncryptSignerKeepsPlainKeyOnConflict(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := LoadOrCreateSigner(dir); err != nil {
		t.Fatal(err)
	}
	plainKey, _ := os.ReadFile(filepath.Join(dir, SignerKeyFile))
	_, other, _ := ed25519.GenerateKey(nil)
	foreign, err := EncryptPrivateKey(other, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SignerKeyEncFile), foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EncryptSigner(dir, []byte("two")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("other passphrase: %v", err)
	}
	if _, err := EncryptSigner(dir, []byte("one")); err == nil {
		t.Error("an encrypted file with another key was accepted")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, SignerKeyFile)); !bytes.Equal(b, plainKey) {
		t.Error("plain key removed or changed")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, SignerKeyEncFile)); !bytes.Equal(b, foreign) {
		t.Error("encrypted file replaced")
	}
}

// TestRotateEncryptedSigner retires an encrypted key: no key file is left
// behind to shadow the new one.
func TestRotateEncryptedSigner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	old, err := LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EncryptSigner(dir, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	_, s, err := RotateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() == old.KeyID() {
		t.Fatal("key not replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, SignerKeyEncFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old encrypted key still in place: %v", err)
	}
	if got, err := LoadSigner(dir); err != nil || got.KeyID() != s.KeyID() {
		t.Fatalf("after rotation: %v", err)
	}
}
