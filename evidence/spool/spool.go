// Package spool puts a local folder in front of another evidence.Store (in
// practice a MinIO bucket) so that captures go on when that store cannot be
// reached: what the backend does not accept is kept on local disk, durably,
// and uploaded later with its digest checked again. Nothing is lost and the
// sweep does not wait for the backend to come back.
//
// # Put
//
// Put first copies the bytes into a staging file in the spool folder,
// checking size and SHA-256 on the way (wrong bytes are refused there, as
// by every store), then hands the staged copy to the backend. When the
// backend stores it, or refuses it for good (ErrExists, ErrDigestMismatch,
// ErrSizeMismatch, ErrInvalidKey), Put returns what the backend said and
// the staging file goes away. Any other failure (connection refused, time
// out, server error) means the backend is unavailable: the staged file is
// synced to disk and linked into the spool under a name derived from the
// key, the folder entry is synced, and Put returns nil. After such a
// failure Put stops trying the backend for a back-off period and spools
// straight away, so an outage costs the sweep one failed request, not one
// per object. A backend that hangs is noticed the same way, once: the
// first request that gets no answer within the attempt timeout marks the
// backend unavailable, every other request then in flight is cut short
// and its object spooled, and later Puts spool at once without waiting on
// the backend until it answers again. While Run is running it alone tries
// the backend again (uploading the oldest entry, or asking for a key when
// nothing can be uploaded) and Put never waits on an unavailable backend;
// without Run one Put at a time tries it after each back-off. When the
// caller's ctx ends during the attempt, Put returns the error and spools
// nothing.
//
// # Upload
//
// Run (in the background), Flush (once) or Drain (until the spool is
// empty or a deadline) upload the spooled objects, oldest first, each
// request bounded by the attempt timeout. Each spool file is read back and its size and SHA-256
// checked before the upload; a file that no longer matches the digest
// recorded when it was spooled is never uploaded: it is kept, logged and
// reported by Pending and Flush with ErrDamaged. An entry is deleted only
// after the backend confirmed it: Put returned nil, or Put returned
// ErrExists and the object the backend holds reads back with the same size
// and digest (so an upload whose deletion a crash prevented is simply
// confirmed next time). When the backend holds other bytes under the key
// the entry is kept and reported with ErrConflict. After a failed upload
// Run waits with exponential back-off before trying again.
//
// # Reads
//
// Get, Stat and List see the spool and the backend together: a spooled
// object is readable before it is uploaded. The spool is consulted before
// the backend, and an entry is deleted only after its upload, so an object
// moving from one to the other is never missed.
//
// # On disk
//
// The folder holds lock (an exclusive flock held by the one Store using the
// folder), state.json (the backend's last known state and error, for
// Inspect from another process; advisory, rewritten on every change), tmp/
// (staging files; whatever a crash leaves there was never acknowledged
// and is removed by New) and entries/, one file per spooled
// object named by the lowercase hex SHA-256 of its key plus ".spool". Each
// entry file is one line of JSON, then the object's bytes:
//
//	{"format":"shopwatch-spool/1","key":"evidence/ev-…/page.html","size":1234,"sha256":"sha256:…","spooled":"2026-03-01T10:15:00.123Z"}
//	<size bytes>
//
// so that `tail -n +2 FILE | sha256sum` checks one by hand. Entry files
// are complete when they appear (written, synced, then hard-linked into
// place) and read-only. The disk is the only record: a process killed at
// any point loses nothing it acknowledged, and New finds every entry again.
//
// # Limits
//
// While the backend is unreachable the spool cannot know whether a key is
// already taken there. A Put of such a key is spooled, and its upload then
// meets ErrExists: with identical bytes the entry is simply dropped, with
// other bytes it is kept and reported as ErrConflict. Evidence keys are
// unique per capture, so this needs a capture retried with the same key.
package spool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"shopwatch/evidence"
)

