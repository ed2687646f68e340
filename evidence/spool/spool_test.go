package spool

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/storetest"
)

// errUnreachable is what a backend that cannot be reached says.
var errUnreachable = errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")

// flaky is a backend whose writes (and reads) can be switched off, or made
// to hang, like a store behind a network.
type flaky struct {
	evidence.Store
	putDown  atomic.Bool
	readDown atomic.Bool
	hang     atomic.Bool
	puts     atomic.Int64 // Put calls
}

func (f *flaky) Put(ctx context.Context, key string, r io.Reader, size int64, sha256 evidence.Digest) error {
	f.puts.Add(1)
	if f.hang.Load() {
		<-ctx.Done()
		return fmt.Errorf("flaky: put %q: %w", key, ctx.Err())
	}
	if f.putDown.Load() {
		// A real client has usually sent part of the body before it fails.
		_, _ = io.CopyN(io.Discard, r, size/2)
		return fmt.Errorf("flaky: put %q: %w", key, errUnreachable)
	}
	return f.Store.Put(ctx, key, r, size, sha256)
}

func (f *flaky) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.readDown.Load() {
		return nil, fmt.Errorf("flaky: get %q: %w", key, errUnreachable)
	}
	return f.Store.Get(ctx, key)
}

func (f *flaky) Stat(ctx context.Context, key string) (evidence.Info, error) {
	if f.readDown.Load() {
		return evidence.Info{}, fmt.Errorf("flaky: stat %q: %w", key, errUnreachable)
	}
	return f.Store.Stat(ctx, key)
}

func (f *flaky) List(ctx context.Context, prefix string, fn func(evidence.Info) error) error {
	if f.readDown.Load() {
		return fmt.Errorf("flaky: list %q: %w", prefix, errUnreachable)
	}
	return f.Store.List(ctx, prefix, fn)
}

func newFolder(t testing.TB) *folderstore.Store {
	t.Helper()
	fs, err := folderstore.New(filepath.Join(t.TempDir(), "backend"))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func newFlaky(t testing.TB) *flaky {
	t.Helper()
	return &flaky{Store: newFolder(t)}
}

// syncBuffer is a log sink safe for the spool's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newSpool opens a spool in a fresh folder with short back-offs, logging
// into logs (when not nil), and closes it when the test ends.
func newSpool(t testing.TB, backend evidence.Store, logs *syncBuffer, opts ...Option) *Store {
	t.Helper()
	return openSpool(t, filepath.Join(t.TempDir(), "spool"), backend, logs, opts...)
}

func openSpool(t testing.TB, dir string, backend evidence.Store, logs *syncBuffer, opts ...Option) *Store {
	t.Helper()
	var w io.Writer = io.Discard
	if logs != nil {
		w = logs
	}
	all := append([]Option{
		WithBackoff(10*time.Millisecond, 100*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	s, err := New(dir, backend, all...)
	if err != nil {
		t.Fatalf("spool.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type object struct {
	key  string
	data []byte
}

func (o object) sha() evidence.Digest { return evidence.SumBytes(evidence.SHA256, o.data) }

// objects returns n evidence-like objects of varied sizes, one empty.
func objects(t testing.TB, prefix string, n int) []object {
	t.Helper()
	out := make([]object, n)
	for i := range out {
		size := []int{0, 1, 700, 64 << 10, 300<<10 + 7}[i%5]
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		out[i] = object{key: fmt.Sprintf("%s/ev-%03d/page.html", prefix, i), data: data}
	}
	return out
}

func put(t testing.TB, s evidence.Store, o object) {
	t.Helper()
	if err := s.Put(context.Background(), o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); err != nil {
		t.Fatalf("Put(%q) = %v, want nil", o.key, err)
	}
}

// holds checks that s serves every object with its exact bytes.
func holds(t testing.TB, s evidence.Store, objs []object) {
	t.Helper()
	for _, o := range objs {
		b, err := evidence.ReadVerified(context.Background(), s, o.key, int64(len(o.data)), o.sha())
		if err != nil || !bytes.Equal(b, o.data) {
			t.Fatalf("read %q: %d bytes, %v; want its %d bytes", o.key, len(b), err, len(o.data))
		}
	}
}

func absentFrom(t testing.TB, s evidence.Store, key string) {
	t.Helper()
	if _, err := s.Stat(context.Background(), key); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("backend Stat(%q) = %v, want ErrNotFound", key, err)
	}
}

func pending(t testing.TB, s *Store) []Entry {
	t.Helper()
	es, err := s.Pending()
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return es
}

// dirEntries returns the names in one of the spool's folders.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// empty checks that nothing is spooled or staged.
func empty(t testing.TB, s *Store) {
	t.Helper()
	if es := pending(t, s); len(es) != 0 {
		t.Fatalf("%d entries still spooled, first %+v", len(es), es[0])
	}
	for _, d := range []string{"entries", "tmp"} {
		if names := dirEntries(t, filepath.Join(s.Dir(), d)); len(names) != 0 {
			t.Fatalf("spool %s/ holds %q, want nothing", d, names)
		}
	}
}

// TestConformance runs the store suite on the spool in front of a healthy
// folder store (objects pass through to it) and in front of one that
// refuses every write (objects stay in the spool).
func TestConformance(t *testing.T) {
	t.Run("BackendUp", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) evidence.Store {
			s := newSpool(t, newFolder(t), nil)
			t.Cleanup(func() { empty(t, s) })
			return s
		})
	})
	t.Run("BackendDown", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) evidence.Store {
			b := newFlaky(t)
			b.putDown.Store(true)
			s := newSpool(t, b, nil)
			t.Cleanup(func() {
				// Whatever the suite stored is in the spool, and uploads
				// intact once the backend is back.
				es := pending(t, s)
				b.putDown.Store(false)
				if err := s.Flush(context.Background()); err != nil {
					t.Errorf("Flush after the suite: %v", err)
				}
				for _, e := range es {
					if _, err := evidence.ReadVerified(context.Background(), b, e.Key, e.Size, e.SHA256); err != nil {
						t.Errorf("%s after upload: %v", e.Key, err)
					}
				}
				empty(t, s)
			})
			return s
		})
	})
}

