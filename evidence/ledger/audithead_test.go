package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/evidence/ledger"
)

// A log whose first checkpoint has no audit line (made before audit heads
// were recorded) and whose later ones have one verifies whole, and the
// note's sixth line states the head. A head that fails or is malformed
// stops the checkpoint; an audit head edited in checkpoints.jsonl no
// longer matches the signed note.
func TestAuditHeadLine(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "log")
	l := e.open(t, dir)
	appendN(t, l, 0, 3)
	old := checkpoint(t, l)
	if old.Audit != nil || strings.Contains(old.Note, "audit") {
		t.Fatalf("a checkpoint without WithAuditHead names an audit head:\n%s", old.Note)
	}
	l.Close()

	head := ledger.AuditHead{Size: 7, Hash: "sha256:" + strings.Repeat("c", 64)}
	var headErr error
	l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet), ledger.WithAuditHead(func(context.Context) (ledger.AuditHead, error) {
		return head, headErr
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 3, 5)
	cp := checkpoint(t, l)
	if cp.Audit == nil || *cp.Audit != head || !strings.HasSuffix(cp.Note, "\naudit 7 "+head.Hash+"\n") {
		t.Fatalf("audit head %+v, note:\n%s", cp.Audit, cp.Note)
	}
	headErr = errors.New("database closed")
	appendN(t, l, 5, 6)
	if _, err := l.Checkpoint(ctx); err == nil || !strings.Contains(err.Error(), "database closed") {
		t.Fatalf("Checkpoint with a failing audit head: %v", err)
	}
	headErr = nil
	head = ledger.AuditHead{Size: 8, Hash: "sha256:has space"}
	if _, err := l.Checkpoint(ctx); !errors.Is(err, ledger.ErrMalformed) {
		t.Fatalf("Checkpoint with a malformed audit head: %v", err)
	}
	head = ledger.AuditHead{}
	if cp, err := l.Checkpoint(ctx); err != nil || !strings.HasSuffix(cp.Note, "\naudit 0 -\n") {
		t.Fatalf("Checkpoint of an empty audit log: %v", err)
	}
	if rep, err := l.VerifyLog(ctx); err != nil {
		t.Fatalf("log with and without audit heads: %v\n%s", err, problemList(rep))
	}
	l.Close()

	editJSONLine(t, filepath.Join(dir, ledger.CheckpointsFile), 1, func(m map[string]any) {
		m["audit"].(map[string]any)["size"] = 6
	})
	rep, err := ledger.VerifyDir(ctx, dir, e.signer.PublicKey(), e.tsa.Roots())
	if err == nil {
		t.Fatal("an edited audit head verified")
	}
	wantCheckpoint(t, rep, 1, ledger.ErrMalformed, "note does not state")
}

// Audit entries recorded after the last capture are sealed too: with no
// new leaf, Checkpoint makes a checkpoint of the same size and root when
// the audit log grew, and none when it did not; the log with such
// checkpoints verifies, and an inclusion proof against that size uses the
// latest of them.
func TestAuditOnlyCheckpoint(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "log")
	head := ledger.AuditHead{Size: 3, Hash: "sha256:" + strings.Repeat("a", 64)}
	l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet), ledger.WithAuditHead(func(context.Context) (ledger.AuditHead, error) {
		return head, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 0, 2)
	first := checkpoint(t, l)
	if again := checkpoint(t, l); again.Seq != first.Seq {
		t.Fatalf("audit log unchanged, no new leaf: checkpoint %d made after %d", again.Seq, first.Seq)
	}
	head = ledger.AuditHead{Size: 5, Hash: "sha256:" + strings.Repeat("b", 64)}
	sealed := checkpoint(t, l)
	if sealed.Seq != first.Seq+1 || sealed.Size != first.Size || !bytes.Equal(sealed.Root, first.Root) || sealed.Audit == nil || *sealed.Audit != head {
		t.Fatalf("audit log grew to 5: checkpoint %+v, want seq %d, size %d, same root, audit head 5", sealed, first.Seq+1, first.Size)
	}
	if len(sealed.Consistency) != 0 {
		t.Errorf("a checkpoint of the same tree carries a consistency proof %v", sealed.Consistency)
	}
	// A head that went back (entries cut) makes no checkpoint over it.
	head = ledger.AuditHead{Size: 4, Hash: "sha256:" + strings.Repeat("c", 64)}
	if cp := checkpoint(t, l); cp.Seq != sealed.Seq {
		t.Fatalf("audit head went back: checkpoint %d made", cp.Seq)
	}
	p, err := l.InclusionProof(ctx, 1, first.Size)
	if err != nil {
		t.Fatal(err)
	}
	if p.Checkpoint.Seq != sealed.Seq {
		t.Errorf("proof against size %d uses checkpoint %d, want the latest, %d", first.Size, p.Checkpoint.Seq, sealed.Seq)
	}
	appendN(t, l, 2, 3)
	if cp := checkpoint(t, l); cp.Seq != sealed.Seq+1 || cp.Size != 3 {
		t.Fatalf("after a new leaf: checkpoint %d of size %d", cp.Seq, cp.Size)
	}
	if rep, err := l.VerifyLog(ctx); err != nil {
		t.Fatalf("log with an audit-only checkpoint: %v\n%s", err, problemList(rep))
	}
	l.Close()
	if rep, err := ledger.VerifyDir(ctx, dir, e.signer.PublicKey(), e.tsa.Roots()); err != nil {
		t.Fatalf("VerifyDir: %v\n%s", err, problemList(rep))
	}
}
