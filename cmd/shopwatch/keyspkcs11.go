package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"shopwatch/evidence"
	"shopwatch/evidence/hsm"
)

func init() {
	verbSummaries["keys pkcs11-init"] = "make the key of keys.pkcs11 in its PKCS#11 token the signing key"
}

// pkcs11Config is keys.pkcs11 of the configuration: where the signing key
// is when a PKCS#11 token keeps it.
type pkcs11Config struct {
	Module     string `yaml:"module"`      // path of the PKCS#11 module (.so)
	TokenLabel string `yaml:"token_label"` // label of the token
	KeyLabel   string `yaml:"key_label"`   // CKA_LABEL of the key pair
	KeyID      string `yaml:"key_id"`      // CKA_ID in hex, optional
	PINFile    string `yaml:"pin_file"`    // file (mode 0600) holding the user PIN
	PINEnv     string `yaml:"pin_env"`     // or the environment variable holding it
}

// tokenConfig returns keys.pkcs11 with the user PIN read from its file or
// environment variable. ok is false when no token is configured.
func (a *app) tokenConfig() (hc hsm.Config, ok bool, err error) {
	c, err := a.config()
	if err != nil {
		return hsm.Config{}, false, err
	}
	p := c.Keys.PKCS11
	if p.Module == "" {
		return hsm.Config{}, false, nil
	}
	hc = hsm.Config{Module: p.Module, TokenLabel: p.TokenLabel, KeyLabel: p.KeyLabel}
	if hc.KeyID, err = hex.DecodeString(p.KeyID); err != nil {
		return hsm.Config{}, true, fmt.Errorf("keys.pkcs11.key_id: %w", err)
	}
	switch {
	case p.PINFile != "":
		pin, err := readSecretFile("keys.pkcs11.pin_file", p.PINFile)
		if err != nil {
			return hsm.Config{}, true, err
		}
		hc.PIN = string(pin)
	case p.PINEnv != "":
		pin, set := os.LookupEnv(p.PINEnv)
		if !set || pin == "" {
			return hsm.Config{}, true, fmt.Errorf("keys.pkcs11.pin_env: $%s is not set; it holds the user PIN of token %q", p.PINEnv, p.TokenLabel)
		}
		hc.PIN = pin
	default:
		return hsm.Config{}, true, errors.New("keys.pkcs11: set pin_file or pin_env, where the token's user PIN comes from")
	}
	return hc, true, nil
}

// tokenHint adds to an error of the token what the operator can do.
func tokenHint(err error, hc hsm.Config) error {
	switch {
	case errors.Is(err, hsm.ErrModule):
		return fmt.Errorf("%w\nInstall the token's PKCS#11 module or correct keys.pkcs11.module (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)", err)
	case errors.Is(err, hsm.ErrTokenNotFound):
		return fmt.Errorf("%w\nCheck that the token is present and keys.pkcs11.token_label names it", err)
	case errors.Is(err, hsm.ErrWrongPIN):
		return fmt.Errorf("%w\nCheck the user PIN in keys.pkcs11.pin_file or pin_env", err)
	case errors.Is(err, hsm.ErrKeyNotFound):
		return fmt.Errorf("%w\nRun \"shopwatch keys pkcs11-init\" to generate the key %q in the token, or correct keys.pkcs11.key_label", err, hc.KeyLabel)
	case errors.Is(err, hsm.ErrWrongKeyType):
		return fmt.Errorf("%w\nshopwatch signs with Ed25519: give keys.pkcs11.key_label a new label and run \"shopwatch keys pkcs11-init\"", err)
	case errors.Is(err, hsm.ErrKeyExists):
		return fmt.Errorf("%w\nRun \"shopwatch keys pkcs11-init --existing\" to sign with it, or choose another keys.pkcs11.key_label", err)
	}
	return err
}

// openTokenKey opens (or, with generate, makes) the key of keys.pkcs11,
// closed when the command ends.
func (a *app) openTokenKey(hc hsm.Config, generate bool) (*evidence.Signer, *hsm.Key, error) {
	open := hsm.Open
	if generate {
		open = hsm.Generate
	}
	k, err := open(hc)
	if err != nil {
		return nil, nil, tokenHint(err, hc)
	}
	a.closers = append(a.closers, func() {
		if err := k.Close(); err != nil {
			a.logger.Warn("close the PKCS#11 token", "token", hc.TokenLabel, "err", err)
		}
	})
	sg, err := evidence.NewSigner(k)
	if err != nil {
		return nil, nil, err
	}
	a.logger.Debug("signing key in a PKCS#11 token", "module", hc.Module, "token", hc.TokenLabel, "key_label", hc.KeyLabel, "key", sg.KeyID())
	return sg, k, nil
}

