// Package sweep is shopwatch's pipeline: it plans visits for targets into the
// persistent queue and runs a pool of workers that lease visits, fetch each
// page, check it against the rules, capture evidence and record the result.
//
// All state lives in the queue (bbolt by default), so a sweep killed at any
// point resumes where it stopped: a visit leased by a dead worker is handed
// out again when its lease expires (at once when Run finds the worker's
// process on this host gone), and a completed visit is never redone.
//
// Evidence is captured exactly once per visit in effect. Before a capture
// stores anything, its evidence id is recorded against the visit in the
// queue (StartCapture). When a later attempt of the visit finds a capture
// an earlier attempt started, it checks it in the store: a complete one
// (manifest stored, signature, seal and every digest verified) is what the
// visit completes with, without fetching again, and its ledger entry is
// made if the earlier attempt died before making it (the ledger adds a
// manifest once); an incomplete one is abandoned, with the reason, and the
// visit captures anew. Stores are append-only, so nothing is deleted:
// every evidence id in the store is either indexed or recorded abandoned.
package sweep

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/envcheck"
	"shopwatch/rules"
)

// Queue is the persistent visit queue the sweep runs on. *db.DB implements
// it; a distributed queue can too.
type Queue interface {
	Enqueue(ctx context.Context, visits ...shopwatch.Visit) (int, error)
	Lease(ctx context.Context, worker string, max int, ttl time.Duration) ([]shopwatch.Visit, error)
	Extend(ctx context.Context, v shopwatch.Visit, ttl time.Duration) (shopwatch.Visit, error)
	Complete(ctx context.Context, v shopwatch.Visit, res db.Result) error
	Fail(ctx context.Context, v shopwatch.Visit, cause error, maxAttempts int) error
	// FailCapture is Fail for a visit whose evidence capture failed: when
	// the visit fails for good its findings are kept without evidence,
	// marked evidence missing, for a later attempt to attach evidence to,
	// and the links it found are followed.
	FailCapture(ctx context.Context, v shopwatch.Visit, cause error, maxAttempts int, res db.Result) error
	// Release gives a leased visit back untouched (the sweep is stopping).
	Release(ctx context.Context, v shopwatch.Visit) error
	// ListVisits lists the visits of a sweep in a state.
	ListVisits(ctx context.Context, sweep string, state shopwatch.VisitState) ([]shopwatch.Visit, error)
	SweepStats(ctx context.Context, sweep string) (db.Stats, error)
	// StartCapture records, fenced by v's lease, that v is about to store
	// a capture under evidenceID; AbandonCapture settles one that will not
	// be used; VisitCaptures lists those v started, in order.
	StartCapture(ctx context.Context, v shopwatch.Visit, evidenceID string) error
	AbandonCapture(ctx context.Context, v shopwatch.Visit, evidenceID, reason string) error
	VisitCaptures(ctx context.Context, visitID string) ([]db.Capture, error)
	// RevokeLeases ends the leases of workers that gone says are dead.
	RevokeLeases(ctx context.Context, sweep string, gone func(worker string) bool) (int, error)
}

// Fetcher fetches one page. *crawler.Fetcher implements it. A fetch that
// fails after bytes were exchanged returns the page with its exchanges and
// the error, so the exchange can still be preserved.
type Fetcher interface {
	Fetch(ctx context.Context, rawURL string) (*shopwatch.Page, error)
}

// MobileFetcher is a browser path that can render a page as a phone.
// *crawler.LazyBrowser implements it.
type MobileFetcher interface {
	FetchWith(ctx context.Context, rawURL string, opts ...crawler.RenderOption) (*shopwatch.Page, error)
}

// Watcher is a browser path that can stay on a live page for a window,
// recording every text that appears and timed screenshots.
// *crawler.LazyBrowser implements it.
type Watcher interface {
	Watch(ctx context.Context, rawURL string, w crawler.WatchOptions, opts ...crawler.RenderOption) (*shopwatch.Page, error)
}

// render fetches v on the browser path: watched for c.Live.Window when it
// is a livestream room and the browser can watch, as a phone when v asks.
func (r *Runner) render(ctx context.Context, c Config, v shopwatch.Visit) (*shopwatch.Page, error) {
	var ropts []crawler.RenderOption
	if v.Mobile {
		ropts = append(ropts, crawler.Mobile())
	}
	if w, ok := r.Browser.(Watcher); ok && v.Kind == shopwatch.KindLivestream && c.Live.Window > 0 {
		return w.Watch(ctx, v.URL, c.Live, ropts...)
	}
	if m, ok := r.Browser.(MobileFetcher); ok && len(ropts) > 0 {
		return m.FetchWith(ctx, v.URL, ropts...)
	}
	return r.Browser.Fetch(ctx, v.URL)
}

// ReplayShooter is a browser path that can show a static page's captured
// response and screenshot it without fetching anything.
// *crawler.LazyBrowser implements it.
type ReplayShooter interface {
	ScreenshotCaptured(ctx context.Context, p *shopwatch.Page) (*crawler.ReplayShot, error)
}

