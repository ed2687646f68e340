package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/spool"
	"shopwatch/server"
	"shopwatch/sweep"
)

func init() {
	register(command{name: "serve", summary: "run the scheduler and the API: sweep due targets continuously; other commands go through it", run: runServe})
}

// serveAPI serves the API on the data directory's socket while serve
// runs, so that the commands that go through it (target, findings,
// evidence list, audit list) work beside the scheduler. The returned stop
// shuts it down, waiting for requests in flight.
// apiListener is the TCP listener of --listen and its scheme: HTTPS with
// a certificate, plain HTTP only on a loopback address.
func apiListener(addr, certFile, keyFile string) (ln net.Listener, scheme string, err error) {
	if addr == "" {
		if certFile != "" || keyFile != "" {
			return nil, "", usagef("--tls-cert and --tls-key go with --listen")
		}
		return nil, "", nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, "", usagef("give --tls-cert and --tls-key together")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", usagef("--listen %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); certFile == "" && (ip == nil || !ip.IsLoopback()) {
		return nil, "", usagef("--listen %s: plain HTTP only on a loopback address; give --tls-cert and --tls-key to serve the API on the network", addr)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	if certFile == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), "https", nil
}

func (a *app) serveAPI(ctx context.Context, d *db.DB, sweeps server.Sweeper, export server.Exporter, tcp net.Listener, scheme string) (stop func(), err error) {
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
	opts := server.Options{ValidateTarget: targetValidator(rs), Sweeper: sweeps, Export: export, Verify: a.serverVerifier(), Logger: a.logger}
	if c, err := a.config(); err == nil {
		opts.Office.Name, opts.Office.Address = c.Office.Name, c.Office.Address
	}
	if a.spool != nil {
		if sdir, err := a.spoolDir(); err == nil {
			opts.Spool = func() (int, int64, error) {
				st, err := spool.Inspect(sdir)
				return st.Objects, st.Bytes, err
			}
		}
	}
	srv := server.New(d, opts)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- srv.Serve(sctx, ln, 10*time.Second) }()
	fmt.Fprintf(a.stdout, "API on unix socket %s\n", server.SocketPath(dir))
	a.logger.Info("API serving", "socket", server.SocketPath(dir))
	n := 1
	if tcp != nil {
		n++
		go func() { done <- srv.Serve(sctx, tcp, 10*time.Second) }()
		fmt.Fprintf(a.stdout, "API on %s://%s (API tokens: shopwatch user token NAME)\n", scheme, tcp.Addr())
		a.logger.Info("API serving", "addr", tcp.Addr().String(), "scheme", scheme)
	}
	return func() {
		cancel()
		for range n {
			if err := <-done; err != nil {
				a.logger.Error("API stopped with an error", "err", err)
			}
		}
	}, nil
}

// runServe checks the schedules every tick, sweeps the due targets, and
// first finishes any sweep an earlier run left unfinished. A target
// without a schedule is swept every sweep.default_interval (24h by
// default). It stops on SIGINT/SIGTERM; a sweep cut short resumes on the
// next start.
func runServe(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("serve", "serve [--tick 1m] [--workers N] [--cycles N] [--listen 127.0.0.1:8460 [--tls-cert FILE --tls-key FILE]]")
	listen := fs.String("listen", "", "also serve the API over TCP on this address, for people with API tokens (loopback unless --tls-cert is given)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) for --listen: HTTPS")
	tlsKey := fs.String("tls-key", "", "PEM private key of --tls-cert")
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
	queue := &serveSweeps{a: a, d: d, states: map[string]*serveSweepState{}, queue: make(chan string, maxQueuedSweeps)}
	r, err := a.runner(ctx, d)
	if err != nil {
		return err
	}
	if *workers > 0 {
		r.Config.Workers = *workers
	}
	a.clearStoreLeftovers(ctx, r.Store)
	sw := &sweeper{a: a, d: d, r: r, notify: a.notifier()}
	// The API comes up once the runner holds the keys, the ledger and the
	// store that exports through it share.
	tcp, scheme, err := apiListener(*listen, *tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	stopAPI, err := a.serveAPI(ctx, d, queue, a.serverExporter(d, r.Store), tcp, scheme)
	if err != nil {
		if tcp != nil {
			tcp.Close()
		}
		return err
	}
	defer stopAPI()

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
		if sw.notify != nil {
			if leads, err := d.ListFindings(ctx, db.Filter{Stage: shopwatch.StageLead}); err == nil {
				_ = sw.notify.LeadsPastDue(ctx, leads, time.Now()) // logged by the notifier
			}
		}
		if err := queue.runQueued(ctx, sw); err != nil {
			return serveStopped(ctx, err)
		}
		if *cycles > 0 && n >= *cycles {
			return nil
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				waiting = false
			case id := <-queue.queue:
				if err := queue.run(ctx, sw, id); err != nil {
					return serveStopped(ctx, err)
				}
			}
		}
	}
}

// serverExporter makes the bundles the API asks for, with serve's keys,
// ledger (a new checkpoint and the witnesses' co-signatures, as a local
// export makes) and store, and records each export under the caller.
func (a *app) serverExporter(d *db.DB, st evidence.Store) server.Exporter {
	var mu sync.Mutex // one export at a time: each prints its PDF with its own Chromium
	return func(ctx context.Context, id string, req server.ExportRequest, path string) error {
		var officers []evidence.Officer
		for _, s := range req.Officers {
			o, err := evidence.ParseOfficer(s)
			if err != nil {
				return fmt.Errorf("%w: officer %q: %v", db.ErrInvalid, s, err)
			}
			officers = append(officers, o)
		}
		record, err := a.extractionRecord(req.CaseNo, req.Cause, officers, req.Party, req.USCC)
		var ue *usageError
		if errors.As(err, &ue) {
			return fmt.Errorf("%w: %v", db.ErrInvalid, err)
		}
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		w := &localWorkspace{d: d, validate: func(*shopwatch.Target) error { return nil }}
		_, detail, err := a.exportEvidence(ctx, w, st, id, exportOptions{Path: path, NoPDF: req.NoPDF, Record: record, By: req.By}, false)
		if err != nil {
			return err
		}
		host, _ := os.Hostname()
		return d.RecordAudit(ctx, "evidence.exported", detail+" through the API on "+host)
	}
}

