package ledger

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
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/proof"

	"shopwatch/evidence/tsa"
)

// RecordError is a problem with the record of one leaf, named by its index
// (for a record that is missing or unreadable: the index it should have).
type RecordError struct {
	Index uint64
	Err   error
}

func (e *RecordError) Error() string { return fmt.Sprintf("ledger record %d: %v", e.Index, e.Err) }

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

// CheckpointError is a problem with one checkpoint, named by its sequence
// number (line of checkpoints.jsonl, from 0) and, when known, its size.
type CheckpointError struct {
	Seq  uint64
	Size uint64
	Err  error
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("ledger checkpoint %d (size %d): %v", e.Seq, e.Size, e.Err)
}

// Unwrap returns the underlying error.
func (e *CheckpointError) Unwrap() error { return e.Err }

// Report is the outcome of verifying a whole log.
type Report struct {
	Dir         string
	LogID       string
	Leaves      uint64      // records read
	Checkpoints int         // checkpoints read
	Root        Hash        // root recomputed over all records read
	Latest      *Checkpoint // the last checkpoint read, nil when none
	// TimestampsChecked tells whether checkpoint timestamps were verified
	// (VerifyDir, VerifyLog: yes; Open: no).
	TimestampsChecked bool
	// Problems lists every problem found, each a *RecordError or a
	// *CheckpointError; empty when the log is intact.
	Problems []error
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Err returns nil when the log is intact, and otherwise an error joining
// every problem, naming the folder.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("verify ledger %s: %d problems: %w", r.Dir, len(r.Problems), errors.Join(r.Problems...))
}

// VerifyDir reads the log in dir without opening it for writing (no lock
// is taken; another process may be appending, and a record it is writing
// at that moment may be reported as incomplete) and checks all of it:
// every record, the tree recomputed from them against every checkpoint,
// every checkpoint's note, Ed25519 signature (with pub) and RFC 3161
// timestamp (chaining to roots), and the consistency proof between each
// pair of successive checkpoints. It returns the report and, when it found
// problems, report.Err(); an error with a nil report means the log could
// not be read at all (no ledger.json, say). Cost: O(n) in leaves, plus one
// timestamp verification per checkpoint.
//
// Checkpoints made before a key rotation verify with the retired keys
// given; a checkpoint signed by a retired key after one signed by pub is a
// problem.
func VerifyDir(ctx context.Context, dir string, pub ed25519.PublicKey, roots *x509.CertPool, retired ...ed25519.PublicKey) (*Report, error) {
	b, err := os.ReadFile(filepath.Join(dir, HeaderFile))
	if err != nil {
		return nil, fmt.Errorf("verify ledger %s: %w", dir, err)
	}
	hdr, err := parseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("verify ledger %s: %w", dir, err)
	}
	s, err := scan(ctx, dir, hdr, pub, roots, scanOptions{timestamps: true, retired: retired})
	if err != nil {
		return nil, fmt.Errorf("verify ledger %s: %w", dir, err)
	}
	return s.report, s.report.Err()
}

// VerifyLog is VerifyDir for the open log, with its signer's key and TSA
// roots. It reads the files again from disk, and in addition checks every
// record against the leaf hashes this process appended or loaded, and
// every checkpoint against the ones it holds, so that it names exactly the
// records and checkpoints changed or removed since. It blocks Append and
// Checkpoint while it runs.
func (l *Log) VerifyLog(ctx context.Context) (*Report, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("verify ledger %s: %w", l.dir, ErrClosed)
	}
	b, err := os.ReadFile(filepath.Join(l.dir, HeaderFile))
	if err != nil {
		return nil, fmt.Errorf("verify ledger %s: %w", l.dir, err)
	}
	hdr, err := parseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("verify ledger %s: %w", l.dir, err)
	}
	if hdr.LogID != l.logID {
		return nil, fmt.Errorf("verify ledger %s: %w: %s now names log %s, opened as %s", l.dir, ErrMalformed, HeaderFile, hdr.LogID, l.logID)
	}
	s, err := scan(ctx, l.dir, hdr, l.pub, l.roots, scanOptions{timestamps: true, known: &l.tree, knownCheckpoints: l.checkpoints, retired: l.retired})
	if err != nil {
		return nil, fmt.Errorf("verify ledger %s: %w", l.dir, err)
	}
	return s.report, s.report.Err()
}

type scanOptions struct {
	timestamps       bool
	known            *tree        // leaf hashes to compare with, or nil
	knownCheckpoints []Checkpoint // checkpoints to compare with, or nil
	retired          []ed25519.PublicKey
}

