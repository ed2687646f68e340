package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/internal/testparts"
)

// sweptEvidence is sweptData's data directory with the ids of the
// evidence captured.
func sweptEvidence(t *testing.T) (data string, ids []string) {
	t.Helper()
	data, _, _ = sweptData(t)
	return data, evidenceIDs(t, data)
}

func evidenceIDs(t *testing.T, data string) []string {
	t.Helper()
	var recs []struct{ ID string }
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs); err != nil || len(recs) == 0 {
		t.Fatalf("no evidence: %v", err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// exportVerifies exports evidence id without report.pdf and verifies the
// bundle, requiring the signer key id wantKey.
func exportVerifies(t *testing.T, data, id, wantKey string) {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), id+".zip")
	mustSW(t, "--data", data, "evidence", "export", id, "-o", bundle, "--no-pdf")
	// The capture is signed with wantKey, the export with the node's
	// current key: both are pinned.
	current := keyIDs(t, data).Current
	if o := mustSW(t, "evidence", "verify", bundle, "--trusted-key", wantKey+","+current); !strings.Contains(o, "VERIFIED") || !strings.Contains(o, ", key "+current+"\n") {
		t.Errorf("bundle of %s does not verify:\n%s", id, o)
	}
}

func keyIDs(t *testing.T, data string) keysReport {
	t.Helper()
	var rep keysReport
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "keys", "show", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSigningKeyNeverSilentlyReplaced removes and damages the signing key
// of a data directory holding signed evidence: nothing makes a new key on
// its own, the commands that sign refuse and say what to do, ledger
// verification still works from the public key, and keys rotate makes a
// new key while everything the old one signed still verifies.
func TestSigningKeyNeverSilentlyReplaced(t *testing.T) {
	data, ids := sweptEvidence(t)
	keys := filepath.Join(data, "keys")
	keyPath := filepath.Join(keys, "signer.key")
	oldKey, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	oldID := keyIDs(t, data).Current
	if !strings.HasPrefix(oldID, "ed25519:") {
		t.Fatalf("keys show: current key %q", oldID)
	}
	mustSW(t, "--data", data, "evidence", "ledger", "verify")

	// Missing key: refused by what signs, never recreated.
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	listing := strings.Join(dirNames(t, keys), " ")
	if o := mustSW(t, "--data", data, "evidence", "ledger", "verify"); !strings.Contains(o, "ledger intact") {
		t.Errorf("ledger verify without the private key:\n%s", o)
	}
	for _, args := range [][]string{
		{"--allow-private", "sweep"},
		{"evidence", "export", ids[0], "-o", filepath.Join(t.TempDir(), "x.zip"), "--no-pdf"},
	} {
		_, stderr, code := sw(t, append([]string{"--data", data}, args...)...)
		if code != exitRuntime || !strings.Contains(stderr, "missing") || !strings.Contains(stderr, "keys rotate") || !strings.Contains(stderr, "backup") {
			t.Errorf("shopwatch %s without the key: exit %d, %q; want exit 3 saying how to restore or rotate", strings.Join(args, " "), code, stderr)
		}
		if got := strings.Join(dirNames(t, keys), " "); got != listing {
			t.Fatalf("shopwatch %s changed the key folder: %s, was %s", strings.Join(args, " "), got, listing)
		}
	}

	// Damaged key: refused, left as it is.
	if err := os.WriteFile(keyPath, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := sw(t, "--data", data, "--allow-private", "sweep"); code != exitRuntime || !strings.Contains(stderr, "keys rotate") {
		t.Errorf("sweep with a damaged key: exit %d, %q", code, stderr)
	}
	if b, _ := os.ReadFile(keyPath); !strings.Contains(string(b), "AAAA") {
		t.Fatal("the damaged key file was replaced")
	}

	// Restored from backup: everything works again with the same key.
	if err := os.WriteFile(keyPath, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	exportVerifies(t, data, ids[0], oldID)

	// Rotation: a new key, the old one kept for verification.
	out := mustSW(t, "--data", data, "keys", "rotate", "--reason", "laptop stolen")
	if !strings.Contains(out, oldID) {
		t.Errorf("keys rotate said %q", out)
	}
	rep := keyIDs(t, data)
	if rep.Current == "" || rep.Current == oldID || len(rep.Retired) != 1 || rep.Retired[0] != oldID {
		t.Fatalf("after rotation: %+v, old key %s", rep, oldID)
	}
	if o := mustSW(t, "--data", data, "evidence", "ledger", "verify"); !strings.Contains(o, "ledger intact") {
		t.Errorf("ledger verify after rotation:\n%s", o)
	}
	if o := mustSW(t, "--data", data, "audit", "list"); !strings.Contains(o, "keys.rotated") || !strings.Contains(o, "laptop stolen") {
		t.Errorf("audit log does not record the rotation:\n%s", o)
	}
	// What the old key signed still exports and verifies with it.
	exportVerifies(t, data, ids[0], oldID)
	// New captures are signed with the new key.
	mustSW(t, "--data", data, "--allow-private", "sweep")
	newIDs := evidenceIDs(t, data)
	if len(newIDs) <= len(ids) {
		t.Fatalf("second sweep captured nothing new: %d then %d", len(ids), len(newIDs))
	}
	fresh := ""
	for _, id := range newIDs {
		if !strings.Contains(strings.Join(ids, " "), id) {
			fresh = id
		}
	}
	exportVerifies(t, data, fresh, rep.Current)
	mustSW(t, "--data", data, "evidence", "ledger", "verify")

	// A lost key (public key still there) is rotated the same way.
	if err := os.Remove(filepath.Join(keys, "signer.key")); err != nil {
		t.Fatal(err)
	}
	mustSW(t, "--data", data, "keys", "rotate")
	if rep2 := keyIDs(t, data); len(rep2.Retired) != 2 || rep2.Current == rep.Current {
		t.Fatalf("after rotating a lost key: %+v", rep2)
	}
	mustSW(t, "--data", data, "evidence", "ledger", "verify")
	exportVerifies(t, data, ids[0], oldID)

	// Key and public key both lost: the rotation cannot record itself in
	// the ledger until the lost key's public key is given, taken from a
	// bundle it signed.
	last := keyIDs(t, data).Current
	bundle := filepath.Join(t.TempDir(), "last.zip")
	mustSW(t, "--data", data, "--allow-private", "sweep")
	latest := evidenceIDs(t, data)
	mustSW(t, "--data", data, "evidence", "export", latest[len(latest)-1], "-o", bundle, "--no-pdf")
	pubPEM, ok := zipFile(t, bundle, "signer.pub")
	if !ok {
		t.Fatal("bundle has no signer.pub")
	}
	lastPub := filepath.Join(t.TempDir(), "signer.pub")
	if err := os.WriteFile(lastPub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"signer.key", "signer.pub"} {
		if err := os.Remove(filepath.Join(keys, name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := sw(t, "--data", data, "keys", "rotate"); code != exitRuntime || !strings.Contains(stderr, "--old-public-key") {
		t.Errorf("keys rotate with the key and its public key gone: exit %d, %q; want it to ask for the old public key", code, stderr)
	}
	mustSW(t, "--data", data, "keys", "rotate", "--old-public-key", lastPub)
	if rep := keyIDs(t, data); !strings.Contains(strings.Join(rep.Retired, " "), last) {
		t.Errorf("the lost key %s is not among the retired keys %v", last, rep.Retired)
	}
	mustSW(t, "--data", data, "evidence", "ledger", "verify")
	exportVerifies(t, data, ids[0], oldID)
}

// TestFirstStartMakesKey: an empty data directory gets its key on the
// first command that signs, with no refusal.
func TestFirstStartMakesKey(t *testing.T) {
	data, _ := sweptEvidence(t)
	if _, err := os.Stat(filepath.Join(data, "keys", "signer.key")); err != nil {
		t.Fatal(err)
	}
}

// treeState records every file under dir with its bytes and mtime.
func treeState(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		m[p] = stateOf(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestArchivedDataReadOnly: a case handler with read-only access to an
// archived data directory lists, verifies and exports, and nothing in the
// directory changes.
func TestArchivedDataReadOnly(t *testing.T) {
	data, ids := sweptEvidence(t)
	before := treeState(t, data)
	ro := testparts.ReadOnly(t, data)
	mustSW(t, "--data", ro, "evidence", "list")
	mustSW(t, "--data", ro, "findings")
	mustSW(t, "--data", ro, "audit", "verify")
	mustSW(t, "--data", ro, "evidence", "ledger", "verify")
	mustSW(t, "--data", ro, "db", "check")
	bundle := filepath.Join(t.TempDir(), "archived.zip")
	_, stderr, code := sw(t, "--data", ro, "evidence", "export", ids[0], "-o", bundle, "--no-pdf")
	if code != exitOK || !strings.Contains(stderr, "not recorded") {
		t.Fatalf("export from a read-only data directory: exit %d, %q", code, stderr)
	}
	if o := mustSW(t, "evidence", "verify", bundle); !strings.Contains(o, "VERIFIED") || !strings.Contains(o, "ledger") {
		t.Errorf("bundle exported read-only does not verify:\n%s", o)
	}
	after := treeState(t, data)
	if len(after) != len(before) {
		t.Fatalf("files under the data directory: %d, were %d", len(after), len(before))
	}
	for p, st := range before {
		if after[p] != st {
			t.Errorf("%s changed", p)
		}
	}
}
