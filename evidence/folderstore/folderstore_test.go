package folderstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/evidence/storetest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) evidence.Store { return newStore(t) })
}

func TestFilesAreReadOnlyAtKeyPath(t *testing.T) {
	s := newStore(t)
	data := []byte("<html>证据</html>")
	if err := s.Put(context.Background(), "evidence/ev-1/page.html", bytes.NewReader(data), int64(len(data)), evidence.SumBytes(evidence.SHA256, data)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root(), "evidence", "ev-1", "page.html")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("object not at its key path: %v", err)
	}
	if got := st.Mode().Perm(); got != 0o444 {
		t.Errorf("mode %v, want 0444", got)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, data) {
		t.Errorf("file holds %q, want %q", got, data)
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := []byte("payload")
	sum := evidence.SumBytes(evidence.SHA256, data)
	_ = s.Put(ctx, "a/ok", bytes.NewReader(data), 7, sum)
	_ = s.Put(ctx, "a/ok", bytes.NewReader(data), 7, sum)                                      // exists
	_ = s.Put(ctx, "a/bad", bytes.NewReader(data), 7, evidence.SumBytes(evidence.SHA256, nil)) // mismatch
	_ = s.Put(ctx, "a/short", bytes.NewReader(data), 8, sum)                                   // size
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(cctx, "a/cancelled", bytes.NewReader(data), 7, sum); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v, want context.Canceled", err)
	}
	entries, err := os.ReadDir(filepath.Join(s.Root(), tmpDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestInvalidKeyErrorNamesKey(t *testing.T) {
	s := newStore(t)
	data := []byte("x")
	err := s.Put(context.Background(), "evidence/../../etc/passwd", bytes.NewReader(data), 1, evidence.SumBytes(evidence.SHA256, data))
	if !errors.Is(err, evidence.ErrInvalidKey) || !strings.Contains(err.Error(), `"evidence/../../etc/passwd"`) || !strings.Contains(err.Error(), `".."`) {
		t.Fatalf("Put(traversal) = %v, want ErrInvalidKey naming the key and the element", err)
	}
}

func TestExistingFileFromAnotherWriterIsKept(t *testing.T) {
	// A file that appeared at the key path by other means (another process)
	// is never replaced.
	s := newStore(t)
	p := filepath.Join(s.Root(), "k", "v")
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("first"), 0o444); err != nil {
		t.Fatal(err)
	}
	data := []byte("second")
	err := s.Put(context.Background(), "k/v", bytes.NewReader(data), int64(len(data)), evidence.SumBytes(evidence.SHA256, data))
	if !errors.Is(err, evidence.ErrExists) {
		t.Fatalf("Put over an existing file = %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "first" {
		t.Fatalf("file now holds %q, want %q", got, "first")
	}
}
