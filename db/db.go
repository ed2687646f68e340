package db

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// Errors returned by DB methods, always wrapped with the operation and the
// input it was given; test for them with errors.Is.
var (
	// ErrLocked is returned by Open when another process holds the database
	// file and does not let go within the lock timeout.
	ErrLocked = errors.New("database is locked by another process")
	// ErrNotFound is returned when the target, visit, sweep, finding or
	// evidence record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTargetExists is returned by AddTarget when a target with the same
	// normalised URL, or the same ID, is already stored.
	ErrTargetExists = errors.New("target already exists")
	// ErrEvidenceExists is returned when an evidence record with the same ID
	// is already stored: evidence records are never overwritten. StartCapture
	// returns it for an evidence id already in use.
	ErrEvidenceExists = errors.New("evidence record already exists")
	// ErrLeaseLost is returned by Complete, Extend, Fail, Release,
	// StartCapture and AbandonCapture when the caller's lease is no longer
	// the current one: it expired or was revoked and the visit was handed
	// out again, or the visit was finished by someone else.
	// Nothing is written when it is returned.
	ErrLeaseLost = errors.New("lease lost")
	// ErrInvalid is returned when an argument fails validation; the message
	// names the input and what is wrong with it.
	ErrInvalid = errors.New("invalid input")
	// ErrDamaged is returned, inside a *DamageError naming the file and
	// what is wrong with it, when the database file is truncated or
	// corrupt: by Open, which then has written nothing to it, and by any
	// method that meets damage the checks on opening could not see.
	ErrDamaged = errors.New("database file is damaged")
	// ErrReadOnly is returned by every method that would change the
	// database when it was opened with ReadOnly.
	ErrReadOnly = errors.New("database is open read-only")
)

// DamageError is a damaged database file and what was found wrong with it.
type DamageError struct {
	Path     string
	Problems []string
}

