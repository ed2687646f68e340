package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/configs"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/server"
	"shopwatch/server/notify"
	"shopwatch/sweep"
	"shopwatch/sweep/schedule"
)

func init() {
	register(command{name: "sweep", summary: "visit the due targets (or the given ones): fetch, check rules, capture evidence; sweep list", run: runSweep})
}

const sweepUsage = "sweep [--workers N] [--all | --new | TARGET-ID…] [--json]\n       shopwatch sweep --resume SWEEP-ID [--workers N] [--json]\n       shopwatch sweep list [--json]"

// runSweep sweeps. A plain `sweep` first resumes any sweep that was
// interrupted (a kill, a crash, Ctrl-C) and stops there; otherwise it puts
// back the pages of earlier sweeps whose evidence capture failed, then
// plans the due targets into a new sweep. It exits 3 when pages failed.
func runSweep(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] == "list" {
		return runSweepList(ctx, a, args[1:])
	}
	fs := a.newFlags("sweep", sweepUsage)
	all := fs.Bool("all", false, "visit every target now, whatever its schedule")
	fresh := fs.Bool("new", false, "start a new sweep even when an interrupted one waits to be resumed")
	workers := fs.Int("workers", 0, "concurrent visits (default from config)")
	resume := fs.String("resume", "", "resume the interrupted sweep `SWEEP-ID` (and retry its pages whose evidence is missing)")
	asJSON := fs.Bool("json", false, "print each run's summary as JSON (one object per line)")
	ids, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	switch {
	case *resume != "" && (*all || *fresh || len(ids) > 0):
		return usagef("--resume takes no targets, --all or --new\nusage: shopwatch %s", sweepUsage)
	case *all && len(ids) > 0:
		return usagef("give --all or target ids, not both\nusage: shopwatch %s", sweepUsage)
	}
	if c, err := a.serverClient(ctx); err != nil {
		return err
	} else if c != nil {
		if *resume != "" || *fresh || *workers > 0 {
			return usagef("--resume, --new and --workers do not go through the running server: serve resumes interrupted sweeps itself and sets the workers (stop it to use them)")
		}
		return a.sweepThroughServer(ctx, c, ids, *all, *asJSON)
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	var picked []shopwatch.Target
	if len(ids) > 0 {
		if picked, err = pickTargets(ctx, d, ids); err != nil {
			return err
		}
	}
	if *resume != "" {
		if _, err := d.GetSweep(ctx, *resume); errors.Is(err, db.ErrNotFound) {
			return usagef("unknown sweep %q (see `shopwatch sweep list`)", *resume)
		} else if err != nil {
			return err
		}
	}
	r, err := a.runner(ctx, d)
	if err != nil {
		return err
	}
	if *workers > 0 {
		r.Config.Workers = *workers
	}
	a.clearStoreLeftovers(ctx, r.Store)
	sw := &sweeper{a: a, d: d, r: r, json: *asJSON, notify: a.notifier()}

	if *resume != "" {
		if err := a.checkEnvironment(ctx, r, nil); err != nil {
			return err
		}
		if err := sw.resume(ctx, *resume, "resuming"); err != nil {
			return err
		}
		return sw.result(ctx)
	}
	interrupted, err := interruptedSweeps(ctx, d)
	if err != nil {
		return err
	}
	if len(interrupted) > 0 && !*all && !*fresh && len(ids) == 0 {
		// Resume, never plan the same targets again on top.
		if err := a.checkEnvironment(ctx, r, nil); err != nil {
			return err
		}
		for _, s := range interrupted {
			if err := sw.resume(ctx, s.ID, "resuming interrupted"); err != nil {
				return err
			}
		}
		fmt.Fprintln(a.stderr, "interrupted sweeps resumed; run `shopwatch sweep` again to start a new sweep")
		return sw.result(ctx)
	}
	for _, s := range interrupted {
		fmt.Fprintf(a.stderr, "note: sweep %s was interrupted (%d pages left); resume it with `shopwatch sweep --resume %s`\n", s.ID, s.left, s.ID)
	}
	if len(ids) == 0 {
		// The next sweep retries the captures earlier sweeps could not make.
		if err := sw.retryMissingEvidence(ctx); err != nil {
			return err
		}
	}
	var sweepID string
	var planned int
	if len(picked) > 0 {
		sweepID, planned, err = a.planSweep(ctx, d, r, picked, "manual", time.Now())
	} else {
		ts, lerr := d.ListTargets(ctx)
		if lerr != nil {
			return lerr
		}
		if len(ts) == 0 {
			return fmt.Errorf("no targets: add some with `shopwatch target add URL` or `target import FILE.csv`")
		}
		sweepID, planned, err = a.planDue(ctx, d, r, ts, "manual", *all, 0)
	}
	if err != nil {
		return err
	}
	if planned == 0 {
		if sw.runs == 0 {
			fmt.Fprintln(a.stdout, "no target is due (use --all to visit every target now)")
		}
		return sw.result(ctx)
	}
	if err := sw.run(ctx, sweepID); err != nil {
		return err
	}
	return sw.result(ctx)
}

