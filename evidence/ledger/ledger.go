package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"shopwatch/evidence/tsa"
)

// File names inside a log's folder, and format names (see the package
// documentation).
const (
	HeaderFile      = "ledger.json"
	LeavesFile      = "leaves.jsonl"
	CheckpointsFile = "checkpoints.jsonl"
	LockFile        = "lock"

	Format      = "shopwatch-ledger/1"
	ProofFormat = "shopwatch-ledger-proof/1"
	NoteFormat  = "shopwatch-ledger-checkpoint/1"
)

// MaxLeafSize is the longest leaf, in bytes, Append accepts.
const MaxLeafSize = 4096

// Errors of the package, wrapped with the operation and the item. Test for
// them with errors.Is; verification problems come as *RecordError or
// *CheckpointError wrapping one of them.
var (
	// ErrLocked: Open found the log open for writing in another process
	// (or another Log in this one).
	ErrLocked = errors.New("ledger is open elsewhere")
	// ErrDamaged: Open found the log damaged and refused to append to it;
	// the error also wraps every problem found.
	ErrDamaged = errors.New("ledger is damaged")
	// ErrReadOnly: Append or Checkpoint on a log opened with
	// OpenReadOnly, or an inclusion proof that would need a new
	// checkpoint.
	ErrReadOnly = errors.New("ledger is open read-only")
	// ErrClosed: a method was called after Close.
	ErrClosed = errors.New("ledger is closed")
	// ErrEmpty: Checkpoint of a log without leaves.
	ErrEmpty = errors.New("ledger is empty")
	// ErrNotFound: a leaf index the log (or the checkpoint) does not hold.
	ErrNotFound = errors.New("no such leaf")
	// ErrNoCheckpoint: InclusionProof or ConsistencyProof named a size no
	// stored checkpoint has.
	ErrNoCheckpoint = errors.New("no such checkpoint")
	// ErrInvalidLeaf: Append of an empty, oversized or non-UTF-8 leaf.
	ErrInvalidLeaf = errors.New("invalid leaf")

	// ErrMalformed: a record, checkpoint, header or proof that cannot be
	// parsed, or whose fields contradict each other or its note.
	ErrMalformed = errors.New("malformed")
	// ErrMissing: records or checkpoints are gone: a gap in the indices, a
	// log shorter than a checkpoint, an incomplete last line.
	ErrMissing = errors.New("missing")
	// ErrOrder: a record or checkpoint out of place or repeated.
	ErrOrder = errors.New("out of order")
	// ErrLeafHash: a record whose leaf does not hash to its stored
	// leaf_hash, or a proof whose leaf hash is not that of the leaf.
	ErrLeafHash = errors.New("leaf hash mismatch")
	// ErrLeafChanged: a record differs from the leaf this process appended
	// or loaded (Log.VerifyLog only).
	ErrLeafChanged = errors.New("leaf changed since it was appended")
	// ErrRootMismatch: a checkpoint's root differs from the tree recomputed
	// from the records, or an inclusion proof does not lead to the root.
	ErrRootMismatch = errors.New("root hash mismatch")
	// ErrBadSignature: a checkpoint's signature does not verify with the
	// key, or it names another key.
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	// ErrBadTimestamp: a checkpoint's RFC 3161 timestamp does not verify
	// (it also wraps the tsa package's error).
	ErrBadTimestamp = errors.New("checkpoint timestamp does not verify")
	// ErrInconsistent: a checkpoint's consistency proof from the previous
	// checkpoint fails: the two signed trees are not one append-only
	// history.
	ErrInconsistent = errors.New("checkpoints are not consistent")
)

// Signer signs checkpoint notes with Ed25519. *evidence.Signer satisfies
// it. Sign must be safe for concurrent use.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
	PublicKey() ed25519.PublicKey
}

// Timestamper returns a DER RFC 3161 TimeStampResp (or token) over a
// SHA-256 digest. *tsa.Authority and *tsa.Client satisfy it.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte) ([]byte, error)
}

