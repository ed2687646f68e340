//go:build linux

package crawler

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// holdServer serves /hold only when released (or the client goes away),
// telling the test when a request has arrived, and a plain page elsewhere.
type holdServer struct {
	arrived chan string
	release chan struct{}
	once    sync.Once
}

func newHoldServer(t *testing.T) (*holdServer, string) {
	h := &holdServer{arrived: make(chan string, 16), release: make(chan struct{})}
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hold") {
			h.arrived <- r.URL.Path
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<title>ok</title><p>还在营业 " + r.URL.Path + "</p>"))
	}))
	t.Cleanup(func() { h.once.Do(func() { close(h.release) }) })
	return h, s.URL
}

// TestBrowserSurvivesKilledProcess kills Chromium in the middle of a
// render: that render fails with ErrCrashed (not permanent), the next ones
// run on a new process, and nothing of the dead one is left.
func TestBrowserSurvivesKilledProcess(t *testing.T) {
	h, base := newHoldServer(t)
	b := newTestBrowser(t, nil)
	ctx := context.Background()
	if _, err := b.Render(ctx, base+"/warm"); err != nil {
		t.Fatalf("first render: %v", err)
	}
	dead := currentInstance(t, b)
	if dead.pid <= 0 {
		t.Fatalf("no pid for the browser process")
	}

	done := make(chan error, 1)
	go func() {
		_, err := b.Render(ctx, base+"/hold/1")
		done <- err
	}()
	<-h.arrived
	if err := syscall.Kill(dead.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrCrashed) || Permanent(err) || !strings.Contains(err.Error(), base+"/hold/1") {
			t.Errorf("render on the killed browser: err %v, want ErrCrashed naming the URL", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("render on the killed browser never returned")
	}

	// Later renders, several at once, start and use one new process.
	var wg sync.WaitGroup
	for _, path := range []string{"/a", "/b", "/c"} {
		wg.Go(func() {
			p, err := b.Render(ctx, base+path)
			if err != nil || !strings.Contains(p.Text, "还在营业 "+path) {
				t.Errorf("render %s after the crash: %v", path, err)
			}
		})
	}
	wg.Wait()
	now := currentInstance(t, b)
	if now == dead || now.pid == dead.pid {
		t.Errorf("still on the killed process %d", dead.pid)
	}
	if st := b.Stats(); st.Crashes != 1 || st.Starts != 2 {
		t.Errorf("stats %+v, want 1 crash and 2 starts", st)
	}
	waitFor(t, "the killed process's helpers to go", func() bool { return len(profileUsers(dead.dir)) == 0 })
	waitFor(t, "the killed process to be cleaned up", func() bool {
		select {
		case <-dead.stopped:
			return true
		default:
			return false
		}
	})
}

// TestBrowserKillsHungBrowser stops the browser process (it neither dies
// nor answers): the render on it times out, the browser is found hung and
// killed, and the next render runs on a new one.
func TestBrowserKillsHungBrowser(t *testing.T) {
	_, base := newHoldServer(t)
	b := newTestBrowser(t, func(c *BrowserConfig) { c.Timeout = 3 * time.Second })
	ctx := context.Background()
	// Generous timeouts where the browser is healthy: only the render on
	// the stopped process may time out, however busy the machine.
	if _, err := b.Render(ctx, base+"/warm", RenderTimeout(30*time.Second)); err != nil {
		t.Fatalf("first render: %v", err)
	}
	hung := currentInstance(t, b)
	if err := syscall.Kill(hung.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(hung.pid, syscall.SIGCONT) })
	_, err := b.Render(ctx, base+"/frozen")
	if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrCrashed) {
		t.Errorf("render on a stopped browser: err %v, want ErrTimeout or ErrCrashed", err)
	}
	if p, err := b.Render(ctx, base+"/after", RenderTimeout(30*time.Second)); err != nil || !strings.Contains(p.Text, "还在营业 /after") {
		t.Fatalf("render after the hung browser: %v", err)
	}
	if st := b.Stats(); st.HungBrowsers != 1 || st.Starts != 2 || st.Crashes != 0 {
		t.Errorf("stats %+v, want 1 hung browser, 2 starts, no crash", st)
	}
	if currentInstance(t, b) == hung {
		t.Error("still on the hung process")
	}
}