func TestSpoolsWhileBackendDownAndUploadsLater(t *testing.T) {
	ctx := context.Background()
	b := newFlaky(t)
	var logs syncBuffer
	s := newSpool(t, b, &logs)
	objs := objects(t, "evidence", 12)

	for _, o := range objs[:4] {
		put(t, s, o)
	}
	if es := pending(t, s); len(es) != 0 {
		t.Fatalf("with the backend up %d objects were spooled", len(es))
	}
	holds(t, b, objs[:4])

	b.putDown.Store(true)
	for _, o := range objs[4:] {
		put(t, s, o)
	}
	es := pending(t, s)
	if len(es) != 8 {
		t.Fatalf("%d entries spooled, want 8", len(es))
	}
	for i, e := range es {
		o := objs[4+i]
		if e.Key != o.key || e.Size != int64(len(o.data)) || e.SHA256 != o.sha() || e.Spooled.IsZero() {
			t.Fatalf("entry %d = %+v, want key %s, size %d, sha256 %s", i, e, o.key, len(o.data), o.sha())
		}
		absentFrom(t, b, o.key)
	}
	if !strings.Contains(logs.String(), "backend unavailable") {
		t.Errorf("the outage was not logged:\n%s", logs.String())
	}
	// Readable before upload, listed together with the backend's.
	holds(t, s, objs)
	var keys []string
	if err := s.List(ctx, "evidence/", func(i evidence.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(objs) {
		t.Fatalf("List shows %d keys, want %d: %q", len(keys), len(objs), keys)
	}
	for i, o := range objs {
		if keys[i] != o.key {
			t.Fatalf("List[%d] = %s, want %s", i, keys[i], o.key)
		}
	}
	// A spooled key is taken.
	o := objs[5]
	if err := s.Put(ctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); !errors.Is(err, evidence.ErrExists) {
		t.Fatalf("Put of a spooled key = %v, want ErrExists", err)
	}

	// Still down: Flush reports it and keeps everything.
	if err := s.Flush(ctx); err == nil || !errors.Is(err, errUnreachable) {
		t.Fatalf("Flush with the backend down = %v, want its error", err)
	}
	if es := pending(t, s); len(es) != 8 || es[0].Err == nil {
		t.Fatalf("after a failed flush: %d entries, first error %v; want 8 with the error", len(es), es[0].Err)
	}

	b.putDown.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	empty(t, s)
	holds(t, b, objs)
	holds(t, s, objs)
}

func TestEntryFile(t *testing.T) {
	b := newFlaky(t)
	b.putDown.Store(true)
	s := newSpool(t, b, nil)
	o := object{key: "evidence/ev-1/页面.html", data: []byte("<p>最佳</p>\n<b>&</b>")}
	put(t, s, o)
	es := pending(t, s)
	if len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
	raw, err := os.ReadFile(es[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	line, data, ok := bytes.Cut(raw, []byte("\n"))
	if !ok || !bytes.Equal(data, o.data) {
		t.Fatalf("entry file after its first line holds %q, want the object %q", data, o.data)
	}
	for _, want := range []string{`"format":"shopwatch-spool/1"`, `"key":"evidence/ev-1/页面.html"`, fmt.Sprintf(`"size":%d`, len(o.data)), `"sha256":"` + o.sha().String() + `"`} {
		if !bytes.Contains(line, []byte(want)) {
			t.Errorf("header %s lacks %s", line, want)
		}
	}
	st, err := os.Stat(es[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o444 {
		t.Errorf("entry file mode %v, want 0444", st.Mode().Perm())
	}
}

func TestFinalBackendErrorsAreNotSpooled(t *testing.T) {
	ctx := context.Background()
	b := newFlaky(t)
	s := newSpool(t, b, nil)
	o := objects(t, "e", 1)[0]
	put(t, b, o)
	other := []byte("other bytes")
	err := s.Put(ctx, o.key, bytes.NewReader(other), int64(len(other)), evidence.SumBytes(evidence.SHA256, other))
	if !errors.Is(err, evidence.ErrExists) || !strings.Contains(err.Error(), o.key) {
		t.Fatalf("Put over a key the backend holds = %v, want ErrExists naming the key", err)
	}
	err = s.Put(ctx, "e/wrong", bytes.NewReader(other), int64(len(other)), o.sha())
	if !errors.Is(err, evidence.ErrDigestMismatch) {
		t.Fatalf("Put with a wrong digest = %v, want ErrDigestMismatch", err)
	}
	empty(t, s)
	if b.puts.Load() != 2 { // the direct one and the refused one
		t.Errorf("wrong bytes reached the backend: %d backend puts, want 2", b.puts.Load())
	}
}

func TestDamagedEntryIsNeverUploaded(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, size int)
		named  bool // the error can still name the key
	}{
		{"FlippedByte", func(t *testing.T, path string, size int) {
			raw := readEntry(t, path)
			raw[len(raw)-size/2-1] ^= 0x01
			writeEntry(t, path, raw)
		}, true},
		{"Truncated", func(t *testing.T, path string, size int) {
			raw := readEntry(t, path)
			writeEntry(t, path, raw[:len(raw)-1])
		}, true},
		{"Appended", func(t *testing.T, path string, size int) {
			writeEntry(t, path, append(readEntry(t, path), '!'))
		}, true},
		{"BrokenHeader", func(t *testing.T, path string, size int) {
			raw := readEntry(t, path)
			writeEntry(t, path, raw[5:])
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b := newFlaky(t)
			b.putDown.Store(true)
			var logs syncBuffer
			s := newSpool(t, b, &logs)
			objs := objects(t, "evidence", 3)
			objs[1].data = append(objs[1].data, []byte("some bytes to damage")...)
			for _, o := range objs {
				put(t, s, o)
			}
			bad := objs[1]
			path := filepath.Join(s.Dir(), "entries", entryName(bad.key))
			c.damage(t, path, len(bad.data))

			b.putDown.Store(false)
			err := s.Flush(ctx)
			t.Logf("Flush: %v", err)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Flush with a damaged entry = %v, want ErrDamaged naming %s", err, path)
			}
			if c.named && !strings.Contains(err.Error(), bad.key) {
				t.Errorf("error does not name the key %s", bad.key)
			}
			absentFrom(t, b, bad.key)
			holds(t, b, []object{objs[0], objs[2]}) // the others went up
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("damaged entry was not kept: %v", err)
			}
			es := pending(t, s)
			if len(es) != 1 || es[0].Path != path || !errors.Is(es[0].Err, ErrDamaged) {
				t.Fatalf("Pending = %+v, want the damaged entry with ErrDamaged", es)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("damage was not logged as an error:\n%s", logs.String())
			}
			// Reported again by later flushes, and by a new Store.
			if err := s.Flush(ctx); !errors.Is(err, ErrDamaged) {
				t.Fatalf("second Flush = %v, want ErrDamaged", err)
			}
			s.Close()
			again := openSpool(t, s.Dir(), b, nil)
			if err := again.Flush(ctx); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Flush after reopening = %v, want ErrDamaged", err)
			}
			absentFrom(t, b, bad.key)
		})
	}
}

func readEntry(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func writeEntry(t *testing.T, path string, raw []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUploadIsIdempotent(t *testing.T) {
	// A crash between the upload and the deletion of the entry leaves an
	// entry whose object the backend holds already.
	ctx := context.Background()
	b := newFlaky(t)
	b.putDown.Store(true)
	s := newSpool(t, b, nil)
	objs := objects(t, "evidence", 3)
	for _, o := range objs {
		put(t, s, o)
	}
	b.putDown.Store(false)
	put(t, b, objs[1]) // the same bytes, uploaded before the "crash"
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	empty(t, s)
	holds(t, b, objs)
}

func TestConflictIsKept(t *testing.T) {
	// The key was taken in the backend while it was out of reach.
	ctx := context.Background()
	b := newFlaky(t)
	b.putDown.Store(true)
	s := newSpool(t, b, nil)
	mine := object{key: "evidence/ev-1/page.html", data: []byte("spooled capture")}
	theirs := object{key: mine.key, data: []byte("other capture!!")}
	put(t, s, mine)
	b.putDown.Store(false)
	put(t, b, theirs)
	err := s.Flush(ctx)
	t.Logf("Flush: %v", err)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), mine.key) {
		t.Fatalf("Flush = %v, want ErrConflict naming the key", err)
	}
	es := pending(t, s)
	if len(es) != 1 || !errors.Is(es[0].Err, ErrConflict) {
		t.Fatalf("Pending = %+v, want the entry kept with ErrConflict", es)
	}
	holds(t, b, []object{theirs})
}

func TestPutDoesNotStallOnAHangingBackend(t *testing.T) {
	b := newFlaky(t)
	b.hang.Store(true)
	s := newSpool(t, b, nil, WithAttemptTimeout(200*time.Millisecond), WithBackoff(time.Minute, time.Minute))
	objs := objects(t, "evidence", 20)
	start := time.Now()
	for _, o := range objs {
		put(t, s, o)
	}
	took := time.Since(start)
	t.Logf("20 puts against a hanging backend took %v, %d backend attempts", took, b.puts.Load())
	if b.puts.Load() != 1 {
		t.Errorf("%d backend attempts, want 1 (then back-off)", b.puts.Load())
	}
	if took > 5*time.Second {
		t.Errorf("puts took %v", took)
	}
	if es := pending(t, s); len(es) != len(objs) {
		t.Fatalf("%d spooled, want %d", len(es), len(objs))
	}
	holds(t, s, objs)
}

func TestCallerCancelSpoolsNothing(t *testing.T) {
	b := newFlaky(t)
	b.hang.Store(true)
	s := newSpool(t, b, nil, WithAttemptTimeout(0))
	o := objects(t, "evidence", 3)[2]
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.Put(ctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), o.key) {
		t.Fatalf("Put with an expiring ctx = %v, want DeadlineExceeded naming the key", err)
	}
	empty(t, s)
}

