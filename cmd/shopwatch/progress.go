package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"shopwatch/db"
)

// progress reports a running sweep: a live bar (done/total, rate, errors,
// findings) when standard error is a terminal, plain log lines every few
// seconds otherwise. finish ends the bar's line.
func (a *app) progress() (update func(db.Stats), finish func()) {
	under := a.stderr
	if lw, ok := under.(*lockedWriter); ok {
		under = lw.w
	}
	if f, ok := under.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return progressBar(a.stderr) // through the lock, so log lines do not tear the bar
	}
	return progressLines(a.stderr), func() {}
}

func progressBar(w io.Writer) (func(db.Stats), func()) {
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("sweep"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("pages"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)
	return func(st db.Stats) {
			total := st.Pending + st.Leased + st.Done + st.Failed
			bar.ChangeMax(total)
			bar.Describe(fmt.Sprintf("sweep: %d errors, %d findings", st.Failed, st.Findings))
			_ = bar.Set(st.Done + st.Failed)
		}, func() {
			_ = bar.Finish()
			fmt.Fprintln(w)
		}
}

// progressLines logs the counts at most every five seconds.
func progressLines(w io.Writer) func(db.Stats) {
	var last time.Time
	return func(st db.Stats) {
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "sweep: %d/%d pages, %d failed, %d findings\n",
			st.Done+st.Failed, st.Pending+st.Leased+st.Done+st.Failed, st.Failed, st.Findings)
	}
}