// TestBrowserHungTabs: a page whose script never yields and a page whose
// server never answers each fail with ErrTimeout; their tabs are closed by
// target id, and later renders work.
func TestBrowserHungTabs(t *testing.T) {
	_, base := newHoldServer(t)
	mux := http.NewServeMux()
	mux.Handle("/busy", htmlHandler("text/html; charset=utf-8", []byte(`<title>busy</title><p>before</p><script>for(;;){}</script><p>after</p>`)))
	mux.Handle("/busy-late", htmlHandler("text/html; charset=utf-8", []byte(`<title>late</title><p>loaded</p><script>addEventListener('load', () => setTimeout(() => { for(;;){} }, 0));</script>`)))
	mux.Handle("/ok", htmlHandler("text/html; charset=utf-8", []byte(`<title>ok</title><p>正常页面</p>`)))
	s := serve(t, mux)
	b := newTestBrowser(t, func(c *BrowserConfig) { c.Timeout = 3 * time.Second })
	ctx := context.Background()
	for _, u := range []string{s.URL + "/busy", s.URL + "/busy-late", base + "/hold/forever"} {
		start := time.Now()
		_, err := b.Render(ctx, u)
		if !errors.Is(err, ErrTimeout) || Permanent(err) || !strings.Contains(err.Error(), u) {
			t.Errorf("Render(%s): err %v, want ErrTimeout naming the URL", u, err)
		}
		// A hang check, not a speed test: the render must end near its
		// 3 s timeout, not with a test timeout.
		if took := time.Since(start); took > 15*time.Second {
			t.Errorf("Render(%s) took %s with a 3s timeout", u, took)
		}
		// The next page gets a generous timeout: it shows the browser
		// still works, and must not fail because the machine is busy.
		p, err := b.Render(ctx, s.URL+"/ok", RenderTimeout(30*time.Second))
		if err != nil || p.Text != "正常页面" {
			t.Errorf("render after %s: %v", u, err)
		}
		if n := len(pageTargets(t, b)); n != 1 {
			t.Errorf("%d page targets after %s, want only the browser's first tab", n, u)
		}
	}
	if st := b.Stats(); st.HungTabs != 3 || st.Starts != 1 || st.HungBrowsers != 0 {
		t.Errorf("stats %+v, want 3 hung tabs on one process", st)
	}
}

// TestBrowserTabCrash kills the renderer of a tab: its render fails with
// ErrCrashed and the browser goes on.
func TestBrowserTabCrash(t *testing.T) {
	h, base := newHoldServer(t)
	b := newTestBrowser(t, nil)
	ctx := context.Background()
	done := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("/page", htmlHandler("text/html; charset=utf-8", []byte(`<p>稍等</p><img src="`+base+`/hold/img">`)))
	s := serve(t, mux)
	go func() {
		_, err := b.Render(ctx, s.URL+"/page")
		done <- err
	}()
	<-h.arrived // the page is loading: its renderer exists
	renderers := rendererPIDs(currentInstance(t, b).dir)
	if len(renderers) == 0 {
		t.Fatal("no renderer process found")
	}
	for _, pid := range renderers {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrCrashed) || Permanent(err) {
			t.Errorf("render whose renderer died: err %v, want ErrCrashed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("render whose renderer died never returned")
	}
	if p, err := b.Render(ctx, base+"/after"); err != nil || !strings.Contains(p.Text, "还在营业") {
		t.Errorf("render after a tab crash: %v", err)
	}
	if st := b.Stats(); st.TabCrashes < 1 || st.Crashes != 0 || st.Starts != 1 {
		t.Errorf("stats %+v, want a tab crash on the one process", st)
	}
}

// rendererPIDs returns the renderer processes of the profile dir.
func rendererPIDs(dir string) []int {
	var pids []int
	for _, pid := range profileUsers(dir) {
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && bytes.Contains(cmd, []byte("--type=renderer")) && !bytes.Contains(cmd, []byte("--top-chrome-webui")) {
			pids = append(pids, pid)
		}
	}
	return pids
}
