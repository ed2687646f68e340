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
	if a.stderrIsTerminal() {
		return progressBar(a.stderr) // through the lock, so log lines do not tear the bar
	}
	return progressLines(a.stderr), func() {}
}

// stderrIsTerminal reports whether standard error is a terminal, where a
// live bar can be drawn.
func (a *app) stderrIsTerminal() bool {
	under := a.stderr
	if lw, ok := under.(*lockedWriter); ok {
		under = lw.w
	}
	f, ok := under.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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

// counter reports a long job done in steps over a known number of items
// (checking and then writing the rows of an import): a live bar when
// standard error is a terminal, otherwise a plain line every few seconds,
// and when a step or the job ends if a line was printed before (a job of a
// few seconds prints nothing). set names the step and says how far it is;
// finish ends the bar's line.
func (a *app) counter(job, unit string) (set func(step string, done, total int), finish func()) {
	if a.stderrIsTerminal() {
		return counterBar(a.stderr, job, unit)
	}
	return counterLines(a.stderr, job, unit, 5*time.Second)
}

func counterBar(w io.Writer, job, unit string) (func(string, int, int), func()) {
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(job),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)
	current := ""
	return func(step string, done, total int) {
			if step != current {
				if current != "" {
					_ = bar.Finish()
					fmt.Fprintln(w)
					bar.Reset()
				}
				current = step
				bar.Describe(job + ": " + step)
			}
			bar.ChangeMax(total)
			_ = bar.Set(done)
		}, func() {
			if current != "" {
				_ = bar.Finish()
				fmt.Fprintln(w)
			}
		}
}

// counterLines prints "job: step done/total unit" at most once per every.
func counterLines(w io.Writer, job, unit string, every time.Duration) (func(string, int, int), func()) {
	last := time.Now()
	current, done, total := "", 0, 0
	printed, shown := false, true // a line was printed; the latest state was
	line := func() {
		fmt.Fprintf(w, "%s: %s %d/%d %s\n", job, current, done, total, unit)
		last, printed, shown = time.Now(), true, true
	}
	return func(step string, d, t int) {
			if step != current && printed && !shown {
				line() // where the step that ends got to
			}
			current, done, total, shown = step, d, t, false
			if time.Since(last) >= every {
				line()
			}
		}, func() {
			if printed && !shown {
				line()
			}
		}
}
