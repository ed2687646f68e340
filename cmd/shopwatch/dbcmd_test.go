package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/internal/testparts"
)

// dataWithDB makes a data directory whose shopwatch.db holds n targets
// and an audit entry, written through the db package.
func dataWithDB(t *testing.T, n int) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "shopwatch.db")
	d, err := db.Open(path, db.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		tg := &shopwatch.Target{URL: fmt.Sprintf("https://shop%d.example.com/item/%d", i, i), Kind: shopwatch.KindProduct,
			Platform: strings.Repeat("平台", 20)}
		if err := d.AddTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.RecordAudit(ctx, "test.setup", "populated"); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// fileState is a file's bytes and modification time.
type fileState struct {
	sum   [32]byte
	mtime time.Time
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{sha256.Sum256(b), st.ModTime()}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestReadOnlyCommandsWriteNothing runs every command that only reads the
// database and checks the file's bytes and mtime, and the data directory's
// listing, after each.
func TestReadOnlyCommandsWriteNothing(t *testing.T) {
	dir, path := dataWithDB(t, 20)
	// mtime has a coarse resolution on some file systems: make any write
	// visible by moving the file's mtime into the past first.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	var ts []shopwatch.Target
	if err := json.Unmarshal([]byte(mustSW(t, "--data", dir, "target", "list", "--json")), &ts); err != nil || len(ts) == 0 {
		t.Fatalf("targets: %v", err)
	}
	before, names := stateOf(t, path), dirNames(t, dir)
	backup := filepath.Join(t.TempDir(), "backup.db")
	for _, args := range [][]string{
		{"target", "list"}, {"target", "list", "--json"}, {"target", "show", ts[0].ID},
		{"sweep", "list"}, {"evidence", "partial", "list"},
		{"findings"}, {"findings", "--json"},
		{"evidence", "list"}, {"evidence", "list", "--json"},
		{"audit", "list"}, {"audit", "verify"},
		{"db", "check"}, {"db", "check", "--json"},
		{"db", "backup", "--out", backup},
	} {
		mustSW(t, append([]string{"--data", dir}, args...)...)
		if got := stateOf(t, path); got != before {
			t.Fatalf("shopwatch %s changed the database file", strings.Join(args, " "))
		}
		if got := dirNames(t, dir); strings.Join(got, " ") != strings.Join(names, " ") {
			t.Fatalf("shopwatch %s changed the data directory: %v, was %v", strings.Join(args, " "), got, names)
		}
	}

	// The files can be read without write access.
	ro := testparts.ReadOnly(t, dir)
	out := mustSW(t, "--data", ro, "target", "list", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 20 {
		t.Fatalf("target list on a read-only data directory: %d targets, %v", len(rows), err)
	}
	mustSW(t, "--data", ro, "audit", "verify")
}

// TestReadOnlyCommandsNeedData: a missing --data folder is refused by the
// commands that only read, and is not created.
func TestReadOnlyCommandsNeedData(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-data")
	for _, args := range [][]string{
		{"target", "list"}, {"findings"}, {"evidence", "list"}, {"audit", "list"}, {"audit", "verify"},
		{"db", "check"}, {"db", "backup", "--out", filepath.Join(t.TempDir(), "b.db")},
		{"db", "salvage", "--out", filepath.Join(t.TempDir(), "s.db")},
	} {
		_, stderr, code := sw(t, append([]string{"--data", missing}, args...)...)
		if code != exitRuntime || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "does not exist") {
			t.Errorf("shopwatch %s: exit %d, %q; want exit 3 naming the missing folder", strings.Join(args, " "), code, stderr)
		}
		if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("shopwatch %s created the data directory", strings.Join(args, " "))
		}
	}
	// An existing folder without a database is refused too, and stays empty.
	empty := t.TempDir()
	if _, stderr, code := sw(t, "--data", empty, "findings"); code != exitRuntime || !strings.Contains(stderr, "no database") {
		t.Errorf("findings on an empty data directory: exit %d, %q", code, stderr)
	}
	if names := dirNames(t, empty); len(names) != 0 {
		t.Errorf("findings wrote into an empty data directory: %v", names)
	}
}

func TestDBCheckBackup(t *testing.T) {
	dir, _ := dataWithDB(t, 50)
	if out := mustSW(t, "--data", dir, "db", "check"); !strings.Contains(out, "ok") {
		t.Errorf("db check said %q", out)
	}
	var rep dbCheckReport
	if err := json.Unmarshal([]byte(mustSW(t, "--data", dir, "db", "check", "--json")), &rep); err != nil || !rep.OK || rep.Damaged || len(rep.Problems) != 0 {
		t.Fatalf("db check --json: %+v, %v", rep, err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	mustSW(t, "--data", dir, "db", "backup", "--out", backup)
	if _, stderr, code := sw(t, "--data", dir, "db", "backup", "--out", backup); code != exitRuntime || !strings.Contains(stderr, "exists") {
		t.Errorf("second backup onto the same file: exit %d, %q", code, stderr)
	}
	// The backup is a whole database: put it in a data directory of its own.
	bdir := t.TempDir()
	if err := os.Rename(backup, filepath.Join(bdir, "shopwatch.db")); err != nil {
		t.Fatal(err)
	}
	mustSW(t, "--data", bdir, "db", "check")
	var ts []map[string]any
	if err := json.Unmarshal([]byte(mustSW(t, "--data", bdir, "target", "list", "--json")), &ts); err != nil || len(ts) != 50 {
		t.Fatalf("backup holds %d targets, %v", len(ts), err)
	}
	for _, args := range [][]string{{"db"}, {"db", "nope"}, {"db", "check", "extra"}, {"db", "backup"}, {"db", "salvage"}} {
		if _, _, code := sw(t, append([]string{"--data", dir}, args...)...); code != exitUsage {
			t.Errorf("shopwatch %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// layoutOf reads the page size and the pages in use (the high water mark
// of the newer meta page) from a healthy bbolt file.
func layoutOf(t *testing.T, path string) (pageSize int, inUse int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	pageSize = int(ne.Uint32(b[16+8:]))
	m0, m1 := b[16:], b[pageSize+16:]
	m := m0
	if ne.Uint64(m1[48:]) > ne.Uint64(m0[48:]) {
		m = m1
	}
	return pageSize, int64(ne.Uint64(m[40:]))
}

// TestDamagedDatabase damages a real database file in the ways disks and
// copies do, and checks that every command refuses it with a message naming
// the file and what to do, that nothing writes to it, and that db check
// and db salvage report it.
func TestDamagedDatabase(t *testing.T) {
	_, healthy := dataWithDB(t, 300)
	ps, pages := layoutOf(t, healthy)
	size := pages * int64(ps) // bbolt grows the file ahead of the pages in use
	rewrite := func(f func(b []byte) []byte) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name        string
		damage      func(t *testing.T, path string)
		salvageable bool // db salvage can make a copy, perhaps empty
		someSaved   bool // and it holds records
	}{
		{"zero length", rewrite(func([]byte) []byte { return nil }), false, false},
		{"truncated to half", rewrite(func(b []byte) []byte { return b[:size/2] }), true, false},
		{"truncated by one page", rewrite(func(b []byte) []byte { return b[:size-int64(ps)] }), true, false},
		{"meta pages zeroed", rewrite(func(b []byte) []byte { clear(b[:2*ps]); return b }), false, false},
		{"data pages zeroed", rewrite(func(b []byte) []byte { clear(b[3*ps : 6*ps]); return b }), true, true},
		{"bytes flipped in every data page", rewrite(func(b []byte) []byte {
			for off := 2 * ps; off+ps <= len(b); off += ps {
				b[off+8] ^= 0x5a // page flags
			}
			return b
		}), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "shopwatch.db")
			b, _ := os.ReadFile(healthy)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)
			before := stateOf(t, path)
			for _, args := range [][]string{
				{"target", "list"}, {"findings"}, {"evidence", "list"}, {"audit", "verify"},
				{"target", "add", "https://new.example.com/item/1"}, {"db", "backup", "--out", filepath.Join(t.TempDir(), "b.db")},
				{"audit", "list"}, {"--allow-private", "sweep"},
			} {
				_, stderr, code := sw(t, append([]string{"--data", dir}, args...)...)
				if code != exitRuntime || !strings.Contains(stderr, path) || !strings.Contains(stderr, "damaged") ||
					!strings.Contains(stderr, "db salvage") || strings.Contains(stderr, "goroutine") {
					t.Errorf("shopwatch %s: exit %d, stderr %q; want exit 3 naming the file and what to do", strings.Join(args, " "), code, stderr)
				}
				if stateOf(t, path) != before {
					t.Fatalf("shopwatch %s wrote to the damaged file", strings.Join(args, " "))
				}
			}
			out, _, code := sw(t, "--data", dir, "db", "check")
			if code != exitFailed || !strings.Contains(out, "PROBLEM") {
				t.Errorf("db check: exit %d, %q; want 1 and the problems", code, out)
			}
			var rep dbCheckReport
			out, _, code = sw(t, "--data", dir, "db", "check", "--json")
			if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailed || rep.OK || !rep.Damaged || len(rep.Problems) == 0 {
				t.Errorf("db check --json: exit %d, %+v, %v", code, rep, err)
			}

			salvaged := filepath.Join(t.TempDir(), "salvaged.db")
			out, stderr, code := sw(t, "--data", dir, "db", "salvage", "--out", salvaged, "--json")
			if stateOf(t, path) != before {
				t.Fatal("db salvage wrote to the damaged file")
			}
			if !tc.salvageable {
				if code != exitRuntime {
					t.Errorf("db salvage of an unreadable file: exit %d, %q", code, stderr)
				}
				if _, err := os.Stat(salvaged); err == nil {
					t.Error("a failed salvage left its output file")
				}
				return
			}
			var sr dbSalvageReport
			if err := json.Unmarshal([]byte(out), &sr); err != nil || code != exitFailed || len(sr.Lost) == 0 {
				t.Fatalf("db salvage: exit %d, %+v, %v (stderr %q); want 1 with what was lost", code, sr, err, stderr)
			}
			if (tc.someSaved && sr.Total == 0) || sr.Records["targets"] > 300 {
				t.Errorf("salvaged %d records, %d targets", sr.Total, sr.Records["targets"])
			}
			// The copy opens and lists what was saved.
			sdir := t.TempDir()
			if err := os.Rename(salvaged, filepath.Join(sdir, "shopwatch.db")); err != nil {
				t.Fatal(err)
			}
			var ts []map[string]any
			if err := json.Unmarshal([]byte(mustSW(t, "--data", sdir, "target", "list", "--json")), &ts); err != nil {
				t.Fatal(err)
			}
			if len(ts) > 300 || len(ts) != sr.Records["targets"] {
				t.Errorf("salvaged copy lists %d targets, the report says %d", len(ts), sr.Records["targets"])
			}
			t.Logf("salvaged %d records (%d targets); lost %d parts", sr.Total, len(ts), len(sr.Lost))
		})
	}
}
