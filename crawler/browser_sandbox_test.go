package crawler

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// procUID returns the real and effective uid of a process from
// /proc/PID/status.
func procUID(t *testing.T, pid int) (real, effective string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("status of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("status of process %d has no Uid line", pid)
	return "", ""
}

// TestBrowserSandboxed renders a page and checks every process of the
// browser: none runs with --no-sandbox, and when the test runs as root none
// runs as root. The renderers run in a user namespace of their own, which
// is the sandbox at work.
func TestBrowserSandboxed(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/page", htmlHandler("text/html; charset=utf-8", []byte(`<html><body><p>沙箱内渲染</p></body></html>`)))
	s := serve(t, mux)
	b := newTestBrowser(t, nil)
	p, err := b.Render(context.Background(), s.URL+"/page")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !strings.Contains(p.Text, "沙箱内渲染") {
		t.Fatalf("rendered text %q", p.Text)
	}

	in := currentInstance(t, b)
	if in.pid == 0 {
		t.Fatal("no browser process id")
	}
	pids := profileUsers(in.dir)
	if len(pids) < 2 {
		t.Fatalf("processes of the profile: %v, want the browser and its helpers", pids)
	}
	browserNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", in.pid))
	if err != nil {
		t.Fatalf("user namespace of the browser: %v", err)
	}
	sandboxedRenderers := 0
	for _, pid := range pids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // a helper that just went away
		}
		if bytes.Contains(cmdline, []byte("--no-sandbox")) {
			t.Errorf("process %d runs with --no-sandbox: %q", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
		ruid, euid := procUID(t, pid)
		if os.Geteuid() == 0 && (ruid == "0" || euid == "0") {
			t.Errorf("process %d runs as root (uid %s, euid %s) while the test runs as root", pid, ruid, euid)
		}
		if bytes.Contains(cmdline, []byte("--type=renderer")) {
			if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid)); err == nil && ns != browserNS {
				sandboxedRenderers++
			}
		}
	}
	if sandboxedRenderers == 0 {
		t.Errorf("no renderer of %v runs in a user namespace other than the browser's (%s): the sandbox is not on", pids, browserNS)
	}
	if os.Geteuid() == 0 {
		ruid, _ := procUID(t, in.pid)
		t.Logf("running as root; Chromium runs as uid %s", ruid)
	}
}
