package evidence

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLoadSignerWritesNothing: LoadSigner never creates a key, a folder
// or a file; RotateSigner keeps the old public key and key file.
func TestLoadSignerWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := LoadSigner(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadSigner of a missing key: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("LoadSigner created the key folder")
	}
	s0, err := LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		es, _ := os.ReadDir(dir)
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		return n
	}
	before := names()
	s1, err := LoadSigner(dir)
	if err != nil || s1.KeyID() != s0.KeyID() {
		t.Fatalf("LoadSigner: %v, %v", s1, err)
	}
	if got := names(); len(got) != len(before) {
		t.Fatalf("LoadSigner wrote into the key folder: %v, was %v", got, before)
	}

	old, s2, err := RotateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(old) != s0.KeyID() || s2.KeyID() == s0.KeyID() {
		t.Fatalf("rotate: old %s, new %s, was %s", KeyID(old), s2.KeyID(), s0.KeyID())
	}
	cur, retired, err := LoadPublicKeys(dir)
	if err != nil || KeyID(cur) != s2.KeyID() || len(retired) != 1 || KeyID(retired[0]) != s0.KeyID() {
		t.Fatalf("LoadPublicKeys after rotation: %v, %d retired, %v", cur, len(retired), err)
	}
	if ks, _ := filepath.Glob(filepath.Join(dir, RetiredKeysDir, "*.key")); len(ks) != 1 {
		t.Errorf("the old key file is not kept in %s: %v", RetiredKeysDir, ks)
	}
}
