package db

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
)

// edSigner signs checkpoints with a bare Ed25519 key.
type edSigner ed25519.PrivateKey

func (s edSigner) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(s), msg), nil
}
func (s edSigner) PublicKey() ed25519.PublicKey {
	return ed25519.PrivateKey(s).Public().(ed25519.PublicKey)
}

// A signed ledger checkpoint records the audit log's head; an intruder
// who cuts the last entries off in bbolt, and even sets the bucket's
// sequence back so that the hash chain alone looks whole, is caught by
// VerifyAuditHead, which names the missing entries. Rewriting the entry
// at the head is caught too.
func TestAuditHeadInCheckpointCatchesTruncation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shopwatch.db")
	d, err := Open(path, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := d.RecordAudit(ctx, "evidence.exported", fmt.Sprintf("bundle %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(nil)
	au, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"), tsa.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ldir := filepath.Join(t.TempDir(), "ledger")
	lg, err := ledger.Open(ldir, edSigner(key), au, ledger.WithLogger(slog.New(slog.DiscardHandler)),
		ledger.WithAuditHead(func(ctx context.Context) (ledger.AuditHead, error) {
			n, h, err := d.AuditHead(ctx)
			return ledger.AuditHead{Size: n, Hash: h}, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	if _, err := lg.Append(ctx, []byte("sha256:"+strings.Repeat("ab", 32))); err != nil {
		t.Fatal(err)
	}
	cp, err := lg.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, head, _ := d.AuditHead(ctx)
	if cp.Audit == nil || cp.Audit.Size != 5 || cp.Audit.Hash != head || !strings.Contains(cp.Note, "\naudit 5 "+head+"\n") {
		t.Fatalf("checkpoint audit head %+v, note:\n%s", cp.Audit, cp.Note)
	}
	if err := d.VerifyAuditHead(ctx, cp.Audit.Size, cp.Audit.Hash); err != nil {
		t.Fatalf("intact log: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// The intruder cuts entries 4 and 5 off and sets the sequence back.
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		for _, seq := range []uint64{4, 5} {
			if err := b.Delete(u64(seq)); err != nil {
				return err
			}
		}
		return b.SetSequence(3)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	d = openTestDB(t, path)
	if err := d.VerifyAudit(ctx); err != nil {
		t.Fatalf("the cut log's chain alone should look whole: %v", err)
	}
	err = d.VerifyAuditHead(ctx, cp.Audit.Size, cp.Audit.Hash)
	if !errors.Is(err, ErrAuditTruncated) || !strings.Contains(err.Error(), "entries 4 to 5 are gone") {
		t.Fatalf("truncated log: want ErrAuditTruncated naming entries 4 to 5, got %v", err)
	}
	// A head whose hash differs (a rewritten entry) is named too.
	err = d.VerifyAuditHead(ctx, 3, "sha256:"+strings.Repeat("0", 64))
	if !errors.Is(err, ErrAuditTruncated) || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("rewritten head: got %v", err)
	}
	// The checkpoint with its audit line verifies; an edited audit head
	// does not match the signed note.
	if rep, err := ledger.VerifyDir(ctx, ldir, edSigner(key).PublicKey(), au.Roots()); err != nil || !rep.OK() {
		t.Fatalf("ledger with audit heads: %v", err)
	}
	forged := *cp
	forged.Audit = &ledger.AuditHead{Size: 3, Hash: cp.Audit.Hash}
	if err := forged.VerifySignature(edSigner(key).PublicKey()); !errors.Is(err, ledger.ErrMalformed) {
		t.Fatalf("edited audit head: want ErrMalformed, got %v", err)
	}
}
