package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"shopwatch"
	"shopwatch/configs"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/sweep"
	"shopwatch/sweep/schedule"
)

func init() {
	register(command{name: "sweep", summary: "visit every target once: fetch, check rules, capture evidence", run: runSweep})
}

func runSweep(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("sweep", "sweep [--workers N] [--all] [--resume ID] [--json]")
	all := fs.Bool("all", false, "visit every target now, whatever its schedule")
	workers := fs.Int("workers", 0, "concurrent visits (default from config)")
	resume := fs.String("resume", "", "resume an interrupted sweep by id instead of starting a new one")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	r, err := a.runner(ctx, d)
	if err != nil {
		return err
	}
	if *workers > 0 {
		r.Config.Workers = *workers
	}
	sweepID := *resume
	if sweepID != "" {
		if err := a.checkEnvironment(ctx, r, nil); err != nil {
			return err
		}
	} else {
		ts, err := d.ListTargets(ctx)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return fmt.Errorf("no targets: add some with `shopwatch target add URL` or `target import FILE.csv`")
		}
		var planned int
		sweepID, planned, err = a.planDue(ctx, d, r, ts, "manual", *all)
		if err != nil {
			return err
		}
		if planned == 0 {
			fmt.Fprintln(a.stdout, "no target is due (use --all to visit every target now)")
			return nil
		}
	}
	update, finish := a.progress()
	r.Config.Progress = update
	sum, err := r.Run(ctx, sweepID)
	finish()
	if sum != nil {
		if *asJSON {
			if jerr := a.printJSON(sum); jerr != nil {
				return jerr
			}
		} else {
			printSummary(a.stdout, sum)
		}
	}
	return err
}

// planDue creates a sweep and plans the targets whose schedule (or an
// active festival window) makes them due now, with the festival's priority
// boost, then records them as swept. all plans every target.
func (a *app) planDue(ctx context.Context, d *db.DB, r *sweep.Runner, ts []shopwatch.Target, name string, all bool) (string, int, error) {
	cal, err := a.calendar()
	if err != nil {
		return "", 0, err
	}
	now := time.Now()
	var due []shopwatch.Target
	for _, t := range ts {
		if all {
			due = append(due, t)
			continue
		}
		ok, prio, err := schedule.Due(t, t.LastSwept, now, cal)
		if err != nil {
			a.logger.Warn("target skipped: bad schedule", "target", t.ID, "err", err)
			continue
		}
		if ok {
			t.Priority = prio
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return "", 0, nil
	}
	if ws := cal.Active(now); len(ws) > 0 {
		for _, w := range ws {
			fmt.Fprintf(a.stderr, "festival window active: %s\n", w.Name())
		}
	}
	// Check the capture environment first: a session it stops leaves no
	// planned sweep behind.
	if err := a.checkEnvironment(ctx, r, due); err != nil {
		return "", 0, err
	}
	id, err := d.CreateSweep(ctx, name)
	if err != nil {
		return "", 0, err
	}
	if _, err := r.Plan(ctx, id, due); err != nil {
		return "", 0, err
	}
	ids := make([]string, len(due))
	for i, t := range due {
		ids[i] = t.ID
	}
	if err := d.MarkSwept(ctx, ids, now); err != nil {
		return "", 0, err
	}
	return id, len(due), nil
}

// calendar loads the festival calendar: the config's festivals file, else
// the built-in configs/festivals.yaml.
func (a *app) calendar() (*schedule.Calendar, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	if c.Festivals != "" {
		return schedule.Load(os.DirFS(filepath.Dir(c.Festivals)), filepath.Base(c.Festivals))
	}
	return schedule.Load(configs.FS, "festivals.yaml")
}

// runner wires the configured parts into a sweep runner.
func (a *app) runner(ctx context.Context, d *db.DB) (*sweep.Runner, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	f, err := a.fetcher()
	if err != nil {
		return nil, err
	}
	rs, err := a.ruleset()
	if err != nil {
		return nil, err
	}
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	sg, err := a.signer()
	if err != nil {
		return nil, err
	}
	br, err := a.browser()
	if err != nil {
		return nil, err
	}
	nt, err := a.notary()
	if err != nil {
		return nil, err
	}
	return &sweep.Runner{Queue: d, Fetcher: f, Browser: br, Rules: rs, Store: st, Signer: sg, Config: sweep.Config{
		Workers:      c.Sweep.Workers,
		LeaseTTL:     c.Sweep.LeaseTTL,
		VisitTimeout: c.Sweep.VisitTimeout,
		MaxAttempts:  c.Sweep.MaxAttempts,
		CaptureAll:   c.Sweep.CaptureAll,
		Operator:     c.Operator,
		Notary:       nt,
		Logger:       a.logger,
		Live:         a.liveOptions(c),
		AutoBrowser:  c.Sweep.AutoBrowser == nil || *c.Sweep.AutoBrowser,
	}}, nil
}

// liveOptions returns how livestream rooms are watched, from the live
// section of the configuration.
func (a *app) liveOptions(c *Config) crawler.WatchOptions {
	w := crawler.DefaultWatchOptions()
	w.Window = c.Live.Window
	if c.Live.SnapshotEvery != 0 {
		w.SnapshotEvery = c.Live.SnapshotEvery
	}
	if c.Live.Sample > 0 {
		w.Sample = c.Live.Sample
	}
	w.EndSelector = c.Live.EndSelector
	return w
}

func printSummary(w io.Writer, s *sweep.Summary) {
	fmt.Fprintf(w, "sweep %s: %d pages done, %d failed, %d findings, %d evidence records in %s\n",
		s.Sweep, s.Done, s.Failed, s.Findings, s.Evidence, s.Elapsed.Round(time.Millisecond))
	if s.Reused+s.Abandoned > 0 {
		fmt.Fprintf(w, "  captures of interrupted attempts: %d reused, %d incomplete ones set aside\n", s.Reused, s.Abandoned)
	}
	printCounts(w, "findings by category", s.ByCategory)
	printCounts(w, "findings by rule", s.ByRule)
	printCounts(w, "errors", s.Errors)
}

func printCounts(w io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "  %s:\n", title)
	for _, k := range keys {
		fmt.Fprintf(w, "    %-34s %d\n", k, m[k])
	}
}
