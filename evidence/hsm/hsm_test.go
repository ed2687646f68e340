package hsm

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"shopwatch/evidence"
	"shopwatch/internal/testparts"
)

func tokenConfig(h *testparts.SoftHSM, label string) Config {
	return Config{Module: h.Module, TokenLabel: h.TokenLabel, KeyLabel: label, PIN: h.PIN}
}

func mustGenerate(t *testing.T, cfg Config) *Key {
	t.Helper()
	k, err := Generate(cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// TestGenerateSignVerify generates an Ed25519 key pair in a SoftHSM2
// token, signs through it, checks the signatures with ed25519.Verify and
// openssl, and opens the same key again by label and by id.
func TestGenerateSignVerify(t *testing.T) {
	h := testparts.StartSoftHSM(t, "shopwatch-test")
	cfg := tokenConfig(h, "node-signing")
	k := mustGenerate(t, cfg)
	pub, ok := k.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("Public() = %T %x", k.Public(), k.Public())
	}
	if len(k.ID()) == 0 || k.Label() != "node-signing" {
		t.Errorf("id %x label %q", k.ID(), k.Label())
	}
	for _, msg := range [][]byte{nil, []byte("manifest"), make([]byte, 1<<16)} {
		sig, err := k.Sign(nil, msg, crypto.Hash(0))
		if err != nil {
			t.Fatalf("Sign(%d bytes): %v", len(msg), err)
		}
		if !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("signature over %d bytes does not verify", len(msg))
		}
		other := append([]byte("x"), msg...)
		if ed25519.Verify(pub, other, sig) {
			t.Fatal("signature verifies over another message")
		}
	}

	// evidence.NewSigner takes the token key; its signatures are the
	// ones the bundles carry, which verify-bundle.sh checks with openssl.
	sg, err := evidence.NewSigner(k)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	if sg.KeyID() != evidence.KeyID(pub) {
		t.Errorf("key id %s, want %s", sg.KeyID(), evidence.KeyID(pub))
	}
	msg := []byte(`{"evidence_id":"test"}`)
	sig, err := sg.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	openssl := testparts.Tool(t, "openssl")
	dir := t.TempDir()
	files := map[string][]byte{"manifest.json": msg, "manifest.sig": sig, "signer.pub": sg.PublicKeyPEM()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "signer.pub", "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Fatalf("openssl pkeyutl -verify: %v\n%s", err, out)
	}

	// Ed25519ph and contexts are refused, not silently signed as pure.
	if _, err := k.Sign(nil, make([]byte, 64), crypto.SHA512); err == nil {
		t.Error("Sign with SHA-512 (Ed25519ph) succeeded")
	}
	if _, err := k.Sign(nil, msg, &ed25519.Options{Context: "ctx"}); err == nil {
		t.Error("Sign with a context succeeded")
	}
	if err := k.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := k.Sign(nil, msg, crypto.Hash(0)); err == nil {
		t.Error("Sign after Close succeeded")
	}

	// The key is in the token: opened again by label, and by label and id.
	for _, c := range []Config{cfg, {Module: cfg.Module, TokenLabel: cfg.TokenLabel, KeyLabel: cfg.KeyLabel, KeyID: k.ID(), PIN: cfg.PIN}} {
		k2, err := Open(c)
		if err != nil {
			t.Fatalf("Open(id %x): %v", c.KeyID, err)
		}
		if !pub.Equal(k2.Public()) {
			t.Errorf("reopened key has public key %x, want %x", k2.Public(), pub)
		}
		sig, err := k2.Sign(nil, msg, nil)
		if err != nil || !ed25519.Verify(pub, msg, sig) {
			t.Errorf("reopened key: Sign = %v, verifies %v", err, err == nil && ed25519.Verify(pub, msg, sig))
		}
		if err := k2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrivateKeyNotExtractable checks the generated private key's
// attributes in the token: its value cannot be read, and it is marked
// sensitive, never extractable.
func TestPrivateKeyNotExtractable(t *testing.T) {
	h := testparts.StartSoftHSM(t, "shopwatch-test")
	k := mustGenerate(t, tokenConfig(h, "node-signing"))
	err := k.withSession(func(sh pkcs11.SessionHandle) error {
		ctx := k.mod.ctx
		if _, err := ctx.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); !isCKR(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
			t.Errorf("C_GetAttributeValue(CKA_VALUE) of the private key: err = %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
		attrs, err := ctx.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
		})
		if err != nil {
			return err
		}
		want := map[uint]bool{pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: false, pkcs11.CKA_ALWAYS_SENSITIVE: true,
			pkcs11.CKA_NEVER_EXTRACTABLE: true, pkcs11.CKA_TOKEN: true}
		for _, a := range attrs {
			if got := len(a.Value) == 1 && a.Value[0] != 0; got != want[a.Type] {
				t.Errorf("attribute %#x = %v, want %v", a.Type, got, want[a.Type])
			}
		}
		// Wrapping it out is refused as well.
		if _, err := ctx.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, k.priv, k.priv); err == nil {
			t.Error("C_WrapKey of the private key succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenErrors checks that each thing an operator can get wrong gives
// its own error, and that no error shows the PIN.
func TestOpenErrors(t *testing.T) {
	h := testparts.StartSoftHSM(t, "shopwatch-test")
	good := tokenConfig(h, "node-signing")
	k := mustGenerate(t, good)
	id := k.ID()
	// A P-256 key under another label: the wrong type.
	err := k.withSession(func(sh pkcs11.SessionHandle) error {
		params := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // prime256v1
		_, _, err := k.mod.ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "p256"), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params)},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "p256"), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)})
		return err
	})
	if err != nil {
		t.Fatalf("generate a P-256 key: %v", err)
	}
	notLib := filepath.Join(t.TempDir(), "libnot.so")
	if err := os.WriteFile(notLib, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
		text string
	}{
		{"missing module", with(func(c *Config) { c.Module = "/nonexistent/libpkcs11.so" }), ErrModule, "/nonexistent/libpkcs11.so"},
		{"not a module", with(func(c *Config) { c.Module = notLib }), ErrModule, notLib},
		{"unknown token", with(func(c *Config) { c.TokenLabel = "other-token" }), ErrTokenNotFound, `"shopwatch-test"`},
		{"wrong PIN", with(func(c *Config) { c.PIN = "0000-wrong" }), ErrWrongPIN, "shopwatch-test"},
		{"missing key", with(func(c *Config) { c.KeyLabel = "nobody" }), ErrKeyNotFound, `"nobody"`},
		{"wrong id", with(func(c *Config) { c.KeyID = []byte{1, 2, 3} }), ErrKeyNotFound, "010203"},
		{"P-256 key", with(func(c *Config) { c.KeyLabel = "p256" }), ErrWrongKeyType, "CKK_EC_EDWARDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Open(tc.cfg)
			if err == nil {
				k.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Open: %v; want %v and %q", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), tc.cfg.PIN) {
				t.Errorf("error shows the PIN: %v", err)
			}
		})
	}
	if _, err := Generate(good); !errors.Is(err, ErrKeyExists) {
		t.Errorf("Generate over an existing label: %v, want ErrKeyExists", err)
	}
	for _, c := range []Config{with(func(c *Config) { c.PIN = "" }), with(func(c *Config) { c.KeyLabel = "" }), with(func(c *Config) { c.Module = "" })} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) without a required field succeeded", c)
		}
	}
	// With no key of the process logged in, the token itself checks the
	// PIN: a wrong one is refused, the right one opens the key by its id.
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if k2, err := Open(with(func(c *Config) { c.PIN = "0000-wrong" })); !errors.Is(err, ErrWrongPIN) || strings.Contains(err.Error(), "0000-wrong") {
		if k2 != nil {
			k2.Close()
		}
		t.Errorf("Open with a wrong PIN, no other key open: %v, want ErrWrongPIN without the PIN", err)
	}
	k2, err := Open(with(func(c *Config) { c.KeyID = id }))
	if err != nil {
		t.Fatalf("Open after the failures: %v", err)
	}
	k2.Close()
}

