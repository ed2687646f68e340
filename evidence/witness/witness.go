package witness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
)

// KeyDir is the folder, inside a witness's folder, that holds its key.
const KeyDir = "key"

// logsDir is the folder, inside a witness's folder, of the per-log files.
const logsDir = "logs"

// MaxRequestSize is the largest co-sign request body a witness reads.
const MaxRequestSize = 256 << 10

// Errors of the witness, wrapped with the reason. Test for them with
// errors.Is; the HTTP API maps them to status codes (see the package
// documentation).
var (
	// ErrMalformed: a request that does not parse or lacks fields.
	ErrMalformed = errors.New("malformed request")
	// ErrUnknownLog: a checkpoint signed by a key the witness does not
	// accept.
	ErrUnknownLog = errors.New("log key not accepted by this witness")
	// ErrBadSignature: a checkpoint whose log signature or note does not
	// verify.
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	// ErrInconsistent: a checkpoint that does not extend the last one the
	// witness co-signed of the same log: smaller, a different root at the
	// same size, or a consistency proof that fails.
	ErrInconsistent = errors.New("checkpoint is not consistent with the witnessed one")
	// ErrBadTime: a checkpoint dated later than the witness's clock allows
	// (beyond the accepted skew), or, when the witness checks timestamps,
	// one without a token that verifies over its note under the
	// witness's TSA roots with a time within the skew of the checkpoint's.
	ErrBadTime = errors.New("checkpoint time not acceptable")
)

// DefaultMaxSkew is how far a checkpoint's time may lie ahead of the
// witness's clock, and its timestamp token's time from the checkpoint's,
// unless WithMaxSkew says otherwise.
const DefaultMaxSkew = 10 * time.Minute

// ConflictError is an ErrInconsistent refusal; it says which size the
// witness holds, so that the submitter can prove consistency from it.
type ConflictError struct {
	WitnessedSize uint64
	Err           error
}

func (e *ConflictError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConflictError) Unwrap() error { return e.Err }

// Request asks a witness to co-sign a checkpoint.
type Request struct {
	Checkpoint  ledger.Checkpoint `json:"checkpoint"`
	FromSize    uint64            `json:"from_size"`
	Consistency []ledger.Hash     `json:"consistency"`
}

// Witnessed is a checkpoint a witness co-signed, with its co-signature.
type Witnessed struct {
	Checkpoint  ledger.Checkpoint  `json:"checkpoint"`
	Cosignature ledger.Cosignature `json:"cosignature"`
}

// Witness co-signs the checkpoints of the logs whose keys it accepts. Its
// methods are safe for concurrent use; one process at a time should use a
// witness folder.
type Witness struct {
	dir    string
	signer ledger.Signer
	keys   map[string]ed25519.PublicKey
	now    func() time.Time
	log    *slog.Logger
	skew   time.Duration
	roots  *x509.CertPool // nil: timestamps are not checked

	mu     sync.Mutex
	latest map[string]*Witnessed // by logKey
}

// Option configures Open.
type Option func(*Witness)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(w *Witness) { w.log = l } }

// WithClock sets the clock co-signatures are dated with (default time.Now).
func WithClock(now func() time.Time) Option { return func(w *Witness) { w.now = now } }

// WithMaxSkew sets how far a checkpoint may be dated ahead of the
// witness's clock, and its token's time from the checkpoint's (default
// DefaultMaxSkew).
func WithMaxSkew(d time.Duration) Option { return func(w *Witness) { w.skew = d } }

// WithTSARoots makes the witness require of every checkpoint an RFC 3161
// token over its note that chains to roots, with a time within the
// accepted skew of the checkpoint's time: the capture node cannot then
// date a checkpoint other than when a trusted authority saw it.
func WithTSARoots(roots *x509.CertPool) Option { return func(w *Witness) { w.roots = roots } }

// Init creates the witness's key in dir when it has none and returns the
// signer (see KeyDir).
func Init(dir string) (*evidence.Signer, error) {
	s, err := evidence.LoadOrCreateSigner(filepath.Join(dir, KeyDir))
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	return s, nil
}

