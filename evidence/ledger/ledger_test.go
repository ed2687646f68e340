package ledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"shopwatch/internal/testparts"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
)

var (
	_ ledger.Signer      = (*evidence.Signer)(nil)
	_ ledger.Timestamper = (*tsa.Authority)(nil)
	_ ledger.Timestamper = (*tsa.Client)(nil)
)

var quiet = slog.New(slog.DiscardHandler)

// env is a signer and a time-stamping authority for one test.
type env struct {
	signer *evidence.Signer
	tsa    *tsa.Authority
}

func newEnv(t testing.TB) *env {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := evidence.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"), tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return &env{signer: s, tsa: a}
}

func (e *env) open(t testing.TB, dir string) *ledger.Log {
	t.Helper()
	l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func leaf(i int) []byte {
	sum := sha256.Sum256([]byte(fmt.Sprintf("manifest %d", i)))
	return []byte(evidence.SumBytes(evidence.SHA256, sum[:]).String())
}

func appendN(t testing.TB, l *ledger.Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		idx, err := l.Append(context.Background(), leaf(i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(i) {
			t.Fatalf("Append(leaf %d) = index %d", i, idx)
		}
	}
}

func checkpoint(t testing.TB, l *ledger.Log) *ledger.Checkpoint {
	t.Helper()
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// referenceRoot computes the RFC 6962 root of leaves 0..n-1 with the
// library's compact range, independently of the log's own tree.
func referenceRoot(t testing.TB, n int) []byte {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for i := range n {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(leaf(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestProofsForEveryLeafAndCheckpoint(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, t.TempDir())
	ctx := context.Background()
	sizes := []int{1, 2, 5, 16, 17, 37}
	var cps []*ledger.Checkpoint
	n := 0
	for _, s := range sizes {
		appendN(t, l, n, s)
		n = s
		cp := checkpoint(t, l)
		if cp.Size != uint64(s) || cp.Seq != uint64(len(cps)) {
			t.Fatalf("checkpoint seq %d size %d, want seq %d size %d", cp.Seq, cp.Size, len(cps), s)
		}
		if want := referenceRoot(t, s); !bytes.Equal(cp.Root, want) {
			t.Fatalf("checkpoint of %d leaves has root %s, want %x", s, cp.Root, want)
		}
		cps = append(cps, cp)
	}
	for _, cp := range cps {
		for i := uint64(0); i < cp.Size; i++ {
			p, err := l.InclusionProof(ctx, i, cp.Size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, cp.Size, err)
			}
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ledger.ParseProof(b)
			if err != nil {
				t.Fatal(err)
			}
			info, err := ledger.VerifyInclusion(parsed, leaf(int(i)), e.signer.PublicKey(), e.tsa.Roots())
			if err != nil {
				t.Fatalf("VerifyInclusion(leaf %d, size %d): %v\n%s", i, cp.Size, err, b)
			}
			if info.GenTime.IsZero() {
				t.Error("VerifyInclusion returned no genTime")
			}
		}
	}
	// Size 0: the latest checkpoint.
	p, err := l.InclusionProof(ctx, 3, 0)
	if err != nil || p.TreeSize != 37 {
		t.Fatalf("InclusionProof(3, latest) = size %v, %v; want 37", p, err)
	}
	// A size without a checkpoint, an index beyond it.
	if _, err := l.InclusionProof(ctx, 3, 30); !errors.Is(err, ledger.ErrNoCheckpoint) {
		t.Errorf("InclusionProof at size 30 = %v, want ErrNoCheckpoint", err)
	}
	if _, err := l.InclusionProof(ctx, 9, 5); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("InclusionProof of leaf 9 at size 5 = %v, want ErrNotFound", err)
	}
	if _, err := l.InclusionProof(ctx, 99, 0); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("InclusionProof of leaf 99 = %v, want ErrNotFound", err)
	}
	// Consistency proofs between stored checkpoints.
	for i := 1; i < len(cps); i++ {
		if _, err := l.ConsistencyProof(ctx, cps[i-1].Size, cps[i].Size); err != nil {
			t.Errorf("ConsistencyProof(%d, %d): %v", cps[i-1].Size, cps[i].Size, err)
		}
	}
	rep, err := l.VerifyLog(ctx)
	if err != nil {
		t.Fatalf("VerifyLog: %v", err)
	}
	if rep.Leaves != 37 || rep.Checkpoints != len(sizes) || !rep.TimestampsChecked || !bytes.Equal(rep.Root, referenceRoot(t, 37)) {
		t.Errorf("report = %+v", rep)
	}
}

func TestInclusionProofMakesCheckpoint(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, t.TempDir())
	ctx := context.Background()
	appendN(t, l, 0, 3)
	p, err := l.InclusionProof(ctx, 2, 0) // no checkpoint yet: one is made
	if err != nil {
		t.Fatal(err)
	}
	if p.TreeSize != 3 || len(l.Checkpoints()) != 1 {
		t.Fatalf("proof at size %d with %d checkpoints, want 3 and 1", p.TreeSize, len(l.Checkpoints()))
	}
	appendN(t, l, 3, 4)
	p, err = l.InclusionProof(ctx, 3, 0) // latest does not cover leaf 3
	if err != nil || p.TreeSize != 4 || p.Checkpoint.Seq != 1 {
		t.Fatalf("proof = %+v, %v; want size 4 from checkpoint 1", p, err)
	}
	p, err = l.InclusionProof(ctx, 0, 0) // covered: no new checkpoint
	if err != nil || p.Checkpoint.Seq != 1 || len(l.Checkpoints()) != 2 {
		t.Fatalf("proof = %+v, %v; want checkpoint 1 reused", p, err)
	}
}

func TestVerifyInclusionRejects(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, t.TempDir())
	appendN(t, l, 0, 11)
	checkpoint(t, l)
	appendN(t, l, 11, 13)
	checkpoint(t, l)
	good, err := l.InclusionProof(context.Background(), 6, 0)
	if err != nil || good.TreeSize != 13 {
		t.Fatalf("proof at size %d, %v; want 13", good.TreeSize, err)
	}
	other := newEnv(t)
	earlier, err := l.InclusionProof(context.Background(), 6, 11)
	if err != nil {
		t.Fatal(err)
	}

	clone := func() *ledger.Proof {
		b, err := good.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ledger.ParseProof(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub, roots := e.signer.PublicKey(), e.tsa.Roots()
	tests := []struct {
		name   string
		edit   func(p *ledger.Proof)
		leaf   []byte
		pub    ed25519.PublicKey
		otherR bool
		want   error
	}{
		{name: "other leaf", leaf: leaf(7), want: ledger.ErrLeafHash},
		{name: "leaf hash", edit: func(p *ledger.Proof) { p.LeafHash[0] ^= 1 }, want: ledger.ErrLeafHash},
		{name: "audit path", edit: func(p *ledger.Proof) { p.AuditPath[1][5] ^= 1 }, want: ledger.ErrRootMismatch},
		{name: "short audit path", edit: func(p *ledger.Proof) { p.AuditPath = p.AuditPath[:len(p.AuditPath)-1] }, want: ledger.ErrRootMismatch},
		{name: "leaf index", edit: func(p *ledger.Proof) { p.LeafIndex = 5 }, want: ledger.ErrRootMismatch},
		{name: "root", edit: func(p *ledger.Proof) { p.Root[0] ^= 1 }, want: ledger.ErrMalformed},
		{name: "root in proof and checkpoint", edit: func(p *ledger.Proof) { p.Root[0] ^= 1; p.Checkpoint.Root[0] ^= 1 }, want: ledger.ErrRootMismatch},
		{name: "signature", edit: func(p *ledger.Proof) { p.Checkpoint.Signature[10] ^= 1 }, want: ledger.ErrBadSignature},
		{name: "note", edit: func(p *ledger.Proof) { p.Checkpoint.Note = strings.Replace(p.Checkpoint.Note, "size 13", "size 14", 1) }, want: ledger.ErrMalformed},
		{name: "timestamp of another checkpoint", edit: func(p *ledger.Proof) { p.Checkpoint.Timestamp = earlier.Checkpoint.Timestamp }, want: ledger.ErrBadTimestamp},
		{name: "truncated timestamp", edit: func(p *ledger.Proof) { p.Checkpoint.Timestamp = p.Checkpoint.Timestamp[:40] }, want: ledger.ErrBadTimestamp},
		{name: "other key", pub: other.signer.PublicKey(), want: ledger.ErrBadSignature},
		{name: "other TSA root", otherR: true, want: tsa.ErrUntrusted},
		{name: "format", edit: func(p *ledger.Proof) { p.Format = "x" }, want: ledger.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := clone()
			if tt.edit != nil {
				tt.edit(p)
			}
			lf, k, r := leaf(6), pub, roots
			if tt.leaf != nil {
				lf = tt.leaf
			}
			if tt.pub != nil {
				k = tt.pub
			}
			if tt.otherR {
				r = other.tsa.Roots()
			}
			if _, err := ledger.VerifyInclusion(p, lf, k, r); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyInclusion = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := ledger.VerifyInclusion(clone(), leaf(6), pub, roots); err != nil {
		t.Fatalf("untouched proof: %v", err)
	}
}

// damaged builds a closed log of 20 leaves with checkpoints at sizes 5, 12
// and 20 and returns its folder.
func damaged(t *testing.T, e *env) string {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range [][2]int{{0, 5}, {5, 12}, {12, 20}} {
		appendN(t, l, n[0], n[1])
		checkpoint(t, l)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editJSONLine rewrites line i of a .jsonl file through a map.
func editJSONLine(t testing.TB, path string, i int, edit func(m map[string]any)) {
	t.Helper()
	lines := readLines(t, path)
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	lines[i] = string(b) + "\n"
	writeLines(t, path, lines)
}

func leafHashHex(s string) string {
	return fmt.Sprintf("%x", rfc6962.DefaultHasher.HashLeaf([]byte(s)))
}

// wantRecord fails the test unless the report has a *RecordError for
// index wrapping want.
func wantRecord(t testing.TB, rep *ledger.Report, index uint64, want error) {
	t.Helper()
	for _, p := range rep.Problems {
		var re *ledger.RecordError
		if errors.As(p, &re) && re.Index == index && errors.Is(p, want) {
			return
		}
	}
	t.Errorf("no problem for record %d wrapping %v; got:\n%s", index, want, problemList(rep))
}

// wantCheckpoint fails the test unless the report has a *CheckpointError
// for seq wrapping want whose text contains mention.
func wantCheckpoint(t testing.TB, rep *ledger.Report, seq uint64, want error, mention string) {
	t.Helper()
	for _, p := range rep.Problems {
		var ce *ledger.CheckpointError
		if errors.As(p, &ce) && ce.Seq == seq && errors.Is(p, want) && strings.Contains(p.Error(), mention) {
			return
		}
	}
	t.Errorf("no problem for checkpoint %d wrapping %v mentioning %q; got:\n%s", seq, want, mention, problemList(rep))
}

func problemList(rep *ledger.Report) string {
	if rep == nil {
		return "(no report)"
	}
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString("  " + p.Error() + "\n")
	}
	return b.String()
}

func verifyDamaged(t *testing.T, e *env, dir string) *ledger.Report {
	t.Helper()
	rep, err := ledger.VerifyDir(context.Background(), dir, e.signer.PublicKey(), e.tsa.Roots())
	if err == nil {
		t.Fatal("VerifyDir found nothing wrong")
	}
	if rep == nil {
		t.Fatalf("VerifyDir returned no report: %v", err)
	}
	t.Logf("problems:\n%s", problemList(rep))
	// And the damaged log is not opened for appending.
	if l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet)); !errors.Is(err, ledger.ErrDamaged) {
		if l != nil {
			l.Close()
		}
		t.Errorf("Open of the damaged log = %v, want ErrDamaged", err)
	}
	return rep
}

func TestTamperDetected(t *testing.T) {
	e := newEnv(t)
	leaves := func(dir string) string { return filepath.Join(dir, ledger.LeavesFile) }
	cps := func(dir string) string { return filepath.Join(dir, ledger.CheckpointsFile) }

	t.Run("intact", func(t *testing.T) {
		dir := damaged(t, e)
		rep, err := ledger.VerifyDir(context.Background(), dir, e.signer.PublicKey(), e.tsa.Roots())
		if err != nil || !rep.OK() || rep.Leaves != 20 || rep.Checkpoints != 3 {
			t.Fatalf("VerifyDir of an intact log = %+v, %v", rep, err)
		}
	})
	t.Run("leaf altered", func(t *testing.T) {
		dir := damaged(t, e)
		editJSONLine(t, leaves(dir), 7, func(m map[string]any) { m["leaf"] = string(leaf(99)) })
		rep := verifyDamaged(t, e, dir)
		wantRecord(t, rep, 7, ledger.ErrLeafHash)
		wantCheckpoint(t, rep, 1, ledger.ErrRootMismatch, "records 5 to 11")
	})
	t.Run("leaf and its hash altered", func(t *testing.T) {
		dir := damaged(t, e)
		editJSONLine(t, leaves(dir), 7, func(m map[string]any) {
			m["leaf"] = string(leaf(99))
			m["leaf_hash"] = leafHashHex(string(leaf(99)))
		})
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 1, ledger.ErrRootMismatch, "records 5 to 11")
		wantCheckpoint(t, rep, 2, ledger.ErrRootMismatch, "")
	})
	t.Run("record deleted", func(t *testing.T) {
		dir := damaged(t, e)
		lines := readLines(t, leaves(dir))
		writeLines(t, leaves(dir), append(lines[:9:9], lines[10:]...))
		rep := verifyDamaged(t, e, dir)
		wantRecord(t, rep, 9, ledger.ErrMissing)
		wantCheckpoint(t, rep, 1, ledger.ErrRootMismatch, "")
	})
	t.Run("records swapped", func(t *testing.T) {
		dir := damaged(t, e)
		lines := readLines(t, leaves(dir))
		lines[3], lines[4] = lines[4], lines[3]
		writeLines(t, leaves(dir), lines)
		rep := verifyDamaged(t, e, dir)
		wantRecord(t, rep, 3, ledger.ErrMissing)
		wantRecord(t, rep, 3, ledger.ErrOrder)
	})
	t.Run("log truncated", func(t *testing.T) {
		dir := damaged(t, e)
		lines := readLines(t, leaves(dir))
		writeLines(t, leaves(dir), lines[:15])
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 2, ledger.ErrMissing, "records 15 to 19")
	})
	t.Run("log truncated mid-record", func(t *testing.T) {
		dir := damaged(t, e)
		b, _ := os.ReadFile(leaves(dir))
		os.WriteFile(leaves(dir), b[:len(b)-30], 0o644)
		rep, err := ledger.VerifyDir(context.Background(), dir, e.signer.PublicKey(), e.tsa.Roots())
		if err == nil {
			t.Fatal("VerifyDir found nothing wrong")
		}
		wantRecord(t, rep, 19, ledger.ErrMissing)
		wantCheckpoint(t, rep, 2, ledger.ErrMissing, "record 19 gone")
	})
	t.Run("everything deleted", func(t *testing.T) {
		dir := damaged(t, e)
		writeLines(t, leaves(dir), nil)
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 0, ledger.ErrMissing, "records 0 to 4")
	})
	t.Run("checkpoint root altered", func(t *testing.T) {
		dir := damaged(t, e)
		editJSONLine(t, cps(dir), 1, func(m map[string]any) { m["root"] = leafHashHex("x") })
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 1, ledger.ErrMalformed, "note")
		wantCheckpoint(t, rep, 1, ledger.ErrRootMismatch, "")
	})
	t.Run("checkpoint root altered in note too", func(t *testing.T) {
		dir := damaged(t, e)
		editJSONLine(t, cps(dir), 1, func(m map[string]any) {
			old := m["root"].(string)
			m["root"] = leafHashHex("x")
			m["note"] = strings.Replace(m["note"].(string), old, leafHashHex("x"), 1)
		})
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 1, ledger.ErrBadSignature, "")
		wantCheckpoint(t, rep, 1, ledger.ErrBadTimestamp, "")
	})
	t.Run("checkpoint signature swapped", func(t *testing.T) {
		dir := damaged(t, e)
		var sig0 any
		editJSONLine(t, cps(dir), 0, func(m map[string]any) { sig0 = m["signature"] })
		editJSONLine(t, cps(dir), 2, func(m map[string]any) { m["signature"] = sig0 })
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 2, ledger.ErrBadSignature, "")
		if len(rep.Problems) != 1 {
			t.Errorf("want exactly one problem, got:\n%s", problemList(rep))
		}
	})
	t.Run("checkpoint timestamp swapped", func(t *testing.T) {
		dir := damaged(t, e)
		var ts0 any
		editJSONLine(t, cps(dir), 0, func(m map[string]any) { ts0 = m["timestamp"] })
		editJSONLine(t, cps(dir), 1, func(m map[string]any) { m["timestamp"] = ts0 })
		rep, err := ledger.VerifyDir(context.Background(), dir, e.signer.PublicKey(), e.tsa.Roots())
		if err == nil {
			t.Fatal("VerifyDir found nothing wrong")
		}
		wantCheckpoint(t, rep, 1, tsa.ErrImprintMismatch, "")
	})
	t.Run("checkpoint deleted", func(t *testing.T) {
		dir := damaged(t, e)
		lines := readLines(t, cps(dir))
		writeLines(t, cps(dir), append(lines[:1:1], lines[2:]...))
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 1, ledger.ErrOrder, "checkpoint 2")
	})
	t.Run("consistency proof altered", func(t *testing.T) {
		dir := damaged(t, e)
		editJSONLine(t, cps(dir), 2, func(m map[string]any) {
			path := m["consistency"].([]any)
			path[0] = leafHashHex("x")
		})
		rep := verifyDamaged(t, e, dir)
		wantCheckpoint(t, rep, 2, ledger.ErrInconsistent, "from checkpoint 1")
	})
	t.Run("header deleted", func(t *testing.T) {
		dir := damaged(t, e)
		os.Remove(filepath.Join(dir, ledger.HeaderFile))
		if _, err := ledger.VerifyDir(context.Background(), dir, e.signer.PublicKey(), e.tsa.Roots()); err == nil {
			t.Error("VerifyDir without ledger.json succeeded")
		}
		if _, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet)); !errors.Is(err, ledger.ErrMissing) {
			t.Errorf("Open without ledger.json = %v, want ErrMissing (not a fresh log)", err)
		}
	})
	t.Run("other key", func(t *testing.T) {
		dir := damaged(t, e)
		rep, err := ledger.VerifyDir(context.Background(), dir, newEnv(t).signer.PublicKey(), e.tsa.Roots())
		if err == nil {
			t.Fatal("VerifyDir with another key succeeded")
		}
		for seq := range uint64(3) {
			wantCheckpoint(t, rep, seq, ledger.ErrBadSignature, "signed by")
		}
	})
}

