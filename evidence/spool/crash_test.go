package spool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
)

// The crash tests run this test binary again as a child process that uses
// a spool and is killed with SIGKILL at a chosen point; the parent then
// opens the same folders and checks that nothing acknowledged was lost.

const (
	helperEnv  = "SHOPWATCH_SPOOL_CRASH_HELPER" // the crash point
	helperDir  = "SHOPWATCH_SPOOL_CRASH_DIR"    // holds spool/ and backend/
	helperObjs = 10
)

// crashObjects are the objects the child writes, the same in both
// processes: deterministic bytes of varied sizes.
func crashObjects() []object {
	out := make([]object, helperObjs)
	for i := range out {
		size := []int{0, 3, 4096, 100 << 10, 257}[i%5]
		data := make([]byte, 0, size+32)
		for seed := uint64(i); len(data) < size; seed++ {
			sum := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, seed))
			data = append(data, sum[:]...)
		}
		out[i] = object{key: fmt.Sprintf("evidence/ev-%02d/page.html", i), data: data[:size]}
	}
	return out
}

// blockAfterUpload lets the first upload through to the backend, then
// announces it and hangs, so the child dies before deleting the entry.
type blockAfterUpload struct{ evidence.Store }

func (b blockAfterUpload) Put(ctx context.Context, key string, r io.Reader, size int64, sha256 evidence.Digest) error {
	if err := b.Store.Put(ctx, key, r, size, sha256); err != nil {
		return err
	}
	fmt.Println("UPLOADED " + key)
	select {}
}

// stallingReader delivers half its bytes, announces it and hangs: the
// child dies in the middle of staging.
type stallingReader struct {
	data []byte
	n    int
}

func (r *stallingReader) Read(p []byte) (int, error) {
	half := len(r.data) / 2
	if r.n >= half {
		fmt.Println("STAGING")
		select {}
	}
	n := copy(p, r.data[r.n:half])
	r.n += n
	return n, nil
}

// TestCrashHelper is the child process; it does nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	point := os.Getenv(helperEnv)
	if point == "" {
		t.Skip("the child process of the crash tests")
	}
	dir := os.Getenv(helperDir)
	ctx := context.Background()
	inner, err := folderstore.New(filepath.Join(dir, "backend"))
	if err != nil {
		fail(err)
	}
	b := &flaky{Store: inner}
	b.putDown.Store(true)
	s, err := New(filepath.Join(dir, "spool"), b, WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		fail(err)
	}
	objs := crashObjects()
	for _, o := range objs {
		if err := s.Put(ctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), o.sha()); err != nil {
			fail(err)
		}
	}
	switch point {
	case "spooled":
		fmt.Println("SPOOLED " + strconv.Itoa(len(objs)))
	case "staging":
		// One more object, never acknowledged.
		big := bytes.Repeat([]byte("x"), 1<<20)
		_ = s.Put(ctx, "evidence/unacknowledged", &stallingReader{data: big}, int64(len(big)), evidence.SumBytes(evidence.SHA256, big))
	case "uploaded":
		// Flush to a backend that is up again but swallows the moment
		// between upload and delete.
		s.backend = blockAfterUpload{Store: inner}
		_ = s.Flush(ctx)
	}
	select {}
}

func fail(err error) {
	fmt.Println("ERROR " + err.Error())
	os.Exit(2)
}

// crashChild runs the child until it prints a line starting with want,
// then kills it with SIGKILL.
func crashChild(t *testing.T, dir, point, want string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+point, helperDir+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child exited before %s; stderr:\n%s", want, stderr.String())
			}
			if strings.HasPrefix(line, "ERROR") {
				t.Fatalf("child: %s", line)
			}
			if !strings.HasPrefix(line, want) {
				continue
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want death by SIGKILL", err)
			}
			go func() {
				for range lines {
				}
			}()
			return line
		case <-timeout:
			t.Fatalf("child did not reach %s within 30s; stderr:\n%s", want, stderr.String())
		}
	}
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	objs := crashObjects()
	ctx := context.Background()

	t.Run("AfterSpooling", func(t *testing.T) {
		dir := t.TempDir()
		crashChild(t, dir, "spooled", "SPOOLED")
		backend, err := folderstore.New(filepath.Join(dir, "backend"))
		if err != nil {
			t.Fatal(err)
		}
		s := openSpool(t, filepath.Join(dir, "spool"), backend, nil)
		if es := pending(t, s); len(es) != len(objs) {
			t.Fatalf("after kill -9 %d entries found, want %d", len(es), len(objs))
		}
		holds(t, s, objs) // readable from the spool
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		empty(t, s)
		holds(t, backend, objs)
	})

	t.Run("WhileStaging", func(t *testing.T) {
		dir := t.TempDir()
		crashChild(t, dir, "staging", "STAGING")
		if names := dirEntries(t, filepath.Join(dir, "spool", "tmp")); len(names) != 1 {
			t.Fatalf("child left %q in tmp/, want its one staging file", names)
		}
		backend, err := folderstore.New(filepath.Join(dir, "backend"))
		if err != nil {
			t.Fatal(err)
		}
		s := openSpool(t, filepath.Join(dir, "spool"), backend, nil)
		if es := pending(t, s); len(es) != len(objs) {
			t.Fatalf("%d entries, want the %d acknowledged ones", len(es), len(objs))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		empty(t, s)
		holds(t, backend, objs)
		absentFrom(t, backend, "evidence/unacknowledged")
	})

	t.Run("BetweenUploadAndDelete", func(t *testing.T) {
		dir := t.TempDir()
		line := crashChild(t, dir, "uploaded", "UPLOADED")
		key := strings.TrimPrefix(line, "UPLOADED ")
		backend, err := folderstore.New(filepath.Join(dir, "backend"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := backend.Stat(ctx, key); err != nil {
			t.Fatalf("child said it uploaded %s: %v", key, err)
		}
		var logs syncBuffer
		s := openSpool(t, filepath.Join(dir, "spool"), backend, &logs)
		if es := pending(t, s); len(es) != len(objs) {
			t.Fatalf("%d entries, want all %d (the uploaded one not deleted yet)", len(es), len(objs))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		empty(t, s)
		holds(t, backend, objs)
		if !strings.Contains(logs.String(), "already holds the same object") {
			t.Errorf("the confirmed re-upload was not logged:\n%s", logs.String())
		}
	})
}
