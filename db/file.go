package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// This file reads a bbolt file page by page with ordinary reads, checking
// every offset before it is used. bbolt itself trusts the file: it reads
// pages through a memory map, so a truncated file ends a process with
// SIGBUS and a damaged page header or element table with a Go panic. Open
// runs checkFile before it hands the file to bbolt, and Salvage uses the
// same reader to copy out whatever is still readable.
//
// The layout (bbolt's file format version 2, in the machine's byte order):
//
//	page header (16 bytes): id u64, flags u16, count u16, overflow u32
//	meta (after the header): magic u32, version u32, page size u32, flags u32,
//	  root bucket {root page u64, sequence u64}, freelist page u64,
//	  high water mark u64, txid u64, checksum u64 (FNV-64a of what precedes it)
//	branch element (16 bytes): pos u32, ksize u32, child page u64
//	leaf element (16 bytes): flags u32, pos u32, ksize u32, vsize u32
//	  (pos counts from the element itself; flag 1 marks a nested bucket,
//	  whose value is {root page u64, sequence u64}, followed by an inline
//	  leaf page when root is 0)

const (
	pageHeaderSize  = 16
	elemSize        = 16
	bucketHeader    = 16
	metaChecksumOff = 56
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	noFreelist      = ^uint64(0)

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafIsBucket = 0x01

	maxBucketDepth = 64 // shopwatch nests no buckets; anything deeper is damage
)

var ne = binary.NativeEndian

// meta is a decoded meta page.
type meta struct {
	page      int // 0 or 1
	pageSize  int
	root      uint64
	rootSeq   uint64
	freelist  uint64
	hwm       uint64 // high water mark: pages [0, hwm) are in use or free
	txid      uint64
	problem   string // empty when the page is valid
	plausible bool   // magic and page size look right, whatever the checksum says
}

// decodeMeta decodes the meta page whose bytes (header included) are b.
func decodeMeta(b []byte, want int) meta {
	m := meta{page: want}
	if len(b) < pageHeaderSize+metaChecksumOff+8 {
		m.problem = "cut short by the end of the file"
		return m
	}
	id, flags := ne.Uint64(b), ne.Uint16(b[8:])
	x := b[pageHeaderSize:]
	m.pageSize = int(ne.Uint32(x[8:]))
	m.root, m.rootSeq = ne.Uint64(x[16:]), ne.Uint64(x[24:])
	m.freelist, m.hwm, m.txid = ne.Uint64(x[32:]), ne.Uint64(x[40:]), ne.Uint64(x[48:])
	h := fnv.New64a()
	h.Write(x[:metaChecksumOff])
	magic, version := ne.Uint32(x), ne.Uint32(x[4:])
	m.plausible = magic == boltMagic && validPageSize(m.pageSize)
	switch {
	case magic != boltMagic:
		m.problem = fmt.Sprintf("no bbolt magic number (found %#x)", magic)
	case version != boltVersion:
		m.problem = fmt.Sprintf("file format version %d, this build reads %d", version, boltVersion)
	case h.Sum64() != ne.Uint64(x[metaChecksumOff:]):
		m.problem = "checksum mismatch"
	case flags != flagMeta || id != uint64(want):
		m.problem = fmt.Sprintf("page header says page %d with flags %#x", id, flags)
	case !validPageSize(m.pageSize):
		m.problem = fmt.Sprintf("page size %d", m.pageSize)
	case m.hwm < 4 || m.root < 2 || m.root >= m.hwm:
		m.problem = fmt.Sprintf("root page %d outside the %d pages in use", m.root, m.hwm)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		m.problem = fmt.Sprintf("freelist page %d outside the %d pages in use", m.freelist, m.hwm)
	}
	return m
}

func validPageSize(n int) bool { return n >= 512 && n <= 1<<20 && n&(n-1) == 0 }

