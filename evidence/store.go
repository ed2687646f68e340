package evidence

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors the stores return, wrapped with the operation and the key. Test
// for them with errors.Is.
var (
	// ErrNotFound: Get or Stat of a key that holds no object. Also used by
	// VerifyBundle for a file the manifest lists but the bundle lacks.
	ErrNotFound = errors.New("not found")
	// ErrExists: Put of a key that already holds an object. The stored
	// object is left as it was; evidence is never overwritten.
	ErrExists = errors.New("already exists")
	// ErrDigestMismatch: bytes do not hash to the digest they were said to
	// have. From Put nothing was stored; from OpenVerified and Export the
	// stored object is damaged; from VerifyBundle the bundle is.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: a reader delivered more or fewer bytes than the size
	// it was said to have. From Put nothing was stored.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrInvalidKey: a key that no store accepts (see ValidateKey).
	ErrInvalidKey = errors.New("invalid key")
)

// MaxKeyLen is the longest key, in bytes, a Store accepts.
const MaxKeyLen = 1024

// Store keeps evidence objects under slash-separated keys such as
// "evidence/ev-20260301T101500Z-3fa9c2e1b7d0/page.html". It is
// append-only: an object, once stored, is never replaced or removed
// through this interface.
//
// Every method is safe for concurrent use by many goroutines, and by many
// processes sharing the same backing folder or bucket. Every method accepts
// only keys that ValidateKey accepts and otherwise returns an error
// wrapping ErrInvalidKey that names the key.
type Store interface {
	// Put stores exactly size bytes read from r under key.
	//
	// sha256 is the SHA-256 digest the bytes must have. Put hashes the
	// bytes as it writes them; when they do not hash to sha256 it returns
	// an error wrapping ErrDigestMismatch, and when r yields more or fewer
	// than size bytes one wrapping ErrSizeMismatch. In both cases nothing
	// is stored under key.
	//
	// Put never overwrites: when key already holds an object it returns an
	// error wrapping ErrExists and leaves that object untouched, even when
	// the bytes are identical. Of several concurrent Puts of one key
	// exactly one succeeds and the others return ErrExists. A Put is
	// durable when it returns nil; an object is visible to Get, Stat and
	// List only complete, never partly written.
	//
	// Put reads r at most to size+1 bytes and does not close it. Cost: one
	// pass over the bytes.
	Put(ctx context.Context, key string, r io.Reader, size int64, sha256 Digest) error

	// Get opens the object stored under key; the caller must close it. It
	// returns an error wrapping ErrNotFound when there is none. Get does
	// not re-hash: a caller that knows the digest should read through
	// OpenVerified, which does.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Stat returns the size of the object stored under key, or an error
	// wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)

	// List calls fn for every object whose key starts with prefix (a plain
	// string prefix, not necessarily ending in "/"; "" lists everything),
	// in ascending byte order of keys. It stops at, and returns, the first
	// error fn returns. Objects stored while List runs may or may not be
	// listed. Cost: proportional to the number of keys under prefix.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time // when the store wrote it, by the store's clock
}

// KeyError is returned (wrapping ErrInvalidKey) for a key no store
// accepts. It names the key and the reason.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("invalid key %q: %s", e.Key, e.Reason)
}

// Unwrap returns ErrInvalidKey.
func (e *KeyError) Unwrap() error { return ErrInvalidKey }

// ValidateKey checks that key is one every Store accepts and that maps
// safely onto a file path: non-empty, at most MaxKeyLen bytes of valid
// UTF-8, slash-separated relative path elements, none empty, ".", ".." or
// starting with a dot, and no backslash or control characters. It returns
// a *KeyError otherwise.
func ValidateKey(key string) error {
	return validateKey(key, false)
}

// ValidatePrefix checks a List prefix: "" or the start of a valid key (the
// last element may be partial or empty after a trailing slash).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validateKey(prefix, true)
}