// tokenSigner is signer for a node whose key a PKCS#11 token keeps. The
// token key must be the node's key (keys/signer.pub): a node that signed
// with another key switches with keys pkcs11-init, which retires the old
// key so that what it signed still verifies. A new node takes the token
// key as its own.
func (a *app) tokenSigner() (*evidence.Signer, error) {
	hc, _, err := a.tokenConfig()
	if err != nil {
		return nil, err
	}
	d, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	sg, _, err := a.openTokenKey(hc, false)
	if err != nil {
		return nil, err
	}
	keys := filepath.Join(d, "keys")
	cur, _, err := evidence.LoadPublicKeys(keys)
	if err != nil {
		return nil, err
	}
	switch {
	case cur != nil && cur.Equal(sg.PublicKey()):
	case cur != nil:
		return nil, fmt.Errorf("the node's key is %s (%s), but the key %q in PKCS#11 token %q is %s. "+
			"Run \"shopwatch keys pkcs11-init --existing\" to retire %s and sign with the token key (what it signed still verifies)",
			evidence.KeyID(cur), filepath.Join(keys, evidence.SignerPubFile), hc.KeyLabel, hc.TokenLabel, sg.KeyID(), evidence.KeyID(cur))
	default:
		why := signedBefore(d)
		for _, name := range []string{evidence.SignerKeyFile, evidence.SignerKeyEncFile} {
			if _, err := os.Stat(filepath.Join(keys, name)); err == nil {
				why = "it has a key file " + filepath.Join(keys, name)
			}
		}
		if why != "" {
			return nil, fmt.Errorf("the data directory %s signed with another key before (%s). "+
				"Run \"shopwatch keys pkcs11-init --existing\" to retire it and sign with the key %q in PKCS#11 token %q", d, why, hc.KeyLabel, hc.TokenLabel)
		}
		if _, err := evidence.AdoptSigner(keys, sg); err != nil {
			return nil, err
		}
	}
	a.signerOnce = sg
	return sg, nil
}

// refuseTokenKey stops the key commands that act on a key file when the
// key is in a PKCS#11 token.
func (a *app) refuseTokenKey(verb string) error {
	c, err := a.config()
	if err != nil {
		return err
	}
	if p := c.Keys.PKCS11; p.Module != "" {
		return fmt.Errorf("keys %s: the signing key is in PKCS#11 token %q (keys.pkcs11), which it never leaves; "+
			"to replace it, set keys.pkcs11.key_label to a new label and run \"shopwatch keys pkcs11-init\"", verb, p.TokenLabel)
	}
	return nil
}

// keysPKCS11Init generates the Ed25519 key of keys.pkcs11 in its token
// (or, with --existing, takes the key already there) and makes it the
// node's key. A key the node had before is retired as keys rotate
// retires it: while it can still be read it first seals the ledger, its
// public key is kept for verification, the new key records the change in
// the ledger, and the audit log records it.
func keysPKCS11Init(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("keys pkcs11-init", "keys pkcs11-init [--existing] [--reason TEXT]   (token and key from keys.pkcs11; PIN from its pin_file or pin_env)")
	existing := fs.Bool("existing", false, "sign with the key already in the token under keys.pkcs11.key_label instead of generating one")
	reason := fs.String("reason", "", "why the key changes (recorded in the audit log)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keys pkcs11-init takes no arguments (got %q); the token and key come from keys.pkcs11 of the configuration", pos[0])
	}
	hc, ok, err := a.tokenConfig()
	if !ok && err == nil {
		return usagef("keys pkcs11-init needs keys.pkcs11 in the configuration: module, token_label, key_label, and pin_file or pin_env")
	}
	if err != nil {
		return err
	}
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	if _, err := a.openDB(); err != nil {
		return err
	}
	keys := filepath.Join(dir, "keys")
	// A key file the node signs with must be readable to seal the ledger
	// before it is retired; that is checked before the token changes.
	old, lerr := evidence.LoadSigner(keys, a.keyPassphrase())
	if errors.Is(lerr, evidence.ErrNeedPassphrase) || errors.Is(lerr, evidence.ErrWrongPassphrase) {
		return fmt.Errorf("the old key must seal the ledger before it is retired: %w", lerr)
	}
	sg, _, err := a.openTokenKey(hc, !*existing)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("in PKCS#11 token %q (key label %q)", hc.TokenLabel, hc.KeyLabel)
	if !*existing {
		where = "generated " + where
	}
	if lerr == nil && !old.PublicKey().Equal(sg.PublicKey()) {
		// The old key seals the ledger while it can still be read.
		a.signerOnce = old
		if err := a.sealLedger(ctx, "retiring"); err != nil {
			return err
		}
	}
	oldPub, err := evidence.AdoptSigner(keys, sg)
	if err != nil {
		return err
	}
	a.signerOnce = sg
	detail := fmt.Sprintf("signing key %s %s", sg.KeyID(), where)
	retired := oldPub != nil && !oldPub.Equal(sg.PublicKey())
	if retired {
		detail = fmt.Sprintf("signing key %s retired, new key %s %s", evidence.KeyID(oldPub), sg.KeyID(), where)
	}
	if *reason != "" {
		detail += ": " + *reason
	}
	if retired {
		nt, err := a.notary()
		if err == nil {
			err = recordKeyChange(ctx, nt, detail)
		}
		if err != nil {
			return fmt.Errorf("the token key %s is in place, but the ledger could not record the change: %w", sg.KeyID(), err)
		}
	}
	if err := a.custody(ctx, "keys.pkcs11", detail); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s\nthe private key stays in the token and cannot be read out of it\n", detail)
	if retired {
		fmt.Fprintf(a.stdout, "the old public key stays in %s for verification\n", filepath.Join(keys, evidence.RetiredKeysDir))
	}
	return nil
}