func TestRunUploadsWhenTheBackendReturns(t *testing.T) {
	b := newFlaky(t)
	b.putDown.Store(true)
	var logs syncBuffer
	s := newSpool(t, b, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()

	// Many writers while the backend is down, and while it comes back.
	objs := objects(t, "evidence", 80)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(objs); i += 8 {
				o := objs[i]
				if err := s.Put(context.Background(), o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); err != nil {
					t.Errorf("Put(%q) = %v", o.key, err)
				}
				if i == 40 {
					b.putDown.Store(false)
				}
			}
		})
	}
	wg.Wait()
	waitEmpty(t, s, 10*time.Second)
	holds(t, b, objs)
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if !strings.Contains(logs.String(), "backend available again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

// waitEmpty waits until the spool has uploaded everything.
func waitEmpty(t testing.TB, s *Store, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		es := pending(t, s)
		if len(es) == 0 {
			empty(t, s)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still %d entries spooled; first: %s: %v", limit, len(es), es[0].Key, es[0].Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFolderBelongsToOneStore(t *testing.T) {
	b := newFlaky(t)
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, dir, b, nil)
	if _, err := New(dir, b); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second New on one folder = %v, want an in-use error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o := objects(t, "e", 2)[1]
	if err := s.Put(context.Background(), o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	// Close ends a Run that waits for work.
	s2 := openSpool(t, dir, b, nil)
	runDone := make(chan error, 1)
	go func() { runDone <- s2.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runDone:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

func TestStagingLeftoversAreRemoved(t *testing.T) {
	b := newFlaky(t)
	b.putDown.Store(true)
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, dir, b, nil)
	o := objects(t, "e", 2)[1]
	put(t, s, o)
	s.Close()
	// What a process killed while staging leaves behind.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte(`{"format":"shopwatch-spool/1","key":"e/x"`), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, dir, b, nil)
	if names := dirEntries(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Fatalf("tmp/ holds %q after New", names)
	}
	if es := pending(t, s); len(es) != 1 || es[0].Key != o.key {
		t.Fatalf("Pending = %+v, want the one acknowledged object", es)
	}
}

func TestOptions(t *testing.T) {
	b := newFlaky(t)
	if _, err := New(t.TempDir(), b, WithBackoff(0, time.Second)); err == nil {
		t.Error("New accepted a zero back-off")
	}
	if _, err := New(t.TempDir(), b, WithBackoff(time.Second, time.Millisecond)); err == nil {
		t.Error("New accepted max < min back-off")
	}
	if _, err := New(t.TempDir(), nil); err == nil {
		t.Error("New accepted a nil backend")
	}
}
