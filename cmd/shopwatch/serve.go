package main

import (
	"context"
	"fmt"
	"time"

	"shopwatch/db"
	"shopwatch/server"
)

func init() {
	register(command{name: "serve", summary: "run the scheduler and the API: sweep due targets continuously; other commands go through it", run: runServe})
}

// serveAPI serves the API on the data directory's socket while serve
// runs, so that the commands that go through it (target, findings,
// evidence list, audit list) work beside the scheduler. The returned stop
// shuts it down, waiting for requests in flight.
func (a *app) serveAPI(ctx context.Context, d *db.DB) (stop func(), err error) {
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	rs, err := a.ruleset()
	if err != nil {
		return nil, err
	}
	ln, err := server.Listen(dir)
	if err != nil {
		return nil, err
	}
	srv := server.New(d, server.Options{ValidateTarget: targetValidator(rs), Logger: a.logger})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, 10*time.Second) }()
	fmt.Fprintf(a.stdout, "API on unix socket %s\n", server.SocketPath(dir))
	a.logger.Info("API serving", "socket", server.SocketPath(dir))
	return func() {
		cancel()
		if err := <-done; err != nil {
			a.logger.Error("API stopped with an error", "err", err)
		}
	}, nil
}

// runServe checks the schedules every tick, sweeps the due targets, and
// first finishes any sweep an earlier run left unfinished. A target
// without a schedule is swept every sweep.default_interval (24h by
// default). It stops on SIGINT/SIGTERM; a sweep cut short resumes on the
// next start.
func runServe(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("serve", "serve [--tick 1m] [--workers N] [--cycles N]")
	tick := fs.Duration("tick", time.Minute, "how often to check the schedules")
	workers := fs.Int("workers", 0, "concurrent visits (default from config)")
	cycles := fs.Int("cycles", 0, "stop after this many checks (0: run until stopped)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q\nusage: shopwatch serve [--tick 1m] [--workers N] [--cycles N]", pos[0])
	}
	if *tick < time.Second {
		return usagef("--tick must be at least 1s")
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	every := c.Sweep.DefaultInterval
	if every <= 0 {
		every = 24 * time.Hour
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	stopAPI, err := a.serveAPI(ctx, d)
	if err != nil {
		return err
	}
	defer stopAPI()
	r, err := a.runner(ctx, d)
	if err != nil {
		return err
	}
	if *workers > 0 {
		r.Config.Workers = *workers
	}
	a.clearStoreLeftovers(ctx, r.Store)
	sw := &sweeper{a: a, d: d, r: r}

	// Finish what an earlier run left.
	interrupted, err := interruptedSweeps(ctx, d)
	if err != nil {
		return err
	}
	for _, s := range interrupted {
		if err := sw.resume(ctx, s.ID, "resuming interrupted"); err != nil {
			return serveStopped(ctx, err)
		}
	}
	t := time.NewTicker(*tick)
	defer t.Stop()
	for n := 1; ; n++ {
		if err := serveCycle(ctx, a, d, sw, every); err != nil {
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

// serveCycle plans the due targets into a new sweep, retries the captures
// earlier sweeps could not make, and runs the new sweep.
func serveCycle(ctx context.Context, a *app, d *db.DB, sw *sweeper, every time.Duration) error {
	ts, err := d.ListTargets(ctx)
	if err != nil {
		return err
	}
	id, n, err := a.planDue(ctx, d, sw.r, ts, "scheduled", false, every)
	if err != nil || n == 0 {
		return err
	}
	fmt.Fprintf(a.stdout, "%s sweep %s: %d targets due\n", time.Now().UTC().Format(time.RFC3339), id, n)
	if err := sw.retryMissingEvidence(ctx); err != nil {
		return err
	}
	return sw.run(ctx, id)
}

// serveStopped turns the error of a sweep cut short by a stop signal into
// a clean exit; the sweep resumes on the next start.
func serveStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
