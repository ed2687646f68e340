package spool

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"shopwatch/evidence"
)

// Run uploads spooled objects until ctx ends, then returns nil (or
// ErrClosed once the Store is closed). It starts with whatever is spooled,
// then wakes whenever Put spools an object or the backend answers again;
// after a failed upload it waits out the back-off before retrying. Entries
// stuck with ErrDamaged or ErrConflict are reported once and skipped.
// Running it in several goroutines is safe but gains nothing: one upload
// pass runs at a time.
func (s *Store) Run(ctx context.Context) error {
	for {
		if s.isClosed() {
			return ErrClosed
		}
		if wait := s.backoffLeft(); wait > 0 {
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		retry, _ := s.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if retry {
			continue // back-off first, at the top
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
	}
}

// Flush makes one attempt to upload every spooled object, regardless of
// the back-off. It returns nil when nothing is left in the spool;
// otherwise an error joining why entries remain: each damaged or
// conflicting entry (ErrDamaged, ErrConflict), and the backend's error
// that stopped the pass. Cost: reads every spooled byte twice (check, then
// upload).
func (s *Store) Flush(ctx context.Context) error {
	_, err := s.pass(ctx)
	return err
}

// pass uploads the spooled entries in order until the backend fails.
// retry reports that it stopped on a backend failure with entries left.
func (s *Store) pass(ctx context.Context) (retry bool, err error) {
	s.upload.Lock()
	defer s.upload.Unlock()
	if s.isClosed() {
		return false, ErrClosed
	}
	entries, err := s.scan()
	if err != nil {
		err = fmt.Errorf("spool: upload: %w", err)
		s.o.log.Error("spool: cannot read the spool folder", "dir", s.dir, "err", err)
		return false, err
	}
	uploaded := 0
	defer func() {
		if uploaded > 0 {
			s.o.log.Info("spool: uploaded spooled objects", "count", uploaded, "left", len(entries)-uploaded)
		}
	}()
	var errs []error
	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			return false, errors.Join(append(errs, fmt.Errorf("spool: upload: %w", err))...)
		}
		name := filepath.Base(e.Path)
		if err := s.stuckErr(name); err != nil {
			errs = append(errs, err)
			continue
		}
		err := s.uploadOne(ctx, name)
		switch {
		case err == nil:
			uploaded++
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, ErrDamaged), errors.Is(err, ErrConflict):
			s.markStuck(name, err)
			errs = append(errs, err)
		default:
			s.setLastErr(name, err)
			if ctx.Err() != nil {
				return false, errors.Join(append(errs, err)...)
			}
			s.backendFailed("upload", err)
			left := len(entries) - i
			errs = append(errs, fmt.Errorf("spool: upload stopped with %d entries left: %w", left, err))
			return true, errors.Join(errs...)
		}
	}
	return false, errors.Join(errs...)
}

// uploadOne checks one entry file against its header, uploads it and
// deletes it once the backend has confirmed it. It returns an error
// wrapping ErrDamaged or ErrConflict for an entry that must stay, any
// other error for a backend failure.
func (s *Store) uploadOne(ctx context.Context, name string) error {
	f, h, err := s.openEntry(name)
	if err != nil {
		return err
	}
	defer f.Close()
	path := f.Name()
	if err := verify(f, h); err != nil {
		return fmt.Errorf("spool: upload %q from %s: %w", h.Key, path, err)
	}
	err = s.backend.Put(ctx, h.Key, io.NewSectionReader(f, h.off, h.Size), h.Size, h.SHA256)
	switch {
	case err == nil:
		s.backendOK()
	case errors.Is(err, evidence.ErrExists):
		// Uploaded before (a crash came between upload and delete), or
		// the key was taken while the backend was out of reach.
		s.backendOK()
		if err := s.confirm(ctx, h); err != nil {
			return fmt.Errorf("spool: upload %q from %s: %w", h.Key, path, err)
		}
		s.o.log.Info("spool: backend already holds the same object", "key", h.Key)
	case final(err):
		// The bytes were checked just now, so they changed meanwhile.
		return fmt.Errorf("spool: upload %q from %s: %w: backend refused it: %v", h.Key, path, ErrDamaged, err)
	default:
		return fmt.Errorf("spool: upload %q: %w", h.Key, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Stored all the same; the next pass confirms it and tries again.
		s.o.log.Error("spool: uploaded entry could not be deleted", "key", h.Key, "file", path, "err", err)
		return nil
	}
	if err := evidence.SyncDir(s.entries); err != nil {
		// Were the deletion lost, the entry would be confirmed again.
		s.o.log.Warn("spool: sync after delete", "err", err)
	}
	s.mu.Lock()
	delete(s.headers, name)
	delete(s.lastErr, name)
	s.mu.Unlock()
	s.o.log.Debug("spool: object uploaded", "key", h.Key, "size", h.Size, "sha256", h.SHA256.String(), "spooled", h.Spooled)
	return nil
}

// verify reads an entry's bytes and checks them against its header.
func verify(f *os.File, h header) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if want := h.off + h.Size; st.Size() != want {
		return fmt.Errorf("%w: %w: file holds %d bytes of object, header says %d", ErrDamaged, evidence.ErrSizeMismatch, st.Size()-h.off, h.Size)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(f, h.off, h.Size)); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	got, err := evidence.NewDigest(evidence.SHA256, sum.Sum(nil))
	if err != nil {
		return err
	}
	if got != h.SHA256 {
		return fmt.Errorf("%w: %w: bytes hash to %s, spooled as %s", ErrDamaged, evidence.ErrDigestMismatch, got, h.SHA256)
	}
	return nil
}

// confirm reads the backend's object under h.Key and checks it has h's
// size and digest: nil when it does, ErrConflict when it does not, the
// backend's error when it cannot be read.
func (s *Store) confirm(ctx context.Context, h header) error {
	rc, err := evidence.OpenVerified(ctx, s.backend, h.Key, h.Size, h.SHA256)
	if err != nil {
		return fmt.Errorf("backend said it exists, then: %w", err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if errors.Is(err, evidence.ErrDigestMismatch) || errors.Is(err, evidence.ErrSizeMismatch) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

func (s *Store) stuckErr(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stuck[name]
}

func (s *Store) setLastErr(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr[name] = err
}

// sleep waits for d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
