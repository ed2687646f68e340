package evidence

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// errReadOnlyBundle: a bundle is read, never written through bundleStore.
var errReadOnlyBundle = errors.New("an exported bundle is read-only")

// bundleStore is the read-only Store view of a bundle's files, keyed by
// their names in the zip, through which VerifyBundle applies CheckCapture's
// rules to a bundle as export and resume apply them to a stored capture.
type bundleStore map[string]*zip.File

// Put refuses: a bundle is not written to.
func (b bundleStore) Put(_ context.Context, key string, _ io.Reader, _ int64, _ Digest) error {
	return fmt.Errorf("put %q: %w", key, errReadOnlyBundle)
}

// Get opens the bundle file named key.
func (b bundleStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, ok := b[key]
	if !ok {
		return nil, fmt.Errorf("get %q: %w: the bundle has no such file", key, ErrNotFound)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("get %q: %w: %v", key, ErrBadBundle, err)
	}
	return rc, nil
}

// Stat returns the size the zip records for the file named key.
func (b bundleStore) Stat(_ context.Context, key string) (Info, error) {
	f, ok := b[key]
	if !ok {
		return Info{}, fmt.Errorf("stat %q: %w: the bundle has no such file", key, ErrNotFound)
	}
	return Info{Key: key, Size: int64(f.UncompressedSize64), ModTime: f.Modified}, nil
}

// List calls fn for every file whose name starts with prefix, in order.
func (b bundleStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	keys := make([]string, 0, len(b))
	for k := range b {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		info, _ := b.Stat(ctx, k)
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}