// staticScreenshot gives a static page with findings the screenshot its
// evidence needs: its captured response shown in the browser, served from
// the capture (nothing is fetched again). Without a browser, or when the
// screenshot fails, the capture goes ahead without one and
// page.ScreenshotBy says why.
func (r *Runner) staticScreenshot(ctx context.Context, page *shopwatch.Page, findings bool, log *slog.Logger) {
	if page.Rendered || len(page.Screenshot) > 0 {
		return
	}
	if !findings {
		page.ScreenshotBy = "none: static page without findings"
		return
	}
	rs, ok := r.Browser.(ReplayShooter)
	if !ok {
		page.ScreenshotBy = "none: no browser available to show the captured response"
		log.Warn("static capture without a screenshot: no browser available")
		return
	}
	shot, err := rs.ScreenshotCaptured(ctx, page)
	if err != nil {
		page.ScreenshotBy = "none: the browser could not show the captured response: " + err.Error()
		log.Warn("static capture without a screenshot", "err", err)
		return
	}
	page.Screenshot = shot.PNG
	page.ScreenshotBy = fmt.Sprintf("captured response of %s shown in the browser from the capture, nothing fetched again "+
		"(%d sub-requests blocked)", shot.URL, shot.Blocked)
	if shot.Truncated {
		page.ScreenshotBy += "; the captured body was cut at the size cap, the screenshot shows the part kept"
	}
}

// ErrEmptySweep is returned by Run for a sweep that has no visits at all:
// it was never planned (say, a crash came between creating it and queueing
// its pages in an older version), so there is nothing to resume.
var ErrEmptySweep = errors.New("the sweep has no visits (it was never planned)")

// ErrEnvironmentFailed is returned by Run, before any visit, when the
// session's capture-environment report records a failed check (or is not
// a report) and Config.AllowEnvironmentFailure is not set.
var ErrEnvironmentFailed = errors.New("capture environment check failed; nothing is captured")

// environmentOK returns nil when the session may capture: no environment
// report, a report whose checks passed, or a failure explicitly allowed.
func environmentOK(c Config) error {
	if len(c.Environment) == 0 || c.AllowEnvironmentFailure {
		return nil
	}
	var env envcheck.Report
	if err := json.Unmarshal(c.Environment, &env); err != nil || env.Format != envcheck.Format {
		return fmt.Errorf("%w: the environment record is not a %s report", ErrEnvironmentFailed, envcheck.Format)
	}
	if env.OK() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrEnvironmentFailed, strings.Join(env.Problems, "; "))
}

// ErrNoBrowser is recorded on a visit that needs the browser path when the
// runner has no browser.
var ErrNoBrowser = errors.New("target needs the browser path but no browser is configured")

// Config tunes a sweep run.
type Config struct {
	Workers      int           // concurrent visits; default 8
	LeaseTTL     time.Duration // how long a leased visit stays with a worker without a heartbeat; default 2m
	VisitTimeout time.Duration // bound on one visit, fetch to commit; default 2m
	MaxAttempts  int           // attempts before a visit is failed; default 3
	CaptureAll   bool          // capture evidence for every visit, not only those with findings
	Operator     string        // who runs the sweep, recorded in evidence
	// Notary timestamps every capture's manifest and enters it in the
	// ledger; nil captures are signed only.
	Notary *evidence.Notary
	// Environment is the capture-environment report of this session
	// (envcheck.Report JSON), stored in every capture; ClockSource names
	// what the clock was checked against ("system clock" when unchecked).
	// Run refuses a session whose report records a failed check (see
	// AllowEnvironmentFailure).
	Environment []byte
	ClockSource string
	Host        string // capture host name, recorded in evidence
	Logger      *slog.Logger
	// Progress, when set, is called about once a second with the sweep's counts.
	Progress func(db.Stats)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// AutoBrowser renders a page on the browser path when its target did
	// not ask for it but the static fetch shows the page needs scripts to
	// show its content (crawler.NeedsScript). Needs a Browser.
	AutoBrowser bool
	// Live sets how livestream visits on the browser path are watched:
	// Live.Window > 0 makes them stay that long (or until
	// Live.EndSelector matches), sampling every text that appears and
	// taking timed screenshots; zero renders them once like other pages.
	Live crawler.WatchOptions
	// AllowEnvironmentFailure lets Run capture although Environment
	// records a failed check: the failure stays in every capture's
	// environment.json, and verification reports it. Off, Run refuses
	// such a session before its first visit (ErrEnvironmentFailed).
	AllowEnvironmentFailure bool
}

// Runner joins the queue, the fetcher, the rules and the evidence store.
type Runner struct {
	Queue   Queue
	Fetcher Fetcher
	// Browser renders visits whose target asks for the browser path
	// (JavaScript pages, livestream rooms). Nil: such visits fail with a
	// clear error.
	Browser Fetcher
	Rules   *rules.RuleSet
	Store   evidence.Store
	Signer  *evidence.Signer
	Config  Config
}

