package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
)

func init() {
	register(command{name: "keys", summary: "show, rotate and encrypt the evidence signing key, or keep it in a PKCS#11 token", run: runKeys})
	verbSummaries["keys show"] = "print the ids of the current and retired signing keys"
	verbSummaries["keys rotate"] = "retire the signing key and make a new one; what it signed still verifies"
	verbSummaries["keys encrypt"] = "keep the signing key encrypted with a passphrase"
}

func runKeys(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "keys", args, map[string]func(context.Context, *app, []string) error{
		"show":    keysShow,
		"rotate":  keysRotate,
		"encrypt": keysEncrypt,
		// keyspkcs11.go
		"pkcs11-init": keysPKCS11Init,
	})
}

// keysReport is the JSON form of keys show.
type keysReport struct {
	Dir     string `json:"dir"`
	Current string `json:"current"`
	// Encrypted is true when the current key is kept passphrase-encrypted
	// (signer.key.enc, keys encrypt).
	Encrypted bool     `json:"encrypted"`
	Retired   []string `json:"retired"`
	// PKCS11 names the token that keeps the current key (keys.pkcs11).
	PKCS11 *tokenReport `json:"pkcs11,omitempty"`
}

// tokenReport is the PKCS#11 token and key of keys show.
type tokenReport struct {
	Token    string `json:"token_label"`
	KeyLabel string `json:"key_label"`
	KeyID    string `json:"key_id"` // CKA_ID in hex
}

// keysShow prints the ids of the current and the retired public keys. It
// only reads.
func keysShow(_ context.Context, a *app, args []string) error {
	fs := a.newFlags("keys show", "keys show [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keys show takes no arguments (got %q)", pos[0])
	}
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	if err := a.needData(dir); err != nil {
		return err
	}
	keys := filepath.Join(dir, "keys")
	cur, retired, err := evidence.LoadPublicKeys(keys)
	if err != nil {
		return err
	}
	rep := keysReport{Dir: keys, Retired: []string{}}
	if cur != nil {
		rep.Current = evidence.KeyID(cur)
	}
	if _, err := os.Stat(filepath.Join(keys, evidence.SignerKeyFile)); err != nil {
		if _, err := os.Stat(filepath.Join(keys, evidence.SignerKeyEncFile)); err == nil {
			rep.Encrypted = true
		}
	}
	for _, k := range retired {
		rep.Retired = append(rep.Retired, evidence.KeyID(k))
	}
	// A key in a token is shown as the token has it.
	if hc, ok, err := a.tokenConfig(); ok || err != nil {
		if err != nil {
			return err
		}
		sg, k, err := a.openTokenKey(hc, false)
		if err != nil {
			return err
		}
		if cur != nil && !cur.Equal(sg.PublicKey()) {
			return fmt.Errorf("the node's key is %s (%s), but the key %q in PKCS#11 token %q is %s; run \"shopwatch keys pkcs11-init --existing\" to switch to it",
				rep.Current, filepath.Join(keys, evidence.SignerPubFile), hc.KeyLabel, hc.TokenLabel, sg.KeyID())
		}
		rep.Current = sg.KeyID()
		rep.PKCS11 = &tokenReport{Token: hc.TokenLabel, KeyLabel: hc.KeyLabel, KeyID: hex.EncodeToString(k.ID())}
	}
	if *asJSON {
		return a.printJSON(rep)
	}
	cs := rep.Current
	if cs == "" {
		cs = "(none)"
	}
	if rep.Encrypted {
		cs += "  (encrypted with a passphrase)"
	}
	if t := rep.PKCS11; t != nil {
		cs += fmt.Sprintf("  (in PKCS#11 token %q, key label %q)", t.Token, t.KeyLabel)
	}
	fmt.Fprintf(a.stdout, "current  %s\n", cs)
	for _, r := range rep.Retired {
		fmt.Fprintf(a.stdout, "retired  %s\n", r)
	}
	return nil
}