func TestVerifyLogNamesChangesWhileOpen(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	l := e.open(t, dir)
	ctx := context.Background()
	appendN(t, l, 0, 10)
	checkpoint(t, l)
	appendN(t, l, 10, 14) // not yet checkpointed
	if rep, err := l.VerifyLog(ctx); err != nil || !rep.OK() {
		t.Fatalf("VerifyLog of an intact log: %v", err)
	}
	path := filepath.Join(dir, ledger.LeavesFile)
	orig, _ := os.ReadFile(path)

	// A consistent rewrite of record 3 (leaf and hash): the checkpoint
	// shows a range, VerifyLog names the record.
	editJSONLine(t, path, 3, func(m map[string]any) {
		m["leaf"] = string(leaf(77))
		m["leaf_hash"] = leafHashHex(string(leaf(77)))
	})
	rep, err := l.VerifyLog(ctx)
	if err == nil {
		t.Fatal("VerifyLog found nothing wrong")
	}
	wantRecord(t, rep, 3, ledger.ErrLeafChanged)
	wantCheckpoint(t, rep, 0, ledger.ErrRootMismatch, "records 0 to 9")

	// Records after the last checkpoint cut off: named from what this
	// process appended.
	lines := strings.SplitAfter(string(orig), "\n")
	writeLines(t, path, lines[:12])
	rep, err = l.VerifyLog(ctx)
	if err == nil {
		t.Fatal("VerifyLog found nothing wrong")
	}
	wantRecord(t, rep, 12, ledger.ErrMissing)

	// Checkpoints removed.
	os.WriteFile(path, orig, 0o644)
	os.WriteFile(filepath.Join(dir, ledger.CheckpointsFile), nil, 0o644)
	rep, err = l.VerifyLog(ctx)
	if err == nil {
		t.Fatal("VerifyLog found nothing wrong")
	}
	wantCheckpoint(t, rep, 0, ledger.ErrMissing, "gone")
}