func (r *Runner) cfg() Config {
	c := r.Config
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 2 * time.Minute
	}
	if c.VisitTimeout <= 0 {
		c.VisitTimeout = 2 * time.Minute
	}
	if c.Live.Window > 0 && c.VisitTimeout < c.Live.Window+time.Minute {
		// A watched room needs its window plus the render and the capture.
		c.VisitTimeout = c.Live.Window + time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.ClockSource == "" {
		c.ClockSource = "system clock"
	}
	return c
}

// Plan queues one root visit per target for the sweep. Planning is
// idempotent: planning the same targets into the same sweep again adds
// nothing. It returns how many visits were added.
func (r *Runner) Plan(ctx context.Context, sweepID string, targets []shopwatch.Target) (int, error) {
	visits := rootVisits(sweepID, targets, r.cfg().Now().UTC())
	n, err := r.Queue.Enqueue(ctx, visits...)
	if err != nil {
		return n, fmt.Errorf("plan sweep %s: %w", sweepID, err)
	}
	return n, nil
}

// Planner plans a whole new sweep in one transaction. *db.DB implements
// it (see db.DB.PlanSweep).
type Planner interface {
	PlanSweep(ctx context.Context, name string, visits []shopwatch.Visit, targetIDs []string, swept time.Time) (string, int, error)
}

// NewSweep creates a sweep named name with one root visit per target and
// records the targets as swept at now, in one transaction of the queue,
// which must be a Planner: a crash leaves no sweep without its visits. It
// returns the new sweep's id and how many visits it queued.
func (r *Runner) NewSweep(ctx context.Context, name string, targets []shopwatch.Target, now time.Time) (string, int, error) {
	p, ok := r.Queue.(Planner)
	if !ok {
		return "", 0, fmt.Errorf("new sweep %q: the queue (%T) cannot plan a sweep in one transaction", name, r.Queue)
	}
	return Plan(ctx, p, name, targets, r.cfg().Now().UTC(), now)
}

// Plan is NewSweep without a runner: it plans the sweep in p, with its
// visits queued at queued, so that a sweep can be planned while another
// runs (the server plans what its API is asked for; its one runner runs
// the sweeps in turn).
func Plan(ctx context.Context, p Planner, name string, targets []shopwatch.Target, queued, swept time.Time) (string, int, error) {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	return p.PlanSweep(ctx, name, rootVisits("", targets, queued), ids, swept)
}

// rootVisits returns one pending visit per target for sweepID (empty: the
// planner fills it in).
func rootVisits(sweepID string, targets []shopwatch.Target, now time.Time) []shopwatch.Visit {
	visits := make([]shopwatch.Visit, 0, len(targets))
	for _, t := range targets {
		id := ""
		if sweepID != "" {
			id = db.VisitID(sweepID, t.URL)
		}
		visits = append(visits, shopwatch.Visit{
			ID:       id,
			Sweep:    sweepID,
			TargetID: t.ID,
			URL:      t.URL,
			Kind:     t.Kind,
			Category: t.Category,
			Depth:    t.Depth,
			Priority: t.Priority,
			Browser:  t.Browser || t.Mobile,
			Mobile:   t.Mobile,
			State:    shopwatch.VisitPending,
			Enqueued: now,
		})
	}
	return visits
}

// Summary is what a sweep run did.
type Summary struct {
	Sweep  string `json:"sweep"`
	Done   int    `json:"done"`
	Failed int    `json:"failed"` // visits this run failed for good
	// Findings counts every finding recorded, EvidenceMissing those kept
	// without evidence because their page's capture failed.
	Findings        int            `json:"findings"`
	EvidenceMissing int            `json:"findings_without_evidence"`
	ByCategory      map[string]int `json:"findings_by_category"`
	ByRule          map[string]int `json:"findings_by_rule"`
	Evidence        int            `json:"evidence"`
	// Reused counts visits completed with the capture an earlier, killed
	// attempt had stored; Abandoned the incomplete captures of earlier
	// attempts set aside (their objects stay in the store, unindexed).
	Reused    int            `json:"reused_captures,omitempty"`
	Abandoned int            `json:"abandoned_captures,omitempty"`
	Errors    map[string]int `json:"errors,omitempty"` // error text (URL removed) → count of attempts
	// FailedVisits are the sweep's visits that stand failed when the run
	// ends (this run's and earlier runs'), FailedTargets how many distinct
	// targets they belong to.
	FailedVisits  []FailedVisit `json:"failed_visits,omitempty"`
	FailedTargets int           `json:"failed_targets"`
	Elapsed       time.Duration `json:"-"` // in JSON as elapsed_seconds
}

// MarshalJSON writes the summary with its duration in seconds, as every
// JSON output of the command line does.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	return json.Marshal(struct {
		plain
		ElapsedSeconds float64 `json:"elapsed_seconds"`
	}{plain(s), s.Elapsed.Seconds()})
}