// Errors a spooled entry can be stuck with. Pending reports them in
// Entry.Err and Flush returns them, wrapped with the key and file.
var (
	// ErrDamaged: the spool file no longer holds the bytes it was spooled
	// with (size or SHA-256 differ, or its header is unreadable). It is
	// never uploaded and never deleted; an operator decides.
	ErrDamaged = errors.New("spool entry damaged")
	// ErrConflict: the backend already holds other bytes under the
	// entry's key. The entry is kept.
	ErrConflict = errors.New("backend holds other bytes under the key")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("spool closed")
	// ErrStalled: the backend gave no answer within the attempt timeout.
	ErrStalled = errors.New("backend stalled")
	// errReleased cuts short a backend request in flight when another
	// request has found the backend unavailable.
	errReleased = errors.New("backend found unavailable by another request")
)

const (
	format      = "shopwatch-spool/1"
	stateFormat = "shopwatch-spool-state/1"
	stateFile   = "state.json"
	entryExt    = ".spool"
	maxHeader   = 16 << 10 // a key is at most 1024 bytes, escaped at most 6 bytes each

	dirMode  = 0o750
	fileMode = 0o444
)

// Option changes a default of New.
type Option func(*options)

type options struct {
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	attempt    time.Duration
}

// WithLogger sets where the spool logs outages, uploads and damaged
// entries (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithBackoff sets the wait after a failed backend request: min after the
// first failure, doubling per consecutive failure up to max, each with
// ±20% jitter (defaults 1s and 1m). While it runs Put spools without
// trying the backend, and Run does not retry.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = min, max }
}

// WithAttemptTimeout caps how long Put waits for the backend before it
// spools the object instead (default 2m; 0 waits as long as ctx allows). A
// backend that hangs then stalls a sweep for at most this long once, not
// once per object.
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attempt = d } }

// Store is an evidence.Store that spools what its backend cannot take. It
// is safe for concurrent use by many goroutines; its folder belongs to one
// Store at a time (New takes a lock on it).
type Store struct {
	dir     string
	entries string
	tmp     string
	backend evidence.Store
	o       options
	lock    *os.File
	wake    chan struct{}
	upload  chan struct{} // holds a token while an upload pass runs: one at a time
	stateMu sync.Mutex    // one write of state.json at a time

	mu        sync.Mutex
	closed    bool
	headers   map[string]header // by entry file name; an entry file never changes
	stuck     map[string]error  // ErrDamaged or ErrConflict, not retried by this Store
	lastErr   map[string]error  // last failed upload of an entry
	failures  int               // consecutive failed backend requests
	downUntil time.Time         // back-off: no backend attempts before this
	downSince time.Time         // first failure of the current outage
	backErr   error             // last failed backend request
	backErrAt time.Time
	staleDown bool // state.json says down, from an earlier Store
	runners   int  // Run calls in progress
	probing   bool // a Put is trying an unavailable backend
	// up ends (with errReleased) when the backend is found unavailable,
	// cutting short the requests then in flight; a new one starts when
	// it answers again.
	up     context.Context
	markUp context.CancelCauseFunc
}

var _ evidence.Store = (*Store)(nil)

// header is the first line of an entry file.
type header struct {
	Format  string          `json:"format"`
	Key     string          `json:"key"`
	Size    int64           `json:"size"`
	SHA256  evidence.Digest `json:"sha256"`
	Spooled time.Time       `json:"spooled"`

	off int64 // where the object's bytes start
}

// Entry describes one spooled object.
type Entry struct {
	Key     string // "" when the header is unreadable
	Size    int64
	SHA256  evidence.Digest
	Spooled time.Time
	Path    string // the entry file
	// Err says why the entry is still here: nil when no upload was tried
	// yet, the last upload error, or an error wrapping ErrDamaged or
	// ErrConflict for an entry that will not be uploaded.
	Err error
}

