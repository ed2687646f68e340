//go:build linux

package testparts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of the test's own on a new temporary folder, with
// mount options opts (say "size=16m,nr_inodes=4000"), and unmounts it when
// the test ends: a small volume a test can fill for real. Mounting needs
// root (CI runs as root); elsewhere the test ends as Unavailable says.
func Tmpfs(tb testing.TB, opts string) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		Unavailable(tb, "a tmpfs of the test's own (mount -t tmpfs needs root)", err)
		return ""
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// FillBytes writes a file in dir until its volume has no space left and
// returns the file's path; removing it frees the space.
func FillBytes(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// FillInodes creates empty files in a new folder of dir until its volume
// has no inode left and returns the folder; removing it frees the inodes.
func FillInodes(tb testing.TB, dir string) string {
	tb.Helper()
	fill := filepath.Join(dir, "filler")
	if err := os.Mkdir(fill, 0o700); err != nil {
		tb.Fatal(err)
	}
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(fill, fmt.Sprint(i)))
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("fill the inodes of %s: %v", dir, err)
			}
			return fill
		}
		f.Close()
	}
}
