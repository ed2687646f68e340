package ledger_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
)

// TestKeyRotation: after the signing key is replaced, the log opens and
// verifies with the old key named as retired, proofs against old
// checkpoints verify with the old key, and a checkpoint signed with the
// old key after the new key signed one is a problem.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := newEnv(t)
	l := old.open(t, dir)
	for i := range 5 {
		if _, err := l.Append(ctx, leaf(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp0, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()

	_, key, _ := ed25519.GenerateKey(nil)
	newSigner, _ := evidence.NewSigner(key)
	oldPub := old.signer.PublicKey()

	// Without the old key named, the log is refused.
	if _, err := ledger.Open(dir, newSigner, old.tsa, ledger.WithLogger(quiet)); !errors.Is(err, ledger.ErrDamaged) {
		t.Fatalf("open with a new key and no retired key: %v, want ErrDamaged", err)
	}
	l2, err := ledger.Open(dir, newSigner, old.tsa, ledger.WithLogger(quiet), ledger.WithRetiredKeys(oldPub))
	if err != nil {
		t.Fatal(err)
	}
	if l2.KeyID() != newSigner.KeyID() {
		t.Errorf("KeyID %s, want %s", l2.KeyID(), newSigner.KeyID())
	}
	if _, err := l2.Append(ctx, leaf(5)); err != nil {
		t.Fatal(err)
	}
	cp1, err := l2.Checkpoint(ctx)
	if err != nil || cp1.KeyID != newSigner.KeyID() {
		t.Fatalf("checkpoint after rotation: %+v, %v", cp1, err)
	}
	// A proof against the old checkpoint verifies with the old key only.
	p, err := l2.InclusionProof(ctx, 2, cp0.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.VerifyInclusion(p, leaf(2), oldPub, old.tsa.Roots()); err != nil {
		t.Errorf("proof against the old checkpoint: %v", err)
	}
	if _, err := ledger.VerifyInclusion(p, leaf(2), newSigner.PublicKey(), old.tsa.Roots()); err == nil {
		t.Error("proof against the old checkpoint verified with the new key")
	}
	if rep, err := l2.VerifyLog(ctx); err != nil || !rep.OK() {
		t.Fatalf("VerifyLog after rotation: %v", err)
	}
	l2.Close()
	if _, err := ledger.VerifyDir(ctx, dir, newSigner.PublicKey(), old.tsa.Roots(), oldPub); err != nil {
		t.Fatalf("VerifyDir with the retired key: %v", err)
	}
	if _, err := ledger.VerifyDir(ctx, dir, newSigner.PublicKey(), old.tsa.Roots()); !errors.Is(err, ledger.ErrBadSignature) {
		t.Fatalf("VerifyDir without the retired key: %v, want ErrBadSignature", err)
	}

	// Rotation only moves forward: a key named retired may not have
	// signed after the current key did. Here the old key is current again
	// and the new one "retired": its checkpoint follows one by the old key.
	_, err = ledger.Open(dir, old.signer, old.tsa, ledger.WithLogger(quiet), ledger.WithRetiredKeys(newSigner.PublicKey()))
	if !errors.Is(err, ledger.ErrDamaged) || !strings.Contains(err.Error(), "after checkpoints signed by the current key") {
		t.Fatalf("a retired key's checkpoint after the current key's: %v, want ErrDamaged", err)
	}
}

// TestOpenReadOnly: a log opened read-only gives proofs against stored
// checkpoints, refuses to append or checkpoint, and changes no file.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := t.TempDir()
	l := e.open(t, dir)
	for i := range 4 {
		if _, err := l.Append(ctx, leaf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, leaf(4)); err != nil { // not covered by a checkpoint
		t.Fatal(err)
	}
	l.Close()
	before := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, en.Name()))
		st, _ := en.Info()
		before[en.Name()] = string(b) + st.ModTime().String()
	}

	r, err := ledger.OpenReadOnly(dir, e.signer.PublicKey(), e.tsa.Roots())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := r.InclusionProof(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.VerifyInclusion(p, leaf(1), e.signer.PublicKey(), e.tsa.Roots()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.InclusionProof(ctx, 4, 0); !errors.Is(err, ledger.ErrReadOnly) {
		t.Errorf("proof needing a new checkpoint: %v, want ErrReadOnly", err)
	}
	if _, err := r.Append(ctx, leaf(9)); !errors.Is(err, ledger.ErrReadOnly) {
		t.Errorf("Append: %v, want ErrReadOnly", err)
	}
	if _, err := r.Checkpoint(ctx); !errors.Is(err, ledger.ErrReadOnly) {
		t.Errorf("Checkpoint: %v, want ErrReadOnly", err)
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != len(before) {
		t.Fatalf("files in the log folder: %d, were %d", len(ents), len(before))
	}
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, en.Name()))
		st, _ := en.Info()
		if before[en.Name()] != string(b)+st.ModTime().String() {
			t.Errorf("%s changed", en.Name())
		}
	}
}