// Open opens the witness kept in dir with its key (made by Init), which
// accepts checkpoints signed by logKeys, and reads the last checkpoint it
// co-signed of every log. A last line left incomplete by a crash is
// ignored: its co-signature was never returned.
func Open(dir string, logKeys []ed25519.PublicKey, opts ...Option) (*Witness, error) {
	if len(logKeys) == 0 {
		return nil, fmt.Errorf("open witness %s: no log key to accept", dir)
	}
	s, err := evidence.LoadSigner(filepath.Join(dir, KeyDir))
	if err != nil {
		return nil, fmt.Errorf("open witness %s: %w (make the key with \"shopwatch witness init\")", dir, err)
	}
	w := &Witness{dir: dir, signer: s, keys: map[string]ed25519.PublicKey{}, now: time.Now, log: slog.Default(), skew: DefaultMaxSkew, latest: map[string]*Witnessed{}}
	for _, o := range opts {
		o(w)
	}
	for _, k := range logKeys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("open witness %s: log key of %d bytes", dir, len(k))
		}
		w.keys[ledger.KeyID(k)] = k
	}
	if err := os.MkdirAll(filepath.Join(dir, logsDir), 0o700); err != nil {
		return nil, fmt.Errorf("open witness %s: %w", dir, err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, logsDir))
	if err != nil {
		return nil, fmt.Errorf("open witness %s: %w", dir, err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		path := filepath.Join(dir, logsDir, e.Name())
		if err := dropTornTail(path, w.log); err != nil {
			return nil, fmt.Errorf("open witness %s: %w", dir, err)
		}
		last, err := lastRecord(path)
		if err != nil {
			return nil, fmt.Errorf("open witness %s: %w", dir, err)
		}
		if last == nil {
			continue
		}
		cp := &last.Checkpoint
		if fileName(cp.LogID, cp.KeyID) != e.Name() {
			return nil, fmt.Errorf("open witness %s: %s holds log %s key %s", dir, path, cp.LogID, cp.KeyID)
		}
		w.latest[logKey(cp.LogID, cp.KeyID)] = last
	}
	return w, nil
}

// KeyID returns the id of the witness's key.
func (w *Witness) KeyID() string { return ledger.KeyID(w.signer.PublicKey()) }

// PublicKey returns the witness's public key.
func (w *Witness) PublicKey() ed25519.PublicKey { return w.signer.PublicKey() }

func logKey(logID, keyID string) string { return logID + " " + keyID }

// fileName is the name of a log's file: the log id and the hex digits of
// the key id. It is only called with checked ids.
func fileName(logID, keyID string) string {
	return logID + "-" + strings.TrimPrefix(keyID, "ed25519:") + ".jsonl"
}

// dropTornTail cuts a last line without its newline off the file: a write
// that never completed, whose co-signature was never returned. Later lines
// are then appended after the last complete one.
func dropTornTail(path string, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if end == len(b) {
		return nil
	}
	log.Warn("witness: dropping an incomplete last line left by an interrupted write", "file", path, "bytes", len(b)-end)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(end)); err != nil {
		return err
	}
	return f.Sync()
}

// lastRecord returns the last complete line of a log's file.
func lastRecord(path string) (*Witnessed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	} else {
		return nil, nil
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	var r Witnessed
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: last line: %w", path, err)
	}
	return &r, nil
}

// Latest returns the latest checkpoint of the log (log id, log key id) the
// witness co-signed.
func (w *Witness) Latest(logID, keyID string) (*Witnessed, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.latest[logKey(logID, keyID)]
	if !ok {
		return nil, false
	}
	c := *r
	return &c, true
}

