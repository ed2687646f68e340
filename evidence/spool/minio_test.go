package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"shopwatch/evidence"
	"shopwatch/evidence/miniostore"
	"shopwatch/evidence/storetest"
	"shopwatch/internal/testparts"
)

// minioServer is a MinIO server this test starts, kills with SIGKILL and
// starts again on the same loopback address and data folder, as an outage
// looks to a client. (testparts.StartMinIO gives no handle to do that.)
type minioServer struct {
	bin, dir, addr, console string
	access, secret          string

	cmd  *exec.Cmd
	done chan struct{}
	logs syncBuffer
}

func startMinIOServer(t *testing.T) *minioServer {
	t.Helper()
	bin, err := testparts.LookBinary("minio")
	if err != nil {
		testparts.Unavailable(t, "MinIO server", err)
		return nil
	}
	addr, err := testparts.FreeAddr()
	if err != nil {
		testparts.Unavailable(t, "MinIO server", err)
		return nil
	}
	console, err := testparts.FreeAddr()
	if err != nil {
		testparts.Unavailable(t, "MinIO server", err)
		return nil
	}
	m := &minioServer{bin: bin, dir: t.TempDir(), addr: addr, console: console, access: "shopwatch-test", secret: "shopwatch-test-secret"}
	t.Cleanup(m.kill)
	m.start(t)
	return m
}

