package tsa_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"shopwatch/evidence/tsa"
)

// TestInstallWithoutRootKey creates an authority offline and installs it
// into a node folder: the node has root.pem, tsa.pem and tsa.key but no
// root.key, loads, and issues tokens that verify against the root.
func TestInstallWithoutRootKey(t *testing.T) {
	offline := filepath.Join(t.TempDir(), "offline")
	if err := tsa.CreateOffline(offline, tsa.WithLogger(quiet)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(offline, tsa.RootKeyFile)); err != nil {
		t.Fatalf("offline folder has no root key: %v", err)
	}
	if err := tsa.CreateOffline(offline, tsa.WithLogger(quiet)); err == nil {
		t.Error("CreateOffline over an existing authority succeeded")
	}

	node := filepath.Join(t.TempDir(), "data", "tsa")
	a, err := tsa.Install(offline, node, tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	entries, err := os.ReadDir(node)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names[e.Name()] = true
	}
	if names[tsa.RootKeyFile] || len(names) != 3 || !names[tsa.RootCertFile] || !names[tsa.CertFile] || !names[tsa.KeyFile] {
		t.Fatalf("node folder holds %v, want root.pem, tsa.pem and tsa.key only", names)
	}
	rootPEM, _ := os.ReadFile(filepath.Join(offline, tsa.RootCertFile))
	if !bytes.Equal(a.RootPEM(), rootPEM) {
		t.Error("installed authority has another root")
	}

	// Loaded again the usual way, without a root key, it stamps and the
	// tokens verify; nothing creates a root key.
	loaded, err := tsa.LoadOrCreateAuthority(node, tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("manifest")
	if _, err := tsa.Verify(stamp(t, loaded, data), data, loaded.Roots()); err != nil {
		t.Fatalf("token of the installed authority: %v", err)
	}
	if _, err := os.Stat(filepath.Join(node, tsa.RootKeyFile)); err == nil {
		t.Error("a root key appeared on the node")
	}

	// An authority already in place is never replaced.
	if _, err := tsa.Install(offline, node, tsa.WithLogger(quiet)); err == nil {
		t.Error("Install over an existing authority succeeded")
	}
	// A signing key that does not match its certificate is refused.
	other := filepath.Join(t.TempDir(), "other")
	if err := tsa.CreateOffline(other, tsa.WithLogger(quiet)); err != nil {
		t.Fatal(err)
	}
	k, _ := os.ReadFile(filepath.Join(other, tsa.KeyFile))
	if err := os.WriteFile(filepath.Join(offline, tsa.KeyFile), k, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.Install(offline, filepath.Join(t.TempDir(), "tsa"), tsa.WithLogger(quiet)); err == nil {
		t.Error("Install of a mismatched key succeeded")
	}
}