// Hash is a hash value; its text form (JSON) is lowercase hex.
type Hash []byte

// String returns the hash in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h) }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts exactly 64
// lowercase hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*hashSize || bytes.ContainsFunc(b, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
		return fmt.Errorf("hash %q: want %d lowercase hex digits", b, 2*hashSize)
	}
	v, err := hex.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("hash %q: %w", b, err)
	}
	*h = v
	return nil
}

// Checkpoint is a signed, timestamped commitment to the first Size leaves
// of a log (see the package documentation for the format).
type Checkpoint struct {
	Seq         uint64    `json:"seq"`
	LogID       string    `json:"log_id"`
	Size        uint64    `json:"size"`
	Root        Hash      `json:"root"`
	Time        time.Time `json:"time"`
	Note        string    `json:"note"`
	KeyID       string    `json:"key_id"`
	Signature   []byte    `json:"signature"`
	Timestamp   []byte    `json:"timestamp"`
	Consistency []Hash    `json:"consistency,omitempty"`
	// Audit is the head of the capture node's audit log when the
	// checkpoint was made (the note's audit line), nil for checkpoints
	// made without one (WithAuditHead).
	Audit *AuditHead `json:"audit,omitempty"`
}

// AuditHead names the head of an audit log kept beside the ledger: how
// many entries it held and the hash of the last one ("" when it held
// none). A checkpoint that records it makes cutting entries off the end of
// the audit log detectable: the entry at that position must still be there
// with that hash.
type AuditHead struct {
	Size uint64 `json:"size"`
	Hash string `json:"hash"`
}

// auditGrew reports whether the audit head now lies beyond the one of a
// checkpoint: more entries than it recorded (a head that went back is
// left for verification to report).
func auditGrew(then, now *AuditHead) bool {
	if now == nil {
		return false
	}
	return then == nil || now.Size > then.Size
}

// check reports whether the head can be written on a note line.
func (h *AuditHead) check() error {
	switch {
	case h.Size == 0 && h.Hash != "":
		return fmt.Errorf("%w: audit head of an empty log names hash %q", ErrMalformed, h.Hash)
	case h.Size > 0 && h.Hash == "":
		return fmt.Errorf("%w: audit head of %d entries names no hash", ErrMalformed, h.Size)
	case strings.ContainsFunc(h.Hash, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }):
		return fmt.Errorf("%w: audit head hash %q is not printable ASCII without spaces", ErrMalformed, h.Hash)
	}
	return nil
}

func (c *Checkpoint) clone() *Checkpoint {
	d := *c
	d.Root = bytes.Clone(c.Root)
	d.Signature = bytes.Clone(c.Signature)
	d.Timestamp = bytes.Clone(c.Timestamp)
	if c.Audit != nil {
		a := *c.Audit
		d.Audit = &a
	}
	if c.Consistency != nil {
		d.Consistency = make([]Hash, len(c.Consistency))
		for i, h := range c.Consistency {
			d.Consistency[i] = bytes.Clone(h)
		}
	}
	return &d
}

// makeNote returns the signed text of a checkpoint; audit, when set, adds
// the audit line.
func makeNote(logID string, size uint64, root []byte, t time.Time, audit *AuditHead) string {
	note := NoteFormat + "\n" +
		"log " + logID + "\n" +
		"size " + strconv.FormatUint(size, 10) + "\n" +
		"root " + hex.EncodeToString(root) + "\n" +
		"time " + t.UTC().Format(time.RFC3339Nano) + "\n"
	if audit != nil {
		h := audit.Hash
		if h == "" {
			h = "-"
		}
		note += "audit " + strconv.FormatUint(audit.Size, 10) + " " + h + "\n"
	}
	return note
}