func (e *DamageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database %s is damaged", e.Path)
	switch len(e.Problems) {
	case 0:
	case 1:
		b.WriteString(": " + e.Problems[0])
	default:
		fmt.Fprintf(&b, " (%d problems):", len(e.Problems))
		for _, p := range e.Problems {
			b.WriteString("\n  " + p)
		}
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrDamaged) true.
func (e *DamageError) Unwrap() error { return ErrDamaged }

// DefaultLockTimeout is how long Open waits for another process to release
// the database file before it gives up with ErrLocked.
const DefaultLockTimeout = 2 * time.Second

// schemaVersion is the version of the bucket layout described in doc.go.
const schemaVersion = "1"

// Bucket names; see doc.go for what each holds.
var (
	bMeta          = []byte("meta")
	bTargets       = []byte("targets")
	bTargetURLs    = []byte("target_urls")
	bSweeps        = []byte("sweeps")
	bSweepStats    = []byte("sweep_stats")
	bVisits        = []byte("visits")
	bVisitsBySweep = []byte("visits_by_sweep")
	bPending       = []byte("queue_pending")
	bLeased        = []byte("queue_leased")
	bFindings      = []byte("findings")
	bFindingsBySwp = []byte("findings_by_sweep")
	bEvidence      = []byte("evidence")
	bEvidenceOrder = []byte("evidence_order")
	bAudit         = []byte("audit")
	// Buckets added to schema 1 later; Open creates them in older files.
	bCaptures        = []byte("captures")
	bCapturesByVisit = []byte("captures_by_visit")
	allBuckets       = [][]byte{bMeta, bTargets, bTargetURLs, bSweeps, bSweepStats, bVisits, bVisitsBySweep, bPending, bLeased, bFindings, bFindingsBySwp, bEvidence, bEvidenceOrder, bAudit, bCaptures, bCapturesByVisit}
	keySchema        = []byte("schema")
)

const (
	defaultActor    = "system"
	scanCheckPeriod = 1024 // rows between context checks in long scans
)

// DB is a shopwatch database: one bbolt file holding targets, sweeps, the
// visit queue, findings, the evidence index and the audit log.
//
// A DB is safe for concurrent use by many goroutines. Only one process can
// have the file open at a time. Every method that changes state does so in
// a single bbolt transaction, so a crash leaves either all or none of it.
type DB struct {
	bolt      *bolt.DB
	path      string
	now       func() time.Time
	log       *slog.Logger
	maxLeases int
	tracking  []string // query parameters TargetKey drops; nil: DefaultTrackingParams
	readOnly  bool

	mu     sync.Mutex
	closed bool
}

// Option configures Open.
type Option func(*config)

type config struct {
	lockTimeout time.Duration
	now         func() time.Time
	logger      *slog.Logger
	noSync      bool
	maxLeases   int
	readOnly    bool
	fullCheck   bool
}

// WithLockTimeout sets how long Open waits for another process to release
// the file; d <= 0 means DefaultLockTimeout.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

// WithClock replaces time.Now as the source of every timestamp the database
// writes and of the "now" lease expiry is judged against.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithNoSync skips fsync after each commit. A crash of the machine (not of
// the process) can then lose recent commits or damage the file: use it for
// tests, benchmarks and scratch databases only.
func WithNoSync() Option {
	return func(c *config) { c.noSync = true }
}

// WithMaxLeases fails a visit, instead of handing it out again, once its
// lease has expired n times: a page that kills every worker that touches it
// then stops the sweep from going round in circles. n <= 0 (the default)
// means no limit.
func WithMaxLeases(n int) Option {
	return func(c *config) { c.maxLeases = n }
}

// ReadOnly opens the database for reading only: the file is opened
// read-only under a shared lock (other readers may open it at the same
// time, a writer may not), nothing is ever written to it or beside it,
// and a missing file is an error wrapping fs.ErrNotExist. Every method
// that would change the database returns an error wrapping ErrReadOnly.
// This is how an archived data directory without write access is read.
func ReadOnly() Option {
	return func(c *config) { c.readOnly = true }
}

// WithFullCheck makes Open also run bbolt's own consistency check
// (Tx.Check: every page reachable or free exactly once, the freelist,
// key order across pages) before it returns. Its cost grows with the
// file; see CheckFile.
func WithFullCheck() Option {
	return func(c *config) { c.fullCheck = true }
}

// Open opens the database file at path, creating it and its folder when
// missing (unless ReadOnly is given). When another process has the file
// open, Open waits up to the lock timeout and then returns an error
// wrapping ErrLocked.
//
// Before bbolt touches an existing file, Open reads all of it with
// bounds-checked reads (both meta pages and their checksums, the file
// size against the pages in use, the freelist and every page of every
// bucket: page types, element offsets, key order), so a truncated or
// corrupt file, or an empty one, is refused with a *DamageError
// (errors.Is ErrDamaged) and is never written to. Cost: one read of the
// file. Opening an existing, current database writes nothing to it.
func Open(path string, opts ...Option) (*DB, error) {
	cfg := config{lockTimeout: DefaultLockTimeout, now: time.Now, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" {
		return nil, fmt.Errorf("open database: %w: empty path", ErrInvalid)
	}
	f, created, err := openLocked(path, cfg.readOnly, cfg.lockTimeout)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if !created || st.Size() != 0 {
		if fc := checkOpenFile(f, st.Size()); len(fc.Problems) > 0 {
			f.Close()
			return nil, &DamageError{Path: path, Problems: fc.Problems}
		}
	}
	handed := false
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: cfg.lockTimeout, NoSync: cfg.noSync, ReadOnly: cfg.readOnly,
		// bbolt takes the file already opened, checked and locked here;
		// locking it again on the same descriptor is immediate.
		OpenFile: func(string, int, os.FileMode) (*os.File, error) { handed = true; return f, nil },
	})
	if err != nil {
		if !handed {
			f.Close()
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path, now: cfg.now, log: cfg.logger, maxLeases: cfg.maxLeases, readOnly: cfg.readOnly}
	if err := db.prepare(created); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if cfg.fullCheck {
		if err := db.CheckFile(context.Background()); err != nil {
			_ = bdb.Close()
			return nil, err
		}
	}
	return db, nil
}

// openLocked opens the file at path (creating it and its folder when
// missing, unless readOnly) and locks it as bbolt does: exclusively, or
// shared when readOnly. created reports whether this call created it.
func openLocked(path string, readOnly bool, timeout time.Duration) (f *os.File, created bool, err error) {
	if readOnly {
		f, err = os.Open(path)
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, false, err
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		created = err == nil
		if errors.Is(err, fs.ErrExist) {
			f, err = os.OpenFile(path, os.O_RDWR, 0o600)
		}
	}
	if err != nil {
		return nil, false, err
	}
	if err := lockFile(f, !readOnly, timeout); err != nil {
		f.Close()
		if created {
			_ = os.Remove(path)
		}
		if errors.Is(err, errLockTimeout) {
			return nil, false, fmt.Errorf("%w (gave up after %s)", ErrLocked, timeout)
		}
		return nil, false, err
	}
	return f, created, nil
}