func TestConcurrentAppends(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	l := e.open(t, dir)
	ctx := context.Background()
	const workers, each = 8, 25
	got := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Workers overlap by half: the same leaf from two workers
				// gets one index.
				n := w*each/2 + i
				idx, err := l.Append(ctx, leaf(n))
				if err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], idx)
				if i%10 == 9 {
					if _, err := l.Checkpoint(ctx); err != nil {
						t.Error(err)
					}
					if _, err := l.InclusionProof(ctx, idx, 0); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	unique := (workers-1)*each/2 + each
	if got := l.Size(); got != uint64(unique) {
		t.Fatalf("Size = %d, want %d distinct leaves", got, unique)
	}
	for w := range workers {
		for i, idx := range got[w] {
			n := w*each/2 + i
			if want, ok := l.Lookup(leaf(n)); !ok || want != idx {
				t.Errorf("worker %d leaf %d: Append said %d, Lookup says %d %v", w, n, idx, want, ok)
			}
		}
	}
	cp := checkpoint(t, l)
	rep, err := l.VerifyLog(ctx)
	if err != nil {
		t.Fatalf("VerifyLog after concurrent appends: %v", err)
	}
	if rep.Checkpoints < 2 || !bytes.Equal(rep.Root, cp.Root) {
		t.Errorf("report %+v, want root %s", rep, cp.Root)
	}
}

