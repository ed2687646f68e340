package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noFileHolds fails when a file under dir has the content of secret.
func noFileHolds(t *testing.T, dir string, secret []byte, what string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, bytes.TrimSpace(secret)) {
			t.Errorf("%s holds %s", path, what)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOfflineTSARoot makes the built-in authority offline, installs it on
// a node without the root's private key, and sweeps: the capture is
// timestamped by the installed authority and its bundle verifies against
// the offline root, while the data directory never holds the root key.
func TestOfflineTSARoot(t *testing.T) {
	offline := filepath.Join(t.TempDir(), "offline-tsa")
	if _, _, code := sw(t, "tsa", "init", offline); code != exitUsage {
		t.Errorf("tsa init without --offline: exit %d, want %d", code, exitUsage)
	}
	mustSW(t, "tsa", "init", "--offline", offline)
	rootKey, err := os.ReadFile(filepath.Join(offline, "root.key"))
	if err != nil {
		t.Fatal(err)
	}

	data := filepath.Join(t.TempDir(), "new-node") // not made yet
	if o := mustSW(t, "--data", data, "tsa", "install", offline); !strings.Contains(o, "no root private key") {
		t.Errorf("tsa install: %s", o)
	}
	if _, err := os.Stat(filepath.Join(data, "tsa", "root.key")); err == nil {
		t.Fatal("tsa install copied the root key")
	}
	if _, _, code := sw(t, "--data", data, "tsa", "install", offline); code != exitRuntime {
		t.Errorf("second tsa install over the installed authority: exit %d, want %d", code, exitRuntime)
	}

	_, base := market(t, 1)
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--category", "food", "--platform", "淘宝", "--jurisdiction", "杭州市西湖区")
	mustSW(t, "--data", data, "--allow-private", "sweep")
	ids := evidenceIDs(t, data)
	bundle := filepath.Join(t.TempDir(), "case.zip")
	mustSW(t, "--data", data, "evidence", "export", ids[0], "-o", bundle, "--no-pdf")
	o := mustSW(t, "evidence", "verify", bundle, "--tsa-root", filepath.Join(offline, "root.pem"), "--trusted-key", keyIDs(t, data).Current)
	if !strings.Contains(o, "VERIFIED") {
		t.Errorf("bundle timestamped by the installed authority does not verify against the offline root:\n%s", o)
	}
	noFileHolds(t, data, rootKey, "the TSA root's private key")
	if _, err := os.Stat(filepath.Join(data, "tsa", "root.key")); err == nil {
		t.Error("a root key appeared in the data directory")
	}
}

// TestEncryptedSigningKey encrypts the node key with keys encrypt: the
// plain key is gone, commands that sign work with the passphrase from the
// environment or from keys.passphrase_file, and without it or with a
// wrong one they refuse clearly, change nothing and make no new key.
func TestEncryptedSigningKey(t *testing.T) {
	data, ids := sweptEvidence(t)
	keys := filepath.Join(data, "keys")
	id := keyIDs(t, data).Current

	t.Setenv(passphraseEnv, "")
	if _, e, code := sw(t, "--data", data, "keys", "encrypt"); code != exitRuntime || !strings.Contains(e, passphraseEnv) {
		t.Errorf("keys encrypt without a passphrase: exit %d, stderr %s", code, e)
	}
	if _, err := os.Stat(filepath.Join(keys, "signer.key")); err != nil {
		t.Fatalf("plain key gone after a refused encrypt: %v", err)
	}
	t.Setenv(passphraseEnv, "s3cret passphrase")
	if o := mustSW(t, "--data", data, "keys", "encrypt"); !strings.Contains(o, id) {
		t.Errorf("keys encrypt: %s", o)
	}
	if _, err := os.Stat(filepath.Join(keys, "signer.key")); err == nil {
		t.Fatal("plain key still there after keys encrypt")
	}
	enc, err := os.ReadFile(filepath.Join(keys, "signer.key.enc"))
	if err != nil {
		t.Fatal(err)
	}
	if rep := keyIDs(t, data); !rep.Encrypted || rep.Current != id {
		t.Errorf("keys show after keys encrypt: %+v", rep)
	}
	exportVerifies(t, data, ids[0], id)

	bundle := filepath.Join(t.TempDir(), "x.zip")
	for _, pass := range []string{"", "wrong"} {
		t.Setenv(passphraseEnv, pass)
		_, e, code := sw(t, "--data", data, "evidence", "export", ids[0], "-o", bundle, "--no-pdf")
		want := "wrong passphrase"
		if pass == "" {
			want = passphraseEnv
		}
		if code != exitRuntime || !strings.Contains(e, want) {
			t.Errorf("export with passphrase %q: exit %d, want %d and %q in\n%s", pass, code, exitRuntime, want, e)
		}
		if b, _ := os.ReadFile(filepath.Join(keys, "signer.key.enc")); !bytes.Equal(b, enc) {
			t.Errorf("passphrase %q changed the encrypted key", pass)
		}
		if _, err := os.Stat(filepath.Join(keys, "signer.key")); err == nil {
			t.Errorf("passphrase %q made a new plain key", pass)
		}
		if got := keyIDs(t, data).Current; got != id {
			t.Errorf("passphrase %q: current key %s, want %s", pass, got, id)
		}
	}

	// From keys.passphrase_file; a file others can read is refused.
	t.Setenv(passphraseEnv, "")
	pf := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pf, []byte("s3cret passphrase\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("keys:\n  passphrase_file: "+pf+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, code := sw(t, "--config", cfg, "--data", data, "evidence", "export", ids[0], "-o", bundle, "--no-pdf"); code != exitRuntime || !strings.Contains(e, "chmod 600") {
		t.Errorf("passphrase file of mode 0644: exit %d, stderr %s", code, e)
	}
	if err := os.Chmod(pf, 0o600); err != nil {
		t.Fatal(err)
	}
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", ids[0], "-o", bundle, "--no-pdf")
	if o := mustSW(t, "evidence", "verify", bundle, "--trusted-key", id); !strings.Contains(o, "VERIFIED") {
		t.Errorf("export signed with the key from the passphrase file:\n%s", o)
	}
}

// TestRotateEncryptedSigningKey rotates an encrypted key: it needs the
// passphrase, and the new key is encrypted with it too.
func TestRotateEncryptedSigningKey(t *testing.T) {
	data, ids := sweptEvidence(t)
	keys := filepath.Join(data, "keys")
	old := keyIDs(t, data).Current
	t.Setenv(passphraseEnv, "pw one")
	mustSW(t, "--data", data, "keys", "encrypt")

	t.Setenv(passphraseEnv, "")
	if _, e, code := sw(t, "--data", data, "keys", "rotate"); code != exitRuntime || !strings.Contains(e, passphraseEnv) {
		t.Errorf("rotate without the passphrase: exit %d, stderr %s", code, e)
	}
	if got := keyIDs(t, data).Current; got != old {
		t.Fatalf("a refused rotation changed the key to %s", got)
	}
	t.Setenv(passphraseEnv, "pw one")
	mustSW(t, "--data", data, "keys", "rotate", "--reason", "test")
	cur := keyIDs(t, data).Current
	if cur == old {
		t.Fatal("key not rotated")
	}
	if _, err := os.Stat(filepath.Join(keys, "signer.key")); err == nil {
		t.Error("the new key is a plain file")
	}
	if _, err := os.Stat(filepath.Join(keys, "signer.key.enc")); err != nil {
		t.Errorf("the new key is not encrypted: %v", err)
	}
	exportVerifies(t, data, ids[0], old)
	mustSW(t, "--data", data, "evidence", "ledger", "verify")
}
