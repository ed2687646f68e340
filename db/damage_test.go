package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// populated writes a database with targets, a sweep whose visits are done
// with findings and evidence, and audit entries: enough records to fill
// dozens of pages. It returns the file's path.
func populated(tb testing.TB, n int, opts ...Option) string {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "shopwatch.db")
	d, err := Open(path, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	sweep, err := d.CreateSweep(ctx, "damage")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []shopwatch.Visit
	for i := range n {
		u := fmt.Sprintf("https://shop%d.example.com/item/%d", i, i)
		if err := d.AddTarget(ctx, &shopwatch.Target{URL: u, Kind: shopwatch.KindProduct, Platform: fmt.Sprintf("平台 %d", i)}); err != nil {
			tb.Fatal(err)
		}
		vs = append(vs, visit(sweep, u, 0))
	}
	mustEnqueue(tb, d, vs...)
	for _, v := range mustLease(tb, d, "w1", n, time.Hour) {
		res := Result{Evidence: evidenceFor(v), Findings: []shopwatch.Finding{finding(v, 0), finding(v, 1)}}
		if err := d.Complete(ctx, v, res); err != nil {
			tb.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func fileSum(tb testing.TB, path string) [32]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return sha256.Sum256(b)
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// layout reads the page size, the pages in use and which pages belong to
// which bucket of a healthy file.
func layout(tb testing.TB, path string) (pageSize int, hwm uint64, pages map[uint64]string) {
	pages = map[uint64]string{}
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := readMetas(f, st.Size())
	if err != nil || pf.cur < 0 {
		tb.Fatalf("read metas: %v", err)
	}
	w := newWalker(pf)
	if err := w.walkTree(bucketRef{}, pf.metas[pf.cur].root, 0); err != nil {
		tb.Fatal(err, w.problems)
	}
	for id := range w.seen {
		pages[id], _ = w.owner(id)
	}
	return pf.pageSize, pf.hwm, pages
}

// leafOf returns a leaf page of bucket (not its root when the bucket has
// more than one page).
func leafOf(tb testing.TB, path, bucket string) uint64 {
	tb.Helper()
	ps, _, pages := layout(tb, path)
	b, _ := os.ReadFile(path)
	want := fmt.Sprintf("bucket %q", bucket)
	for id, owner := range pages {
		if owner == want && ne.Uint16(b[int(id)*ps+8:]) == flagLeaf {
			return id
		}
	}
	tb.Fatalf("no leaf page of bucket %s", bucket)
	return 0
}

type damage struct {
	name string
	do   func(tb testing.TB, path string)
}

// damages are the ways a database file gets hurt: cut short by a full
// disk or a bad copy, bytes flipped in a meta page or a data page, or a
// file that is no database at all.
func damages(tb testing.TB, healthy string) []damage {
	ps, hwm, _ := layout(tb, healthy)
	end := int64(hwm) * int64(ps)
	cut := func(at int64) func(testing.TB, string) {
		return func(tb testing.TB, path string) {
			if err := os.Truncate(path, at); err != nil {
				tb.Fatal(err)
			}
		}
	}
	flip := func(page func(testing.TB, string) uint64, off int, xor byte) func(testing.TB, string) {
		return func(tb testing.TB, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				tb.Fatal(err)
			}
			b[int(page(tb, path))*ps+off] ^= xor
			if err := os.WriteFile(path, b, 0o600); err != nil {
				tb.Fatal(err)
			}
		}
	}
	fixed := func(id uint64) func(testing.TB, string) uint64 { return func(testing.TB, string) uint64 { return id } }
	findingsLeaf := func(tb testing.TB, path string) uint64 { return leafOf(tb, path, "findings") }
	return []damage{
		{"empty", cut(0)},
		{"cut in the first meta page", cut(100)},
		{"cut in the second meta page", cut(int64(ps) + 40)},
		{"cut after the meta pages", cut(2 * int64(ps))},
		{"cut in half", cut(end / 2)},
		{"cut one page short", cut(end - int64(ps))},
		{"cut one byte short", cut(end - 1)},
		{"meta page 0 flipped", flip(fixed(0), pageHeaderSize+20, 0x40)},
		{"meta page 1 flipped", flip(fixed(1), pageHeaderSize+40, 0x01)},
		{"data page type flipped", flip(findingsLeaf, 8, 0x08)},
		{"data page element offset flipped", flip(findingsLeaf, pageHeaderSize+4+2, 0x70)},
		{"data page id flipped", flip(findingsLeaf, 0, 0x21)},
		{"garbage", func(tb testing.TB, path string) {
			b := make([]byte, 64<<10)
			r := rand.NewChaCha8([32]byte{7})
			_, _ = r.Read(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				tb.Fatal(err)
			}
		}},
	}
}

// TestOpenRefusesDamage opens every kind of damaged file, for writing and
// read-only: Open must return a *DamageError naming the file, never
// panic, and leave the file's bytes as they were.
func TestOpenRefusesDamage(t *testing.T) {
	healthy := populated(t, 300)
	for _, dm := range damages(t, healthy) {
		t.Run(dm.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shopwatch.db")
			copyFile(t, healthy, path)
			dm.do(t, path)
			before := fileSum(t, path)
			for _, ro := range []bool{false, true} {
				var opts []Option
				if ro {
					opts = append(opts, ReadOnly())
				}
				d, err := Open(path, opts...)
				if err == nil {
					d.Close()
					t.Fatalf("read-only %v: Open of a damaged file succeeded", ro)
				}
				var de *DamageError
				if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) {
					t.Fatalf("read-only %v: got %v (%T), want a *DamageError", ro, err, err)
				}
				if !strings.Contains(err.Error(), path) || len(de.Problems) == 0 {
					t.Errorf("read-only %v: error %q does not name the file and the problem", ro, err)
				}
				if got := fileSum(t, path); got != before {
					t.Fatalf("read-only %v: Open changed the damaged file", ro)
				}
			}
		})
	}
}

