package ledger_test

import (
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
