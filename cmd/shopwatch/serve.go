package main

import (
	"context"
	"fmt"
	"time"

	"shopwatch/db"
	"shopwatch/sweep"
)

func init() {
	register(command{name: "serve", summary: "run the scheduler: sweep due targets continuously", run: runServe})
}

// runServe checks the schedules every tick, sweeps the due targets, and
// first finishes any sweep an earlier run left unfinished. It stops on
// SIGINT/SIGTERM; a sweep cut short resumes on the next start.
func runServe(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("serve", "serve [--tick 1m] [--workers N]")
	tick := fs.Duration("tick", time.Minute, "how often to check the schedules")
	workers := fs.Int("workers", 0, "concurrent visits (default from config)")
	cycles := fs.Int("cycles", 0, "stop after this many checks (0: run until stopped)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tick < time.Second {
		return usagef("--tick must be at least 1s")
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
	r.Config.Progress = progressLines(a.stderr)

	// Finish what an earlier run left.
	sweeps, err := d.ListSweeps(ctx)
	if err != nil {
		return err
	}
	for _, s := range sweeps {
		st, err := d.SweepStats(ctx, s.ID)
		if err != nil {
			return err
		}
		if st.Pending+st.Leased > 0 {
			fmt.Fprintf(a.stdout, "resuming sweep %s (%d pending, %d leased)\n", s.ID, st.Pending, st.Leased)
			sum, err := r.Run(ctx, s.ID)
			if sum != nil {
				printSummary(a.stdout, sum)
			}
			if err != nil {
				return serveStopped(ctx, err)
			}
		}
	}
	t := time.NewTicker(*tick)
	defer t.Stop()
	for n := 1; ; n++ {
		if err := serveCycle(ctx, a, d, r); err != nil {
			return serveStopped(ctx, err)
		}
		if *cycles > 0 && n >= *cycles {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// serveCycle plans the due targets into a new sweep and runs it.
func serveCycle(ctx context.Context, a *app, d *db.DB, r *sweep.Runner) error {
	ts, err := d.ListTargets(ctx)
	if err != nil {
		return err
	}
	id, n, err := a.planDue(ctx, d, r, ts, "scheduled", false)
	if err != nil || n == 0 {
		return err
	}
	fmt.Fprintf(a.stdout, "%s sweep %s: %d targets due\n", time.Now().UTC().Format(time.RFC3339), id, n)
	sum, err := r.Run(ctx, id)
	if sum != nil {
		printSummary(a.stdout, sum)
	}
	return err
}

// serveStopped turns the error of a sweep cut short by a stop signal into
// a clean exit; the sweep resumes on the next start.
func serveStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
