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
	"strings"
	"testing"
	"time"
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
			return p
		}
	}
	Unavailable(tb, "Chromium", fmt.Errorf("no chromium binary on PATH"))
	return ""
}

// MinIO is a running MinIO server owned by one test.
type MinIO struct {
	Endpoint  string // host:port on loopback
	AccessKey string
	SecretKey string
}

// StartMinIO starts a MinIO server on a free loopback port with a temporary
// data folder and stops it when the test ends. It ends the test when MinIO
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
	m := &MinIO{Endpoint: addr, AccessKey: "shopwatch-test", SecretKey: "shopwatch-test-secret"}
	dir := tb.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "server", "--quiet", "--address", addr, "--console-address", consoleAddr, dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	var logBuf strings.Builder
	cmd.Stdout = &logBuf
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		cancel()
		Unavailable(tb, "MinIO server", err)
		return nil
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The health check answers 200 before the server can serve
		// requests; until it can, it marks the answer "unavailable".
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("x-minio-server-status") != "unavailable" {
				return m
			}
		}
		select {
		case <-done:
			Unavailable(tb, "MinIO server", fmt.Errorf("exited early: %s", logBuf.String()))
			return nil
		default:
		}
		if time.Now().After(deadline) {
			Unavailable(tb, "MinIO server", fmt.Errorf("not ready after 60s: %s", logBuf.String()))
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// RealPagesDir finds the folder of saved real marketplace pages: the
// SHOPWATCH_REALPAGES variable, else shared/realpages beside the checkout
// (found by walking up from the working directory). It ends the test when
// none is there.
func RealPagesDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("SHOPWATCH_REALPAGES"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		Unavailable(tb, "saved real pages", err)
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "realpages")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	Unavailable(tb, "saved real pages", fmt.Errorf("no shared/realpages above %s (set SHOPWATCH_REALPAGES)", wd))
	return ""
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
