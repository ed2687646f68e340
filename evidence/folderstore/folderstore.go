// Package folderstore is the embedded default evidence.Store: objects are
// read-only files in a local folder, one file per key, at the key's path
// below the folder.
//
// Put writes to a temporary file in the folder's .tmp subfolder, syncs it,
// and hard-links it to its final name. A hard link never replaces an
// existing file, so two writers of one key — in one process or several —
// cannot clobber each other: exactly one link succeeds. Objects are never
// visible half-written.
package folderstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"shopwatch/evidence"
)

// tmpDir is the folder below the root that holds uploads in progress.
// Keys cannot name it: no key element starts with a dot.
const tmpDir = ".tmp"

// File and folder modes of stored objects.
const (
	fileMode = 0o444
	dirMode  = 0o750
)

// Store is an evidence.Store in a local folder. It is safe for concurrent
// use, also by several processes sharing the folder.
type Store struct {
	root string
}

var _ evidence.Store = (*Store)(nil)

// New returns a Store keeping its objects below root, creating the folder
// when needed.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("folderstore: open %s: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), dirMode); err != nil {
		return nil, fmt.Errorf("folderstore: open %s: %w", root, err)
	}
	return &Store{root: abs}, nil
}

// Root returns the absolute path of the store folder.
func (s *Store) Root() string { return s.root }

// Path returns the file that holds key (whether or not it exists), or an
// error when key is invalid.
func (s *Store) Path(key string) (string, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put implements evidence.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, sha256 evidence.Digest) error {
	final, err := s.Path(key)
	if err != nil {
		return fmt.Errorf("folderstore: put: %w", err)
	}
	pr, err := evidence.NewPutReader(key, r, size, sha256)
	if err != nil {
		return fmt.Errorf("folderstore: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("folderstore: put %q: %w", key, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("folderstore: put %q: %w", key, evidence.ErrExists)
	}

	tmp, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "put-*")
	if err != nil {
		return fmt.Errorf("folderstore: put %q: %w", key, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // the link, if made, keeps the data
	// The lock tells RemoveTemp in another process that the file is in
	// use; it goes with the process.
	if err := syscall.Flock(int(tmp.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		tmp.Close()
		return fmt.Errorf("folderstore: put %q: lock %s: %w", key, tmpName, err)
	}
	if err := s.fill(ctx, tmp, pr); err != nil {
		tmp.Close()
		return fmt.Errorf("folderstore: put %q: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("folderstore: put %q: %w", key, err)
	}

	dir := filepath.Dir(final)
	created, err := s.mkdirs(dir)
	if err != nil {
		return fmt.Errorf("folderstore: put %q: %w", key, err)
	}
	if err := os.Link(tmpName, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("folderstore: put %q: %w", key, evidence.ErrExists)
		}
		return fmt.Errorf("folderstore: put %q: %w", key, err)
	}
	// Make the new name (and any new folders) durable.
	for _, d := range append([]string{dir}, created...) {
		if err := evidence.SyncDir(d); err != nil {
			return fmt.Errorf("folderstore: put %q: %w", key, err)
		}
	}
	return nil
}

// RemoveTemp removes the temporary files that Puts killed half-way left
// in the folder's .tmp subfolder (put-*), and returns how many it removed.
// A file another Put is writing is locked and left alone. Nothing a key
// names is touched: a temporary file is never an object.
func (s *Store) RemoveTemp(ctx context.Context) (int, error) {
	dir := filepath.Join(s.root, tmpDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("folderstore: remove leftovers in %s: %w", dir, err)
	}
	n := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("folderstore: remove leftovers in %s: %w", dir, err)
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "put-") {
			continue
		}
		removed, err := removeUnlocked(filepath.Join(dir, e.Name()))
		if err != nil {
			return n, fmt.Errorf("folderstore: remove leftovers in %s: %w", dir, err)
		}
		if removed {
			n++
		}
	}
	return n, nil
}

// removeUnlocked removes path unless another open file holds its lock.
func removeUnlocked(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a Put is writing it
		}
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// copyBufs recycles the copy buffers of fill: evidence is many small
// files, and a fresh large buffer for each would dominate the cost of a Put.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fill copies pr into the temporary file, checking ctx between chunks, and
// syncs it read-only to disk. pr withholds the last bytes and fails when
// size or digest are wrong, so an error here means nothing is linked.
func (s *Store) fill(ctx context.Context, f *os.File, pr *evidence.PutReader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := pr.Read(buf)
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := pr.Check(); err != nil {
		return err
	}
	if err := f.Chmod(fileMode); err != nil {
		return err
	}
	return f.Sync()
}

// mkdirs creates dir and its missing parents below the root, returning the
// parents of the folders it created (whose entries must be synced).
func (s *Store) mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; d != s.root && len(d) > len(s.root); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, err
	}
	parents := make([]string, len(missing))
	for i, d := range missing {
		parents[i] = filepath.Dir(d)
	}
	return parents, nil
}

// Get implements evidence.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.Path(key)
	if err != nil {
		return nil, fmt.Errorf("folderstore: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("folderstore: get %q: %w", key, err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("folderstore: get %q: %w", key, evidence.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("folderstore: get %q: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("folderstore: get %q: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("folderstore: get %q: %w (a folder, not an object)", key, evidence.ErrNotFound)
	}
	return f, nil
}

// Stat implements evidence.Store.
func (s *Store) Stat(ctx context.Context, key string) (evidence.Info, error) {
	p, err := s.Path(key)
	if err != nil {
		return evidence.Info{}, fmt.Errorf("folderstore: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return evidence.Info{}, fmt.Errorf("folderstore: stat %q: %w", key, err)
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.Mode().IsRegular()) {
		return evidence.Info{}, fmt.Errorf("folderstore: stat %q: %w", key, evidence.ErrNotFound)
	}
	if err != nil {
		return evidence.Info{}, fmt.Errorf("folderstore: stat %q: %w", key, err)
	}
	return evidence.Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List implements evidence.Store. It walks only the folder the prefix
// points into, collects the matching keys and sorts them; memory grows with
// the number of keys under the prefix.
func (s *Store) List(ctx context.Context, prefix string, fn func(evidence.Info) error) error {
	if err := evidence.ValidatePrefix(prefix); err != nil {
		return fmt.Errorf("folderstore: list: %w", err)
	}
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var infos []evidence.Info
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == start {
				return fs.SkipAll // nothing under the prefix
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if strings.HasPrefix(d.Name(), ".") && p != start {
			if d.IsDir() {
				return fs.SkipDir // .tmp and anything no key can name
			}
			return nil
		}
		rel, rerr := filepath.Rel(s.root, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			// Skip folders that cannot hold a key with the prefix.
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, ierr := d.Info()
		if errors.Is(ierr, fs.ErrNotExist) {
			return nil
		}
		if ierr != nil {
			return ierr
		}
		infos = append(infos, evidence.Info{Key: key, Size: st.Size(), ModTime: st.ModTime()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("folderstore: list %q: %w", prefix, err)
	}
	slices.SortFunc(infos, func(a, b evidence.Info) int { return strings.Compare(a.Key, b.Key) })
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}
