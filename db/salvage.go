package db

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database, as of one read
// transaction, to the new file dst (never replacing an existing one),
// while other goroutines keep using the database. The copy goes to a
// temporary file beside dst, is synced and checked as Open checks a file,
// and only then appears under its name. It works on a read-only database.
func (db *DB) Backup(ctx context.Context, dst string) (size int64, err error) {
	if _, err := os.Lstat(dst); err == nil {
		return 0, fmt.Errorf("back up database to %s: %w; backups are not overwritten", dst, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("back up database to %s: %w", dst, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	err = db.view(ctx, func(tx *bolt.Tx) error {
		size, err = tx.WriteTo(tmp)
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err != nil {
		return 0, fmt.Errorf("back up database to %s: %w", dst, err)
	}
	if fc := checkFile(tmp, size); len(fc.Problems) > 0 {
		return 0, fmt.Errorf("back up database to %s: the copy does not check: %w", dst, &DamageError{Path: tmp.Name(), Problems: fc.Problems})
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("back up database to %s: %w", dst, err)
	}
	if err := os.Link(tmp.Name(), dst); err != nil {
		return 0, fmt.Errorf("back up database to %s: %w", dst, err)
	}
	syncDir(filepath.Dir(dst))
	return size, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// SalvageReport is what Salvage copied and what it could not read.
type SalvageReport struct {
	Source, Dest string
	// TxID is the transaction of the meta page the copy was made from.
	TxID uint64
	// Records counts the records copied, by top-level bucket.
	Records map[string]int
	// Lost lists every page or record that could not be read, naming
	// the bucket it belonged to; empty when everything was copied.
	Lost []string
}

// Total is the number of records copied.
func (r *SalvageReport) Total() int {
	n := 0
	for _, c := range r.Records {
		n += c
	}
	return n
}

// Buckets returns the names of the buckets records were copied from,
// sorted.
func (r *SalvageReport) Buckets() []string { return sortedKeys(r.Records) }

// salvageBatch is how many records go into one write transaction of the
// new file.
const salvageBatch = 10000

// Salvage copies every record it can read from the database file src,
// which may be truncated or damaged, into the new file dst (never an
// existing one), keeping bucket names and sequences. It reads src with
// bounds-checked reads only, never through bbolt, and never writes to
// it. Pages it cannot read, and the records on them, are listed in the
// report's Lost; it carries on with the rest. The copy holds records as
// they were stored: indexes and counters may disagree where records were
// lost, which Check on the new file then reports.
//
// It returns an error, and leaves no dst behind, only when nothing could
// be read at all or dst cannot be written.
func Salvage(ctx context.Context, src, dst string) (*SalvageReport, error) {
	rep := &SalvageReport{Source: src, Dest: dst, Records: map[string]int{}}
	if abs1, abs2 := absPath(src), absPath(dst); abs1 == abs2 {
		return nil, fmt.Errorf("salvage %s: %w: the copy must go to a new file", src, ErrInvalid)
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("salvage %s to %s: %w; salvage writes a new file", src, dst, fs.ErrExist)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("salvage %s: %w", src, err)
	}
	defer f.Close()
	if err := lockFile(f, false, DefaultLockTimeout); err != nil {
		if errors.Is(err, errLockTimeout) {
			err = ErrLocked
		}
		return nil, fmt.Errorf("salvage %s: %w", src, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("salvage %s: %w", src, err)
	}
	pf, err := readMetas(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("salvage %s: nothing can be read: %w", src, err)
	}
	// The newest valid meta page; failing that, the newest one whose
	// magic number and page size are right, checksum or not.
	m, ok := meta{}, false
	for _, c := range pf.metas {
		if c.problem == "" && (!ok || c.txid > m.txid) {
			m, ok = c, true
		}
	}
	for _, c := range pf.metas {
		if c.problem != "" {
			rep.Lost = append(rep.Lost, fmt.Sprintf("meta page %d: %s", c.page, c.problem))
		}
	}
	if !ok {
		for _, c := range pf.metas {
			if c.plausible && c.root >= 2 && c.root < c.hwm && (!ok || c.txid > m.txid) {
				m, ok = c, true
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("salvage %s: nothing can be read: neither meta page says where the data is (%s; %s)", src, pf.metas[0].problem, pf.metas[1].problem)
	}
	pf.hwm, rep.TxID = m.hwm, m.txid
	if other := pf.metas[1-m.page]; other.problem != "" && (other.plausible || m.problem != "") {
		rep.Lost = append(rep.Lost, fmt.Sprintf("copied the state of transaction %d that meta page %d records: the transaction after it may be missing", m.txid, m.page))
	}
	if need := int64(m.hwm) * int64(pf.pageSize); need > st.Size() {
		rep.Lost = append(rep.Lost, fmt.Sprintf("the file is %d bytes, %d short of the %d pages in use: pages from %d on are gone", st.Size(), need-st.Size(), m.hwm, st.Size()/int64(pf.pageSize)))
	}

	tmp, err := os.CreateTemp(filepath.Dir(dst), ".salvage-*.db")
	if err != nil {
		return nil, fmt.Errorf("salvage %s to %s: %w", src, dst, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	out, err := bolt.Open(tmpName, 0o600, &bolt.Options{Timeout: DefaultLockTimeout})
	if err != nil {
		return nil, fmt.Errorf("salvage %s to %s: %w", src, dst, err)
	}
	defer out.Close()
	cp := &copier{out: out, rep: rep}
	w := newWalker(pf)
	w.tolerant, w.record = true, cp.record
	walkErr := w.walkTree(bucketRef{}, m.root, 0)
	if walkErr == nil {
		walkErr = ctx.Err()
	}
	if walkErr == nil {
		walkErr = cp.commit()
	}
	if cp.tx != nil {
		_ = cp.tx.Rollback()
	}
	if walkErr != nil {
		return nil, fmt.Errorf("salvage %s to %s: %w", src, dst, walkErr)
	}
	rep.Lost = append(rep.Lost, w.problems...)
	rep.Lost = append(rep.Lost, cp.lost...)
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("salvage %s to %s: %w", src, dst, err)
	}
	if err := os.Link(tmpName, dst); err != nil {
		return nil, fmt.Errorf("salvage %s to %s: %w", src, dst, err)
	}
	syncDir(filepath.Dir(dst))
	return rep, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return filepath.Clean(a)
	}
	return p
}

// copier writes the records the walker reads into the new file, in
// transactions of salvageBatch records.
type copier struct {
	out  *bolt.DB
	rep  *SalvageReport
	tx   *bolt.Tx
	n    int
	lost []string
}

func (c *copier) commit() error {
	if c.tx == nil {
		return nil
	}
	err := c.tx.Commit()
	c.tx, c.n = nil, 0
	return err
}

func (c *copier) record(path [][]byte, key, value []byte, isBucket bool, seq uint64) error {
	if c.tx == nil {
		tx, err := c.out.Begin(true)
		if err != nil {
			return err
		}
		c.tx = tx
	}
	if len(path) == 0 && !isBucket {
		c.lost = append(c.lost, fmt.Sprintf("root: record %q outside any bucket", key))
		return nil
	}
	// Find or create the parent bucket.
	var parent *bolt.Bucket
	for i, name := range path {
		var b *bolt.Bucket
		var err error
		if i == 0 {
			b, err = c.tx.CreateBucketIfNotExists(name)
		} else {
			b, err = parent.CreateBucketIfNotExists(name)
		}
		if err != nil {
			c.lost = append(c.lost, fmt.Sprintf("%s: cannot recreate the bucket: %v", pathName(path[:i+1]), err))
			return nil
		}
		parent = b
	}
	if isBucket {
		var b *bolt.Bucket
		var err error
		if parent == nil {
			b, err = c.tx.CreateBucketIfNotExists(bytes.Clone(key))
		} else {
			b, err = parent.CreateBucketIfNotExists(bytes.Clone(key))
		}
		if err == nil {
			err = b.SetSequence(seq)
		}
		if err != nil {
			c.lost = append(c.lost, fmt.Sprintf("%s: cannot recreate the bucket: %v", pathName(append(path, key)), err))
		}
		return nil
	}
	if err := parent.Put(bytes.Clone(key), bytes.Clone(value)); err != nil {
		c.lost = append(c.lost, fmt.Sprintf("%s: record %q: %v", pathName(path), key, err))
		return nil
	}
	c.rep.Records[string(path[0])]++
	if c.n++; c.n >= salvageBatch {
		return c.commit()
	}
	return nil
}
