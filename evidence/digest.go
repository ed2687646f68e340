package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/emmansun/gmsm/sm3"
)

// Algorithm names a hash function. Its text is the prefix of a digest's
// text form.
type Algorithm string

// The hash functions shopwatch uses. Every artifact gets both.
const (
	SHA256 Algorithm = "sha256" // FIPS 180-4 SHA-256
	SM3    Algorithm = "sm3"    // GB/T 32905-2016 SM3
)

// ErrInvalidDigest is returned by ParseDigest, NewDigest and the stores when
// a digest is malformed, empty or uses the wrong algorithm.
var ErrInvalidDigest = errors.New("invalid digest")

// Size returns the length in bytes of a sum of a, or 0 for an unknown
// algorithm.
func (a Algorithm) Size() int {
	switch a {
	case SHA256:
		return sha256.Size
	case SM3:
		return sm3.Size
	}
	return 0
}

// New returns a fresh hash.Hash for a. It panics on an unknown algorithm;
// algorithms come from the constants above or a parsed Digest.
func (a Algorithm) New() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New()
	case SM3:
		return sm3.New()
	}
	panic(fmt.Sprintf("evidence: unknown hash algorithm %q", string(a)))
}

// Digest is the sum of some bytes under one named algorithm. It is a
// comparable value: two digests are equal (==) when algorithm and sum are.
// The zero Digest means "no digest". Its text form, used in manifests, JSON
// and error messages, is "<algorithm>:<lowercase hex>", for example
// "sha256:ba7816bf…".
type Digest struct {
	alg Algorithm
	sum string // raw sum bytes; a string keeps Digest comparable and immutable
}

// NewDigest returns the digest of algorithm alg with the given raw sum.
func NewDigest(alg Algorithm, sum []byte) (Digest, error) {
	n := alg.Size()
	if n == 0 {
		return Digest{}, fmt.Errorf("new digest: %w: unknown algorithm %q", ErrInvalidDigest, string(alg))
	}
	if len(sum) != n {
		return Digest{}, fmt.Errorf("new digest: %w: %s sum is %d bytes, want %d", ErrInvalidDigest, alg, len(sum), n)
	}
	return Digest{alg: alg, sum: string(sum)}, nil
}

// ParseDigest parses the text form "<algorithm>:<hex>". Only the canonical
// form is accepted: a known algorithm, lowercase hex of the right length.
func ParseDigest(s string) (Digest, error) {
	algText, hexText, ok := strings.Cut(s, ":")
	if !ok {
		return Digest{}, fmt.Errorf("parse digest %q: %w: want <algorithm>:<hex>", s, ErrInvalidDigest)
	}
	alg := Algorithm(algText)
	n := alg.Size()
	if n == 0 {
		return Digest{}, fmt.Errorf("parse digest %q: %w: unknown algorithm %q (want sha256 or sm3)", s, ErrInvalidDigest, algText)
	}
	if len(hexText) != 2*n {
		return Digest{}, fmt.Errorf("parse digest %q: %w: %s needs %d hex digits, got %d", s, ErrInvalidDigest, alg, 2*n, len(hexText))
	}
	for i := 0; i < len(hexText); i++ {
		c := hexText[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return Digest{}, fmt.Errorf("parse digest %q: %w: character %q is not lowercase hex", s, ErrInvalidDigest, c)
		}
	}
	sum, err := hex.DecodeString(hexText)
	if err != nil {
		return Digest{}, fmt.Errorf("parse digest %q: %w: %v", s, ErrInvalidDigest, err)
	}
	return Digest{alg: alg, sum: string(sum)}, nil
}

// MustParseDigest is ParseDigest for constants in tests and tables; it
// panics on a malformed digest.
func MustParseDigest(s string) Digest {
	d, err := ParseDigest(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Algorithm returns the digest's algorithm ("" for the zero Digest).
func (d Digest) Algorithm() Algorithm { return d.alg }

// Sum returns a copy of the raw sum bytes.
func (d Digest) Sum() []byte { return []byte(d.sum) }

// Hex returns the sum in lowercase hex, without the algorithm prefix: what
// sha256sum prints.
func (d Digest) Hex() string { return hex.EncodeToString([]byte(d.sum)) }

// IsZero reports whether d is the zero Digest.
func (d Digest) IsZero() bool { return d.alg == "" }

// String returns the text form "<algorithm>:<lowercase hex>", or "" for the
// zero Digest.
func (d Digest) String() string {
	if d.IsZero() {
		return ""
	}
	return string(d.alg) + ":" + d.Hex()
}

// MarshalText implements encoding.TextMarshaler with the text form.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// ParseDigest accepts, and the empty text as the zero Digest.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Digest{}
		return nil
	}
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// SumBytes returns the digest of b under alg.
func SumBytes(alg Algorithm, b []byte) Digest {
	h := alg.New()
	h.Write(b)
	return Digest{alg: alg, sum: string(h.Sum(nil))}
}

// Sums are the size and both digests of one artifact.
type Sums struct {
	Size   int64
	SHA256 Digest
	SM3    Digest
}

// Summer is an io.Writer that computes Sums of everything written to it.
// It is not safe for concurrent use.
type Summer struct {
	n      int64
	sha256 hash.Hash
	sm3    hash.Hash
}

// NewSummer returns an empty Summer.
func NewSummer() *Summer {
	return &Summer{sha256: SHA256.New(), sm3: SM3.New()}
}

// Write hashes p; it never fails.
func (s *Summer) Write(p []byte) (int, error) {
	s.sha256.Write(p)
	s.sm3.Write(p)
	s.n += int64(len(p))
	return len(p), nil
}

// Sums returns the sums of the bytes written so far.
func (s *Summer) Sums() Sums {
	return Sums{
		Size:   s.n,
		SHA256: Digest{alg: SHA256, sum: string(s.sha256.Sum(nil))},
		SM3:    Digest{alg: SM3, sum: string(s.sm3.Sum(nil))},
	}
}

// SumAll returns the Sums of the concatenation of parts.
func SumAll(parts ...[]byte) Sums {
	s := NewSummer()
	for _, p := range parts {
		s.Write(p)
	}
	return s.Sums()
}

// SumReader reads r to the end and returns the Sums of what it read.
func SumReader(r io.Reader) (Sums, error) {
	s := NewSummer()
	if _, err := io.Copy(s, r); err != nil {
		return s.Sums(), fmt.Errorf("sum reader: %w", err)
	}
	return s.Sums(), nil
}

// Mismatch returns an error listing which of want's fields differ from s
// (wrapping ErrSizeMismatch or ErrDigestMismatch), or nil when all checked
// fields agree. A zero digest or a negative size in want is not checked.
func (s Sums) Mismatch(want Sums) error {
	var errs []error
	if want.Size >= 0 && s.Size != want.Size {
		errs = append(errs, fmt.Errorf("%w: %d bytes, want %d", ErrSizeMismatch, s.Size, want.Size))
	}
	if !want.SHA256.IsZero() && s.SHA256 != want.SHA256 {
		errs = append(errs, fmt.Errorf("%w: got %s, want %s", ErrDigestMismatch, s.SHA256, want.SHA256))
	}
	if !want.SM3.IsZero() && s.SM3 != want.SM3 {
		errs = append(errs, fmt.Errorf("%w: got %s, want %s", ErrDigestMismatch, s.SM3, want.SM3))
	}
	return errors.Join(errs...)
}
