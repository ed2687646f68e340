package spool

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// timedPuts writes objs from writers goroutines and returns how long each
// Put took, in the order of objs.
func timedPuts(t *testing.T, s *Store, objs []object, writers int) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(objs))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(objs); i += writers {
				o := objs[i]
				start := time.Now()
				if err := s.Put(context.Background(), o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); err != nil {
					t.Errorf("Put(%q) = %v, want nil", o.key, err)
				}
				took[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	return took
}

// checkStallCost checks that a hanging backend cost each writer at most
// one wait (the Put in flight when it hung) and every later Put nothing.
func checkStallCost(t *testing.T, took []time.Duration, writers int, timeout time.Duration) {
	t.Helper()
	slow := map[int]int{} // by writer
	var total time.Duration
	for i, d := range took {
		total += d
		if d >= timeout/2 {
			slow[i%writers]++
			if i >= writers {
				t.Errorf("Put %d (writer %d's #%d) waited %v on the hanging backend after the stall was known", i, i%writers, i/writers+1, d)
			}
		}
	}
	n := 0
	for _, c := range slow {
		n += c
	}
	t.Logf("%d puts against a hanging backend: %d waited for it, %v of Put time in all (attempt timeout %v)", len(took), n, total, timeout)
	if n == 0 {
		t.Errorf("no Put waited for the hanging backend; the test did not hang it")
	}
	if limit := time.Duration(writers)*timeout + time.Duration(len(took))*timeout/10; total > limit {
		t.Errorf("Puts took %v in all, want at most %v (one timeout per writer)", total, limit)
	}
}

// TestHangingBackendIsDetectedOnce: with Run uploading in the background,
// a backend that stops answering costs the Puts in flight one attempt
// timeout, once; every later Put spools at once, also after the back-off
// ends (only Run tries the backend again), and Run uploads everything
// once the backend answers.
func TestHangingBackendIsDetectedOnce(t *testing.T) {
	b := newFlaky(t)
	var logs syncBuffer
	const timeout = 2 * time.Second
	s := newSpool(t, b, &logs, WithAttemptTimeout(timeout), WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	b.hang.Store(true)
	const writers = 4
	objs := objects(t, "evidence", 40)
	took := timedPuts(t, s, objs, writers)
	checkStallCost(t, took, writers, timeout)
	if es := pending(t, s); len(es) != len(objs) {
		t.Fatalf("%d objects spooled, want %d", len(es), len(objs))
	}
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.BackendDown || !strings.Contains(st.LastError, "no answer within 2s") {
		t.Errorf("status with the backend hanging: down %v, last error %q; want down, naming the stall", st.BackendDown, st.LastError)
	}

	b.hang.Store(false)
	waitEmpty(t, s, 30*time.Second)
	holds(t, b, objs)
	for _, want := range []string{"backend stalled", "backend available again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestHangingBackendWithoutRun: without Run, one Put at a time tries the
// backend again after each back-off; the others do not wait for it.
func TestHangingBackendWithoutRun(t *testing.T) {
	b := newFlaky(t)
	const timeout = time.Second
	s := newSpool(t, b, nil, WithAttemptTimeout(timeout), WithBackoff(time.Hour, time.Hour))
	b.hang.Store(true)
	objs := objects(t, "evidence", 24)
	took := timedPuts(t, s, objs, 4)
	checkStallCost(t, took, 4, timeout)
	if es := pending(t, s); len(es) != len(objs) {
		t.Fatalf("%d objects spooled, want %d", len(es), len(objs))
	}
	b.hang.Store(false)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush after the backend came back: %v", err)
	}
	empty(t, s)
	holds(t, b, objs)
}

// TestDrainAndStatus: Drain waits for the backend until its ctx ends and
// says what is left; Status and Inspect (read-only, from outside the
// process holding the folder) report the objects, their size and age, and
// the backend's last error; once the backend is back Drain empties the
// spool.
func TestDrainAndStatus(t *testing.T) {
	b := newFlaky(t)
	s := newSpool(t, b, nil)
	b.putDown.Store(true)
	objs := objects(t, "evidence", 6)
	var size int64
	before := time.Now().UTC()
	for _, o := range objs {
		put(t, s, o)
		size += int64(len(o.data))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	err := s.Drain(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errUnreachable) || !strings.Contains(err.Error(), "6 entries left") {
		t.Fatalf("Drain with the backend down = %v, want the deadline, the backend's error and the count", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Drain with a 300ms deadline took %v", d)
	}
	for name, get := range map[string]func() (Status, error){"Status": s.Status, "Inspect": func() (Status, error) { return Inspect(s.Dir()) }} {
		st, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Objects != len(objs) || st.Bytes != size || len(st.Entries) != len(objs) || st.Stuck != 0 {
			t.Errorf("%s: %d objects, %d bytes, %d entries, %d stuck; want %d, %d, %d, 0", name, st.Objects, st.Bytes, len(st.Entries), st.Stuck, len(objs), size, len(objs))
		}
		if st.Oldest.Before(before.Add(-time.Second)) || st.Oldest.After(time.Now()) || st.Oldest != st.Entries[0].Spooled {
			t.Errorf("%s: oldest %v, want the first entry's spool time, after %v", name, st.Oldest, before)
		}
		if !st.BackendDown || st.Failures == 0 || st.DownSince.IsZero() || !strings.Contains(st.LastError, "connection refused") || st.LastErrorAt.IsZero() {
			t.Errorf("%s: backend down %v since %v, %d failures, last error %q at %v; want down with the error", name, st.BackendDown, st.DownSince, st.Failures, st.LastError, st.LastErrorAt)
		}
	}

	b.putDown.Store(false)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Drain(ctx); err != nil {
		t.Fatalf("Drain with the backend up = %v", err)
	}
	empty(t, s)
	holds(t, b, objs)
	st, err := Inspect(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 0 || st.BackendDown || !st.Oldest.IsZero() || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("Inspect after the drain: %+v; want empty, backend up, the last error kept", st)
	}
}

// TestDrainStopsOnStuckEntries: an entry that will never upload ends Drain
// at once with its error instead of waiting for the deadline.
func TestDrainStopsOnStuckEntries(t *testing.T) {
	b := newFlaky(t)
	s := newSpool(t, b, nil)
	b.putDown.Store(true)
	o := objects(t, "evidence", 3)[2]
	put(t, s, o)
	es := pending(t, s)
	raw := readEntry(t, es[0].Path)
	raw[len(raw)-1] ^= 1
	writeEntry(t, es[0].Path, raw)
	b.putDown.Store(false)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err := s.Drain(ctx)
	if !errors.Is(err, ErrDamaged) || ctx.Err() != nil {
		t.Fatalf("Drain with a damaged entry = %v after %v, want ErrDamaged at once", err, time.Since(start))
	}
	st, err := s.Status()
	if err != nil || st.Objects != 1 || st.Stuck != 1 {
		t.Fatalf("Status = %+v, %v; want the one damaged entry, stuck", st, err)
	}
}

// TestInspectMissingFolder: a spool that was never used is empty, and
// looking at it creates nothing.
func TestInspectMissingFolder(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "never", "spool")
	st, err := Inspect(dir)
	if err != nil || st.Objects != 0 || st.BackendDown {
		t.Fatalf("Inspect(missing) = %+v, %v; want empty", st, err)
	}
	if _, err := Inspect(dir); err != nil {
		t.Fatal(err)
	}
	if names := dirEntries(t, base); len(names) != 0 {
		t.Fatalf("Inspect created %q", names)
	}
}

// TestStateOutlivesTheStore: the backend's state recorded by one Store is
// what Inspect reports after it closed, and the next Store rewrites it at
// its first answer from the backend, keeping the last error.
func TestStateOutlivesTheStore(t *testing.T) {
	b := newFlaky(t)
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, dir, b, nil)
	b.putDown.Store(true)
	objs := objects(t, "evidence", 4)
	put(t, s, objs[0])
	s.Close()
	st, err := Inspect(dir)
	if err != nil || !st.BackendDown || st.Objects != 1 || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("Inspect after Close = %+v, %v; want one object, backend down with its error", st, err)
	}

	b.putDown.Store(false)
	again := openSpool(t, dir, b, nil)
	put(t, again, objs[1]) // straight to the backend
	for name, get := range map[string]func() (Status, error){"Status": again.Status, "Inspect": func() (Status, error) { return Inspect(dir) }} {
		st, err := get()
		if err != nil || st.BackendDown || st.Objects != 1 || !strings.Contains(st.LastError, "connection refused") {
			t.Errorf("%s after the backend answered = %+v, %v; want up, one object, the last error kept", name, st, err)
		}
	}
	if err := again.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	empty(t, again)
	holds(t, b, objs[:2])
}