func validateKey(key string, prefix bool) error {
	bad := func(reason string, args ...any) error {
		return &KeyError{Key: key, Reason: fmt.Sprintf(reason, args...)}
	}
	if key == "" {
		return bad("empty")
	}
	if len(key) > MaxKeyLen {
		return bad("%d bytes, longer than %d", len(key), MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return bad("not valid UTF-8")
	}
	if strings.HasPrefix(key, "/") {
		return bad("absolute path")
	}
	for _, r := range key {
		switch {
		case r == '\\':
			return bad("contains a backslash")
		case r < 0x20 || r == 0x7f:
			return bad("contains control character %U", r)
		}
	}
	elems := strings.Split(key, "/")
	for i, e := range elems {
		last := i == len(elems)-1
		switch {
		case e == "" && prefix && last:
			// "evidence/" lists a folder.
		case e == "":
			return bad("empty path element")
		case e == "." || e == "..":
			return bad("path element %q not allowed", e)
		case strings.HasPrefix(e, "."):
			return bad("path element %q starts with a dot", e)
		}
	}
	if !prefix && !fs.ValidPath(key) {
		return bad("not a valid relative path")
	}
	return nil
}

// PutReader wraps the reader given to Store.Put. It passes the bytes
// through while hashing them, and refuses to complete a wrong upload: it
// withholds the final bytes and returns an error wrapping ErrDigestMismatch
// (or ErrSizeMismatch) instead, so a backend that needs all size bytes to
// finish the object never finishes it. Store adapters use it; it reads no
// more than size+1 bytes from the underlying reader.
type PutReader struct {
	key    string
	r      io.Reader
	size   int64
	want   Digest
	n      int64
	h      hash.Hash
	err    error // sticky
	closed bool  // all size bytes delivered and checked
}

// NewPutReader returns a PutReader for a Put of size bytes under key that
// must hash to sha256. It checks its arguments: sha256 must be a SHA-256
// digest (ErrInvalidDigest) and size must not be negative.
func NewPutReader(key string, r io.Reader, size int64, sha256 Digest) (*PutReader, error) {
	if sha256.Algorithm() != SHA256 {
		return nil, fmt.Errorf("put %q: %w: want a sha256 digest, got %q", key, ErrInvalidDigest, sha256.String())
	}
	if size < 0 {
		return nil, fmt.Errorf("put %q: %w: negative size %d", key, ErrSizeMismatch, size)
	}
	h := SHA256.New()
	return &PutReader{key: key, r: r, size: size, want: sha256, h: h}, nil
}

// Read implements io.Reader.
func (p *PutReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.closed || p.n == p.size {
		if !p.closed {
			// size 0: nothing to withhold, check before reporting EOF.
			if err := p.finish(); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	if rest := p.size - p.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := p.r.Read(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	if p.n == p.size {
		if ferr := p.finish(); ferr != nil {
			return 0, ferr // withhold the last bytes
		}
		return n, nil
	}
	if err == io.EOF {
		p.err = fmt.Errorf("put %q: %w: reader ended after %d bytes, want %d", p.key, ErrSizeMismatch, p.n, p.size)
		return 0, p.err
	}
	if err != nil {
		p.err = fmt.Errorf("put %q: read: %w", p.key, err)
		return n, p.err
	}
	return n, nil
}

// finish runs when size bytes have been read: it checks that the reader
// holds nothing more and that the digest matches.
func (p *PutReader) finish() error {
	var one [1]byte
	for {
		n, err := p.r.Read(one[:])
		if n > 0 {
			p.err = fmt.Errorf("put %q: %w: reader holds more than %d bytes", p.key, ErrSizeMismatch, p.size)
			return p.err
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			p.err = fmt.Errorf("put %q: read: %w", p.key, err)
			return p.err
		}
	}
	got := Digest{alg: SHA256, sum: string(p.h.Sum(nil))}
	if got != p.want {
		p.err = fmt.Errorf("put %q: %w: bytes hash to %s, want %s", p.key, ErrDigestMismatch, got, p.want)
		return p.err
	}
	p.closed = true
	return nil
}

// Check reads whatever is left and reports whether the whole upload was
// complete and matched; adapters call it after the backend accepted the
// bytes, as a second line of defence.
func (p *PutReader) Check() error {
	if p.err != nil {
		return p.err
	}
	if p.closed {
		return nil
	}
	if _, err := io.Copy(io.Discard, p); err != nil {
		return err
	}
	return p.err
}

// OpenVerified opens key in s for reading and checks what it reads: the
// returned reader yields the object's bytes, but at the end returns an
// error naming the key and wrapping ErrSizeMismatch or ErrDigestMismatch
// instead of io.EOF when the object does not have the given size (skipped
// when size < 0) or does not hash to every given digest (SHA-256 and/or
// SM3). A caller must read to io.EOF before trusting the bytes.
func OpenVerified(ctx context.Context, s Store, key string, size int64, sums ...Digest) (io.ReadCloser, error) {
	want := Sums{Size: size}
	for _, d := range sums {
		switch d.Algorithm() {
		case SHA256:
			want.SHA256 = d
		case SM3:
			want.SM3 = d
		default:
			return nil, fmt.Errorf("open verified %q: %w: unusable digest %q", key, ErrInvalidDigest, d.String())
		}
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return &verifyingReader{key: key, rc: rc, want: want, sum: NewSummer()}, nil
}

type verifyingReader struct {
	key  string
	rc   io.ReadCloser
	want Sums
	sum  *Summer
	err  error
}

func (v *verifyingReader) Read(b []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(b)
	v.sum.Write(b[:n])
	if v.want.Size >= 0 && v.sum.n > v.want.Size {
		v.err = fmt.Errorf("read %q: %w: more than %d bytes", v.key, ErrSizeMismatch, v.want.Size)
		return 0, v.err
	}
	if err == io.EOF {
		if merr := v.sum.Sums().Mismatch(v.want); merr != nil {
			v.err = fmt.Errorf("read %q: %w", v.key, merr)
			return n, v.err
		}
		v.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		v.err = fmt.Errorf("read %q: %w", v.key, err)
		return n, v.err
	}
	return n, nil
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// ReadVerified reads the whole object under key, checking it as
// OpenVerified does. Meant for small objects such as manifests.
func ReadVerified(ctx context.Context, s Store, key string, size int64, sums ...Digest) ([]byte, error) {
	rc, err := OpenVerified(ctx, s, key, size, sums...)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// SyncDir makes the entries of folder dir durable (fsync of the folder),
// as a store must after it links or renames a file into place. File systems
// that cannot sync a folder are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