// pageFile reads pages of a bbolt file with bounds checks.
type pageFile struct {
	r        io.ReaderAt
	data     []byte // the file mapped into memory, when it is
	size     int64
	pageSize int
	hwm      uint64
	metas    [2]meta
	cur      int // index of the meta in use
}

// readMetas reads both meta pages. It fails only when neither can be
// used to find the page size.
func readMetas(r io.ReaderAt, size int64) (*pageFile, error) {
	if size == 0 {
		return nil, errors.New("the file is empty (0 bytes): it was cut to nothing, or a first start stopped before writing it (then, and only then, delete it)")
	}
	first := make([]byte, min(size, 4096))
	if _, err := r.ReadAt(first, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the first page: %w", err)
	}
	pf := &pageFile{r: r, size: size}
	pf.metas[0] = decodeMeta(first, 0)
	ps := 0
	switch {
	case pf.metas[0].problem == "" || pf.metas[0].plausible:
		ps = pf.metas[0].pageSize
	default:
		// Find the second meta page as bbolt does: try each page size.
		for s := 512; s <= 1<<20 && int64(s) < size; s *= 2 {
			b := make([]byte, min(int64(pageHeaderSize+metaChecksumOff+8), size-int64(s)))
			if _, err := r.ReadAt(b, int64(s)); err != nil && !errors.Is(err, io.EOF) {
				break
			}
			if m := decodeMeta(b, 1); m.problem == "" && m.pageSize == s {
				ps = s
				break
			}
		}
	}
	if ps == 0 {
		if size < pageHeaderSize+metaChecksumOff+8 {
			return nil, fmt.Errorf("the file is only %d bytes, too short for a database", size)
		}
		return nil, fmt.Errorf("not a bbolt database, or both of its meta pages are damaged (page 0: %s)", pf.metas[0].problem)
	}
	pf.pageSize = ps
	second := make([]byte, max(0, min(int64(ps), size-int64(ps))))
	if len(second) > 0 {
		if _, err := r.ReadAt(second, int64(ps)); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read the second meta page: %w", err)
		}
	}
	pf.metas[1] = decodeMeta(second, 1)
	if pf.metas[0].problem == "" && pf.metas[1].problem == "" && pf.metas[0].pageSize != pf.metas[1].pageSize {
		pf.metas[1].problem = fmt.Sprintf("page size %d, meta page 0 says %d", pf.metas[1].pageSize, pf.metas[0].pageSize)
	}
	pf.cur = -1
	for i, m := range pf.metas {
		if m.problem == "" && (pf.cur < 0 || m.txid > pf.metas[pf.cur].txid) {
			pf.cur = i
		}
	}
	if pf.cur >= 0 {
		pf.hwm = pf.metas[pf.cur].hwm
	}
	return pf, nil
}

// pageError is a page that cannot be read.
type pageError struct {
	id  uint64
	msg string
}

func (e *pageError) Error() string { return fmt.Sprintf("page %d: %s", e.id, e.msg) }

// page returns the bytes of page id and its overflow pages, after checking
// that they lie below the high water mark and inside the file and that
// the page header names the page. It reads into buf when buf is large
// enough.
func (pf *pageFile) page(id uint64, buf []byte) ([]byte, error) {
	if id < 2 || id >= pf.hwm {
		return nil, &pageError{id, fmt.Sprintf("outside the %d pages in use", pf.hwm)}
	}
	off := int64(id) * int64(pf.pageSize)
	if off+int64(pf.pageSize) > pf.size {
		return nil, &pageError{id, fmt.Sprintf("past the end of the file (%d bytes)", pf.size)}
	}
	if pf.data != nil {
		return pf.mapped(id, off)
	}
	if cap(buf) < pf.pageSize {
		buf = make([]byte, pf.pageSize)
	}
	b := buf[:pf.pageSize]
	if _, err := pf.r.ReadAt(b, off); err != nil {
		return nil, &pageError{id, err.Error()}
	}
	if got := ne.Uint64(b); got != id {
		return nil, &pageError{id, fmt.Sprintf("header names page %d", got)}
	}
	over := uint64(ne.Uint32(b[12:]))
	if over == 0 {
		return b, nil
	}
	if id+over >= pf.hwm {
		return nil, &pageError{id, fmt.Sprintf("%d overflow pages run past the %d pages in use", over, pf.hwm)}
	}
	n := int64(over+1) * int64(pf.pageSize)
	if off+n > pf.size {
		return nil, &pageError{id, fmt.Sprintf("%d overflow pages run past the end of the file (%d bytes)", over, pf.size)}
	}
	if int64(cap(b)) < n {
		nb := make([]byte, n)
		copy(nb, b)
		b = nb
	}
	b = b[:n]
	if _, err := pf.r.ReadAt(b[pf.pageSize:], off+int64(pf.pageSize)); err != nil {
		return nil, &pageError{id, err.Error()}
	}
	return b, nil
}

