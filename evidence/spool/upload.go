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
// after a failed upload it waits out the back-off before retrying. While
// it runs, it alone tries an unavailable backend again, so Put never waits
// on one. Entries
// stuck with ErrDamaged or ErrConflict are reported once and skipped.
// Running it in several goroutines is safe but gains nothing: one upload
// pass runs at a time.
func (s *Store) Run(ctx context.Context) error {
	s.mu.Lock()
	s.runners++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.runners--
		s.mu.Unlock()
	}()
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

// Drain uploads the spooled objects until the spool is empty or ctx ends.
// Between failed passes it waits with its own back-off (from the minimum
// of WithBackoff, doubling), not the one an outage has built up, so a
// backend that came back is found soon. It returns nil when nothing is
// left; otherwise an error saying why entries remain, as Flush does,
// joined with ctx's error when ctx ended first. It returns at once when
// only entries stuck with ErrDamaged or ErrConflict remain: no wait uploads
// those. Safe to call while Run runs (their passes take turns).
func (s *Store) Drain(ctx context.Context) error {
	wait := s.o.minBackoff
	var last error // of the last pass that ctx did not cut short
	for {
		_, err := s.pass(ctx)
		if errors.Is(err, ErrClosed) {
			return err
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		es, serr := s.scan()
		if serr != nil {
			return errors.Join(err, fmt.Errorf("spool: drain: %w", serr))
		}
		movable := 0
		for _, e := range es {
			if !errors.Is(e.Err, ErrDamaged) && !errors.Is(e.Err, ErrConflict) {
				movable++
			}
		}
		switch {
		case len(es) == 0:
			return nil
		case movable == 0:
			return err
		case ctx.Err() != nil:
			return errors.Join(last, fmt.Errorf("spool: drain: %d entries left: %w", len(es), ctx.Err()))
		case err == nil:
			continue // spooled while the pass ran
		}
		sleep(ctx, wait)
		wait = min(2*wait, s.o.maxBackoff)
	}
}

// pass uploads the spooled entries in order until the backend fails.
// retry reports that it stopped on a backend failure with entries left.
func (s *Store) pass(ctx context.Context) (retry bool, err error) {
	select {
	case s.upload <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("spool: upload: %w", ctx.Err())
	}
	defer func() { <-s.upload }()
	if s.isClosed() {
		return false, ErrClosed
	}
	entries, err := s.scan()
	if err != nil {
		err = fmt.Errorf("spool: upload: %w", err)
		s.o.log.Error("spool: cannot read the spool folder", "dir", s.dir, "err", err)
		return false, err
	}
	uploaded, tried := 0, 0
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
		tried++
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
			if !errors.Is(err, errReleased) {
				s.backendFailed("upload", err)
			}
			left := len(entries) - i
			errs = append(errs, fmt.Errorf("spool: upload stopped with %d entries left: %w", left, err))
			return true, errors.Join(errs...)
		}
	}
	if tried == 0 && s.isDown() {
		// Nothing to upload with, and Put does not try an unavailable
		// backend while Run runs: ask it for a key instead.
		if err := s.probe(ctx); err != nil {
			return ctx.Err() == nil, errors.Join(append(errs, err)...)
		}
	}
	return false, errors.Join(errs...)
}

// probeKey is the key probe asks the backend for; it need not exist.
const probeKey = "spool-probe/backend-available"

// probe asks the backend for one key's metadata: any answer, found or not,
// means it is available again.
func (s *Store) probe(ctx context.Context) error {
	err := s.attempt(ctx, func(ctx context.Context) error {
		_, err := s.backend.Stat(ctx, probeKey)
		return err
	})
	if err == nil || errors.Is(err, evidence.ErrNotFound) {
		s.backendOK()
		return nil
	}
	if ctx.Err() == nil && !errors.Is(err, errReleased) {
		s.backendFailed("probe", err)
	}
	return fmt.Errorf("spool: backend still unavailable: %w", err)
}

// isDown reports whether the last backend request failed.
func (s *Store) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures > 0
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
	err = s.attempt(ctx, func(ctx context.Context) error {
		return s.backend.Put(ctx, h.Key, io.NewSectionReader(f, h.off, h.Size), h.Size, h.SHA256)
	})
	switch {
	case err == nil:
		s.backendOK()
	case errors.Is(err, evidence.ErrExists):
		// Uploaded before (a crash came between upload and delete), or
		// the key was taken while the backend was out of reach.
		s.backendOK()
		if err := s.attempt(ctx, func(ctx context.Context) error { return s.confirm(ctx, h) }); err != nil {
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