// New opens (creating when needed) the spool folder dir in front of
// backend and takes an exclusive lock on it; Close releases it. Staging
// files left by a crash are removed; spooled entries are kept, and Run
// uploads them.
func New(dir string, backend evidence.Store, opts ...Option) (*Store, error) {
	o := options{log: slog.Default(), minBackoff: time.Second, maxBackoff: time.Minute, attempt: 2 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.minBackoff <= 0 || o.maxBackoff < o.minBackoff {
		return nil, fmt.Errorf("spool: open %s: back-off %v to %v: want 0 < min <= max", dir, o.minBackoff, o.maxBackoff)
	}
	if backend == nil {
		return nil, fmt.Errorf("spool: open %s: no backend", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	s := &Store{
		dir:     abs,
		entries: filepath.Join(abs, "entries"),
		tmp:     filepath.Join(abs, "tmp"),
		backend: backend,
		o:       o,
		wake:    make(chan struct{}, 1),
		upload:  make(chan struct{}, 1),
		headers: map[string]header{},
		stuck:   map[string]error{},
		lastErr: map[string]error{},
	}
	s.up, s.markUp = context.WithCancelCause(context.Background())
	for _, d := range []string{s.entries, s.tmp} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return nil, fmt.Errorf("spool: open %s: %w", dir, err)
		}
	}
	if s.lock, err = lockDir(filepath.Join(abs, "lock")); err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	if err := s.cleanTmp(); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	s.loadState()
	pending, err := s.scan()
	if err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	if len(pending) > 0 {
		o.log.Info("spool: objects waiting for upload", "dir", abs, "count", len(pending))
		s.poke()
	}
	return s, nil
}

// cleanTmp removes staging files: with the lock held, none belongs to a
// Put still running.
func (s *Store) cleanTmp() error {
	des, err := os.ReadDir(s.tmp)
	if err != nil {
		return err
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(s.tmp, de.Name())); err != nil {
			return err
		}
		s.o.log.Info("spool: removed staging file left by an interrupted put", "file", filepath.Join(s.tmp, de.Name()))
	}
	return nil
}

// Close releases the folder. Spooled entries stay for the next New. Put,
// Flush and Run fail with ErrClosed afterwards (a waiting Run returns);
// Close waits for an upload pass in progress, so cancel Run's ctx first
// when the backend may hang. Get, Stat and List keep working.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.poke() // a waiting Run returns
	s.upload <- struct{}{}
	defer func() { <-s.upload }()
	if err := s.lock.Close(); err != nil {
		return fmt.Errorf("spool: close %s: %w", s.dir, err)
	}
	return nil
}

// Dir returns the absolute path of the spool folder.
func (s *Store) Dir() string { return s.dir }

// Backend returns the store behind the spool.
func (s *Store) Backend() evidence.Store { return s.backend }

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// entryName is the file name of key's entry.
func entryName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) + entryExt
}

// final reports whether a backend's answer to Put settles it: anything
// else means the backend is unavailable and the object is spooled.
func final(err error) bool {
	for _, e := range []error{evidence.ErrExists, evidence.ErrDigestMismatch, evidence.ErrSizeMismatch, evidence.ErrInvalidKey, evidence.ErrInvalidDigest} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Put implements evidence.Store; see the package documentation. It returns
// nil once the backend stored the object or the spool holds it durably.
// Cost: one pass over the bytes into a local staging file, and one out of
// it to the backend.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, sha256 evidence.Digest) error {
	if err := evidence.ValidateKey(key); err != nil {
		return fmt.Errorf("spool: put: %w", err)
	}
	pr, err := evidence.NewPutReader(key, r, size, sha256)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if s.isClosed() {
		return fmt.Errorf("spool: put %q: %w", key, ErrClosed)
	}
	name := entryName(key)
	if _, err := os.Lstat(filepath.Join(s.entries, name)); err == nil {
		return fmt.Errorf("spool: put %q: %w (spooled, not uploaded yet)", key, evidence.ErrExists)
	}
	h := header{Format: format, Key: key, Size: size, SHA256: sha256, Spooled: time.Now().UTC()}
	st, err := s.stage(ctx, h, pr)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer st.discard()

	if try := s.admit(); try != spoolOnly {
		err := s.attempt(ctx, func(ctx context.Context) error {
			return s.backend.Put(ctx, st.h.Key, st.body(), st.h.Size, st.h.SHA256)
		})
		if try == probe {
			s.endProbe()
		}
		switch {
		case err == nil:
			s.backendOK()
			return nil
		case final(err):
			s.backendOK()
			return fmt.Errorf("spool: %w", err)
		case ctx.Err() != nil:
			return fmt.Errorf("spool: put %q: %w", key, err)
		case errors.Is(err, errReleased):
			s.o.log.Debug("spool: put cut short: backend unavailable", "key", key)
		default:
			s.backendFailed("put", err)
		}
	}
	if err := st.commit(s.entries, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("spool: put %q: %w (spooled, not uploaded yet)", key, evidence.ErrExists)
		}
		return fmt.Errorf("spool: put %q: %w", key, err)
	}
	s.o.log.Debug("spool: object spooled", "key", key, "size", size)
	s.poke()
	return nil
}