// mapped is page for a file mapped into memory: off is in the file.
func (pf *pageFile) mapped(id uint64, off int64) ([]byte, error) {
	b := pf.data[off : off+int64(pf.pageSize)]
	if got := ne.Uint64(b); got != id {
		return nil, &pageError{id, fmt.Sprintf("header names page %d", got)}
	}
	over := uint64(ne.Uint32(b[12:]))
	if id+over >= pf.hwm {
		return nil, &pageError{id, fmt.Sprintf("%d overflow pages run past the %d pages in use", over, pf.hwm)}
	}
	n := int64(over+1) * int64(pf.pageSize)
	if off+n > pf.size || off+n > int64(len(pf.data)) {
		return nil, &pageError{id, fmt.Sprintf("%d overflow pages run past the end of the file (%d bytes)", over, pf.size)}
	}
	return pf.data[off : off+n : off+n], nil
}

// walker visits every page reachable from the root bucket. With tolerant
// set it carries on past a damaged page (for Salvage); otherwise it stops
// at the first one. Every problem met goes to problems.
type walker struct {
	pf       *pageFile
	tolerant bool
	seen     map[uint64]int32 // page id -> index in names of the bucket using it
	names    []string         // bucket names, as pathName gives them
	bufs     [][]byte         // one page buffer per depth
	problems []string
	maxProbs int
	// record receives every key/value pair readable, bucket path first;
	// for a nested bucket, value is nil and seq is its sequence. The
	// slices are valid during the call only.
	record func(path [][]byte, key, value []byte, bucket bool, seq uint64) error
}

func newWalker(pf *pageFile) *walker {
	return &walker{pf: pf, seen: map[uint64]int32{}, names: []string{"root"}}
}

// bucketRef is a bucket being walked: its path and its index in names.
type bucketRef struct {
	path [][]byte
	name int32
}

var errStop = errors.New("stop")

func (w *walker) problem(format string, args ...any) error {
	if len(w.problems) < w.maxProbs || w.maxProbs == 0 {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
	if w.tolerant {
		return nil
	}
	return errStop
}

func pathName(path [][]byte) string {
	if len(path) == 0 {
		return "root"
	}
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = fmt.Sprintf("%q", p)
	}
	return "bucket " + strings.Join(parts, "/")
}

// owner names what uses page id, for the pages walked.
func (w *walker) owner(id uint64) (string, bool) {
	i, ok := w.seen[id]
	if !ok {
		return "", false
	}
	if i < 0 {
		return "freelist", true
	}
	return w.names[i], true
}

// walkTree walks the page tree of a bucket starting at page id.
func (w *walker) walkTree(bk bucketRef, id uint64, depth int) error {
	name := w.names[bk.name]
	if depth > 64 {
		return w.problem("%s: page %d: tree deeper than 64 levels", name, id)
	}
	if other, ok := w.owner(id); ok {
		return w.problem("%s: page %d is also used by %s", name, id, other)
	}
	w.seen[id] = bk.name
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
	}
	b, err := w.pf.page(id, w.bufs[depth])
	if err != nil {
		return w.problem("%s: %v", name, err)
	}
	w.bufs[depth] = b[:0]
	for i := uint64(1); i < uint64(len(b)/w.pf.pageSize); i++ {
		w.seen[id+i] = bk.name
	}
	return w.walkPage(bk, id, b, depth)
}

