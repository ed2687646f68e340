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

// ReadOnly returns a path at which dir can be read but not written, as a
// case handler with read-only access to an archived data directory sees
// it. As root (CI), whom file modes do not stop, it is a read-only bind
// mount of dir (writes fail with EROFS), unmounted when the test ends;
// otherwise it is dir itself with write permission taken from every file
// and folder under it, given back when the test ends.
func ReadOnly(tb testing.TB, dir string) string {
	tb.Helper()
	if os.Geteuid() == 0 {
		ro := tb.TempDir()
		if err := syscall.Mount(dir, ro, "", syscall.MS_BIND, ""); err != nil {
			Unavailable(tb, "a read-only bind mount (mount --bind needs root)", err)
			return ""
		}
		tb.Cleanup(func() {
			if err := syscall.Unmount(ro, syscall.MNT_DETACH); err != nil {
				tb.Errorf("unmount %s: %v", ro, err)
			}
		})
		if err := syscall.Mount("", ro, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			Unavailable(tb, "a read-only bind mount (remount read-only)", err)
			return ""
		}
		return ro
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		return os.Chmod(p, 0o444)
	})
	if err != nil {
		tb.Fatalf("take write access from %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		for _, d := range dirs {
			_ = os.Chmod(d, 0o755)
		}
	})
	for _, d := range dirs {
		if err := os.Chmod(d, 0o555); err != nil {
			tb.Fatalf("take write access from %s: %v", d, err)
		}
	}
	return dir
}