// staged is a staging file: the entry header, then the object's bytes.
type staged struct {
	f    *os.File
	h    header
	done bool
}

// stage copies the bytes read through pr into a new staging file after h,
// checking size and digest (pr withholds the last bytes of a wrong
// upload, so the error comes before anything is used).
func (s *Store) stage(ctx context.Context, h header, pr *evidence.PutReader) (*staged, error) {
	line, err := encodeHeader(h)
	if err != nil {
		return nil, fmt.Errorf("put %q: %w", h.Key, err)
	}
	h.off = int64(len(line))
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return nil, fmt.Errorf("put %q: %w", h.Key, err)
	}
	st := &staged{f: f, h: h}
	if err := st.fill(ctx, line, pr); err != nil {
		st.discard()
		return nil, err
	}
	return st, nil
}

func (st *staged) fill(ctx context.Context, line []byte, pr *evidence.PutReader) error {
	if _, err := st.f.Write(line); err != nil {
		return fmt.Errorf("put %q: stage: %w", st.h.Key, err)
	}
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("put %q: %w", st.h.Key, err)
		}
		n, err := pr.Read(buf)
		if n > 0 {
			if _, werr := st.f.Write(buf[:n]); werr != nil {
				return fmt.Errorf("put %q: stage: %w", st.h.Key, werr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err // names the key
		}
	}
	return pr.Check()
}

// body returns a reader of the staged object's bytes.
func (st *staged) body() *io.SectionReader {
	return io.NewSectionReader(st.f, st.h.off, st.h.Size)
}

// commit makes the staging file an entry: synced, read-only, hard-linked
// to its final name (which fails with fs.ErrExist when the key is already
// spooled) and the folder entry synced.
func (st *staged) commit(dir, name string) error {
	if err := st.f.Chmod(fileMode); err != nil {
		return err
	}
	if err := st.f.Sync(); err != nil {
		return err
	}
	if err := os.Link(st.f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return evidence.SyncDir(dir)
}

// discard closes and removes the staging file; a committed entry lives on
// under its other name.
func (st *staged) discard() {
	if st.done {
		return
	}
	st.done = true
	st.f.Close()
	os.Remove(st.f.Name())
}

// How Put uses the backend, decided by admit.
const (
	direct    = iota // the backend is available
	probe            // unavailable, back-off over, no Run: this Put tries it
	spoolOnly        // unavailable: spool without trying
)

// admit decides whether a Put tries the backend.
func (s *Store) admit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failures == 0:
		return direct
	case s.runners > 0 || s.probing || time.Now().Before(s.downUntil):
		return spoolOnly
	default:
		s.probing = true
		return probe
	}
}

func (s *Store) endProbe() {
	s.mu.Lock()
	s.probing = false
	s.mu.Unlock()
}

// attempt runs one backend request, fn, within the attempt timeout. The
// request is cut short (its error wraps errReleased) when another request
// finds the backend unavailable meanwhile, and its error wraps ErrStalled
// when the timeout ended it. The caller records the outcome with
// backendOK or backendFailed.
func (s *Store) attempt(ctx context.Context, fn func(context.Context) error) error {
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if up.Err() == nil {
		stop := context.AfterFunc(up, func() { cancel(errReleased) })
		defer stop()
	}
	if s.o.attempt > 0 {
		var stop context.CancelFunc
		actx, stop = context.WithTimeoutCause(actx, s.o.attempt, fmt.Errorf("%w: no answer within %v", ErrStalled, s.o.attempt))
		defer stop()
	}
	err := fn(actx)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		if cause := context.Cause(actx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}
	return err
}

// backoffLeft returns how long the back-off after a backend failure still
// runs, 0 when the backend may be tried.
func (s *Store) backoffLeft() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downUntil.IsZero() {
		return 0
	}
	return max(time.Until(s.downUntil), 0)
}

