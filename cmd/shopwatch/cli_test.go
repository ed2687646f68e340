package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command refuses arguments it does not take, with its usage line
// and exit 2, before it opens or starts anything.
func TestStrayArgumentsAreUsageErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"serve", "status"},
		{"findings", "bogus"},
		{"audit", "list", "x"},
		{"audit", "verify", "x"},
		{"evidence", "list", "x"},
		{"evidence", "ledger", "verify", "x"},
		{"evidence", "export", "ev-1", "ev-2"},
		{"evidence", "verify", "a.zip", "b.zip"},
		{"target", "list", "x"},
		{"target", "add", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"},
		{"target", "import", "a.csv", "b.csv"},
		{"rules", "list", "x"},
		{"rules", "check", "a.html", "b.html"},
		{"scan", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"},
		{"demo", "x"},
		{"marketsim", "x"},
		{"version", "x"},
	} {
		_, e, code := sw(t, append([]string{"--data", data}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, code, exitUsage, e)
			continue
		}
		if args[0] != "version" && !strings.Contains(e, "usage: shopwatch "+args[0]) {
			t.Errorf("%v: stderr has no usage line: %q", args, e)
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("a command with a stray argument created the data directory")
	}
	// A missing argument is a usage error too.
	for _, args := range [][]string{{"target", "add"}, {"scan"}, {"evidence", "export"}, {"evidence", "verify"}} {
		if _, e, code := sw(t, args...); code != exitUsage || !strings.Contains(e, "usage: shopwatch "+strings.Join(args, " ")) {
			t.Errorf("%v: exit %d, stderr %q", args, code, e)
		}
	}
}

func TestHelpAndNoCommand(t *testing.T) {
	o, e, code := sw(t)
	if code != exitUsage || o != "" || !strings.Contains(e, "Commands:") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q; want help on stderr and exit 2", code, o, e)
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		if o, _, code := sw(t, args...); code != exitOK || !strings.Contains(o, "Commands:") {
			t.Errorf("%v: exit %d, %q", args, code, o)
		}
	}
	// Groups list their verbs with a one-line summary each.
	for group, verbs := range map[string][]string{
		"target":          {"add", "import", "list"},
		"evidence":        {"list", "export", "verify", "ledger"},
		"audit":           {"list", "verify"},
		"rules":           {"check", "list", "lint", "test"},
		"evidence ledger": {"verify"},
	} {
		o, e, code := sw(t, append(strings.Fields(group), "-h")...)
		if code != exitOK || e != "" {
			t.Errorf("%s -h: exit %d, stderr %q", group, code, e)
		}
		for _, v := range verbs {
			line := ""
			for _, l := range strings.Split(o, "\n") {
				if f := strings.Fields(l); len(f) > 1 && f[0] == v {
					line = l
				}
			}
			if line == "" {
				t.Errorf("%s -h does not list %s with a summary:\n%s", group, v, o)
			}
		}
	}
	// A command's -h prints its usage once, on standard output, exit 0,
	// and lists only the global flags that mean something for it.
	for _, tc := range []struct {
		args       []string
		want, not  []string
		helpPrefix string
	}{
		{[]string{"scan", "-h"}, []string{"-browser", "--allow-private"}, []string{"--data DIR"}, "Usage: shopwatch scan"},
		{[]string{"rules", "check", "-h"}, []string{"-category"}, []string{"--allow-private", "--data DIR"}, "Usage: shopwatch rules check"},
		{[]string{"audit", "list", "--help"}, []string{"--data DIR", "-json"}, []string{"--allow-private"}, "Usage: shopwatch audit list"},
		{[]string{"help", "evidence", "verify"}, []string{"-tsa-root"}, []string{"--allow-private"}, "Usage: shopwatch evidence verify"},
	} {
		o, e, code := sw(t, tc.args...)
		if code != exitOK || e != "" || strings.Count(o, "Usage:") != 1 || !strings.HasPrefix(o, tc.helpPrefix) {
			t.Errorf("%v: exit %d, stderr %q, stdout:\n%s", tc.args, code, e, o)
		}
		for _, w := range tc.want {
			if !strings.Contains(o, w) {
				t.Errorf("%v: usage lacks %s:\n%s", tc.args, w, o)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(o, n) {
				t.Errorf("%v: usage lists %s, which means nothing there:\n%s", tc.args, n, o)
			}
		}
	}
}

// pageServer serves fixed pages on loopback for the test's lifetime.
func pageServer(t *testing.T, pages map[string]func(w http.ResponseWriter)) string {
	t.Helper()
	mux := http.NewServeMux()
	for path, h := range pages {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { h(w) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func htmlPage(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// A page that could not be checked is an error (exit 3 naming why), never
// "0 findings"; --fail-on-findings makes findings exit 1.
func TestScanExitCodes(t *testing.T) {
	food := `<html><head><title>牛肉干 食品</title></head><body><p>全网最佳口碑，坚持食用可治疗糖尿病。</p></body></html>`
	base := pageServer(t, map[string]func(http.ResponseWriter){
		"/ok":  htmlPage(200, food),
		"/404": htmlPage(404, food),
		"/500": htmlPage(500, "<html><body>oops</body></html>"),
		"/pdf": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/pdf")
			io.WriteString(w, "%PDF-1.4 not a page")
		},
		"/big": htmlPage(200, "<html><body>"+strings.Repeat("最佳", 4000)+"</body></html>"),
	})
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("crawler:\n  max_body_size: 4096\n"), 0o644)
	for path, want := range map[string]string{"/404": "404", "/500": "500", "/pdf": "not html", "/big": "body too large"} {
		o, e, code := sw(t, "--config", cfg, "--allow-private", "scan", base+path)
		if code != exitRuntime || !strings.Contains(e, want) || !strings.Contains(e, "not checked") || strings.Contains(o, "findings") {
			t.Errorf("scan %s: exit %d, stdout %q, stderr %q; want exit 3 naming %q", path, code, o, e, want)
		}
	}
	if o := mustSW(t, "--allow-private", "scan", base+"/ok"); !strings.Contains(o, "ad.absolute-term") {
		t.Errorf("scan of a good page: %s", o)
	}
	if _, _, code := sw(t, "--allow-private", "scan", base+"/ok", "--fail-on-findings"); code != exitFailed {
		t.Errorf("scan --fail-on-findings of a page with findings: exit %d, want 1", code)
	}
	page := filepath.Join(t.TempDir(), "p.html")
	os.WriteFile(page, []byte(food), 0o644)
	if _, _, code := sw(t, "rules", "check", page, "--fail-on-findings"); code != exitFailed {
		t.Errorf("rules check --fail-on-findings: exit %d, want 1", code)
	}
	clean := filepath.Join(t.TempDir(), "clean.txt")
	os.WriteFile(clean, []byte("普通的商品介绍"), 0o644)
	if _, _, code := sw(t, "rules", "check", clean, "--fail-on-findings"); code != exitOK {
		t.Errorf("rules check --fail-on-findings without findings: exit %d, want 0", code)
	}
}