// keysRotate retires the signing key and makes a new one. While the old
// key can still be read, it first signs a ledger checkpoint covering
// everything it signed, so every capture it sealed keeps a proof
// verifiable with its own key. Then the new key signs a ledger record of
// the rotation, and the audit log records it.
func keysRotate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("keys rotate", "keys rotate [--reason TEXT] [--old-public-key FILE]")
	reason := fs.String("reason", "", "why the key is replaced (recorded in the audit log)")
	oldPubFile := fs.String("old-public-key", "", "the old key's public key (PEM; signer.pub of any bundle it signed) when keys/signer.pub is lost too")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keys rotate takes no arguments (got %q)", pos[0])
	}
	if err := a.refuseTokenKey("rotate"); err != nil {
		return err
	}
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	if err := a.needData(dir); err != nil {
		return err
	}
	if _, err := a.openDB(); err != nil {
		return err
	}
	keys := filepath.Join(dir, "keys")
	if *oldPubFile != "" {
		b, err := os.ReadFile(*oldPubFile)
		if err != nil {
			return fmt.Errorf("--old-public-key: %w", err)
		}
		pub, err := evidence.ParsePublicKeyPEM(b)
		if err != nil {
			return usagef("--old-public-key %s: %v", *oldPubFile, err)
		}
		if err := evidence.KeepRetiredKey(keys, pub); err != nil {
			return err
		}
	}
	// An encrypted key is encrypted again after rotation, with the same
	// passphrase; without the passphrase the old key cannot seal the
	// ledger, so rotation waits for it.
	var pass []byte
	if _, err := os.Stat(filepath.Join(keys, evidence.SignerKeyEncFile)); err == nil {
		if pass, err = a.readPassphrase(); err != nil {
			return fmt.Errorf("the signing key is encrypted: %w", err)
		}
	}
	_, lerr := evidence.LoadSigner(keys, a.keyPassphrase())
	if errors.Is(lerr, evidence.ErrWrongPassphrase) {
		return fmt.Errorf("the old key must seal the ledger before it is retired: %w", lerr)
	}
	if lerr == nil {
		if err := a.sealLedger(ctx, "rotating"); err != nil {
			return err
		}
	}
	old, sg, err := evidence.RotateSigner(keys)
	if err != nil {
		return err
	}
	if pass != nil {
		if sg, err = evidence.EncryptSigner(keys, pass); err != nil {
			return fmt.Errorf("the new key is in place but still a plain file; run \"shopwatch keys encrypt\": %w", err)
		}
	}
	oldID := "unknown (the old key and its public key were both gone)"
	if old != nil {
		oldID = evidence.KeyID(old)
	}
	detail := fmt.Sprintf("signing key %s retired, new key %s", oldID, sg.KeyID())
	if *reason != "" {
		detail += ": " + *reason
	}
	nt, err := a.notary()
	if err != nil {
		return fmt.Errorf("the new key %s is in place, but the ledger could not record the rotation "+
			"(if the old public key is unknown, run keys rotate again with --old-public-key and the signer.pub of a bundle it signed): %w", sg.KeyID(), err)
	}
	if err := recordKeyChange(ctx, nt, detail); err != nil {
		return fmt.Errorf("the new key %s is in place, but the ledger could not record the rotation: %w", sg.KeyID(), err)
	}
	if err := a.custody(ctx, "keys.rotated", detail); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s\nthe old public key stays in %s for verification\n", detail, filepath.Join(keys, evidence.RetiredKeysDir))
	return nil
}

// keysEncrypt replaces the plain signing key with its passphrase-encrypted
// form, keys/signer.key.enc (see evidence.SignerKeyEncFile). The
// passphrase comes from SHOPWATCH_KEY_PASSPHRASE or keys.passphrase_file,
// never from the command line. The plain file is removed only after the
// encrypted one has signed a test message that verifies.
func keysEncrypt(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("keys encrypt", "keys encrypt   (passphrase from $"+passphraseEnv+" or keys.passphrase_file)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keys encrypt takes no arguments (got %q); the passphrase comes from $%s or keys.passphrase_file", pos[0], passphraseEnv)
	}
	if err := a.refuseTokenKey("encrypt"); err != nil {
		return err
	}
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	if err := a.needData(dir); err != nil {
		return err
	}
	keys := filepath.Join(dir, "keys")
	if _, err := os.Stat(filepath.Join(keys, evidence.SignerKeyFile)); errors.Is(err, os.ErrNotExist) {
		if _, eerr := os.Stat(filepath.Join(keys, evidence.SignerKeyEncFile)); eerr == nil {
			fmt.Fprintf(a.stdout, "the signing key is already encrypted (%s)\n", filepath.Join(keys, evidence.SignerKeyEncFile))
			return nil
		}
		return fmt.Errorf("keys encrypt: no signing key in %s: %w", keys, err)
	}
	pass, err := a.readPassphrase()
	if err != nil {
		return err
	}
	sg, err := evidence.EncryptSigner(keys, pass)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("signing key %s encrypted with a passphrase (%s)", sg.KeyID(), evidence.SignerKeyEncFile)
	if err := a.custody(ctx, "keys.encrypted", detail); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s\nthe plain key file is removed; keep the passphrase apart from the data directory\n", detail)
	return nil
}

// sealLedger makes a checkpoint with the key the node signs with now, so
// that the ledger is sealed by it before it is retired (when, for the
// error message), and closes the ledger for the next key to open.
func (a *app) sealLedger(ctx context.Context, when string) error {
	nt, err := a.notary()
	if err != nil {
		return err
	}
	if _, err := nt.Ledger.Checkpoint(ctx); err != nil && !errors.Is(err, ledger.ErrEmpty) {
		return fmt.Errorf("seal the ledger with the old key before %s it: %w", when, err)
	}
	if err := nt.Ledger.Close(); err != nil {
		return err
	}
	a.notaryOnce = nil
	return nil
}

// recordKeyChange enters a change of the signing key in the ledger and
// seals it with a checkpoint signed by the new key.
func recordKeyChange(ctx context.Context, nt *evidence.Notary, detail string) error {
	leaf := fmt.Sprintf("key-rotation %s %s", time.Now().UTC().Format(time.RFC3339Nano), detail)
	if _, err := nt.Ledger.Append(ctx, []byte(leaf)); err != nil {
		return err
	}
	_, err := nt.Ledger.Checkpoint(ctx)
	return err
}
