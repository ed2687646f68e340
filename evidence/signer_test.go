package evidence

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSigner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateSigner: %v", err)
	}
	if !regexp.MustCompile(`^ed25519:[0-9a-f]{16}$`).MatchString(s.KeyID()) {
		t.Errorf("key id %q, want ed25519:<16 hex>", s.KeyID())
	}
	sum := sha256.Sum256(s.PublicKey())
	if want := "ed25519:" + hex.EncodeToString(sum[:])[:16]; s.KeyID() != want {
		t.Errorf("key id %s, want %s", s.KeyID(), want)
	}
	st, err := os.Stat(filepath.Join(dir, SignerKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("signer.key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, SignerPubFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil || !pub.Equal(s.PublicKey()) {
		t.Fatalf("signer.pub = %v, %v; want the signer's key", pub, err)
	}

	msg := []byte("manifest bytes")
	sig, err := s.Sign(msg)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("Sign = %x, %v; want a valid raw signature", sig, err)
	}

	again, err := LoadOrCreateSigner(dir)
	if err != nil || again.KeyID() != s.KeyID() {
		t.Fatalf("reload = %v, %v; want the same key %s", again, err, s.KeyID())
	}

	// A lost signer.pub is rewritten from the key.
	os.Remove(filepath.Join(dir, SignerPubFile))
	if again, err = LoadOrCreateSigner(dir); err != nil || again.KeyID() != s.KeyID() {
		t.Fatalf("reload without signer.pub = %v, %v", again, err)
	}
}

func TestLoadOrCreateSignerRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateSigner(dir); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, SignerKeyFile)

	// signer.pub from another key.
	other, err := LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, SignerPubFile)
	os.Remove(pubPath)
	if err := os.WriteFile(pubPath, other.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigner(dir); err == nil || !strings.Contains(err.Error(), pubPath) {
		t.Errorf("mismatched signer.pub: err = %v, want an error naming %s", err, pubPath)
	}
	os.Remove(pubPath)

	// A key others can read.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigner(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: err = %v, want a refusal", err)
	}
}

func TestLoadOrCreateSignerConcurrent(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			s, err := LoadOrCreateSigner(dir)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = s.KeyID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent creators got different keys: %v", ids)
		}
	}
}

// failingKey is a crypto.Signer whose device fails, or returns garbage.
type failingKey struct {
	pub     ed25519.PublicKey
	garbage bool
}

func (k failingKey) Public() crypto.PublicKey { return k.pub }
func (k failingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	if k.garbage {
		return make([]byte, ed25519.SignatureSize), nil
	}
	return nil, errors.New("token removed")
}

func TestSignFailures(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	for _, k := range []failingKey{{pub: pub}, {pub: pub, garbage: true}} {
		s, err := NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		if sig, err := s.Sign([]byte("m")); err == nil {
			t.Errorf("Sign with %+v = %x, nil; want an error", k, sig)
		}
	}
}