// serverVerifier checks uploaded bundles under this node's own trust
// file: TRUSTED when the node made the bundle and nothing changed.
func (a *app) serverVerifier() server.Verifier {
	return func(ctx context.Context, r io.ReaderAt, size int64) (any, string, error) {
		c, err := a.config()
		if err != nil {
			return nil, "", err
		}
		opts := []evidence.VerifyOption{evidence.WithMaxTimestampSkew(c.TSA.MaxSkew)}
		if tf, err := a.officeTrust(cmp.Or(c.Office.Name, "this node")); err == nil {
			opts = append(opts, evidence.WithTrust(tf))
		}
		rep, err := evidence.VerifyBundleReader(r, size, opts...)
		if err != nil {
			return nil, "", err
		}
		summary := rep.EvidenceID + " verified: " + rep.Verdict()
		if !rep.OK() {
			summary = fmt.Sprintf("%s failed (%d problems)", rep.EvidenceID, len(rep.Problems))
		}
		return verifyView(rep), summary, nil
	}
}

// maxQueuedSweeps is how many sweeps the API may queue ahead.
const maxQueuedSweeps = 256

// serveSweeps plans the sweeps the API asks for and keeps them until
// serve's loop runs them, in turn with its scheduled sweeps, on its one
// runner.
type serveSweeps struct {
	a     *app
	d     *db.DB
	queue chan string

	mu     sync.Mutex
	states map[string]*serveSweepState
}

type serveSweepState struct{ state, err string }

// Start plans the sweep: the targets named (ids or URLs), else those due
// (every active target with All), as `shopwatch sweep` would.
func (q *serveSweeps) Start(ctx context.Context, req server.SweepRequest) (server.SweepStarted, error) {
	var ts []shopwatch.Target
	if len(req.Targets) > 0 {
		seen := map[string]bool{}
		for _, ref := range req.Targets {
			t, err := q.d.FindTarget(ctx, ref)
			if err != nil {
				return server.SweepStarted{}, fmt.Errorf("target %q: %w", ref, err)
			}
			if !seen[t.ID] {
				seen[t.ID] = true
				ts = append(ts, *t)
			}
		}
	} else {
		all, err := q.d.ListTargets(ctx)
		if err != nil {
			return server.SweepStarted{}, err
		}
		if req.Jurisdiction != "" {
			all = slices.DeleteFunc(all, func(t shopwatch.Target) bool { return !db.InJurisdiction(t.Jurisdiction, req.Jurisdiction) })
		}
		if ts, err = q.a.dueTargets(all, req.All, 0, time.Now()); err != nil {
			return server.SweepStarted{}, err
		}
	}
	if len(ts) == 0 {
		return server.SweepStarted{}, nil
	}
	name := req.Name
	if name == "" {
		name = "requested"
	}
	if len(q.queue) == cap(q.queue) {
		return server.SweepStarted{}, fmt.Errorf("%w: %d sweeps are queued already; wait for them", db.ErrInvalid, cap(q.queue))
	}
	now := time.Now()
	id, _, err := sweep.Plan(ctx, q.d, name, ts, now.UTC(), now)
	if err != nil {
		return server.SweepStarted{}, err
	}
	q.set(id, server.SweepQueued, "")
	select {
	case q.queue <- id:
	default: // filled meanwhile: the next serve start resumes it
		q.set(id, server.SweepInterrupted, "the queue was full; it resumes when serve starts again")
	}
	return server.SweepStarted{ID: id, Targets: len(ts)}, nil
}

func (q *serveSweeps) set(id, state, msg string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.states[id] = &serveSweepState{state: state, err: msg}
}

// State says what became of a sweep the API queued.
func (q *serveSweeps) State(id string) (string, string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, ok := q.states[id]
	if !ok {
		return "", "", false
	}
	return st.state, st.err, true
}

// runQueued runs the sweeps queued meanwhile.
func (q *serveSweeps) runQueued(ctx context.Context, sw *sweeper) error {
	for {
		select {
		case id := <-q.queue:
			if err := q.run(ctx, sw, id); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// run runs one queued sweep, with a capture-environment check of its
// own. A sweep that fails is reported in its state and the server goes
// on; a stop signal stops serve (the sweep resumes on the next start).
func (q *serveSweeps) run(ctx context.Context, sw *sweeper, id string) error {
	q.set(id, server.SweepRunning, "")
	fmt.Fprintf(q.a.stdout, "%s sweep %s: requested through the API\n", time.Now().UTC().Format(time.RFC3339), id)
	sw.r.Config.Environment = nil
	err := sw.run(ctx, id)
	switch {
	case ctx.Err() != nil:
		q.set(id, server.SweepInterrupted, "serve stopped; the sweep resumes when it starts again")
		return ctx.Err()
	case err != nil:
		q.set(id, server.SweepFailed, err.Error())
		q.a.logger.Error("requested sweep failed", "sweep", id, "err", err)
	default:
		q.set(id, server.SweepFinished, "")
	}
	return nil
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