// TestOpenWritesNothing: opening a healthy current database, for reading
// or for writing, and reading from it, leaves its bytes unchanged.
func TestOpenWritesNothing(t *testing.T) {
	path := populated(t, 20)
	before := fileSum(t, path)
	for _, opts := range [][]Option{nil, {ReadOnly()}, {WithFullCheck()}} {
		d, err := Open(path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ListFindings(context.Background(), Filter{}); err != nil {
			t.Fatal(err)
		}
		if err := d.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if fileSum(t, path) != before {
			t.Fatalf("Open with %d option(s) changed the file", len(opts))
		}
	}
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	path := populated(t, 10)
	before := fileSum(t, path)
	st0, _ := os.Stat(path)
	d, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if !d.ReadOnly() {
		t.Error("ReadOnly() is false")
	}
	// Two readers at once are fine.
	d2, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	d2.Close()
	got, err := d.ListFindings(ctx, Filter{})
	if err != nil || len(got) != 20 {
		t.Fatalf("ListFindings: %d findings, %v", len(got), err)
	}
	wantErr(t, d.RecordAudit(ctx, "test", "x"), ErrReadOnly)
	wantErr(t, d.AddTarget(ctx, &shopwatch.Target{URL: "https://new.example.com/", Kind: shopwatch.KindProduct}), ErrReadOnly)
	// A writer waits for the reader and gives up.
	if w, err := Open(path, WithLockTimeout(100*time.Millisecond)); err == nil {
		w.Close()
		t.Fatal("a writer opened the file while a reader held it")
	} else {
		wantErr(t, err, ErrLocked)
	}
	d.Close()
	st1, _ := os.Stat(path)
	if fileSum(t, path) != before || !st1.ModTime().Equal(st0.ModTime()) {
		t.Fatal("read-only use changed the file")
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("read-only use left files beside the database: %v", ents)
	}

	missing := filepath.Join(t.TempDir(), "none", "shopwatch.db")
	if _, err := Open(missing, ReadOnly()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("read-only open created the folder")
	}
}

// TestGuard: a panic or memory fault under a transaction becomes an
// error wrapping ErrDamaged instead of ending the process.
func TestGuard(t *testing.T) {
	d, _ := newTestDB(t)
	err := d.view(context.Background(), func(tx *bolt.Tx) error {
		var b *bolt.Bucket
		_ = b.Get([]byte("x")) // nil bucket: a runtime fault
		return nil
	})
	wantErr(t, err, ErrDamaged)
}

func TestCheckFile(t *testing.T) {
	path := populated(t, 50)
	d, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.CheckFile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBackup copies the database while another goroutine keeps writing;
// the copy opens, checks clean and holds at least what was there before.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	path := populated(t, 50)
	d := openTestDB(t, path)
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			if err := d.RecordAudit(ctx, "test.write", fmt.Sprint(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	dst := filepath.Join(t.TempDir(), "backup.db")
	size, err := d.Backup(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dst); err != nil || st.Size() != size {
		t.Fatalf("backup file: %v, size %d, reported %d", err, st.Size(), size)
	}
	if _, err := d.Backup(ctx, dst); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second backup to the same file: %v, want ErrExist", err)
	}
	b, err := Open(dst, ReadOnly(), WithFullCheck())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := b.ListFindings(ctx, Filter{})
	if err != nil || len(got) != 100 {
		t.Fatalf("backup holds %d findings, %v; want 100", len(got), err)
	}
}

// records reads every key/value of every top-level bucket of a healthy
// file.
func records(tb testing.TB, path string) map[string]map[string][]byte {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer bdb.Close()
	out := map[string]map[string][]byte{}
	_ = bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m := map[string][]byte{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error { m[string(k)] = bytes.Clone(v); return nil })
		})
	})
	return out
}

