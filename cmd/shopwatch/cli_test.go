package main

import (
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
