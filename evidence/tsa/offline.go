package tsa

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// CreateOffline creates a new authority (root certificate and key, signing
// certificate and key) in dir, which must not exist or be empty. It is
// meant for an offline machine that keeps root.key; Install then copies
// what a capture node needs, without root.key.
func CreateOffline(dir string, opts ...Option) error {
	o := options{policy: DefaultPolicy, now: time.Now, log: slog.Default(), org: "shopwatch"}
	for _, opt := range opts {
		opt(&o)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("create offline authority %s: the folder is not empty; nothing was written", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create offline authority %s: %w", dir, err)
	}
	if err := create(dir, o); err != nil {
		return err
	}
	// create gives up quietly when dir appeared meanwhile; make sure the
	// folder is ours and complete.
	if _, err := load(dir, o); err != nil {
		return fmt.Errorf("create offline authority %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, RootKeyFile)); err != nil {
		return fmt.Errorf("create offline authority %s: %w", dir, err)
	}
	return nil
}

// Install copies the authority of src (made by CreateOffline) into dst
// for a capture node: root.pem, tsa.pem and tsa.key, never root.key. src
// is checked first (the signing certificate chains to the root and is
// valid, the key matches it); dst must not exist or be empty, so an
// authority already there is never replaced. Like creation, the copy is
// staged beside dst and renamed into place.
func Install(src, dst string, opts ...Option) (*Authority, error) {
	o := options{policy: DefaultPolicy, now: time.Now, log: slog.Default(), org: "shopwatch"}
	for _, opt := range opts {
		opt(&o)
	}
	fail := func(err error) (*Authority, error) {
		return nil, fmt.Errorf("install authority %s into %s: %w", src, dst, err)
	}
	if _, err := load(src, o); err != nil {
		return fail(err)
	}
	if entries, err := os.ReadDir(dst); err == nil && len(entries) > 0 {
		return fail(errors.New("the target folder already holds an authority or other files; move it aside first (bundles carry their own tsa-root.pem, keep the old root.pem for trust files)"))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".install-*")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(stage) // a no-op once renamed
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{RootCertFile, 0o644}, {CertFile, 0o644}, {KeyFile, 0o600}} {
		b, err := os.ReadFile(filepath.Join(src, f.name))
		if err != nil {
			return fail(err)
		}
		if err := writeSynced(filepath.Join(stage, f.name), b, f.mode); err != nil {
			return fail(err)
		}
	}
	if err := syncDir(stage); err != nil {
		return fail(err)
	}
	if entries, err := os.ReadDir(dst); err == nil && len(entries) == 0 {
		os.Remove(dst)
	}
	if err := os.Rename(stage, dst); err != nil {
		return fail(err)
	}
	if err := syncDir(parent); err != nil {
		return fail(err)
	}
	a, err := load(dst, o)
	if err != nil {
		return fail(err)
	}
	return a, nil
}