func TestSalvageHealthy(t *testing.T) {
	ctx := context.Background()
	path := populated(t, 100)
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	rep, err := Salvage(ctx, path, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lost) != 0 {
		t.Fatalf("lost from a healthy file: %v", rep.Lost)
	}
	want := records(t, path)
	total := 0
	for _, m := range want {
		total += len(m)
	}
	if rep.Total() != total {
		t.Fatalf("copied %d records, the file holds %d", rep.Total(), total)
	}
	got := records(t, dst)
	for b, m := range want {
		for k, v := range m {
			if !bytes.Equal(got[b][k], v) {
				t.Fatalf("bucket %s key %q differs in the copy", b, k)
			}
		}
	}
	d, err := Open(dst, WithFullCheck())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Check(ctx); err != nil {
		t.Fatalf("salvaged copy of a healthy file: %v", err)
	}
	if _, err := Salvage(ctx, path, dst); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("salvage onto an existing file: %v, want ErrExist", err)
	}
}

// TestSalvageDamaged salvages every kind of damage: what it copies is
// exactly what the healthy file held under those keys, it reports what
// it lost, and the damaged file is not changed.
func TestSalvageDamaged(t *testing.T) {
	ctx := context.Background()
	healthy := populated(t, 300)
	want := records(t, healthy)
	for _, dm := range damages(t, healthy) {
		t.Run(dm.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shopwatch.db")
			copyFile(t, healthy, path)
			dm.do(t, path)
			before := fileSum(t, path)
			dst := filepath.Join(t.TempDir(), "salvaged.db")
			rep, err := Salvage(ctx, path, dst)
			if fileSum(t, path) != before {
				t.Fatal("Salvage changed the damaged file")
			}
			if err != nil {
				if _, serr := os.Stat(dst); serr == nil {
					t.Fatal("a failed salvage left its output file")
				}
				switch dm.name {
				case "empty", "cut in the first meta page", "garbage":
					return // nothing to read
				}
				t.Fatal(err)
			}
			if len(rep.Lost) == 0 {
				t.Error("nothing reported lost")
			}
			got := records(t, dst)
			n := 0
			olderState := strings.HasPrefix(dm.name, "meta page")
			if olderState {
				// The copy is the state the other meta page points at,
				// one transaction older, and whole.
				d, err := Open(dst, WithFullCheck())
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Check(ctx); err != nil {
					t.Errorf("copy of the older state: %v", err)
				}
				d.Close()
			}
			for b, m := range got {
				for k, v := range m {
					n++
					if !olderState && !bytes.Equal(v, want[b][k]) {
						t.Fatalf("bucket %s key %q: salvaged value differs from the original", b, k)
					}
				}
			}
			if n != rep.Total() {
				t.Errorf("report says %d records, the copy holds %d", rep.Total(), n)
			}
			if strings.HasPrefix(dm.name, "data page") || strings.HasPrefix(dm.name, "meta page") {
				// Only one page is hurt: almost everything comes back.
				if n < 1000 {
					t.Errorf("salvaged only %d records; lost: %v", n, rep.Lost)
				}
				if len(got["targets"]) != 300 || len(got["audit"]) == 0 {
					t.Errorf("salvaged %d targets and %d audit entries, want 300 and some", len(got["targets"]), len(got["audit"]))
				}
			}
			t.Logf("copied %d records, lost: %s", n, strings.Join(rep.Lost, "; "))
		})
	}
}

// BenchmarkOpenCheck measures the checks Open runs on every open, on a
// file of 20,000 done visits with 40,000 findings.
func BenchmarkOpenCheck(b *testing.B) {
	path := populated(b, 20000, WithNoSync())
	st, _ := os.Stat(path)
	_, hwm, pages := layout(b, path)
	b.Logf("file %d bytes, %d pages in use, %d reachable", st.Size(), hwm, len(pages))
	b.SetBytes(st.Size())
	b.ResetTimer()
	for range b.N {
		fc, err := checkPath(path)
		if err != nil || len(fc.Problems) > 0 {
			b.Fatal(err, fc.Problems)
		}
	}
}