// sweeper runs sweeps for one command and adds up how they went.
type sweeper struct {
	a    *app
	d    *db.DB
	r    *sweep.Runner
	json bool
	// notify, when set, is told of the new violations of each sweep.
	notify *notify.Notifier

	runs          int
	failedPages   int
	failedTargets map[string]bool
	failedSweeps  []string
}

// resume puts back the sweep's pages whose evidence is missing and runs
// the sweep to its end.
func (s *sweeper) resume(ctx context.Context, id, verb string) error {
	st, err := s.d.SweepStats(ctx, id)
	if err != nil {
		return err
	}
	if st.Visits() == 0 {
		return fmt.Errorf("sweep %s has no pages: it was never planned, so there is nothing to resume; start a new sweep with `shopwatch sweep`", id)
	}
	n, err := s.d.RetryMissingEvidence(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.a.stderr, "%s sweep %s (%d pending, %d leased, %d pages whose evidence is missing put back)\n", verb, id, st.Pending, st.Leased, n)
	return s.run(ctx, id)
}

// retryMissingEvidence puts back, and runs, the pages of earlier sweeps
// whose evidence capture failed.
func (s *sweeper) retryMissingEvidence(ctx context.Context) error {
	sweeps, err := s.d.ListSweeps(ctx)
	if err != nil {
		return err
	}
	for _, sw := range sweeps {
		st, err := s.d.SweepStats(ctx, sw.ID)
		if err != nil {
			return err
		}
		if st.Failed == 0 {
			continue
		}
		n, err := s.d.RetryMissingEvidence(ctx, sw.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(s.a.stderr, "retrying %d pages of sweep %s whose evidence capture failed\n", n, sw.ID)
		if err := s.run(ctx, sw.ID); err != nil {
			return err
		}
	}
	return nil
}

// run runs one sweep and prints its summary. A stop (Ctrl-C, SIGTERM)
// returns the leases and says how to resume.
func (s *sweeper) run(ctx context.Context, id string) error {
	if s.r.Config.Environment == nil {
		// Runs that come before any planning (retried captures, resumes
		// when serve starts) check the capture environment here.
		if err := s.a.checkEnvironment(ctx, s.r, nil); err != nil {
			return err
		}
	}
	update, finish := s.a.progress()
	s.r.Config.Progress = update
	sum, err := s.r.Run(ctx, id)
	finish()
	s.runs++
	if s.notify != nil && sum != nil {
		if fs, ferr := s.d.ListFindings(ctx, db.Filter{Sweep: id}); ferr == nil {
			_ = s.notify.NewViolations(ctx, id, fs) // logged by the notifier
		}
	}
	if sum != nil {
		if s.json {
			if jerr := s.a.printJSON(sum); jerr != nil {
				return jerr
			}
		} else {
			printSummary(s.a.stdout, sum)
		}
		if len(sum.FailedVisits) > 0 {
			s.failedPages += len(sum.FailedVisits)
			if s.failedTargets == nil {
				s.failedTargets = map[string]bool{}
			}
			for _, f := range sum.FailedVisits {
				s.failedTargets[f.TargetID] = true
			}
			s.failedSweeps = append(s.failedSweeps, id)
		}
	}
	if err != nil && ctx.Err() != nil {
		err = &errExit{code: exitRuntime, err: fmt.Errorf("sweep %s stopped; resume it with: shopwatch sweep --resume %s", id, id)}
	}
	if err != nil {
		// The sweep ends here: say what is left in the spool beside it.
		return s.a.drainAfterSweep(ctx, err)
	}
	return nil
}

// result is the command's outcome after its runs: exit 3 naming how many
// pages and targets failed when any did; else, once the spool has had its
// time to drain, exit 4 when evidence is still only on local disk.
func (s *sweeper) result(ctx context.Context) error {
	var err error
	if s.failedPages > 0 {
		err = &errExit{code: exitRuntime, err: fmt.Errorf("%d pages of %d targets failed (listed above); `shopwatch sweep --resume %s` retries the captures that failed",
			s.failedPages, len(s.failedTargets), s.failedSweeps[len(s.failedSweeps)-1])}
	}
	return s.a.drainAfterSweep(ctx, err)
}

// interrupted is a sweep with work left.
type interrupted struct {
	db.Sweep
	left int
}

// interruptedSweeps returns the sweeps with visits pending or leased,
// oldest first. One process holds the database, so none of them is
// running now.
func interruptedSweeps(ctx context.Context, d *db.DB) ([]interrupted, error) {
	sweeps, err := d.ListSweeps(ctx)
	if err != nil {
		return nil, err
	}
	var out []interrupted
	for _, s := range sweeps {
		st, err := d.SweepStats(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		if st.Pending+st.Leased > 0 {
			out = append(out, interrupted{Sweep: s, left: st.Pending + st.Leased})
		}
	}
	return out, nil
}

// pickTargets returns the targets with the given ids, or a usage error
// naming every id that is no target.
func pickTargets(ctx context.Context, d *db.DB, ids []string) ([]shopwatch.Target, error) {
	var out []shopwatch.Target
	var unknown []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		t, err := d.GetTarget(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			unknown = append(unknown, fmt.Sprintf("%q", id))
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	if len(unknown) > 0 {
		return nil, usagef("no target with id %s (see `shopwatch target list`)\nusage: shopwatch %s", strings.Join(unknown, ", "), sweepUsage)
	}
	return out, nil
}

// sweepRow is one line of `sweep list`.
type sweepRow struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	State    string    `json:"state"` // interrupted, finished, finished with failures
	Pages    int       `json:"pages"`
	Done     int       `json:"done"`
	Failed   int       `json:"failed"`
	Pending  int       `json:"pending"`
	Leased   int       `json:"leased"`
	Findings int       `json:"findings"`
}

func runSweepList(ctx context.Context, a *app, args []string) error {
	return listing(a, "sweep list", args, nil,
		func() (func() ([]sweepRow, error), error) {
			if c, err := a.serverClient(ctx); err != nil {
				return nil, err
			} else if c != nil {
				return func() ([]sweepRow, error) { return serverSweepRows(ctx, c) }, nil
			}
			d, err := a.openDBReadOnly()
			if err != nil {
				return nil, err
			}
			return func() ([]sweepRow, error) { return dbSweepRows(ctx, d) }, nil
		},
		func(load func() ([]sweepRow, error)) ([]sweepRow, error) { return load() },
		func(w io.Writer, rows []sweepRow) {
			fmt.Fprintln(w, "ID\tSTARTED\tENDED\tPAGES\tDONE\tFAILED\tFINDINGS\tSTATE")
			for _, r := range rows {
				end := "-"
				if !r.Finished.IsZero() {
					end = r.Finished.Local().Format(time.DateTime)
				}
				state := r.State
				if state == "interrupted" {
					state += fmt.Sprintf(" (%d left: shopwatch sweep --resume %s)", r.Pending+r.Leased, r.ID)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Started.Local().Format(time.DateTime), end,
					r.Pages, r.Done, r.Failed, r.Findings, state)
			}
		})
}

// planDue plans the targets whose schedule (or an active festival window)
// makes them due now, with the festival's priority boost, into a new
// sweep. all plans every target. every > 0 is the schedule of targets
// without one (serve's sweep.default_interval); zero makes them due on
// every call.
func (a *app) planDue(ctx context.Context, d *db.DB, r *sweep.Runner, ts []shopwatch.Target, name string, all bool, every time.Duration) (string, int, error) {
	now := time.Now()
	due, err := a.dueTargets(ts, all, every, now)
	if err != nil || len(due) == 0 {
		return "", 0, err
	}
	return a.planSweep(ctx, d, r, due, name, now)
}

// dueTargets returns the targets of ts that are due at now (all: every
// one), with the priority their schedule or a festival window gives; a
// target without a schedule is due every "every" (0: always).
func (a *app) dueTargets(ts []shopwatch.Target, all bool, every time.Duration, now time.Time) ([]shopwatch.Target, error) {
	cal, err := a.calendar()
	if err != nil {
		return nil, err
	}
	var due []shopwatch.Target
	for _, t := range ts {
		if all {
			due = append(due, t)
			continue
		}
		st := t
		if st.Schedule == "" && every > 0 {
			st.Schedule = "@every " + every.String()
		}
		ok, prio, err := schedule.Due(st, t.LastSwept, now, cal)
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
		return nil, nil
	}
	if ws := cal.Active(now); len(ws) > 0 {
		for _, w := range ws {
			fmt.Fprintf(a.stderr, "festival window active: %s\n", w.Name())
		}
	}
	return due, nil
}

// planSweep creates a sweep of the targets and records them as swept at
// now, in one transaction, after the capture-environment check (a session
// it stops leaves no planned sweep behind).
func (a *app) planSweep(ctx context.Context, d *db.DB, r *sweep.Runner, targets []shopwatch.Target, name string, now time.Time) (string, int, error) {
	if err := a.checkEnvironment(ctx, r, targets); err != nil {
		return "", 0, err
	}
	id, _, err := r.NewSweep(ctx, name, targets, now)
	if err != nil {
		return "", 0, err
	}
	return id, len(targets), nil
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
	if s.EvidenceMissing > 0 {
		fmt.Fprintf(w, "  %d findings kept WITHOUT EVIDENCE: their page's capture failed; they are retried by the next sweep or `shopwatch sweep --resume %s`\n", s.EvidenceMissing, s.Sweep)
	}
	if s.Reused+s.Abandoned > 0 {
		fmt.Fprintf(w, "  captures of interrupted attempts: %d reused, %d incomplete ones set aside\n", s.Reused, s.Abandoned)
	}
	printCounts(w, "findings by category", s.ByCategory)
	printCounts(w, "findings by rule", s.ByRule)
	printCounts(w, "errors met (by kind, counting attempts)", s.Errors)
	if len(s.FailedVisits) > 0 {
		fmt.Fprintf(w, "  FAILED: %d pages of %d targets:\n", len(s.FailedVisits), s.FailedTargets)
		for _, f := range s.FailedVisits {
			what := f.Error
			if f.EvidenceMissing {
				what = fmt.Sprintf("evidence missing, %d findings kept: %s", f.Findings, f.Error)
			}
			fmt.Fprintf(w, "    %s %s (after %d attempts): %s\n", f.TargetID, f.URL, f.Attempts, what)
		}
	}
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

// dbSweepRows is the sweep list read from the database.
func dbSweepRows(ctx context.Context, d *db.DB) ([]sweepRow, error) {
	sweeps, err := d.ListSweeps(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]sweepRow, 0, len(sweeps))
	for _, s := range sweeps {
		st, err := d.SweepStats(ctx, s.ID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		row := sweepRow{ID: s.ID, Name: s.Name, Started: s.Started, Finished: s.Finished, Pages: st.Visits(),
			Done: st.Done, Failed: st.Failed, Pending: st.Pending, Leased: st.Leased, Findings: st.Findings}
		switch {
		case st.Pending+st.Leased > 0 || st.Visits() == 0:
			row.State, row.Finished = "interrupted", time.Time{}
		case st.Failed > 0:
			row.State = "finished with failures"
		default:
			row.State = "finished"
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// serverSweepRows is the sweep list from the running server.
func serverSweepRows(ctx context.Context, c *server.Client) ([]sweepRow, error) {
	sts, err := c.ListSweeps(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]sweepRow, 0, len(sts))
	for _, st := range sts {
		row := sweepRow{ID: st.ID, Name: st.Name, Started: st.Started, Finished: st.Finished, Pages: st.Stats.Visits(),
			Done: st.Stats.Done, Failed: st.Stats.Failed, Pending: st.Stats.Pending, Leased: st.Stats.Leased, Findings: st.Stats.Findings, State: st.State}
		switch {
		case st.State == server.SweepFinished && st.Stats.Failed > 0:
			row.State = "finished with failures"
		case st.State != server.SweepFinished:
			row.Finished = time.Time{}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// sweepThroughServer asks the running server for the sweep and follows it
// to its end: the server plans it at once and runs it after the sweep it
// is running, if any. Ctrl-C stops following, not the sweep.
func (a *app) sweepThroughServer(ctx context.Context, c *server.Client, ids []string, all, asJSON bool) error {
	started, err := c.StartSweep(ctx, server.SweepRequest{Targets: ids, All: all, Name: "manual"})
	if errors.Is(err, db.ErrNotFound) {
		return usagef("%v (see `shopwatch target list`)", err)
	}
	if err != nil {
		return err
	}
	if started.ID == "" {
		fmt.Fprintln(a.stdout, "no target is due (use --all to visit every target now)")
		return nil
	}
	fmt.Fprintf(a.stderr, "sweep %s of %d targets queued on the server (%s)\n", started.ID, started.Targets, c.Socket())
	var last string
	for {
		st, err := c.SweepStatus(ctx, started.ID)
		if ctx.Err() != nil {
			fmt.Fprintf(a.stderr, "stopped following; sweep %s goes on in the server (shopwatch sweep list)\n", started.ID)
			return nil
		}
		if err != nil {
			return err
		}
		line := fmt.Sprintf("sweep %s %s: %d/%d pages, %d failed, %d findings", st.ID, st.State, st.Stats.Done+st.Stats.Failed, st.Stats.Visits(), st.Stats.Failed, st.Stats.Findings)
		if line != last {
			fmt.Fprintln(a.stderr, line)
			last = line
		}
		switch st.State {
		case server.SweepQueued, server.SweepRunning:
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
			continue
		}
		if asJSON {
			if err := a.printJSON(st); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(a.stdout, "sweep %s: %d pages done, %d failed, %d findings\n", st.ID, st.Stats.Done, st.Stats.Failed, st.Stats.Findings)
		}
		switch {
		case st.State == server.SweepFailed:
			return fmt.Errorf("sweep %s: %s", st.ID, st.Error)
		case st.State == server.SweepInterrupted:
			return fmt.Errorf("sweep %s was interrupted: %s", st.ID, st.Error)
		case st.Stats.Failed > 0:
			return &errExit{code: exitRuntime, err: fmt.Errorf("%d pages failed; `shopwatch findings --sweep %s` and the server's log say more", st.Stats.Failed, st.ID)}
		}
		return nil
	}
}

// notifier returns what tells the configured webhooks of new violations
// and leads past due, or nil when none is configured.
func (a *app) notifier() *notify.Notifier {
	c, err := a.config()
	if err != nil || len(c.Notify.Webhooks) == 0 {
		return nil
	}
	return &notify.Notifier{Hooks: c.Notify.Webhooks, Log: a.logger}
}