// backendFailed records a failed backend request and starts the next
// back-off period.
func (s *Store) backendFailed(op string, err error) {
	s.mu.Lock()
	s.failures++
	n := s.failures
	d := s.o.minBackoff
	for i := 1; i < n && d < s.o.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.o.maxBackoff)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	now := time.Now()
	s.downUntil = now.Add(d)
	s.backErr, s.backErrAt = err, now
	if n == 1 {
		s.downSince = now
		s.markUp(errReleased) // requests in flight spool now
	}
	s.mu.Unlock()
	s.saveState()
	if n == 1 {
		s.o.log.Warn("spool: backend unavailable; spooling objects locally", "dir", s.dir, "op", op, "err", err)
	} else {
		s.o.log.Debug("spool: backend still unavailable", "op", op, "failures", n, "retry_in", d, "err", err)
	}
}

// backendOK records that the backend answered.
func (s *Store) backendOK() {
	s.mu.Lock()
	was, stale := s.failures, s.staleDown
	s.staleDown = false
	if was > 0 {
		s.failures, s.downUntil, s.downSince = 0, time.Time{}, time.Time{}
		s.up, s.markUp = context.WithCancelCause(context.Background())
	}
	s.mu.Unlock()
	if was > 0 || stale {
		s.saveState()
	}
	if was > 0 {
		s.o.log.Info("spool: backend available again", "dir", s.dir, "after_failures", was)
		s.poke() // Run may be waiting with entries left
	}
}

// poke wakes Run.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Get implements evidence.Store: a spooled object is read from the spool,
// any other from the backend.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("spool: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("spool: get %q: %w", key, err)
	}
	f, h, err := s.openEntry(entryName(key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.backend.Get(ctx, key)
	case err != nil:
		return nil, fmt.Errorf("spool: get %q: %w", key, err)
	case h.Key != key:
		f.Close()
		return nil, fmt.Errorf("spool: get %q: %w: %s holds key %q", key, ErrDamaged, f.Name(), h.Key)
	}
	return &entryReader{SectionReader: io.NewSectionReader(f, h.off, h.Size), f: f}, nil
}

type entryReader struct {
	*io.SectionReader
	f *os.File
}

func (r *entryReader) Close() error { return r.f.Close() }

