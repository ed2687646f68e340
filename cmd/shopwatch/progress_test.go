package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"shopwatch/db"
)

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	update, finish := progressBar(&buf)
	update(db.Stats{Pending: 6, Leased: 2, Done: 1, Failed: 1, Findings: 3})
	time.Sleep(250 * time.Millisecond) // past the bar's redraw throttle
	update(db.Stats{Done: 9, Failed: 1, Findings: 7})
	finish()
	out := buf.String()
	for _, want := range []string{"10/10", "1 errors", "7 findings", "pages"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
}

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	update := progressLines(&buf)
	update(db.Stats{Pending: 5, Done: 4, Failed: 1, Findings: 2})
	update(db.Stats{Done: 10}) // within five seconds: not printed
	if got := buf.String(); got != "sweep: 5/10 pages, 1 failed, 2 findings\n" {
		t.Errorf("lines = %q", got)
	}
}