func TestReopenPersists(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	ctx := context.Background()
	l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 9)
	cp1 := checkpoint(t, l)
	id := l.LogID()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, leaf(100)); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}

	l2 := e.open(t, dir)
	if l2.LogID() != id || l2.Size() != 9 {
		t.Fatalf("reopened log %s with %d leaves, want %s with 9", l2.LogID(), l2.Size(), id)
	}
	latest, ok := l2.Latest()
	if !ok || latest.Note != cp1.Note {
		t.Fatalf("reopened latest checkpoint %+v, want %+v", latest, cp1)
	}
	if i, ok := l2.Lookup(leaf(4)); !ok || i != 4 {
		t.Errorf("Lookup(leaf 4) = %d, %v", i, ok)
	}
	if i, err := l2.Append(ctx, leaf(4)); err != nil || i != 4 {
		t.Errorf("Append of a held leaf = %d, %v; want 4", i, err)
	}
	appendN(t, l2, 9, 15)
	cp2 := checkpoint(t, l2)
	if again := checkpoint(t, l2); again.Seq != cp2.Seq {
		t.Errorf("Checkpoint without new leaves made checkpoint %d, want %d again", again.Seq, cp2.Seq)
	}
	// A proof against the checkpoint made before reopening still verifies.
	p, err := l2.InclusionProof(ctx, 8, cp1.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.VerifyInclusion(p, leaf(8), e.signer.PublicKey(), e.tsa.Roots()); err != nil {
		t.Error(err)
	}
	if _, err := l2.VerifyLog(ctx); err != nil {
		t.Error(err)
	}
}