// prepare creates the buckets a new or older file lacks and checks the
// schema version. It writes only when something is missing; a read-only
// database lacking buckets is refused.
func (db *DB) prepare(created bool) error {
	missing, unindexed := created, false
	err := db.guard(func() error {
		return db.bolt.View(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if tx.Bucket(name) == nil {
					missing = true
				}
			}
			unindexed = tx.Bucket(bFindingKeys) == nil
			if meta := tx.Bucket(bMeta); meta != nil {
				if v := meta.Get(keySchema); v != nil && string(v) != schemaVersion {
					return fmt.Errorf("unsupported schema version %q (this build reads %q)", v, schemaVersion)
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if !missing {
		if !unindexed || db.readOnly {
			// Read-only, findings stored before identities read as
			// they are (see ensureFindingIndex).
			return nil
		}
	} else if db.readOnly {
		return fmt.Errorf("%w: the file lacks buckets of this version (open it once with write access to add them)", ErrReadOnly)
	}
	return db.guard(func() error {
		return db.bolt.Update(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			if err := ensureFindingIndex(tx); err != nil {
				return err
			}
			meta := tx.Bucket(bMeta)
			if meta.Get(keySchema) == nil {
				return meta.Put(keySchema, []byte(schemaVersion))
			}
			return nil
		})
	})
}

// ReadOnly reports whether the database was opened with ReadOnly.
func (db *DB) ReadOnly() bool { return db.readOnly }

// guard runs fn, turning a panic or memory fault inside bbolt into an
// error wrapping ErrDamaged. Open's checks keep bbolt away from malformed
// pages; this is the last line for damage they cannot see. A panic in a
// write transaction has rolled it back before it reaches guard, so
// nothing is written.
func (db *DB) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db.log.Debug("database read failed", "path", db.path, "panic", r, "stack", string(debug.Stack()))
			err = &DamageError{Path: db.path, Problems: []string{fmt.Sprintf("reading it failed: %v", r)}}
		}
	}()
	return fn()
}

// Path returns the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Close releases the database file. Closing twice is harmless.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", db.path, err)
	}
	return nil
}

type actorKey struct{}

// WithActor returns a context that makes the database record actor as the
// one who did whatever is done with it, in the audit log. Without it the
// worker name is used for queue operations and "system" for the rest.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorFrom(ctx context.Context, fallback string) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	if fallback == "" {
		return defaultActor
	}
	return fallback
}

// txn is one write transaction with the bookkeeping every change needs:
// the transaction's clock reading, the actor for audit entries and the
// per-sweep counter changes, written once at the end.
type txn struct {
	db       *DB
	tx       *bolt.Tx
	now      time.Time
	actor    string
	deltas   map[string]*Stats
	lastHash *string
}

// update runs fn in one write transaction.
func (db *DB) update(ctx context.Context, actor string, fn func(*txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.readOnly {
		return fmt.Errorf("%w: %s", ErrReadOnly, db.path)
	}
	return db.guard(func() error {
		return db.bolt.Update(func(tx *bolt.Tx) error {
			x := &txn{db: db, tx: tx, now: db.now().UTC().Round(0), actor: actor}
			if err := fn(x); err != nil {
				return err
			}
			return x.flushStats()
		})
	})
}

// view runs fn in one read transaction.
func (db *DB) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.guard(func() error { return db.bolt.View(fn) })
}

// Key encodings. Integers are big-endian so that byte order is numeric
// order; signed values have their sign bit flipped for the same reason.

func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func signedKey(n int64) uint64 { return uint64(n) ^ (1 << 63) }

// pendingKey orders pending visits: highest priority first, then by turn.
func pendingKey(priority int, turn uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, ^signedKey(int64(priority)))
	binary.BigEndian.PutUint64(k[8:], turn)
	return k
}

// timeKey is the 8-byte prefix of a leased-index key.
func timeKey(t time.Time) []byte { return u64(signedKey(t.UnixNano())) }

// leasedKey orders leased visits by lease expiry, earliest first.
func leasedKey(until time.Time, seq uint64) []byte {
	return append(timeKey(until), u64(seq)...)
}

// sweepKey is a key inside a per-sweep index: sweep id, NUL, sequence.
func sweepKey(sweep string, seq uint64) []byte {
	k := make([]byte, 0, len(sweep)+9)
	k = append(k, sweep...)
	k = append(k, 0)
	return append(k, u64(seq)...)
}

func sweepPrefix(sweep string) []byte { return append([]byte(sweep), 0) }

func clone(b []byte) []byte { return bytes.Clone(b) }

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode record %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, raw)
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// shortID is 10 random characters (50 bits).
func shortID() string {
	var b [7]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return idEncoding.EncodeToString(b[:])[:10]
}

// validID reports whether s can be used as an id: non-empty, printable,
// no NUL and no surrounding space.
func validID(s string) error {
	switch {
	case s == "":
		return errors.New("empty id")
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("id %q has surrounding space", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("id %q contains NUL", s)
	case len(s) > 512:
		return fmt.Errorf("id %.20q… longer than 512 bytes", s)
	}
	return nil
}

func validKind(k shopwatch.Kind) bool {
	switch k {
	case shopwatch.KindStorefront, shopwatch.KindProduct, shopwatch.KindLivestream:
		return true
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
