package folderstore_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"shopwatch/evidence/folderstore"
)

// RemoveTemp removes the temporary files killed Puts left, and leaves a
// file another Put holds (locked) and everything else alone.
func TestRemoveTempLeftovers(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	s, err := folderstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, ".tmp")
	for _, name := range []string{"put-1", "put-2", "other"} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("partial"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	busy, err := os.Create(filepath.Join(tmp, "put-busy"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := syscall.Flock(int(busy.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveTemp(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("RemoveTemp: %d, %v; want 2 removed", n, err)
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if len(left) != 2 || left[0] != "other" || left[1] != "put-busy" {
		t.Errorf("left in .tmp: %v, want other and put-busy", left)
	}
}
