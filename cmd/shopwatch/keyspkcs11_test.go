package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch/internal/testparts"
)

// tokenConfigFile writes a configuration keeping the signing key in the
// test's SoftHSM2 token under keyLabel, with the PIN setting pin (a
// "pin_file: …" or "pin_env: …" line).
func tokenConfigFile(t *testing.T, h *testparts.SoftHSM, keyLabel, pin string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	body := "keys:\n  pkcs11:\n    module: " + h.Module + "\n    token_label: " + h.TokenLabel + "\n    key_label: " + keyLabel + "\n    " + pin + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func decodeJSON(t *testing.T, doc string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(doc), v); err != nil {
		t.Fatalf("%v in %s", err, doc)
	}
}

func pinFile(t *testing.T, pin string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(f, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSigningKeyInPKCS11Token moves a node that signed with a key file to
// an Ed25519 key generated in a SoftHSM2 token: the file key is retired
// (what it signed still verifies), keys show names the token key, new
// captures and exports are signed by the token and verify, and a missing
// key, a wrong PIN, a missing PIN and the key-file commands give clear
// errors that change nothing and never show the PIN.
func TestSigningKeyInPKCS11Token(t *testing.T) {
	h := testparts.StartSoftHSM(t, "shopwatch-node")
	data, ids := sweptEvidence(t)
	keys := filepath.Join(data, "keys")
	oldID := keyIDs(t, data).Current
	cfg := tokenConfigFile(t, h, "evidence-signing", "pin_file: "+pinFile(t, h.PIN))
	at := func(args ...string) []string { return append([]string{"--config", cfg, "--data", data}, args...) }

	// Before the key is in the token, nothing signs and nothing changes.
	listing := strings.Join(dirNames(t, keys), " ")
	for _, args := range [][]string{{"keys", "show"}, {"--allow-private", "sweep"}, {"evidence", "export", ids[0], "-o", filepath.Join(t.TempDir(), "x.zip"), "--no-pdf"}} {
		if _, e, code := sw(t, at(args...)...); code != exitRuntime || !strings.Contains(e, "no private key") || !strings.Contains(e, "keys pkcs11-init") {
			t.Errorf("%v before pkcs11-init: exit %d, stderr %s", args, code, e)
		}
	}
	for _, verb := range []string{"rotate", "encrypt"} {
		if _, e, code := sw(t, at("keys", verb)...); code != exitRuntime || !strings.Contains(e, "PKCS#11 token") {
			t.Errorf("keys %s with the key in a token: exit %d, stderr %s", verb, code, e)
		}
	}
	if got := strings.Join(dirNames(t, keys), " "); got != listing {
		t.Fatalf("refused commands changed the key folder: %s, was %s", got, listing)
	}

	// An encrypted key file must seal the ledger before it is retired:
	// without its passphrase pkcs11-init stops before the token changes.
	t.Setenv(passphraseEnv, "file key passphrase")
	mustSW(t, "--data", data, "keys", "encrypt")
	t.Setenv(passphraseEnv, "")
	if _, e, code := sw(t, at("keys", "pkcs11-init")...); code != exitRuntime || !strings.Contains(e, passphraseEnv) {
		t.Errorf("keys pkcs11-init without the old key's passphrase: exit %d, stderr %s", code, e)
	}
	t.Setenv(passphraseEnv, "file key passphrase")
	out := mustSW(t, at("keys", "pkcs11-init", "--reason", "key into the token")...)
	if !strings.Contains(out, oldID+" retired") || !strings.Contains(out, "shopwatch-node") {
		t.Errorf("keys pkcs11-init: %s", out)
	}
	if _, e, code := sw(t, at("keys", "pkcs11-init")...); code != exitRuntime || !strings.Contains(e, "--existing") {
		t.Errorf("second keys pkcs11-init: exit %d, stderr %s", code, e)
	}
	var rep keysReport
	decodeJSON(t, mustSW(t, at("keys", "show", "--json")...), &rep)
	tokenID := rep.Current
	if !strings.HasPrefix(tokenID, "ed25519:") || tokenID == oldID || !slices.Equal(rep.Retired, []string{oldID}) ||
		rep.PKCS11 == nil || rep.PKCS11.Token != "shopwatch-node" || rep.PKCS11.KeyLabel != "evidence-signing" || rep.PKCS11.KeyID == "" {
		t.Fatalf("keys show after pkcs11-init: %+v (old key %s)", rep, oldID)
	}
	if o := mustSW(t, at("keys", "show")...); !strings.Contains(o, tokenID) || !strings.Contains(o, "PKCS#11 token") {
		t.Errorf("keys show: %s", o)
	}
	for _, name := range []string{"signer.key", "signer.key.enc"} {
		if _, err := os.Stat(filepath.Join(keys, name)); err == nil {
			t.Errorf("%s is still in the key folder", name)
		}
	}
	if o := mustSW(t, "--data", data, "evidence", "ledger", "verify"); !strings.Contains(o, "ledger intact") {
		t.Errorf("ledger verify after the move into the token:\n%s", o)
	}
	if o := mustSW(t, "--data", data, "audit", "list"); !strings.Contains(o, "keys.pkcs11") || !strings.Contains(o, "key into the token") {
		t.Errorf("audit log does not record the move:\n%s", o)
	}

	// The old capture exports, signed for export by the token key.
	bundle := filepath.Join(t.TempDir(), "old.zip")
	mustSW(t, at("evidence", "export", ids[0], "-o", bundle, "--no-pdf")...)
	if o := mustSW(t, "evidence", "verify", bundle, "--trusted-key", oldID+","+tokenID); !strings.Contains(o, "VERIFIED") || !strings.Contains(o, ", key "+tokenID+"\n") {
		t.Errorf("bundle of the old capture exported with the token key:\n%s", o)
	}
	// New captures are signed in the token, several workers at once.
	mustSW(t, at("--allow-private", "sweep")...)
	fresh := ""
	for _, id := range evidenceIDs(t, data) {
		if !slices.Contains(ids, id) {
			fresh = id
		}
	}
	if fresh == "" {
		t.Fatal("the sweep with the token key captured nothing new")
	}
	bundle = filepath.Join(t.TempDir(), "new.zip")
	mustSW(t, at("evidence", "export", fresh, "-o", bundle, "--no-pdf")...)
	if o := mustSW(t, "evidence", "verify", bundle, "--trusted-key", tokenID); !strings.Contains(o, "VERIFIED") {
		t.Errorf("capture signed in the token does not verify with only the token key trusted:\n%s", o)
	}
	if o, _, code := sw(t, "evidence", "verify", bundle, "--trusted-key", oldID); code == exitOK || !strings.Contains(o, "NOT VERIFIED") || !strings.Contains(o, "is not one of "+oldID) {
		t.Errorf("capture signed in the token verifies with only the old key trusted (exit %d):\n%s", code, o)
	}
	mustSW(t, "--data", data, "evidence", "ledger", "verify")

	// A wrong PIN, and a PIN variable that is not set: clear errors that
	// never show the PIN, and nothing changes.
	listing = strings.Join(dirNames(t, keys), " ")
	wrong := tokenConfigFile(t, h, "evidence-signing", "pin_file: "+pinFile(t, "99999999"))
	if _, e, code := sw(t, "--config", wrong, "--data", data, "evidence", "export", fresh, "-o", filepath.Join(t.TempDir(), "x.zip"), "--no-pdf"); code != exitRuntime ||
		!strings.Contains(e, "refused the PIN") || strings.Contains(e, "99999999") {
		t.Errorf("export with a wrong PIN: exit %d, stderr %s", code, e)
	}
	envCfg := tokenConfigFile(t, h, "evidence-signing", "pin_env: SHOPWATCH_TEST_TOKEN_PIN")
	t.Setenv("SHOPWATCH_TEST_TOKEN_PIN", "")
	if _, e, code := sw(t, "--config", envCfg, "--data", data, "keys", "show"); code != exitRuntime || !strings.Contains(e, "$SHOPWATCH_TEST_TOKEN_PIN is not set") {
		t.Errorf("keys show without the PIN variable: exit %d, stderr %s", code, e)
	}
	if got := strings.Join(dirNames(t, keys), " "); got != listing {
		t.Fatalf("refused commands changed the key folder: %s, was %s", got, listing)
	}
	t.Setenv("SHOPWATCH_TEST_TOKEN_PIN", h.PIN)
	if o := mustSW(t, "--config", envCfg, "--data", data, "keys", "show"); !strings.Contains(o, tokenID) {
		t.Errorf("keys show with the PIN from the environment: %s", o)
	}

	// A new node whose key is made in the token from the start retires
	// nothing; a half-set keys.pkcs11 is a usage error naming the key.
	fresh2 := filepath.Join(t.TempDir(), "new-node")
	cfg2 := tokenConfigFile(t, h, "second-node", "pin_env: SHOPWATCH_TEST_TOKEN_PIN")
	if o := mustSW(t, "--config", cfg2, "--data", fresh2, "keys", "pkcs11-init"); strings.Contains(o, "retired") {
		t.Errorf("keys pkcs11-init on a new node: %s", o)
	}
	decodeJSON(t, mustSW(t, "--config", cfg2, "--data", fresh2, "keys", "show", "--json"), &rep)
	if rep.Current == tokenID || !strings.HasPrefix(rep.Current, "ed25519:") || len(rep.Retired) != 0 {
		t.Errorf("keys show on the new node: %+v", rep)
	}
	half := filepath.Join(t.TempDir(), "half.yaml")
	if err := os.WriteFile(half, []byte("keys:\n  pkcs11:\n    module: "+h.Module+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, code := sw(t, "--config", half, "--data", fresh2, "keys", "show"); code != exitUsage || !strings.Contains(e, "keys.pkcs11.token_label") || !strings.Contains(e, "keys.pkcs11.pin_file") {
		t.Errorf("half-set keys.pkcs11: exit %d, stderr %s", code, e)
	}
}