type scanResult struct {
	report      *Report
	tree        tree
	offsets     []int64
	byHash      map[[hashSize]byte]uint64
	leavesEnd   int64
	checkpoints []Checkpoint
	cpsEnd      int64
}

// placeholder stands in the recomputed tree for a record that is missing
// or unreadable, so that later records keep their positions.
var placeholder = make([]byte, hashSize)

func scan(ctx context.Context, dir string, hdr header, pub ed25519.PublicKey, roots *x509.CertPool, opt scanOptions) (*scanResult, error) {
	s := &scanResult{
		report: &Report{Dir: dir, LogID: hdr.LogID, TimestampsChecked: opt.timestamps},
		byHash: make(map[[hashSize]byte]uint64),
	}
	r := s.report
	recErr := func(i uint64, format string, args ...any) {
		r.Problems = append(r.Problems, &RecordError{Index: i, Err: fmt.Errorf(format, args...)})
	}

	// Records.
	err := readLines(filepath.Join(dir, LeavesFile), func(off int64, line []byte, complete bool) error {
		if s.tree.size%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		next := s.tree.size
		if !complete {
			recErr(next, "%w: incomplete last record (%d bytes without a newline)", ErrMissing, len(line))
			return nil
		}
		s.leavesEnd = off + int64(len(line)) + 1
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			recErr(next, "%w: line %d: %v", ErrMalformed, next+1, err)
			s.add(off, placeholder, opt.known, r)
			return nil
		}
		if rec.Index < next {
			recErr(rec.Index, "%w: appears again after record %d", ErrOrder, next-1)
			return nil
		}
		for ; next < rec.Index; next++ {
			recErr(next, "%w: no record (the next one has index %d)", ErrMissing, rec.Index)
			s.add(-1, placeholder, opt.known, r)
		}
		lh := hasher.HashLeaf([]byte(rec.Leaf))
		if err := validLeaf([]byte(rec.Leaf)); err != nil {
			recErr(rec.Index, "%w: %v", ErrMalformed, err)
		}
		if !bytes.Equal(lh, rec.LeafHash) {
			recErr(rec.Index, "%w: leaf %q hashes to %x, the record says %s", ErrLeafHash, rec.Leaf, lh, rec.LeafHash)
		}
		key := [hashSize]byte(lh)
		if first, dup := s.byHash[key]; dup {
			recErr(rec.Index, "%w: same leaf as record %d", ErrOrder, first)
		} else {
			s.byHash[key] = rec.Index
		}
		s.add(off, lh, opt.known, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if opt.known != nil && s.tree.size < opt.known.size {
		recErr(s.tree.size, "%w: the log holds %d records, but %d were appended (%s gone)",
			ErrMissing, s.tree.size, opt.known.size, span(s.tree.size, opt.known.size))
	}
	r.Leaves = s.tree.size
	r.Root = s.tree.root(s.tree.size)

	// Checkpoints.
	var prev *Checkpoint
	var prevOK bool
	var lastGood uint64 // size of the last checkpoint whose root matched
	var seq uint64
	signedCurrent := false
	err = readLines(filepath.Join(dir, CheckpointsFile), func(off int64, line []byte, complete bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		cpErr := func(size uint64, format string, args ...any) {
			r.Problems = append(r.Problems, &CheckpointError{Seq: seq, Size: size, Err: fmt.Errorf(format, args...)})
		}
		defer func() { seq++ }()
		if !complete {
			cpErr(0, "%w: incomplete last checkpoint (%d bytes without a newline)", ErrMissing, len(line))
			return nil
		}
		s.cpsEnd = off + int64(len(line)) + 1
		var cp Checkpoint
		if err := json.Unmarshal(line, &cp); err != nil {
			cpErr(0, "%w: line %d: %v", ErrMalformed, seq+1, err)
			return nil
		}
		// A checkpoint signed by a retired key verifies with it, as long
		// as no checkpoint signed by the current key came before it.
		key := pub
		if rk := findKey(opt.retired, cp.KeyID); rk != nil {
			if signedCurrent {
				cpErr(cp.Size, "%w: signed by retired key %s after checkpoints signed by the current key %s", ErrBadSignature, cp.KeyID, KeyID(pub))
			}
			key = rk
		} else if cp.KeyID == KeyID(pub) {
			signedCurrent = true
		}
		ok := checkCheckpoint(&cp, seq, hdr.LogID, key, roots, opt.timestamps, func(format string, args ...any) {
			cpErr(cp.Size, format, args...)
		})
		if opt.knownCheckpoints != nil {
			if seq >= uint64(len(opt.knownCheckpoints)) {
				cpErr(cp.Size, "%w: this process made %d checkpoints, the file holds more", ErrOrder, len(opt.knownCheckpoints))
			} else if k := &opt.knownCheckpoints[seq]; k.Note != cp.Note || !bytes.Equal(k.Signature, cp.Signature) {
				cpErr(cp.Size, "%w: differs from checkpoint %d as made (size %d, root %s)", ErrLeafChanged, seq, k.Size, k.Root)
			}
		}
		switch {
		case prev == nil || cp.Size > prev.Size:
		case cp.Size == prev.Size && auditGrew(prev.Audit, cp.Audit):
			// A checkpoint that seals new audit entries only; the root
			// check below holds it to the same tree.
		case cp.Size == prev.Size:
			cpErr(cp.Size, "%w: size %d does not exceed the previous checkpoint's %d, and its audit head does not either", ErrOrder, cp.Size, prev.Size)
			ok = false
		default:
			cpErr(cp.Size, "%w: size %d does not exceed the previous checkpoint's %d", ErrOrder, cp.Size, prev.Size)
			ok = false
		}
		switch {
		case cp.Size > s.tree.size:
			cpErr(cp.Size, "%w: it covers %d leaves but the log holds %d: %s gone (truncated?)",
				ErrMissing, cp.Size, s.tree.size, span(s.tree.size, cp.Size))
		case !bytes.Equal(s.tree.root(cp.Size), cp.Root):
			cpErr(cp.Size, "%w: recomputed %x, signed %s: the change lies in %s",
				ErrRootMismatch, s.tree.root(cp.Size), cp.Root, span(lastGood, cp.Size))
		default:
			if ok {
				lastGood = cp.Size
			}
		}
		// A damaged predecessor is reported on its own; its root is no
		// anchor to check this one against.
		if prev != nil && prevOK && cp.Size > prev.Size {
			path := make([][]byte, len(cp.Consistency))
			for i, h := range cp.Consistency {
				path[i] = h
			}
			if err := proof.VerifyConsistency(hasher, prev.Size, cp.Size, path, prev.Root, cp.Root); err != nil {
				cpErr(cp.Size, "%w: from checkpoint %d (size %d): %s", ErrInconsistent, prev.Seq, prev.Size, proofError(err))
			}
		}
		prevOK = ok
		s.checkpoints = append(s.checkpoints, cp)
		prev = &s.checkpoints[len(s.checkpoints)-1]
		return nil
	})
	if err != nil {
		return nil, err
	}
	if opt.knownCheckpoints != nil && seq < uint64(len(opt.knownCheckpoints)) {
		for i := seq; i < uint64(len(opt.knownCheckpoints)); i++ {
			r.Problems = append(r.Problems, &CheckpointError{Seq: i, Size: opt.knownCheckpoints[i].Size,
				Err: fmt.Errorf("%w: made by this process, gone from %s", ErrMissing, CheckpointsFile)})
		}
	}
	r.Checkpoints = len(s.checkpoints)
	if prev != nil {
		r.Latest = prev.clone()
	}
	return s, nil
}

// add appends one leaf hash to the recomputed tree, comparing it with the
// known one.
func (s *scanResult) add(off int64, lh []byte, known *tree, r *Report) {
	i := s.tree.size
	if known != nil && i < known.size && !bytes.Equal(known.node(0, i), lh) && !bytes.Equal(lh, placeholder) {
		r.Problems = append(r.Problems, &RecordError{Index: i, Err: fmt.Errorf("%w: now hashes to %x, appended as %x", ErrLeafChanged, lh, known.node(0, i))})
	}
	s.offsets = append(s.offsets, off)
	s.tree.append(lh)
}

// checkCheckpoint checks one checkpoint on its own: sequence, log id, note,
// key, signature and (when asked) timestamp. It reports each problem
// through bad and returns whether there was none.
func checkCheckpoint(cp *Checkpoint, seq uint64, logID string, pub ed25519.PublicKey, roots *x509.CertPool, timestamps bool, bad func(string, ...any)) bool {
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		bad(format, args...)
	}
	if cp.Seq != seq {
		fail("%w: says it is checkpoint %d", ErrOrder, cp.Seq)
	}
	if cp.LogID != logID {
		fail("%w: belongs to log %q, this is %q", ErrMalformed, cp.LogID, logID)
	}
	if len(cp.Root) != hashSize {
		fail("%w: root is %d bytes", ErrMalformed, len(cp.Root))
	}
	if want := makeNote(cp.LogID, cp.Size, cp.Root, cp.Time, cp.Audit); cp.Note != want {
		fail("%w: its note does not state its log_id, size, root and time", ErrMalformed)
	}
	if cp.Audit != nil {
		if err := cp.Audit.check(); err != nil {
			fail("%w", err)
		}
	}
	if want := KeyID(pub); cp.KeyID != want {
		fail("%w: signed by %s, want %s", ErrBadSignature, cp.KeyID, want)
	} else if !ed25519.Verify(pub, []byte(cp.Note), cp.Signature) {
		fail("%w: with key %s", ErrBadSignature, want)
	}
	if timestamps {
		if _, err := tsa.Verify(cp.Timestamp, []byte(cp.Note), roots); err != nil {
			fail("%w: %w", ErrBadTimestamp, err)
		}
	}
	return ok
}

// readLines calls fn for every line of the file at path with its offset,
// without the newline; complete is false for a last line without one. A
// missing file has no lines.
func readLines(path string, fn func(off int64, line []byte, complete bool) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			if complete {
				line = line[:len(line)-1]
			}
			if ferr := fn(off, line, complete); ferr != nil {
				return ferr
			}
			off += int64(len(line))
			if complete {
				off++
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// VerifyInclusion checks a proof offline: that leaf is the proof's leaf
// and hashes to its leaf hash, that the audit path leads from it to the
// root of the proof's checkpoint at that index and size, and that the
// checkpoint is intact: its note states its fields, its Ed25519 signature
// verifies with pub, and its RFC 3161 timestamp verifies against roots. It
// returns what the timestamp says: its genTime is the trusted time by which
// the leaf was in the log. Errors wrap ErrLeafHash, ErrRootMismatch,
// ErrMalformed, ErrBadSignature or ErrBadTimestamp.
func VerifyInclusion(p *Proof, leaf []byte, pub ed25519.PublicKey, roots *x509.CertPool) (*tsa.Info, error) {
	fail := func(format string, args ...any) (*tsa.Info, error) {
		return nil, fmt.Errorf("verify ledger proof of leaf %q: %w", leaf, fmt.Errorf(format, args...))
	}
	if p == nil {
		return fail("%w: no proof", ErrMalformed)
	}
	if p.Format != ProofFormat {
		return fail("%w: format %q, want %q", ErrMalformed, p.Format, ProofFormat)
	}
	if string(leaf) != p.Leaf {
		return fail("%w: the proof is for leaf %q", ErrLeafHash, p.Leaf)
	}
	lh := hasher.HashLeaf(leaf)
	if !bytes.Equal(lh, p.LeafHash) {
		return fail("%w: leaf hashes to %x, the proof says %s", ErrLeafHash, lh, p.LeafHash)
	}
	cp := &p.Checkpoint
	if p.LogID != cp.LogID || p.TreeSize != cp.Size || !bytes.Equal(p.Root, cp.Root) {
		return fail("%w: log_id, tree_size or root differ from the checkpoint's", ErrMalformed)
	}
	path := make([][]byte, len(p.AuditPath))
	for i, h := range p.AuditPath {
		path[i] = h
	}
	if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, lh, path, p.Root); err != nil {
		return fail("%w: leaf %d in tree of %d: %s", ErrRootMismatch, p.LeafIndex, p.TreeSize, proofError(err))
	}
	var problems []error
	checkCheckpoint(cp, cp.Seq, p.LogID, pub, roots, false, func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	})
	if len(problems) > 0 {
		return fail("checkpoint %d: %w", cp.Seq, errors.Join(problems...))
	}
	info, err := tsa.Verify(cp.Timestamp, []byte(cp.Note), roots)
	if err != nil {
		return fail("checkpoint %d: %w: %w", cp.Seq, ErrBadTimestamp, err)
	}
	return info, nil
}

// span names the records first to end-1, "record 7" or "records 5 to 11".
func span(first, end uint64) string {
	if end == first+1 {
		return fmt.Sprintf("record %d", first)
	}
	return fmt.Sprintf("records %d to %d", first, end-1)
}

// proofError describes a failed proof, with hashes in hex.
func proofError(err error) string {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Sprintf("the proof leads to %x, not %x", rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return err.Error()
}

// findKey returns the key of keys whose id is id, or nil.
func findKey(keys []ed25519.PublicKey, id string) ed25519.PublicKey {
	for _, k := range keys {
		if KeyID(k) == id {
			return k
		}
	}
	return nil
}

func verifyConsistency(size1, size2 uint64, path [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(hasher, size1, size2, path, root1, root2)
}