// walkPage checks one branch or leaf page (b holds it with its overflow,
// or an inline bucket's page) and walks what it points at.
func (w *walker) walkPage(bk bucketRef, id uint64, b []byte, depth int) error {
	where := func() string {
		if id == 0 {
			return w.names[bk.name] + ": inline page"
		}
		return fmt.Sprintf("%s: page %d", w.names[bk.name], id)
	}
	if len(b) < pageHeaderSize {
		return w.problem("%s: shorter than a page header", where())
	}
	flags, count := ne.Uint16(b[8:]), int(ne.Uint16(b[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return w.problem("%s: not a branch or leaf page (flags %#x)", where(), flags)
	}
	if flags == flagBranch && id == 0 {
		return w.problem("%s: inline page is a branch page", where())
	}
	if pageHeaderSize+count*elemSize > len(b) {
		return w.problem("%s: %d elements do not fit in %d bytes", where(), count, len(b))
	}
	var prev []byte
	for i := 0; i < count; i++ {
		e := pageHeaderSize + i*elemSize
		var pos, ksize, vsize int
		var child uint64
		var eflags uint32
		if flags == flagBranch {
			pos, ksize, child = int(ne.Uint32(b[e:])), int(ne.Uint32(b[e+4:])), ne.Uint64(b[e+8:])
		} else {
			eflags, pos, ksize, vsize = ne.Uint32(b[e:]), int(ne.Uint32(b[e+4:])), int(ne.Uint32(b[e+8:])), int(ne.Uint32(b[e+12:]))
		}
		start := e + pos
		if start < pageHeaderSize+count*elemSize || start+ksize+vsize > len(b) || start+ksize+vsize < start {
			if err := w.problem("%s: element %d points outside the page", where(), i); err != nil {
				return err
			}
			continue
		}
		key := b[start : start+ksize]
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			if err := w.problem("%s: element %d: keys out of order", where(), i); err != nil {
				return err
			}
		}
		prev = key
		if flags == flagBranch {
			if err := w.walkTree(bk, child, depth+1); err != nil {
				return err
			}
			continue
		}
		value := b[start+ksize : start+ksize+vsize]
		if eflags&^leafIsBucket != 0 {
			if err := w.problem("%s: element %d: unknown flags %#x", where(), i, eflags); err != nil {
				return err
			}
			continue
		}
		if eflags&leafIsBucket == 0 {
			if w.record != nil {
				if err := w.record(bk.path, key, value, false, 0); err != nil {
					return err
				}
			}
			continue
		}
		if err := w.walkBucket(bk, key, value, depth); err != nil {
			return err
		}
	}
	return nil
}

// walkBucket walks the nested bucket named key whose stored value is v.
func (w *walker) walkBucket(parent bucketRef, key, v []byte, depth int) error {
	path := append(append([][]byte{}, parent.path...), bytes.Clone(key))
	w.names = append(w.names, pathName(path))
	sub := bucketRef{path: path, name: int32(len(w.names) - 1)}
	name := w.names[sub.name]
	if len(path) > maxBucketDepth {
		return w.problem("%s: buckets nested deeper than %d", name, maxBucketDepth)
	}
	if len(v) < bucketHeader {
		return w.problem("%s: bucket header cut short", name)
	}
	root, seq := ne.Uint64(v), ne.Uint64(v[8:])
	if w.record != nil {
		if err := w.record(parent.path, key, nil, true, seq); err != nil {
			return err
		}
	}
	if root == 0 {
		return w.walkPage(sub, 0, v[bucketHeader:], depth+1)
	}
	if len(v) != bucketHeader {
		return w.problem("%s: bucket with root page %d carries %d extra bytes", name, root, len(v)-bucketHeader)
	}
	return w.walkTree(sub, root, depth+1)
}

// walkFreelist checks the freelist page.
func (w *walker) walkFreelist(id uint64) error {
	if id == noFreelist {
		return nil
	}
	w.seen[id] = -1
	b, err := w.pf.page(id, nil)
	if err != nil {
		return w.problem("freelist: %v", err)
	}
	if flags := ne.Uint16(b[8:]); flags != flagFreelist {
		return w.problem("freelist: page %d is not a freelist page (flags %#x)", id, flags)
	}
	idx, count := 0, uint64(ne.Uint16(b[10:]))
	if count == 0xFFFF {
		if len(b) < pageHeaderSize+8 {
			return w.problem("freelist: page %d cut short", id)
		}
		idx, count = 1, ne.Uint64(b[pageHeaderSize:])
	}
	if count > uint64(len(b)) || pageHeaderSize+(uint64(idx)+count)*8 > uint64(len(b)) {
		return w.problem("freelist: page %d: %d entries do not fit in the page", id, count)
	}
	for i := uint64(0); i < count; i++ {
		p := ne.Uint64(b[pageHeaderSize+(uint64(idx)+i)*8:])
		if p < 2 || p >= w.pf.hwm {
			return w.problem("freelist: page %d lists page %d, outside the %d pages in use", id, p, w.pf.hwm)
		}
	}
	return nil
}

// fileCheck is what checkFile found.
type fileCheck struct {
	Size     int64
	PageSize int
	Pages    uint64 // high water mark of the meta in use
	TxID     uint64
	Problems []string
}

// checkFile reads the whole bbolt file through r (size bytes): both meta
// pages, the freelist page and every page of every bucket, checking page
// bounds, page types, element offsets and key order. A file that passes
// can be given to bbolt without it reading outside the file or tripping
// over a malformed page. It reports at most a few dozen problems.
func checkFile(r io.ReaderAt, size int64, mapped ...[]byte) fileCheck {
	fc := fileCheck{Size: size}
	pf, err := readMetas(r, size)
	if err != nil {
		fc.Problems = append(fc.Problems, err.Error())
		return fc
	}
	if len(mapped) > 0 {
		pf.data = mapped[0]
	}
	fc.PageSize = pf.pageSize
	for _, m := range pf.metas {
		if m.problem != "" {
			fc.Problems = append(fc.Problems, fmt.Sprintf("meta page %d: %s", m.page, m.problem))
		}
	}
	if pf.cur < 0 {
		return fc
	}
	m := pf.metas[pf.cur]
	fc.Pages, fc.TxID = m.hwm, m.txid
	if need := int64(m.hwm) * int64(pf.pageSize); need > size {
		fc.Problems = append(fc.Problems, fmt.Sprintf("the file is %d bytes but its meta page says %d pages of %d bytes (%d bytes): it was cut short", size, m.hwm, pf.pageSize, need))
		return fc
	}
	w := newWalker(pf)
	w.maxProbs = 20
	if w.walkFreelist(m.freelist) == nil {
		_ = w.walkTree(bucketRef{}, m.root, 0)
	}
	fc.Problems = append(fc.Problems, w.problems...)
	return fc
}

// checkOpenFile runs checkFile on f, whose size is size, reading it
// through a read-only memory map where it can (much faster than a read
// per page). A fault while reading the map, as when another program cuts
// the file short meanwhile, is reported as a problem.
func checkOpenFile(f *os.File, size int64) (fc fileCheck) {
	data, unmap, err := mapFile(f, size)
	if err != nil {
		return checkFile(f, size)
	}
	defer unmap()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fc.Problems = append(fc.Problems, fmt.Sprintf("reading the file failed: %v", r))
		}
	}()
	return checkFile(bytes.NewReader(data), size, data)
}

// checkPath runs checkFile on the file at path.
func checkPath(path string) (fileCheck, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileCheck{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileCheck{}, err
	}
	return checkOpenFile(f, st.Size()), nil
}