// Stat implements evidence.Store. A spooled object's ModTime is when it
// was spooled.
func (s *Store) Stat(ctx context.Context, key string) (evidence.Info, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return evidence.Info{}, fmt.Errorf("spool: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return evidence.Info{}, fmt.Errorf("spool: stat %q: %w", key, err)
	}
	f, h, err := s.openEntry(entryName(key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.backend.Stat(ctx, key)
	case err != nil:
		return evidence.Info{}, fmt.Errorf("spool: stat %q: %w", key, err)
	}
	f.Close()
	if h.Key != key {
		return evidence.Info{}, fmt.Errorf("spool: stat %q: %w: %s holds key %q", key, ErrDamaged, f.Name(), h.Key)
	}
	return evidence.Info{Key: key, Size: h.Size, ModTime: h.Spooled}, nil
}

// List implements evidence.Store: the spooled objects under prefix merged
// in key order with the backend's, each key once. It fails when the
// backend cannot list. Cost: the backend's listing plus reading the spool
// folder (entry headers are cached).
func (s *Store) List(ctx context.Context, prefix string, fn func(evidence.Info) error) error {
	if err := evidence.ValidatePrefix(prefix); err != nil {
		return fmt.Errorf("spool: list: %w", err)
	}
	// The spool first: an entry deleted after this snapshot was uploaded
	// before it, so the backend's listing, which starts later, has it.
	all, err := s.scan()
	if err != nil {
		return fmt.Errorf("spool: list %q: %w", prefix, err)
	}
	var local []evidence.Info
	for _, e := range all {
		if e.Key != "" && strings.HasPrefix(e.Key, prefix) {
			local = append(local, evidence.Info{Key: e.Key, Size: e.Size, ModTime: e.Spooled})
		}
	}
	slices.SortFunc(local, func(a, b evidence.Info) int { return strings.Compare(a.Key, b.Key) })
	i := 0
	err = s.backend.List(ctx, prefix, func(info evidence.Info) error {
		for i < len(local) && local[i].Key < info.Key {
			if err := fn(local[i]); err != nil {
				return err
			}
			i++
		}
		if i < len(local) && local[i].Key == info.Key {
			i++ // uploaded while listing: once is enough
		}
		return fn(info)
	})
	if err != nil {
		return err
	}
	for ; i < len(local); i++ {
		if err := fn(local[i]); err != nil {
			return err
		}
	}
	return nil
}

// Pending returns the spooled objects not uploaded yet, oldest first,
// with the reason each is still there. Cost: one read of the spool folder
// (entry headers are cached).
func (s *Store) Pending() ([]Entry, error) {
	es, err := s.scan()
	if err != nil {
		return nil, fmt.Errorf("spool: pending: %w", err)
	}
	return es, nil
}

// scan lists the entries in the spool folder, oldest first (by spool time,
// then file name), reading the headers it has not cached.
func (s *Store) scan() ([]Entry, error) {
	des, err := os.ReadDir(s.entries)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(des))
	var out []Entry
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, entryExt) {
			continue
		}
		names[name] = true
		path := filepath.Join(s.entries, name)
		s.mu.Lock()
		h, ok := s.headers[name]
		s.mu.Unlock()
		if !ok {
			f, hh, err := s.openEntry(name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // uploaded meanwhile
			}
			if err != nil {
				s.markStuck(name, err)
				out = append(out, Entry{Path: path, Err: s.errOf(name)})
				continue
			}
			f.Close()
			h = hh
		}
		out = append(out, Entry{Key: h.Key, Size: h.Size, SHA256: h.SHA256, Spooled: h.Spooled, Path: path, Err: s.errOf(name)})
	}
	s.mu.Lock()
	for name := range s.headers {
		if !names[name] {
			delete(s.headers, name)
		}
	}
	for _, m := range []map[string]error{s.stuck, s.lastErr} {
		for name := range m {
			if !names[name] {
				delete(m, name) // removed by hand; a new entry of that name starts afresh
			}
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := a.Spooled.Compare(b.Spooled); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out, nil
}

func (s *Store) errOf(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stuck[name]; err != nil {
		return err
	}
	return s.lastErr[name]
}

func (s *Store) markStuck(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stuck[name] == nil {
		s.stuck[name] = err
		s.o.log.Error("spool: entry kept and not uploaded", "file", filepath.Join(s.entries, name), "err", err)
	}
}

// openEntry opens an entry file and reads its header. A header that cannot
// be read is reported with ErrDamaged; a missing file with fs.ErrNotExist.
func (s *Store) openEntry(name string) (*os.File, header, error) {
	path := filepath.Join(s.entries, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, header{}, err
	}
	h, err := readHeader(f)
	if err != nil {
		f.Close()
		return nil, header{}, fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	if entryName(h.Key) != name {
		f.Close()
		return nil, header{}, fmt.Errorf("%w: %s: holds key %q, whose entry has another name", ErrDamaged, path, h.Key)
	}
	s.mu.Lock()
	s.headers[name] = h
	s.mu.Unlock()
	return f, h, nil
}

func encodeHeader(h header) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil { // ends the line with '\n'
		return nil, err
	}
	if b.Len() > maxHeader {
		return nil, fmt.Errorf("spool header of %d bytes, longer than %d", b.Len(), maxHeader)
	}
	return b.Bytes(), nil
}

// readHeader reads and checks the first line of an entry file.
func readHeader(f *os.File) (header, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, maxHeader), maxHeader)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return header{}, fmt.Errorf("no header line: %w", err)
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	switch {
	case h.Format != format:
		return header{}, fmt.Errorf("header: format %q, want %q", h.Format, format)
	case evidence.ValidateKey(h.Key) != nil:
		return header{}, fmt.Errorf("header: %w", evidence.ValidateKey(h.Key))
	case h.Size < 0:
		return header{}, fmt.Errorf("header: size %d", h.Size)
	case h.SHA256.Algorithm() != evidence.SHA256:
		return header{}, fmt.Errorf("header: digest %q is not sha256", h.SHA256.String())
	}
	h.off = int64(len(line))
	return h, nil
}