// Cosign co-signs the request's checkpoint when the witness accepts its
// log key, its signature verifies, and it extends the last checkpoint of
// that log the witness co-signed (see the package documentation). The
// co-signed checkpoint is stored, and fsynced, before Cosign returns.
// Errors wrap ErrMalformed, ErrUnknownLog, ErrBadSignature or
// ErrInconsistent (as a *ConflictError).
func (w *Witness) Cosign(ctx context.Context, req *Request) (*ledger.Cosignature, error) {
	cp := req.Checkpoint
	fail := func(err error) (*ledger.Cosignature, error) {
		return nil, fmt.Errorf("witness: checkpoint of log %q size %d: %w", cp.LogID, cp.Size, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if len(cp.LogID) != 32 || strings.Trim(cp.LogID, "0123456789abcdef") != "" {
		return fail(fmt.Errorf("%w: log_id %q is not 32 lowercase hex digits", ErrMalformed, cp.LogID))
	}
	if cp.Size == 0 || len(cp.Root) == 0 || cp.Note == "" {
		return fail(fmt.Errorf("%w: the checkpoint needs size, root, note and signature", ErrMalformed))
	}
	pub, ok := w.keys[cp.KeyID]
	if !ok {
		return fail(fmt.Errorf("%w: %s", ErrUnknownLog, cp.KeyID))
	}
	if err := cp.VerifySignature(pub); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrBadSignature, err))
	}
	cp.Consistency = nil
	if err := w.checkTime(&cp); err != nil {
		return fail(err)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	k := logKey(cp.LogID, cp.KeyID)
	// A log key signs one log: a new log under a key that already
	// signs another would start a history of its own, beside the one
	// witnessed.
	for _, r := range w.latest {
		if o := &r.Checkpoint; o.KeyID == cp.KeyID && o.LogID != cp.LogID {
			return fail(&ConflictError{WitnessedSize: o.Size, Err: fmt.Errorf("%w: key %s signs log %s, witnessed up to size %d; it cannot start log %s",
				ErrInconsistent, cp.KeyID, o.LogID, o.Size, cp.LogID)})
		}
	}
	if prev, ok := w.latest[k]; ok {
		p := &prev.Checkpoint
		conflict := func(format string, args ...any) (*ledger.Cosignature, error) {
			return fail(&ConflictError{WitnessedSize: p.Size, Err: fmt.Errorf("%w: "+format, append([]any{ErrInconsistent}, args...)...)})
		}
		switch {
		case cp.Time.Before(p.Time):
			return conflict("time %s goes back from the witnessed checkpoint's %s", cp.Time.UTC().Format(time.RFC3339Nano), p.Time.UTC().Format(time.RFC3339Nano))
		case cp.Size < p.Size:
			return conflict("size %d goes back from the witnessed %d", cp.Size, p.Size)
		case cp.Size == p.Size && !bytes.Equal(cp.Root, p.Root):
			return conflict("root %s differs from the witnessed %s at the same size %d: the log was rewritten", cp.Root, p.Root, p.Size)
		case cp.Size > p.Size && req.FromSize != p.Size:
			return conflict("the consistency proof starts at size %d, the witness holds size %d", req.FromSize, p.Size)
		case cp.Size > p.Size:
			if err := ledger.VerifyConsistency(p.Size, cp.Size, p.Root, cp.Root, req.Consistency); err != nil {
				return conflict("from the witnessed size %d (root %s): %v", p.Size, p.Root, err)
			}
		}
	} else if req.FromSize != 0 {
		return fail(&ConflictError{Err: fmt.Errorf("%w: the consistency proof starts at size %d, the witness has seen no checkpoint of this log", ErrInconsistent, req.FromSize)})
	}
	cs, err := ledger.Cosign(w.signer, cp.Note, w.now())
	if err != nil {
		return fail(err)
	}
	rec := &Witnessed{Checkpoint: cp, Cosignature: cs}
	line, err := json.Marshal(rec)
	if err != nil {
		return fail(err)
	}
	if err := appendLine(filepath.Join(w.dir, logsDir, fileName(cp.LogID, cp.KeyID)), append(line, '\n')); err != nil {
		return fail(err)
	}
	w.latest[k] = rec
	w.log.InfoContext(ctx, "witness co-signed", "log", cp.LogID, "log_key", cp.KeyID, "size", cp.Size, "root", cp.Root.String())
	return &cs, nil
}

// checkTime holds the checkpoint's time to the witness's clock and, when
// the witness checks timestamps, to its token.
func (w *Witness) checkTime(cp *ledger.Checkpoint) error {
	now := w.now()
	if ahead := cp.Time.Sub(now); ahead > w.skew {
		return fmt.Errorf("%w: dated %s, %s ahead of the witness's clock (%s); at most %s is accepted",
			ErrBadTime, cp.Time.UTC().Format(time.RFC3339), ahead.Round(time.Second), now.UTC().Format(time.RFC3339), w.skew)
	}
	if w.roots == nil {
		return nil
	}
	if len(cp.Timestamp) == 0 {
		return fmt.Errorf("%w: no timestamp token, and this witness requires one", ErrBadTime)
	}
	info, err := tsa.Verify(cp.Timestamp, []byte(cp.Note), w.roots)
	if err != nil {
		return fmt.Errorf("%w: the timestamp token does not verify over the note under the witness's TSA roots: %w", ErrBadTime, err)
	}
	if d := info.GenTime.Sub(cp.Time).Abs(); d > w.skew {
		return fmt.Errorf("%w: dated %s, its token %s: %s apart; at most %s is accepted",
			ErrBadTime, cp.Time.UTC().Format(time.RFC3339), info.GenTime.UTC().Format(time.RFC3339), d.Round(time.Second), w.skew)
	}
	return nil
}

// appendLine appends line to the file at path with one write and syncs it;
// a failed write is cut off again.
func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(st.Size())
		f.Close()
		return err
	}
	return f.Close()
}

// readLines calls fn for every complete line of the file at path; a
// missing file has none.
func readLines(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return nil // a last line without its newline never completed
		}
		if err != nil {
			return err
		}
		if ferr := fn(line[:len(line)-1]); ferr != nil {
			return ferr
		}
	}
}
