// Package testparts starts the real parts that shopwatch's tests run
// against (a MinIO server, Debian's Chromium) and decides what happens when
// one cannot start: outside CI the test is skipped with a loud message; with
// CI=true the test fails, because CI installs every part and a missing one is
// a broken setup, not a reason to pass.
package testparts

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"shopwatch/internal/sandbox"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Unavailable ends the test because a real part could not start: a failure
// under CI, a loud skip elsewhere.
func Unavailable(tb testing.TB, part string, err error) {
	tb.Helper()
	msg := fmt.Sprintf("REAL PART MISSING: %s cannot start: %v (run `make setup` to install it)", part, err)
	if InCI() {
		tb.Fatal(msg)
	}
	fmt.Fprintln(os.Stderr, "!!! "+msg)
	tb.Skip(msg)
}

// LookBinary finds an executable on PATH or in the Go bin folders.
func LookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if gopath := os.Getenv("GOPATH"); gopath != "" {
		for _, p := range filepath.SplitList(gopath) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in the Go bin folders", name)
}

// Chromium returns the path of Debian's Chromium, or ends the test.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := LookBinary(name); err == nil {
			if os.Geteuid() == 0 {
				// Chromium keeps its sandbox on: as root it needs the
				// unprivileged account to run as.
				if _, err := sandbox.Lookup(); err != nil {
					Unavailable(tb, "Chromium sandbox account", err)
				}
			}
			return p
		}
	}
	Unavailable(tb, "Chromium", fmt.Errorf("no chromium binary on PATH"))
	return ""
}

// MinIO is a MinIO server owned by one test, on a loopback address with a
// temporary data folder. Stop or Kill take it down and Start brings it back
// on the same address with the same data, so tests can play an outage.
type MinIO struct {
	Endpoint  string // host:port on loopback
	AccessKey string
	SecretKey string

	bin, dir, console string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs lockedBuffer
}

// StartMinIO starts a MinIO server on a free loopback port with a temporary
// data folder and kills it when the test ends. It ends the test when MinIO
// is not installed or does not become ready.
func StartMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	bin, err := LookBinary("minio")
	if err != nil {
		Unavailable(tb, "MinIO server", err)
		return nil
	}
	addr, err := FreeAddr()
	if err != nil {
		Unavailable(tb, "MinIO server", err)
		return nil
	}
	consoleAddr, err := FreeAddr()
	if err != nil {
		Unavailable(tb, "MinIO server", err)
		return nil
	}
	m := &MinIO{Endpoint: addr, AccessKey: "shopwatch-test", SecretKey: "shopwatch-test-secret",
		bin: bin, dir: tb.TempDir(), console: consoleAddr}
	tb.Cleanup(func() { _ = m.Kill() })
	if err := m.run(); err != nil {
		Unavailable(tb, "MinIO server", err)
		return nil
	}
	return m
}

// Start runs the server again after Stop or Kill, on the same address and
// data folder, and waits until it serves requests. It ends the test when
// the server does not come back. Starting a running server does nothing.
func (m *MinIO) Start(tb testing.TB) {
	tb.Helper()
	if m.Running() {
		return
	}
	if err := m.run(); err != nil {
		tb.Fatalf("restart MinIO on %s: %v", m.Endpoint, err)
	}
}

// Stop ends the server as an operator stopping the service would (SIGTERM;
// SIGKILL after 10 s) and waits for it to exit. It does nothing when the
// server is not running.
func (m *MinIO) Stop() error { return m.halt(syscall.SIGTERM, 10*time.Second) }

// Kill ends the server at once with SIGKILL, as a crash or a lost machine
// looks to its clients, and waits for it to exit. It does nothing when the
// server is not running.
func (m *MinIO) Kill() error { return m.halt(syscall.SIGKILL, 0) }

// Running reports whether the server process is running.
func (m *MinIO) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Logs returns what the server printed so far, for failure messages.
func (m *MinIO) Logs() string { return m.logs.String() }

func (m *MinIO) halt(sig syscall.Signal, grace time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return nil
	}
	cmd, done := m.cmd, m.done
	m.cmd = nil
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal MinIO: %w", err)
	}
	if grace > 0 {
		select {
		case <-done:
			return nil
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	<-done
	return nil
}

// run starts the server process and waits until it is ready.
func (m *MinIO) run() error {
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Endpoint, "--console-address", m.console, m.dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	cmd.Stdout = &m.logs
	cmd.Stderr = &m.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()

	client, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), MaxRetries: 1})
	if err != nil {
		_ = m.Kill()
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The health check answers 200 before the server can serve
		// requests (it marks the answer "unavailable" until then), and
		// after a restart even that is not enough: only a real request
		// tells.
		resp, err := http.Get("http://" + m.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("x-minio-server-status") != "unavailable" {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = client.ListBuckets(ctx)
				cancel()
				if err == nil {
					return nil
				}
			}
		}
		select {
		case <-done:
			return fmt.Errorf("exited early: %s", m.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = m.Kill()
			return fmt.Errorf("not ready after 60s (%v): %s", err, m.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects a child process's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// RealPagesDir returns the folder of saved real marketplace pages kept in
// the repository (internal/testparts/testdata/realpages, see its README for
// source and licence). SHOPWATCH_REALPAGES points elsewhere when set.
func RealPagesDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("SHOPWATCH_REALPAGES"); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		Unavailable(tb, "saved real pages", fmt.Errorf("cannot locate the testparts source folder"))
		return ""
	}
	return filepath.Join(filepath.Dir(file), "testdata", "realpages")
}

// RealPage reads one saved real marketplace page, or ends the test.
func RealPage(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(RealPagesDir(tb), name))
	if err != nil {
		Unavailable(tb, "saved real page "+name, err)
	}
	return b
}

// Tool returns the path of a standard command-line tool the tests check
// shopwatch's output with (openssl, sha256sum), or ends the test.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(tb, name, err)
	}
	return p
}

// ReplayWebPage returns the folder of ReplayWeb.page's static player
// (index.html, ui.js, sw.js: the npm package replaywebpage at the version
// and SHA-256 that replaywebpage.sh pins), fetching it into the user's
// cache folder with that script when it is not there yet, or ends the test.
func ReplayWebPage(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		Unavailable(tb, "ReplayWeb.page", fmt.Errorf("cannot locate the testparts source folder"))
		return ""
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		Unavailable(tb, "ReplayWeb.page", err)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bash, filepath.Join(filepath.Dir(file), "replaywebpage.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		Unavailable(tb, "ReplayWeb.page", fmt.Errorf("replaywebpage.sh: %w: %s", err, strings.Join(lines[max(0, len(lines)-3):], " | ")))
		return ""
	}
	dir := strings.TrimSpace(string(out))
	for _, name := range []string{"index.html", "ui.js", "sw.js"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			Unavailable(tb, "ReplayWeb.page", fmt.Errorf("replaywebpage.sh left no %s: %w", name, err))
			return ""
		}
	}
	return dir
}