// KeyID returns the id of an Ed25519 public key as checkpoints name it:
// "ed25519:" and the first 16 lowercase hex digits of the SHA-256 of the 32
// key bytes (the same id as evidence.KeyID).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// record is one line of leaves.jsonl.
type record struct {
	Index      uint64    `json:"index"`
	Leaf       string    `json:"leaf"`
	LeafHash   Hash      `json:"leaf_hash"`
	AppendedAt time.Time `json:"appended_at"`
}

// header is the content of ledger.json.
type header struct {
	Format    string    `json:"format"`
	LogID     string    `json:"log_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Option configures Open.
type Option func(*options)

type options struct {
	auditHead func(context.Context) (AuditHead, error)
	retired   []ed25519.PublicKey
	roots     *x509.CertPool
	log       *slog.Logger
	now       func() time.Time
}

// WithTSARoots sets the roots the timestamper's tokens must chain to.
// Without it, Open uses the timestamper's Roots() method if it has one
// (*tsa.Authority and *tsa.Client do).
func WithTSARoots(roots *x509.CertPool) Option { return func(o *options) { o.roots = roots } }

// WithRetiredKeys names the keys that signed checkpoints before the
// signer's key replaced them (a key rotation): those checkpoints verify
// with them. New checkpoints are always signed by the signer.
func WithRetiredKeys(keys ...ed25519.PublicKey) Option {
	return func(o *options) { o.retired = append(o.retired, keys...) }
}

// WithAuditHead makes every new checkpoint record the head of the audit
// log kept beside the ledger: head is called while the checkpoint is made,
// and a checkpoint is not made when it fails.
func WithAuditHead(head func(context.Context) (AuditHead, error)) Option {
	return func(o *options) { o.auditHead = head }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock for appended_at and checkpoint times (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Log is an append-only Merkle log open for writing. All methods are safe
// for concurrent use by many goroutines; one process at a time may have a
// log open (Open holds an flock on its lock file).
type Log struct {
	dir    string
	signer Signer
	pub    ed25519.PublicKey
	keyID  string
	// retired are the keys that signed checkpoints before a rotation.
	retired   []ed25519.PublicKey
	ts        Timestamper
	auditHead func(context.Context) (AuditHead, error)
	roots     *x509.CertPool
	log       *slog.Logger
	now       func() time.Time
	logID     string
	lock      *os.File

	cpMu sync.Mutex // serialises Checkpoint, VerifyLog and Close; taken before mu

	mu          sync.Mutex
	leaves      *os.File
	leavesSize  int64
	cps         *os.File
	cpsSize     int64
	tree        tree
	offsets     []int64 // start of each record in leaves.jsonl
	byHash      map[[hashSize]byte]uint64
	checkpoints []Checkpoint
	broken      error // a failed write that could not be undone
	closed      bool
	readOnly    bool
}

// Open opens the log in dir for appending, creating the folder and an
// empty log when there is none. Checkpoints are signed with signer and
// timestamped by ts; their tokens must chain to the TSA roots (see
// WithTSARoots). Open reads the whole log and checks it as VerifyDir does,
// except the timestamps: a damaged log is refused with an error wrapping
// ErrDamaged and every problem, so that nothing is appended on top of
// tampered records. A last line left incomplete by a crash is dropped
// first (its Append never returned). Cost: O(n) in the number of leaves,
// about 64 bytes of memory per leaf.
func Open(dir string, signer Signer, ts Timestamper, opts ...Option) (*Log, error) {
	o := options{log: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	fail := func(err error) (*Log, error) { return nil, fmt.Errorf("open ledger %s: %w", dir, err) }
	if signer == nil || ts == nil {
		return fail(errors.New("a signer and a timestamper are required"))
	}
	pub := signer.PublicKey()
	if len(pub) != ed25519.PublicKeySize {
		return fail(fmt.Errorf("signer public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize))
	}
	if o.roots == nil {
		if r, ok := ts.(interface{ Roots() *x509.CertPool }); ok {
			o.roots = r.Roots()
		}
	}
	if o.roots == nil {
		return fail(errors.New("no TSA roots: use WithTSARoots"))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	lock, err := lockFile(filepath.Join(dir, LockFile))
	if err != nil {
		return fail(err)
	}
	l := &Log{dir: dir, signer: signer, pub: pub, keyID: KeyID(pub), ts: ts, roots: o.roots, log: o.log, now: o.now, lock: lock, retired: o.retired, auditHead: o.auditHead}
	if err := l.open(); err != nil {
		l.closeFiles()
		return fail(err)
	}
	l.log.Debug("ledger opened", "dir", dir, "log_id", l.logID, "leaves", l.tree.size, "checkpoints", len(l.checkpoints))
	return l, nil
}

// OpenReadOnly opens the log in dir for reading only: Lookup, Size,
// Checkpoints and inclusion proofs against the stored checkpoints. It
// creates, locks and writes nothing, so it works on an archived data
// directory without write access. Checkpoints verify with pub, or with the
// retired keys for those made before a key rotation. A damaged log, or
// one whose last line is incomplete, is refused with ErrDamaged; Append,
// Checkpoint and a proof needing a new checkpoint return ErrReadOnly.
func OpenReadOnly(dir string, pub ed25519.PublicKey, roots *x509.CertPool, retired ...ed25519.PublicKey) (*Log, error) {
	fail := func(err error) (*Log, error) { return nil, fmt.Errorf("open ledger %s read-only: %w", dir, err) }
	if len(pub) != ed25519.PublicKeySize {
		return fail(fmt.Errorf("public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize))
	}
	b, err := os.ReadFile(filepath.Join(dir, HeaderFile))
	if err != nil {
		return fail(err)
	}
	hdr, err := parseHeader(b)
	if err != nil {
		return fail(err)
	}
	sr, err := scan(context.Background(), dir, hdr, pub, roots, scanOptions{retired: retired})
	if err != nil {
		return fail(err)
	}
	if len(sr.report.Problems) > 0 {
		return fail(fmt.Errorf("%w: %d problems: %w", ErrDamaged, len(sr.report.Problems), errors.Join(sr.report.Problems...)))
	}
	leaves, err := os.Open(filepath.Join(dir, LeavesFile))
	if err != nil {
		return fail(err)
	}
	return &Log{dir: dir, pub: pub, keyID: KeyID(pub), retired: retired, roots: roots, log: slog.Default(), now: time.Now,
		logID: hdr.LogID, leaves: leaves, leavesSize: sr.leavesEnd, tree: sr.tree, offsets: sr.offsets, byHash: sr.byHash,
		checkpoints: sr.checkpoints, cpsSize: sr.cpsEnd, readOnly: true}, nil
}

func (l *Log) open() error {
	hdr, err := loadOrCreateHeader(l.dir, l.now().UTC())
	if err != nil {
		return err
	}
	l.logID = hdr.LogID
	for _, name := range []string{LeavesFile, CheckpointsFile} {
		if err := dropTornTail(filepath.Join(l.dir, name), l.log); err != nil {
			return err
		}
	}
	if l.leaves, err = os.OpenFile(filepath.Join(l.dir, LeavesFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return err
	}
	if l.cps, err = os.OpenFile(filepath.Join(l.dir, CheckpointsFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	s, err := scan(context.Background(), l.dir, hdr, l.pub, l.roots, scanOptions{retired: l.retired})
	if err != nil {
		return err
	}
	if len(s.report.Problems) > 0 {
		return fmt.Errorf("%w: %d problems (run the ledger verification for the full report): %w", ErrDamaged, len(s.report.Problems), errors.Join(s.report.Problems...))
	}
	l.tree = s.tree
	l.offsets = s.offsets
	l.byHash = s.byHash
	l.checkpoints = s.checkpoints
	l.leavesSize = s.leavesEnd
	l.cpsSize = s.cpsEnd
	return nil
}

// loadOrCreateHeader reads ledger.json, creating it with a new log id when
// the folder holds no log yet.
func loadOrCreateHeader(dir string, now time.Time) (header, error) {
	path := filepath.Join(dir, HeaderFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		for _, name := range []string{LeavesFile, CheckpointsFile} {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Size() > 0 {
				return header{}, fmt.Errorf("%w: %s is missing but %s holds records", ErrMissing, HeaderFile, name)
			}
		}
		id := make([]byte, 16)
		rand.Read(id)
		h := header{Format: Format, LogID: hex.EncodeToString(id), CreatedAt: now}
		data, _ := json.Marshal(h)
		werr := writeFileNoReplace(path, append(data, '\n'), 0o644)
		if werr != nil && !errors.Is(werr, fs.ErrExist) {
			return header{}, werr
		}
		b, err = os.ReadFile(path) // ours, or one created a moment ago
	}
	if err != nil {
		return header{}, err
	}
	return parseHeader(b)
}

func parseHeader(b []byte) (header, error) {
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return header{}, fmt.Errorf("%s: %w: %v", HeaderFile, ErrMalformed, err)
	}
	if h.Format != Format {
		return header{}, fmt.Errorf("%s: %w: format %q, want %q", HeaderFile, ErrMalformed, h.Format, Format)
	}
	if len(h.LogID) != 32 {
		return header{}, fmt.Errorf("%s: %w: log_id %q", HeaderFile, ErrMalformed, h.LogID)
	}
	return h, nil
}

// dropTornTail cuts a final line that lacks its newline: a write that never
// completed, whose call did not return success.
func dropTornTail(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	end, err := lastNewlineEnd(f)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if end == st.Size() {
		return nil
	}
	log.Warn("ledger: dropping an incomplete last line left by an interrupted write", "file", path, "bytes", st.Size()-end)
	if err := f.Truncate(end); err != nil {
		return err
	}
	return f.Sync()
}

// lastNewlineEnd returns the offset just past the last '\n' of f (0 when
// there is none).
func lastNewlineEnd(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	for end := st.Size(); end > 0; {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

func validLeaf(leaf []byte) error {
	switch {
	case len(leaf) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidLeaf)
	case len(leaf) > MaxLeafSize:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidLeaf, len(leaf), MaxLeafSize)
	case !utf8.Valid(leaf):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidLeaf)
	}
	return nil
}

func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	if l.broken != nil {
		return fmt.Errorf("an earlier write failed and could not be undone; reopen the log: %w", l.broken)
	}
	return nil
}

// Append adds leaf (e.g. "sha256:<hex>" of a manifest.json) to the log and
// returns its index, from 0. When Append returns nil the record is on disk
// (fsync). It is idempotent: a leaf the log already holds is not added
// again, and its existing index is returned. Calls are serialised, each
// costing one write and one fsync; the leaf is covered by the next
// checkpoint.
func (l *Log) Append(ctx context.Context, leaf []byte) (uint64, error) {
	if err := validLeaf(leaf); err != nil {
		return 0, fmt.Errorf("ledger append %q: %w", leaf, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("ledger append %q: %w", leaf, err)
	}
	lh := hasher.HashLeaf(leaf)
	key := [hashSize]byte(lh)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, fmt.Errorf("ledger append %q: %w", leaf, err)
	}
	if l.readOnly {
		return 0, fmt.Errorf("ledger append %q: %w", leaf, ErrReadOnly)
	}
	if i, ok := l.byHash[key]; ok {
		return i, nil
	}
	idx := l.tree.size
	line, err := json.Marshal(record{Index: idx, Leaf: string(leaf), LeafHash: lh, AppendedAt: l.now().UTC()})
	if err != nil {
		return 0, fmt.Errorf("ledger append %q: %w", leaf, err)
	}
	line = append(line, '\n')
	if err := l.write(l.leaves, l.leavesSize, line); err != nil {
		return 0, fmt.Errorf("ledger append %q: %w", leaf, err)
	}
	l.offsets = append(l.offsets, l.leavesSize)
	l.leavesSize += int64(len(line))
	l.tree.append(lh)
	l.byHash[key] = idx
	return idx, nil
}

// write appends line to f, whose size is size, and syncs it. On failure it
// cuts f back to size; when that fails too, the log stops accepting
// writes. The caller holds l.mu.
func (l *Log) write(f *os.File, size int64, line []byte) error {
	_, err := f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if terr := f.Truncate(size); terr != nil {
			l.broken = errors.Join(err, terr)
		}
		return err
	}
	return nil
}

// Checkpoint signs and timestamps the current tree and stores the
// checkpoint. When no leaf was appended since the latest checkpoint it
// returns that one and stores nothing, unless the log records the audit
// head (WithAuditHead) and the audit log grew since: then it stores a
// checkpoint of the same size and root that seals the new audit entries. It returns an error wrapping
// ErrEmpty for a log without leaves. The timestamp token is verified
// against the TSA roots before the checkpoint is stored, so a checkpoint
// is never stored unsigned or untimestamped. Appends go on while the
// timestamper is asked; concurrent Checkpoint calls are serialised. Cost:
// one signature, one timestamp request, one write and fsync.
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.checkpointLocked(ctx)
}

func (l *Log) checkpointLocked(ctx context.Context) (*Checkpoint, error) {
	fail := func(err error) (*Checkpoint, error) { return nil, fmt.Errorf("ledger checkpoint %s: %w", l.dir, err) }
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return fail(err)
	}
	if l.readOnly {
		l.mu.Unlock()
		return fail(fmt.Errorf("%w: no stored checkpoint covers the leaves asked for", ErrReadOnly))
	}
	size := l.tree.size
	seq := uint64(len(l.checkpoints))
	var prev *Checkpoint
	if seq > 0 {
		prev = &l.checkpoints[seq-1]
	}
	if size == 0 {
		l.mu.Unlock()
		return fail(ErrEmpty)
	}
	if prev != nil && prev.Size == size && l.auditHead == nil {
		c := prev.clone()
		l.mu.Unlock()
		return c, nil
	}
	root := l.tree.root(size)
	var cons [][]byte
	var err error
	if prev != nil && prev.Size < size {
		cons, err = l.tree.consistency(prev.Size, size)
	}
	l.mu.Unlock()
	if err != nil {
		return fail(err)
	}

	var audit *AuditHead
	if l.auditHead != nil {
		h, err := l.auditHead(ctx)
		if err == nil {
			err = h.check()
		}
		if err != nil {
			return fail(fmt.Errorf("audit log head: %w", err))
		}
		audit = &h
	}
	// No leaf since the latest checkpoint: a new one only when the audit
	// log grew, so that its new entries are sealed too.
	if prev != nil && prev.Size == size && !auditGrew(prev.Audit, audit) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.checkpoints[len(l.checkpoints)-1].clone(), nil
	}
	t := l.now().UTC()
	note := makeNote(l.logID, size, root, t, audit)
	sig, err := l.signer.Sign([]byte(note))
	if err != nil {
		return fail(err)
	}
	if !ed25519.Verify(l.pub, []byte(note), sig) {
		return fail(fmt.Errorf("%w: the signer produced a signature its public key rejects", ErrBadSignature))
	}
	digest := sha256.Sum256([]byte(note))
	token, err := l.ts.Timestamp(ctx, digest[:])
	if err != nil {
		return fail(err)
	}
	if _, err := tsa.Verify(token, []byte(note), l.roots); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrBadTimestamp, err))
	}
	cp := Checkpoint{
		Seq: seq, LogID: l.logID, Size: size, Root: root, Time: t, Note: note,
		KeyID: l.keyID, Signature: sig, Timestamp: token, Audit: audit,
	}
	for _, h := range cons {
		cp.Consistency = append(cp.Consistency, h)
	}
	line, err := json.Marshal(&cp)
	if err != nil {
		return fail(err)
	}
	line = append(line, '\n')

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return fail(err)
	}
	if err := l.write(l.cps, l.cpsSize, line); err != nil {
		return fail(err)
	}
	l.cpsSize += int64(len(line))
	l.checkpoints = append(l.checkpoints, cp)
	l.log.InfoContext(ctx, "ledger checkpoint", "dir", l.dir, "seq", seq, "size", size, "root", cp.Root.String())
	return cp.clone(), nil
}

// Proof is an inclusion proof of one leaf against a signed checkpoint,
// self-contained for offline verification (ledger-proof.json in bundles;
// see the package documentation).
type Proof struct {
	Format     string     `json:"format"`
	LogID      string     `json:"log_id"`
	LeafIndex  uint64     `json:"leaf_index"`
	Leaf       string     `json:"leaf"`
	LeafHash   Hash       `json:"leaf_hash"`
	TreeSize   uint64     `json:"tree_size"`
	Root       Hash       `json:"root"`
	AuditPath  []Hash     `json:"audit_path"`
	Checkpoint Checkpoint `json:"checkpoint"`
	// Cosignatures are the witnesses' co-signatures of the checkpoint's
	// note (see Cosignature), added when the bundle is exported.
	Cosignatures []Cosignature `json:"cosignatures,omitempty"`
}

// Marshal returns the proof as indented JSON with a final newline, the
// content of ledger-proof.json.
func (p *Proof) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal ledger proof: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseProof parses ledger-proof.json. It checks the format only; use
// VerifyInclusion to check the proof.
func ParseProof(b []byte) (*Proof, error) {
	var p Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse ledger proof: %w: %v", ErrMalformed, err)
	}
	if p.Format != ProofFormat {
		return nil, fmt.Errorf("parse ledger proof: %w: format %q, want %q", ErrMalformed, p.Format, ProofFormat)
	}
	return &p, nil
}

// InclusionProof returns the proof that leaf index is in the tree of the
// stored checkpoint of checkpointSize leaves (ErrNoCheckpoint when there is
// none). checkpointSize 0 means the latest checkpoint, and when it does
// not cover index (or there is none) a new checkpoint is made first, as
// Checkpoint does. The proof is verified with VerifyInclusion before it is
// returned. Cost: O(log n) hashes, one record read, and possibly one
// checkpoint.
func (l *Log) InclusionProof(ctx context.Context, index, checkpointSize uint64) (*Proof, error) {
	fail := func(err error) (*Proof, error) {
		return nil, fmt.Errorf("ledger inclusion proof of leaf %d at size %d: %w", index, checkpointSize, err)
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return fail(err)
	}
	if index >= l.tree.size {
		n := l.tree.size
		l.mu.Unlock()
		return fail(fmt.Errorf("%w: the log holds %d leaves", ErrNotFound, n))
	}
	var cp *Checkpoint
	if checkpointSize == 0 {
		if n := len(l.checkpoints); n > 0 && l.checkpoints[n-1].Size > index {
			cp = l.checkpoints[n-1].clone()
		}
	} else {
		for i := len(l.checkpoints) - 1; i >= 0; i-- { // the latest of that size
			if l.checkpoints[i].Size == checkpointSize {
				cp = l.checkpoints[i].clone()
				break
			}
		}
		if cp == nil {
			l.mu.Unlock()
			return fail(ErrNoCheckpoint)
		}
	}
	l.mu.Unlock()
	if cp == nil {
		var err error
		if cp, err = l.checkpointLocked(ctx); err != nil {
			return fail(err)
		}
	}
	if index >= cp.Size {
		return fail(fmt.Errorf("%w: checkpoint %d covers %d leaves", ErrNotFound, cp.Seq, cp.Size))
	}

	l.mu.Lock()
	path, err := l.tree.inclusion(index, cp.Size)
	leafHash := l.tree.leafHash(index)
	off := l.offsets[index]
	end := l.leavesSize
	if index+1 < uint64(len(l.offsets)) {
		end = l.offsets[index+1]
	}
	l.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	rec, err := l.readRecord(off, end)
	if err != nil {
		return fail(&RecordError{Index: index, Err: err})
	}
	if !bytes.Equal(hasher.HashLeaf([]byte(rec.Leaf)), leafHash) {
		return fail(&RecordError{Index: index, Err: fmt.Errorf("%w: the record on disk is not the leaf appended", ErrLeafChanged)})
	}
	p := &Proof{
		Format: ProofFormat, LogID: l.logID, LeafIndex: index, Leaf: rec.Leaf, LeafHash: leafHash,
		TreeSize: cp.Size, Root: cp.Root, AuditPath: make([]Hash, len(path)), Checkpoint: *cp,
	}
	p.Checkpoint.Consistency = nil
	for i, h := range path {
		p.AuditPath[i] = h
	}
	pub := l.pub
	if rk := findKey(l.retired, cp.KeyID); rk != nil {
		pub = rk // an older checkpoint, signed before a key rotation
	}
	if _, err := VerifyInclusion(p, []byte(rec.Leaf), pub, l.roots); err != nil {
		return fail(err)
	}
	return p, nil
}

func (l *Log) readRecord(off, end int64) (*record, error) {
	buf := make([]byte, end-off)
	if _, err := l.leaves.ReadAt(buf, off); err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(buf, &rec); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &rec, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// the first size1 leaves to the tree of the first size2 leaves, both of
// which must be sizes of stored checkpoints (ErrNoCheckpoint otherwise).
// An auditor holding an older checkpoint checks with it that the newer one
// extends it.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([]Hash, error) {
	fail := func(err error) ([]Hash, error) {
		return nil, fmt.Errorf("ledger consistency proof %d to %d: %w", size1, size2, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return fail(err)
	}
	has := func(size uint64) bool {
		for i := range l.checkpoints {
			if l.checkpoints[i].Size == size {
				return true
			}
		}
		return false
	}
	if size1 > size2 || !has(size1) || !has(size2) {
		return fail(ErrNoCheckpoint)
	}
	p, err := l.tree.consistency(size1, size2)
	if err != nil {
		return fail(err)
	}
	out := make([]Hash, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out, nil
}

// Lookup returns the index of leaf, and whether the log holds it.
func (l *Log) Lookup(leaf []byte) (uint64, bool) {
	key := [hashSize]byte(hasher.HashLeaf(leaf))
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.byHash[key]
	return i, ok
}

// Size returns the number of leaves in the log.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.size
}

// Latest returns the latest checkpoint, or false when there is none.
func (l *Log) Latest() (*Checkpoint, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.checkpoints); n > 0 {
		return l.checkpoints[n-1].clone(), true
	}
	return nil, false
}

// Checkpoints returns every stored checkpoint, oldest first.
func (l *Log) Checkpoints() []*Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Checkpoint, len(l.checkpoints))
	for i := range l.checkpoints {
		out[i] = l.checkpoints[i].clone()
	}
	return out
}

// KeyID returns the id of the key that signs new checkpoints.
func (l *Log) KeyID() string { return l.keyID }

// LogID returns the log's id (from ledger.json).
func (l *Log) LogID() string { return l.logID }

// PublicKey returns the key checkpoints are signed with.
func (l *Log) PublicKey() ed25519.PublicKey { return bytes.Clone(l.pub) }

// Close closes the log's files and releases its lock. Methods called
// afterwards return ErrClosed. Close is idempotent.
func (l *Log) Close() error {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.closeFiles(); err != nil {
		return fmt.Errorf("close ledger %s: %w", l.dir, err)
	}
	return nil
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{l.leaves, l.cps, l.lock} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// writeFileNoReplace writes data to path through a synced temporary file
// hard-linked into place, so that path appears complete or not at all and
// an existing path is never replaced (the error then wraps fs.ErrExist).
func writeFileNoReplace(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	w := bufio.NewWriter(tmp)
	w.Write(data)
	if err := errors.Join(w.Flush(), tmp.Chmod(mode), tmp.Sync()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(name, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync() // not supported everywhere; best effort
	return nil
}