// FailedVisit is a page a sweep could not finish, and why.
type FailedVisit struct {
	VisitID  string `json:"visit_id"`
	TargetID string `json:"target_id"`
	URL      string `json:"url"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
	// EvidenceMissing: the page was fetched and checked but its capture
	// failed; Findings findings are kept without evidence, and the next
	// sweep or a resume retries the capture.
	EvidenceMissing bool `json:"evidence_missing,omitempty"`
	Findings        int  `json:"findings"`
}

// failures fills s.FailedVisits and s.FailedTargets from the queue.
func (r *Runner) failures(ctx context.Context, s *Summary) error {
	vs, err := r.Queue.ListVisits(ctx, s.Sweep, shopwatch.VisitFailed)
	if err != nil {
		return fmt.Errorf("sweep %s: failed visits: %w", s.Sweep, err)
	}
	s.FailedVisits = s.FailedVisits[:0]
	targets := map[string]bool{}
	for _, v := range vs {
		s.FailedVisits = append(s.FailedVisits, FailedVisit{VisitID: v.ID, TargetID: v.TargetID, URL: v.URL, Error: v.Error,
			Attempts: v.Attempts, EvidenceMissing: v.EvidenceMissing, Findings: v.Findings})
		targets[v.TargetID] = true
	}
	s.FailedTargets = len(targets)
	return nil
}

// Run works the sweep's queue with a pool of workers until no visit of the
// sweep is pending or leased, or ctx ends. Visits of other sweeps are left
// alone only in the sense that they are done too: the queue is shared.
func (r *Runner) Run(ctx context.Context, sweepID string) (*Summary, error) {
	c := r.cfg()
	start := c.Now()
	sum := &Summary{Sweep: sweepID, ByCategory: map[string]int{}, ByRule: map[string]int{}, Errors: map[string]int{}}
	var mu sync.Mutex
	record := func(f func()) { mu.Lock(); f(); mu.Unlock() }

	// A sweep that was never planned has nothing to do; running it is not
	// a success.
	st, err := r.Queue.SweepStats(ctx, sweepID)
	if err != nil {
		return sum, fmt.Errorf("sweep %s: %w", sweepID, err)
	}
	if st.Visits() == 0 {
		return sum, fmt.Errorf("sweep %s: %w", sweepID, ErrEmptySweep)
	}
	if err := environmentOK(c); err != nil {
		return sum, fmt.Errorf("sweep %s: %w", sweepID, err)
	}

	// Leases held by workers of a process on this host that has died are
	// free now, not when they expire.
	n, err := r.Queue.RevokeLeases(ctx, sweepID, goneWorker(c.Host, os.Getpid()))
	if err != nil {
		return sum, fmt.Errorf("sweep %s: %w", sweepID, err)
	}
	if n > 0 {
		c.Logger.Info("leases of dead workers revoked", "sweep", sweepID, "leases", n)
	}

	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	if c.Progress == nil {
		close(progressStopped)
	} else {
		go func() {
			defer close(progressStopped)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-progressDone:
					return
				case <-t.C:
					if st, err := r.Queue.SweepStats(ctx, sweepID); err == nil {
						c.Progress(st)
					}
				}
			}
		}()
	}

	var wg sync.WaitGroup
	errc := make(chan error, c.Workers)
	for i := 0; i < c.Workers; i++ {
		worker := workerName(c.Host, os.Getpid(), i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.work(ctx, c, sweepID, worker, sum, record); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(progressDone)
	<-progressStopped // Progress is never called twice at once
	close(errc)
	sum.Elapsed = c.Now().Sub(start)
	// The failures are listed also when the run was stopped.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	ferr := r.failures(fctx, sum)
	fcancel()
	if err := <-errc; err != nil {
		return sum, err
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("sweep %s: %w", sweepID, err)
	}
	if ferr != nil {
		return sum, ferr
	}
	if c.Progress != nil {
		if st, err := r.Queue.SweepStats(ctx, sweepID); err == nil {
			c.Progress(st)
		}
	}
	// Close the sweep with a signed, timestamped ledger checkpoint covering
	// every capture it made, and those of runs killed before theirs (a
	// checkpoint that would add nothing is not made).
	if c.Notary != nil && c.Notary.Ledger != nil && c.Notary.Ledger.Size() > 0 {
		if _, err := c.Notary.Ledger.Checkpoint(ctx); err != nil {
			return sum, fmt.Errorf("sweep %s: ledger checkpoint: %w", sweepID, err)
		}
		// Witnesses that cannot be reached are logged and asked again on
		// the next checkpoint or export; the sweep's work is kept.
		if c.Notary.Witnesses != nil {
			_ = c.Notary.Witnesses.Submit(ctx)
		}
	}
	return sum, nil
}

// work is one worker's loop.
func (r *Runner) work(ctx context.Context, c Config, sweepID, worker string, sum *Summary, record func(func())) error {
	idle := 20 * time.Millisecond
	for ctx.Err() == nil {
		vs, err := r.Queue.Lease(ctx, worker, 1, c.LeaseTTL)
		if err != nil {
			return fmt.Errorf("worker %s: %w", worker, err)
		}
		if len(vs) == 0 {
			st, err := r.Queue.SweepStats(ctx, sweepID)
			if err != nil {
				return fmt.Errorf("worker %s: %w", worker, err)
			}
			if st.Pending == 0 && st.Leased == 0 {
				return nil
			}
			// Others hold leases; a dead one's lease expires in time.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(idle):
			}
			if idle < 100*time.Millisecond {
				idle *= 2
			}
			continue
		}
		idle = 20 * time.Millisecond
		v := vs[0]
		out, err := r.visit(ctx, c, worker, v)
		if out != nil {
			record(func() { out.addTo(sum) })
		}
		switch {
		case errors.Is(err, db.ErrLeaseLost):
			c.Logger.Warn("lease lost; another worker owns the visit now", "visit", v.ID, "url", v.URL, "worker", worker)
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

// outcome is what one visit adds to the summary.
type outcome struct {
	done, failed bool
	findings     []shopwatch.Finding
	missing      int // of findings, those kept without evidence
	evidence     bool
	reused       bool
	abandoned    int
	errText      string
}

func (o *outcome) addTo(s *Summary) {
	if o.done {
		s.Done++
	}
	if o.failed {
		s.Failed++
	}
	if o.evidence {
		s.Evidence++
	}
	if o.reused {
		s.Reused++
	}
	s.Abandoned += o.abandoned
	s.EvidenceMissing += o.missing
	for _, f := range o.findings {
		s.Findings++
		s.ByCategory[f.Category]++
		s.ByRule[f.Rule]++
	}
	if o.errText != "" {
		s.Errors[o.errText]++
	}
}

// visit does one leased visit: fetch, check, capture, commit. Fetch errors
// are recorded on the visit; only queue and store failures are returned.
func (r *Runner) visit(ctx context.Context, c Config, worker string, v shopwatch.Visit) (*outcome, error) {
	vctx, cancel := context.WithTimeout(ctx, c.VisitTimeout)
	defer cancel()
	log := c.Logger.With("visit", v.ID, "url", v.URL, "worker", worker)

	// Heartbeat: keep the lease while the visit runs.
	hbDone := make(chan struct{})
	var leaseMu sync.Mutex
	lease := v
	go func() {
		t := time.NewTicker(c.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-vctx.Done():
				return
			case <-t.C:
				leaseMu.Lock()
				nv, err := r.Queue.Extend(vctx, lease, c.LeaseTTL)
				if err == nil {
					lease = nv
				}
				leaseMu.Unlock()
				if err != nil && vctx.Err() == nil {
					log.Warn("lease heartbeat failed", "err", err)
				}
			}
		}
	}()
	current := func() shopwatch.Visit {
		close(hbDone)
		leaseMu.Lock()
		defer leaseMu.Unlock()
		return lease
	}

	// Settle what earlier attempts of this visit captured: complete with a
	// complete capture, set incomplete ones aside.
	prev, abandoned, err := r.settle(vctx, c, v, log)
	switch {
	case err != nil:
		lv := current()
		if ctx.Err() != nil {
			r.release(ctx, lv, log)
			return &outcome{abandoned: abandoned}, ctx.Err()
		}
		if errors.Is(err, db.ErrLeaseLost) {
			return &outcome{abandoned: abandoned}, err
		}
		log.Error("earlier captures of the visit could not be settled; visit will be retried", "err", err)
		if ferr := r.Queue.Fail(ctx, lv, fmt.Errorf("settle earlier captures: %w", err), lv.RetryBase+c.MaxAttempts); ferr != nil {
			return &outcome{abandoned: abandoned}, fmt.Errorf("record settle failure of %s: %w", v.URL, ferr)
		}
		return &outcome{errText: "settling earlier captures failed", abandoned: abandoned}, nil
	case prev != nil:
		lv := current()
		children := r.children(v, prev.page, c.Now().UTC())
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer ccancel()
		if err := r.Queue.Complete(cctx, lv, db.Result{Findings: prev.findings, Evidence: prev.rec, Children: children}); err != nil {
			return &outcome{abandoned: abandoned}, fmt.Errorf("complete visit %s with capture %s of an earlier attempt: %w", v.URL, prev.rec.ID, err)
		}
		log.Info("visit completed with the capture of an earlier attempt", "evidence_id", prev.rec.ID, "findings", len(prev.findings))
		return &outcome{done: true, findings: prev.findings, evidence: true, reused: true, abandoned: abandoned}, nil
	}

	fetch := r.Fetcher
	if v.Browser {
		fetch = r.Browser
	}
	var page *shopwatch.Page
	var ferr error
	if fetch == nil {
		ferr = fmt.Errorf("visit %s: %w", v.URL, ErrNoBrowser)
	} else if v.Browser {
		page, ferr = r.render(vctx, c, v)
	} else {
		page, ferr = fetch.Fetch(vctx, v.URL)
		if c.AutoBrowser && r.Browser != nil && ferr == nil && crawler.NeedsScript(page) {
			// Static first; this page draws its content with scripts.
			log.Info("page needs scripts; rendering it in the browser")
			if rp, rerr := r.render(vctx, c, v); rp.Responded() {
				page, ferr = rp, rerr
			} else {
				log.Warn("browser rendering failed; keeping the static page", "err", rerr)
			}
		}
	}
	if page != nil && page.Rendered && page.Robots == nil {
		// The browser path keeps robots.txt through the static fetcher's
		// per-origin record.
		if f, ok := r.Fetcher.(*crawler.Fetcher); ok && f.Config().RecordRobots {
			page.Robots, _ = f.Robots(vctx, page.FinalURL)
		}
	}
	if !page.Responded() {
		lv := current()
		if ferr == nil {
			ferr = errors.New("fetch returned no page")
		}
		if ctx.Err() != nil {
			r.release(ctx, lv, log)
			return &outcome{abandoned: abandoned}, ctx.Err()
		}
		max := lv.RetryBase + c.MaxAttempts
		if permanent(ferr) || errors.Is(ferr, ErrNoBrowser) {
			max = lv.Attempts // retrying cannot help
		}
		log.Warn("visit failed", "err", ferr, "attempt", lv.Attempts)
		if err := r.Queue.Fail(ctx, lv, ferr, max); err != nil {
			return &outcome{abandoned: abandoned}, fmt.Errorf("record failure of %s: %w", v.URL, err)
		}
		failed := lv.Attempts >= max
		return &outcome{failed: failed, errText: errorClass(ferr, v.URL), abandoned: abandoned}, nil
	}
	page.Kind, page.Category, page.TargetID, page.VisitID = v.Kind, v.Category, v.TargetID, v.ID

	if page.Category == "" {
		// No configured category: read it off the page (breadcrumbs,
		// structured data, title, text) so category rules still apply.
		page.Category = rules.DetectCategory(page.Title, page.Text, page.HTML)
	}
	var findings []shopwatch.Finding
	if page.Text != "" || page.HTML != "" {
		findings = r.Rules.Check(rules.Input{URL: page.FinalURL, Kind: v.Kind, Category: page.Category, Text: page.Text, HTML: page.HTML, Regions: page.Regions})
	}
	// On a watched live page, say when each matched text was on screen.
	crawler.AnnotateSeen(page, findings)
	now := c.Now().UTC()
	for i := range findings {
		findings[i].TargetID, findings[i].VisitID, findings[i].Time = v.TargetID, v.ID, now
		if findings[i].URL == "" {
			findings[i].URL = page.FinalURL
		}
	}

	var rec *shopwatch.EvidenceRecord
	if len(findings) > 0 || c.CaptureAll {
		r.staticScreenshot(vctx, page, len(findings) > 0, log)
		var err error
		// The capture's evidence id is recorded against the visit before
		// its first object is stored, so a later attempt finds it.
		store := &intentStore{Store: r.Store, start: func(ctx context.Context, id string) error {
			return r.Queue.StartCapture(ctx, v, id)
		}}
		rec, err = evidence.Capture(vctx, store, r.Signer, page, findings, evidence.CaptureMeta{
			Operator:    c.Operator,
			Host:        c.Host,
			ClockSource: c.ClockSource,
			Environment: c.Environment,
			Version:     shopwatch.Version,
			Now:         c.Now,
			Notary:      c.Notary,
		})
		if err != nil {
			// Evidence is never dropped silently: the visit is retried, and
			// when its attempts are used up it fails with its findings kept,
			// marked evidence missing, for the next sweep or a resume.
			lv := current()
			if ctx.Err() != nil {
				// Stopped, not failed: the lease goes back for the resume.
				r.release(ctx, lv, log)
				return &outcome{abandoned: abandoned}, ctx.Err()
			}
			max := lv.RetryBase + c.MaxAttempts
			final := lv.Attempts >= max
			cause := fmt.Errorf("capture evidence: %w", err)
			if final {
				log.Error("evidence capture failed; visit failed, its findings kept without evidence", "err", err, "attempt", lv.Attempts, "findings", len(findings))
			} else {
				log.Warn("evidence capture failed; visit will be retried", "err", err, "attempt", lv.Attempts)
			}
			res := db.Result{Findings: findings, Children: r.children(v, page, now)}
			if ferr := r.Queue.FailCapture(ctx, lv, cause, max, res); ferr != nil {
				return &outcome{abandoned: abandoned}, fmt.Errorf("record capture failure of %s: %w", v.URL, ferr)
			}
			out := &outcome{failed: final, errText: "capture evidence: " + rootCause(err), abandoned: abandoned}
			if final {
				out.findings, out.missing = findings, len(findings)
			}
			return out, nil
		}
		for i := range findings {
			findings[i].EvidenceID = rec.ID
		}
	}

	children := r.children(v, page, now)
	lv := current()
	// What was fetched and captured is committed even when the sweep is
	// being stopped.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ccancel()
	if err := r.Queue.Complete(cctx, lv, db.Result{Findings: findings, Evidence: rec, Children: children, Error: errString(ferr)}); err != nil {
		return &outcome{abandoned: abandoned}, fmt.Errorf("complete visit %s: %w", v.URL, err)
	}
	out := &outcome{done: true, findings: findings, evidence: rec != nil, abandoned: abandoned}
	if ferr != nil {
		out.errText = errorClass(ferr, v.URL)
		log.Info("visit done with fetch error", "err", ferr)
	}
	return out, nil
}

// release gives the lease of v back when the sweep is stopped, so that a
// resume takes the visit up at once.
func (r *Runner) release(ctx context.Context, v shopwatch.Visit, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.Queue.Release(rctx, v); err != nil && !errors.Is(err, db.ErrLeaseLost) {
		log.Warn("lease not returned; the visit is taken up again when it expires", "err", err)
	}
}

// earlier is a complete capture an earlier attempt of a visit stored but did
// not commit, with what it recorded.
type earlier struct {
	rec      *shopwatch.EvidenceRecord
	findings []shopwatch.Finding
	page     *shopwatch.Page // URL, FinalURL and Links: enough for the children
}

// settle looks at the captures earlier attempts of v started and left
// started. The first that is complete and verifies is returned, with its
// manifest entered in the ledger; every other is abandoned with the reason.
// It returns how many it abandoned. An error (the queue or the ledger
// failing, ctx ending) abandons nothing more.
func (r *Runner) settle(ctx context.Context, c Config, v shopwatch.Visit, log *slog.Logger) (*earlier, int, error) {
	caps, err := r.Queue.VisitCaptures(ctx, v.ID)
	if err != nil {
		return nil, 0, err
	}
	var use *earlier
	abandoned := 0
	for _, cp := range caps {
		if cp.State != db.CaptureStarted {
			continue
		}
		var why string
		if use == nil {
			var manifest []byte
			use, manifest, why = r.inspect(ctx, c, v, cp.EvidenceID)
			if err := ctx.Err(); err != nil {
				return nil, abandoned, err // a cut-short check decides nothing
			}
			if use != nil {
				if n := c.Notary; n != nil && n.Ledger != nil {
					// The earlier attempt may have died before the
					// ledger append; the ledger adds a manifest once.
					if _, err := n.Ledger.Append(ctx, evidence.LedgerLeaf(manifest)); err != nil {
						return nil, abandoned, fmt.Errorf("ledger entry of capture %s: %w", cp.EvidenceID, err)
					}
				}
				continue
			}
		} else {
			why = "the visit completes with capture " + use.rec.ID + " of an earlier attempt"
		}
		if err := r.Queue.AbandonCapture(ctx, v, cp.EvidenceID, why); err != nil {
			return nil, abandoned, err
		}
		abandoned++
		log.Warn("capture of an earlier attempt abandoned; its objects stay in the store, unindexed", "evidence_id", cp.EvidenceID, "reason", why)
	}
	return use, abandoned, nil
}

// maxManifest bounds the findings and metadata files inspect reads into
// memory.
const maxManifest = 64 << 20

// inspect checks the capture id in the store. When it is complete and
// verifies (manifest.json stored, signed by this runner's key, for visit v,
// timestamped when captures are, and every listed object present with its
// size and digests) it returns the capture's record, findings and page
// links and the manifest bytes; otherwise it says why it cannot be used.
func (r *Runner) inspect(ctx context.Context, c Config, v shopwatch.Visit, id string) (*earlier, []byte, string) {
	check := evidence.CaptureCheck{VisitID: v.ID, Artifacts: true}
	if r.Signer != nil {
		check.KeyID = r.Signer.KeyID()
	}
	if c.Notary != nil && c.Notary.TSA != nil {
		// A capture made while captures are timestamped must carry a token
		// over its manifest from this node's authority.
		check.Sealed = true
		check.TSARoots = x509.NewCertPool()
		check.TSARoots.AppendCertsFromPEM(c.Notary.TSARoot)
	}
	cp, err := evidence.CheckCapture(ctx, r.Store, id, check)
	if err != nil {
		return nil, nil, err.Error()
	}
	rec, m := cp.Record, cp.Manifest
	out := &earlier{rec: rec, page: &shopwatch.Page{URL: m.URL, FinalURL: m.FinalURL}}
	for _, a := range rec.Artifacts {
		switch a.Name {
		case evidence.FindingsFile:
			b, err := readArtifact(ctx, r.Store, a)
			if err == nil {
				err = json.Unmarshal(b, &out.findings)
			}
			if err != nil {
				return nil, nil, "unreadable findings.json: " + err.Error()
			}
		case evidence.MetadataFile:
			b, err := readArtifact(ctx, r.Store, a)
			var md struct {
				FinalURL string   `json:"final_url"`
				Links    []string `json:"links"`
			}
			if err == nil {
				err = json.Unmarshal(b, &md)
			}
			if err != nil {
				return nil, nil, "unreadable metadata.json: " + err.Error()
			}
			if md.FinalURL != "" {
				out.page.FinalURL = md.FinalURL
			}
			out.page.Links = md.Links
		}
	}
	if len(out.findings) != m.Findings {
		return nil, nil, fmt.Sprintf("findings.json holds %d findings, the manifest says %d", len(out.findings), m.Findings)
	}
	if out.page.FinalURL == "" {
		out.page.FinalURL = v.URL
	}
	return out, cp.ManifestBytes, ""
}

// readArtifact reads one small artifact of a record, checking its size and
// digests.
func readArtifact(ctx context.Context, s evidence.Store, a shopwatch.Artifact) ([]byte, error) {
	sha, err := evidence.ParseDigest(a.SHA256)
	if err != nil {
		return nil, err
	}
	sm3, err := evidence.ParseDigest(a.SM3)
	if err != nil {
		return nil, err
	}
	if a.Size > maxManifest {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", a.Key, a.Size, maxManifest)
	}
	return evidence.ReadVerified(ctx, s, a.Key, a.Size, sha, sm3)
}

// intentStore is the store a capture writes through: before the first
// object of an evidence id is stored, it has the id recorded against the
// visit (start), so that whatever the capture leaves behind is found by the
// visit's next attempt. When start fails nothing of that id is stored.
type intentStore struct {
	evidence.Store
	start func(ctx context.Context, evidenceID string) error

	mu      sync.Mutex
	started map[string]bool
}

var _ evidence.Store = (*intentStore)(nil)

// Put implements evidence.Store.
func (s *intentStore) Put(ctx context.Context, key string, r io.Reader, size int64, sha256 evidence.Digest) error {
	rest, ok := strings.CutPrefix(key, evidence.KeyPrefix)
	id, _, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || id == "" {
		return fmt.Errorf("capture put %q: %w: not under %s<evidence id>/", key, evidence.ErrInvalidKey, evidence.KeyPrefix)
	}
	s.mu.Lock()
	if !s.started[id] {
		if err := s.start(ctx, id); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("capture put %q: %w", key, err)
		}
		if s.started == nil {
			s.started = map[string]bool{}
		}
		s.started[id] = true
	}
	s.mu.Unlock()
	return s.Store.Put(ctx, key, r, size, sha256)
}

// workerName is the name a worker leases under: host, process id and the
// worker's number, so that goneWorker can tell a dead process's workers.
func workerName(host string, pid, i int) string {
	return fmt.Sprintf("%s/%d/w%d", host, pid, i)
}

// goneWorker returns a test for worker names made by workerName: true for
// a worker of a process on this host (other than self) that no longer
// runs. Workers of other hosts, or of unknown form, are never gone: their
// leases run out on their own.
func goneWorker(host string, self int) func(string) bool {
	return func(worker string) bool {
		i := strings.LastIndexByte(worker, '/')
		if i < 0 {
			return false
		}
		j := strings.LastIndexByte(worker[:i], '/')
		if j < 0 || worker[:j] != host {
			return false
		}
		pid, err := strconv.Atoi(worker[j+1 : i])
		if err != nil || pid <= 0 || pid == self {
			return false
		}
		return !processAlive(pid)
	}
}

// processAlive reports whether process pid exists. When it cannot tell it
// says yes, so that a live worker never loses its lease to a guess.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	defer p.Release()
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// permanent reports whether a fetch error will not go away on retry.
func permanent(err error) bool {
	return crawler.Permanent(err)
}

// children are the links of a page that the sweep follows: same host, inside
// the path scope of the visit (the folder of its URL), while depth remains.
func (r *Runner) children(v shopwatch.Visit, page *shopwatch.Page, now time.Time) []shopwatch.Visit {
	if v.Depth <= 0 || len(page.Links) == 0 {
		return nil
	}
	base, err := url.Parse(page.FinalURL)
	if err != nil {
		return nil
	}
	scope := base.Path
	if i := strings.LastIndexByte(scope, '/'); i >= 0 {
		scope = scope[:i+1]
	}
	seen := map[string]bool{}
	var out []shopwatch.Visit
	for _, l := range page.Links {
		u, err := url.Parse(l)
		if err != nil || u.Host != base.Host || !strings.HasPrefix(u.Path, scope) {
			continue
		}
		u.Fragment = ""
		s := u.String()
		if seen[s] || s == page.FinalURL || s == v.URL {
			continue
		}
		seen[s] = true
		out = append(out, shopwatch.Visit{
			ID:       db.VisitID(v.Sweep, s),
			Sweep:    v.Sweep,
			TargetID: v.TargetID,
			URL:      s,
			Kind:     shopwatch.KindProduct,
			Category: v.Category,
			Depth:    v.Depth - 1,
			Priority: v.Priority,
			Browser:  v.Browser,
			Mobile:   v.Mobile,
			Parent:   v.ID,
			State:    shopwatch.VisitPending,
			Enqueued: now,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// rootCause is the text of the innermost error err wraps (say "no space
// left on device"), for counting like failures whose messages name
// different keys.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// errorClass is an error's text with the URL replaced by "<url>", for
// counting like errors (the failed pages are listed with their URLs).
func errorClass(err error, u string) string {
	return strings.ReplaceAll(err.Error(), u, "<url>")
}