// TestConcurrentSigning signs from many goroutines through fewer sessions
// than goroutines (run it with -race), with a second Key of the same
// module open and closed meanwhile; every signature verifies.
func TestConcurrentSigning(t *testing.T) {
	h := testparts.StartSoftHSM(t, "shopwatch-test")
	cfg := tokenConfig(h, "node-signing")
	cfg.Sessions = 2
	k := mustGenerate(t, cfg)
	pub := k.Public().(ed25519.PublicKey)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Appendf(nil, "worker %d message %d", w, i)
				sig, err := k.Sign(nil, msg, crypto.Hash(0))
				if err != nil {
					errs <- err
					return
				}
				if !ed25519.Verify(pub, msg, sig) {
					errs <- fmt.Errorf("signature of %q does not verify", msg)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			k2, err := Open(Config{Module: cfg.Module, TokenLabel: cfg.TokenLabel, KeyLabel: cfg.KeyLabel, PIN: cfg.PIN, Sessions: 1})
			if err != nil {
				errs <- fmt.Errorf("second key: %w", err)
				return
			}
			if !pub.Equal(k2.Public()) {
				errs <- errors.New("second key has another public key")
			}
			if err := k2.Close(); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkSign signs a manifest-sized message through the SoftHSM2
// token, beside an in-process ed25519.PrivateKey as the baseline of the
// same run.
func BenchmarkSign(b *testing.B) {
	msg := make([]byte, 2048)
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := priv.Sign(nil, msg, crypto.Hash(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
	h := testparts.StartSoftHSM(b, "shopwatch-bench")
	k, err := Generate(tokenConfig(h, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	b.Run("token", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Sign(nil, msg, crypto.Hash(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := k.Sign(nil, msg, crypto.Hash(0)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