// start runs the server and waits until it serves S3 requests.
func (m *minioServer) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.addr, "--console-address", m.console, m.dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.access,
		"MINIO_ROOT_PASSWORD="+m.secret,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	cmd.Stdout, cmd.Stderr = &m.logs, &m.logs
	if err := cmd.Start(); err != nil {
		testparts.Unavailable(t, "MinIO server", err)
		return
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(m.done)

	client, err := minio.New(m.addr, &minio.Options{Creds: credentials.NewStaticV4(m.access, m.secret, ""), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The readiness probe answers 200 with x-minio-server-status:
		// unavailable before the object layer is up; only a real request
		// tells.
		resp, err := http.Get("http://" + m.addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("x-minio-server-status") != "unavailable" {
				if _, err = client.ListBuckets(context.Background()); err == nil {
					return
				}
			}
		}
		select {
		case <-m.done:
			testparts.Unavailable(t, "MinIO server", fmt.Errorf("exited early: %s", m.logs.String()))
			return
		default:
		}
		if time.Now().After(deadline) {
			testparts.Unavailable(t, "MinIO server", fmt.Errorf("not ready after 60s (%v): %s", err, m.logs.String()))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL and waits for it; it does nothing
// when the server is not running.
func (m *minioServer) kill() {
	if m.cmd == nil {
		return
	}
	select {
	case <-m.done:
	default:
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// pause stops the server process with SIGSTOP: it keeps its sockets, the
// kernel accepts connections for it, and nothing answers, as a hung
// server looks to a client. resume continues it with SIGCONT.
func (m *minioServer) pause(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP MinIO: %v", err)
	}
}

func (m *minioServer) resume(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT MinIO: %v", err)
	}
}

var bucketSeq atomic.Int64

// lockedConfig is a WORM bucket in compliance mode, with few client
// retries so an outage is noticed at once.
func (m *minioServer) lockedConfig() miniostore.Config {
	return miniostore.Config{
		Endpoint:      m.addr,
		AccessKey:     m.access,
		SecretKey:     m.secret,
		Bucket:        fmt.Sprintf("spool-test-%d", bucketSeq.Add(1)),
		MaxRetries:    1,
		ObjectLock:    true,
		RetentionMode: "COMPLIANCE",
		RetentionDays: 1,
	}
}

func TestConformanceOverMinIO(t *testing.T) {
	srv := startMinIOServer(t)
	storetest.Run(t, func(t *testing.T) evidence.Store {
		backend, err := miniostore.New(context.Background(), srv.lockedConfig())
		if err != nil {
			t.Fatal(err)
		}
		s := newSpool(t, backend, nil)
		t.Cleanup(func() { empty(t, s) })
		return s
	})
}

// TestMinIOOutage kills the MinIO server in the middle of a run, writes
// while it is down, starts it again and checks that the uploader put every
// object into the bucket, intact and under retention, and emptied the
// spool.
func TestMinIOOutage(t *testing.T) {
	srv := startMinIOServer(t)
	ctx := context.Background()
	cfg := srv.lockedConfig()
	backend, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	s := newSpool(t, backend, &logs, WithBackoff(20*time.Millisecond, 250*time.Millisecond), WithAttemptTimeout(10*time.Second))
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(runCtx) }()
	defer func() {
		stopRun()
		if err := <-runDone; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	objs := objects(t, "evidence", 40)
	before, during := objs[:5], objs[5:]
	for _, o := range before {
		put(t, s, o)
	}
	if es := pending(t, s); len(es) != 0 {
		t.Fatalf("with MinIO up %d objects were spooled", len(es))
	}
	holds(t, backend, before)

	srv.kill()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(during); i += 4 {
				o := during[i]
				if err := s.Put(ctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); err != nil {
					t.Errorf("Put(%q) with MinIO down = %v, want nil", o.key, err)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d puts with MinIO down took %v", len(during), took)
	if took > 20*time.Second {
		t.Errorf("puts with MinIO down took %v: the sweep would stall", took)
	}
	if es := pending(t, s); len(es) != len(during) {
		t.Fatalf("%d objects spooled, want %d", len(es), len(during))
	}
	holds(t, s, during) // readable from the spool while MinIO is down
	if err := s.List(ctx, "", func(evidence.Info) error { return nil }); err == nil {
		t.Error("List with MinIO down succeeded; it cannot be complete")
	}
	time.Sleep(300 * time.Millisecond) // let the uploader fail a few times

	srv.start(t)
	waitEmpty(t, s, 60*time.Second)
	t.Logf("spool empty %v after the restart", time.Since(start))

	// Check in the bucket itself, through a fresh client.
	fresh, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	holds(t, fresh, objs)
	var n int
	if err := fresh.List(ctx, "", func(evidence.Info) error { n++; return nil }); err != nil || n != len(objs) {
		t.Fatalf("bucket lists %d objects (%v), want %d", n, err, len(objs))
	}
	raw, err := minio.New(srv.addr, &minio.Options{Creds: credentials.NewStaticV4(srv.access, srv.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range during {
		mode, until, err := raw.GetObjectRetention(ctx, cfg.Bucket, o.key, "")
		if err != nil || mode == nil || *mode != minio.Compliance || until == nil || until.Before(time.Now().Add(23*time.Hour)) {
			t.Fatalf("retention of uploaded %s = %v, %v, %v; want COMPLIANCE for a day", o.key, mode, until, err)
		}
	}
	holds(t, s, objs)
	for _, want := range []string{"backend unavailable", "backend available again", "uploaded spooled objects"} {
		if !bytes.Contains([]byte(logs.String()), []byte(want)) {
			t.Errorf("log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("spool log:\n%s", logs.String())
	}
}

// TestMinIODownAtStart: objects spooled by a process that never reached
// its MinIO server are found by the next process and uploaded there into a
// bucket made with object lock on first use, except
// one whose spool file was damaged in between: that one never reaches the
// bucket.
func TestMinIODownAtStart(t *testing.T) {
	srv := startMinIOServer(t)
	srv.kill()
	ctx := context.Background()
	// Open, unlike New, does not need the server: the bucket is made on
	// first use, after the restart.
	cfg := srv.lockedConfig()
	backend, err := miniostore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, dir, backend, nil)
	objs := objects(t, "evidence", 10)
	for _, o := range objs {
		put(t, s, o)
	}
	err = s.Flush(ctx)
	if err == nil || errors.Is(err, ErrDamaged) {
		t.Fatalf("Flush with MinIO down = %v, want the backend's error", err)
	}
	s.Close()
	// One spool file rots on disk meanwhile.
	bad := objs[3]
	path := filepath.Join(dir, "entries", entryName(bad.key))
	raw := readEntry(t, path)
	raw[len(raw)-1] ^= 0x80
	writeEntry(t, path, raw)

	srv.start(t)
	again := openSpool(t, dir, backend, nil)
	if es := pending(t, again); len(es) != len(objs) {
		t.Fatalf("%d entries found again, want %d", len(es), len(objs))
	}
	err = again.Flush(ctx)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), bad.key) {
		t.Fatalf("Flush = %v, want ErrDamaged naming %s", err, bad.key)
	}
	absentFrom(t, backend, bad.key)
	good := append(slices.Clone(objs[:3]), objs[4:]...)
	holds(t, backend, good)
	if es := pending(t, again); len(es) != 1 || es[0].Key != bad.key || !errors.Is(es[0].Err, ErrDamaged) {
		t.Fatalf("Pending = %+v, want only the damaged entry, with ErrDamaged", es)
	}
	client, err := minio.New(srv.addr, &minio.Options{Creds: credentials.NewStaticV4(srv.access, srv.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	if state, _, _, _, err := client.GetObjectLockConfig(ctx, cfg.Bucket); err != nil || state != "Enabled" {
		t.Fatalf("object lock of the bucket = %q, %v; want Enabled", state, err)
	}
}

// TestHungMinIO stops the MinIO server process with SIGSTOP while four
// writers store objects through the spool, and continues it with SIGCONT
// afterwards. The stall costs each writer at most the one Put it had in
// flight (one attempt timeout, once); every later Put spools at once.
// After SIGCONT the uploader finds the server again and every object
// reaches the bucket, intact and under retention, and the spool empties.
func TestHungMinIO(t *testing.T) {
	srv := startMinIOServer(t)
	ctx := context.Background()
	cfg := srv.lockedConfig()
	backend, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	const timeout = 3 * time.Second
	s := newSpool(t, backend, &logs, WithBackoff(50*time.Millisecond, 500*time.Millisecond), WithAttemptTimeout(timeout))
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(runCtx) }()
	defer func() {
		stopRun()
		if err := <-runDone; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	objs := objects(t, "evidence", 45)
	before, during := objs[:5], objs[5:]
	for _, o := range before {
		put(t, s, o)
	}
	if es := pending(t, s); len(es) != 0 {
		t.Fatalf("with MinIO up %d objects were spooled", len(es))
	}

	srv.pause(t)
	paused := true
	defer func() {
		if paused {
			srv.resume(t)
		}
	}()
	const writers = 4
	start := time.Now()
	took := timedPuts(t, s, during, writers)
	elapsed := time.Since(start)
	checkStallCost(t, took, writers, timeout)
	t.Logf("%d puts with MinIO stopped took %v (%d × the attempt timeout would be %v)", len(during), elapsed, len(during)/writers, time.Duration(len(during)/writers)*timeout)
	if limit := 2*timeout + 5*time.Second; elapsed > limit {
		t.Errorf("puts with MinIO stopped took %v, want under %v", elapsed, limit)
	}
	if es := pending(t, s); len(es) != len(during) {
		t.Fatalf("%d objects spooled, want %d", len(es), len(during))
	}
	holds(t, s, during) // readable from the spool while MinIO hangs
	st, err := Inspect(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != len(during) || !st.BackendDown || !strings.Contains(st.LastError, "backend stalled") {
		t.Errorf("Inspect while MinIO hangs: %d objects, down %v, last error %q; want %d, down, stalled", st.Objects, st.BackendDown, st.LastError, len(during))
	}

	srv.resume(t)
	paused = false
	resumed := time.Now()
	waitEmpty(t, s, 60*time.Second)
	t.Logf("spool empty %v after SIGCONT", time.Since(resumed))

	// In the bucket itself, through a fresh client: every object once,
	// with its bytes and its retention.
	fresh, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	holds(t, fresh, objs)
	var n int
	if err := fresh.List(ctx, "", func(evidence.Info) error { n++; return nil }); err != nil || n != len(objs) {
		t.Fatalf("bucket lists %d objects (%v), want %d", n, err, len(objs))
	}
	raw, err := minio.New(srv.addr, &minio.Options{Creds: credentials.NewStaticV4(srv.access, srv.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range during {
		mode, until, err := raw.GetObjectRetention(ctx, cfg.Bucket, o.key, "")
		if err != nil || mode == nil || *mode != minio.Compliance || until == nil || until.Before(time.Now().Add(23*time.Hour)) {
			t.Fatalf("retention of uploaded %s = %v, %v, %v; want COMPLIANCE for a day", o.key, mode, until, err)
		}
	}
	for _, want := range []string{"backend stalled", "backend available again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("spool log:\n%s", logs.String())
	}
}