func TestOpenRules(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	ctx := context.Background()
	l := e.open(t, dir)

	if _, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet)); !errors.Is(err, ledger.ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	if _, err := l.Checkpoint(ctx); !errors.Is(err, ledger.ErrEmpty) {
		t.Errorf("Checkpoint of an empty log = %v, want ErrEmpty", err)
	}
	for _, bad := range [][]byte{nil, {0xff, 0xfe}, bytes.Repeat([]byte("a"), ledger.MaxLeafSize+1)} {
		if _, err := l.Append(ctx, bad); !errors.Is(err, ledger.ErrInvalidLeaf) {
			t.Errorf("Append(%.10q) = %v, want ErrInvalidLeaf", bad, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cancelled, leaf(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %v", err)
	}

	// A timestamper whose tokens do not chain to the roots: no checkpoint
	// is stored.
	appendN(t, l, 0, 2)
	other := newEnv(t)
	l.Close()
	bad, err := ledger.Open(dir, e.signer, other.tsa, ledger.WithLogger(quiet), ledger.WithTSARoots(e.tsa.Roots()))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Checkpoint(ctx); !errors.Is(err, ledger.ErrBadTimestamp) {
		t.Errorf("Checkpoint with an untrusted TSA = %v, want ErrBadTimestamp", err)
	}
	if len(bad.Checkpoints()) != 0 {
		t.Error("a checkpoint with a bad timestamp was stored")
	}
	if st, _ := os.Stat(filepath.Join(dir, ledger.CheckpointsFile)); st.Size() != 0 {
		t.Errorf("checkpoints.jsonl holds %d bytes, want 0", st.Size())
	}
	if got, want := ledger.KeyID(e.signer.PublicKey()), e.signer.KeyID(); got != want {
		t.Errorf("ledger.KeyID = %s, evidence KeyID = %s", got, want)
	}
}

func TestTornLastRecordDropped(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	l, err := ledger.Open(dir, e.signer, e.tsa, ledger.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 4)
	checkpoint(t, l)
	l.Close()
	f, err := os.OpenFile(filepath.Join(dir, ledger.LeavesFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"index":4,"leaf":"sha256:12`)
	f.Close()

	rep, err := ledger.VerifyDir(context.Background(), dir, e.signer.PublicKey(), e.tsa.Roots())
	if err == nil {
		t.Fatal("VerifyDir did not report the incomplete record")
	}
	wantRecord(t, rep, 4, ledger.ErrMissing)

	l2 := e.open(t, dir) // drops the torn line
	if l2.Size() != 4 {
		t.Fatalf("Size after reopening = %d, want 4", l2.Size())
	}
	appendN(t, l2, 4, 6)
	if _, err := l2.VerifyLog(context.Background()); err != nil {
		t.Fatalf("VerifyLog after the torn line was dropped: %v", err)
	}
}

func TestProofFileFormat(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, t.TempDir())
	appendN(t, l, 0, 5)
	p, err := l.InclusionProof(context.Background(), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "log_id", "leaf_index", "leaf", "leaf_hash", "tree_size", "root", "audit_path", "checkpoint"} {
		if _, ok := m[k]; !ok {
			t.Errorf("ledger-proof.json lacks %q:\n%s", k, b)
		}
	}
	cp := m["checkpoint"].(map[string]any)
	for _, k := range []string{"seq", "log_id", "size", "root", "time", "note", "key_id", "signature", "timestamp"} {
		if _, ok := cp[k]; !ok {
			t.Errorf("checkpoint lacks %q", k)
		}
	}
	if _, ok := cp["consistency"]; ok {
		t.Error("the proof's checkpoint carries a consistency proof")
	}
	if !strings.HasPrefix(cp["note"].(string), ledger.NoteFormat+"\nlog ") || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Errorf("unexpected proof file:\n%s", b)
	}
	if _, err := ledger.ParseProof([]byte(`{"format":"other"}`)); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("ParseProof of another format = %v", err)
	}
}

func TestCheckpointVerifiesWithOpenSSL(t *testing.T) {
	openssl := testparts.Tool(t, "openssl")
	e := newEnv(t)
	l := e.open(t, t.TempDir())
	appendN(t, l, 0, 6)
	p, err := l.InclusionProof(context.Background(), 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// What a third party has: ledger-proof.json, signer.pub, tsa-root.pem.
	var file struct {
		Checkpoint struct {
			Note      string `json:"note"`
			Signature []byte `json:"signature"`
			Timestamp []byte `json:"timestamp"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"note.txt":     []byte(file.Checkpoint.Note),
		"note.sig":     file.Checkpoint.Signature,
		"note.tsr":     file.Checkpoint.Timestamp,
		"signer.pub":   e.signer.PublicKeyPEM(),
		"tsa-root.pem": e.tsa.RootPEM(),
		"other.txt":    []byte(strings.Replace(file.Checkpoint.Note, "size 6", "size 7", 1)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) error {
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	sigCheck := []string{"pkeyutl", "-verify", "-pubin", "-inkey", "signer.pub", "-rawin", "-in", "note.txt", "-sigfile", "note.sig"}
	tsCheck := []string{"ts", "-verify", "-data", "note.txt", "-in", "note.tsr", "-CAfile", "tsa-root.pem"}
	for _, args := range [][]string{sigCheck, tsCheck} {
		if err := run(args...); err != nil {
			t.Errorf("openssl %s: %v", strings.Join(args, " "), err)
		}
	}
	for _, args := range [][]string{sigCheck, tsCheck} {
		args = append([]string(nil), args...)
		for i, a := range args {
			if a == "note.txt" {
				args[i] = "other.txt"
			}
		}
		if err := run(args...); err == nil {
			t.Errorf("openssl %s succeeded on an altered note", strings.Join(args, " "))
		}
	}
}
