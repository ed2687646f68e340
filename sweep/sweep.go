// Package sweep is shopwatch's pipeline: it plans visits for targets into the
// persistent queue and runs a pool of workers that lease visits, fetch each
// page, check it against the rules, capture evidence and record the result.
//
// All state lives in the queue (bbolt by default), so a sweep killed at any
// point resumes where it stopped: a visit leased by a dead worker is handed
// out again when its lease expires, and a completed visit is never redone.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
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
	SweepStats(ctx context.Context, sweep string) (db.Stats, error)
}

// Fetcher fetches one page. *crawler.Fetcher implements it. A fetch that
// fails after bytes were exchanged returns the page with its exchanges and
// the error, so the exchange can still be preserved.
type Fetcher interface {
	Fetch(ctx context.Context, rawURL string) (*shopwatch.Page, error)
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
	// Environment is the capture-environment report of this session,
	// stored in every capture; ClockSource names what the clock was checked
	// against ("system clock" when unchecked).
	Environment []byte
	ClockSource string
	Host        string // capture host name, recorded in evidence
	Logger      *slog.Logger
	// Progress, when set, is called about once a second with the sweep's counts.
	Progress func(db.Stats)
	// Now is the clock; default time.Now.
	Now func() time.Time
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
	now := r.cfg().Now().UTC()
	visits := make([]shopwatch.Visit, 0, len(targets))
	for _, t := range targets {
		visits = append(visits, shopwatch.Visit{
			ID:       db.VisitID(sweepID, t.URL),
			Sweep:    sweepID,
			TargetID: t.ID,
			URL:      t.URL,
			Kind:     t.Kind,
			Category: t.Category,
			Depth:    t.Depth,
			Priority: t.Priority,
			Browser:  t.Browser,
			State:    shopwatch.VisitPending,
			Enqueued: now,
		})
	}
	n, err := r.Queue.Enqueue(ctx, visits...)
	if err != nil {
		return n, fmt.Errorf("plan sweep %s: %w", sweepID, err)
	}
	return n, nil
}

// Summary is what a sweep run did.
type Summary struct {
	Sweep      string         `json:"sweep"`
	Done       int            `json:"done"`
	Failed     int            `json:"failed"`
	Findings   int            `json:"findings"`
	ByCategory map[string]int `json:"findings_by_category"`
	ByRule     map[string]int `json:"findings_by_rule"`
	Evidence   int            `json:"evidence"`
	Errors     map[string]int `json:"errors,omitempty"` // error text (URL removed) → count
	Elapsed    time.Duration  `json:"elapsed"`
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

	progressDone := make(chan struct{})
	if c.Progress != nil {
		go func() {
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
		worker := fmt.Sprintf("%s/%d/w%d", c.Host, os.Getpid(), i)
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
	close(errc)
	sum.Elapsed = c.Now().Sub(start)
	if err := <-errc; err != nil {
		return sum, err
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("sweep %s: %w", sweepID, err)
	}
	if c.Progress != nil {
		if st, err := r.Queue.SweepStats(ctx, sweepID); err == nil {
			c.Progress(st)
		}
	}
	// Close the sweep with a signed, timestamped ledger checkpoint covering
	// every capture it made.
	if c.Notary != nil && c.Notary.Ledger != nil && sum.Evidence > 0 {
		if _, err := c.Notary.Ledger.Checkpoint(ctx); err != nil {
			return sum, fmt.Errorf("sweep %s: ledger checkpoint: %w", sweepID, err)
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
		switch {
		case errors.Is(err, db.ErrLeaseLost):
			c.Logger.Warn("lease lost; another worker owns the visit now", "visit", v.ID, "url", v.URL, "worker", worker)
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		if out != nil {
			record(func() { out.addTo(sum) })
		}
	}
	return nil
}

// outcome is what one visit adds to the summary.
type outcome struct {
	done, failed bool
	findings     []shopwatch.Finding
	evidence     bool
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
				if err != nil {
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

	fetch := r.Fetcher
	if v.Browser {
		fetch = r.Browser
	}
	var page *shopwatch.Page
	var ferr error
	if fetch == nil {
		ferr = fmt.Errorf("visit %s: %w", v.URL, ErrNoBrowser)
	} else {
		page, ferr = fetch.Fetch(vctx, v.URL)
	}
	if !page.Responded() {
		lv := current()
		if ferr == nil {
			ferr = errors.New("fetch returned no page")
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		max := c.MaxAttempts
		if permanent(ferr) || errors.Is(ferr, ErrNoBrowser) {
			max = lv.Attempts // retrying cannot help
		}
		log.Warn("visit failed", "err", ferr, "attempt", lv.Attempts)
		if err := r.Queue.Fail(ctx, lv, ferr, max); err != nil {
			return nil, fmt.Errorf("record failure of %s: %w", v.URL, err)
		}
		failed := lv.Attempts >= max
		return &outcome{failed: failed, errText: errorClass(ferr, v.URL)}, nil
	}
	page.Kind, page.Category, page.TargetID, page.VisitID = v.Kind, v.Category, v.TargetID, v.ID

	if page.Category == "" {
		// No configured category: read it off the page (breadcrumbs,
		// structured data, title, text) so category rules still apply.
		page.Category = rules.DetectCategory(page.Title, page.Text, page.HTML)
	}
	var findings []shopwatch.Finding
	if page.Text != "" || page.HTML != "" {
		findings = r.Rules.Check(rules.Input{URL: page.FinalURL, Kind: v.Kind, Category: page.Category, Text: page.Text, HTML: page.HTML})
	}
	now := c.Now().UTC()
	for i := range findings {
		findings[i].TargetID, findings[i].VisitID, findings[i].Time = v.TargetID, v.ID, now
		if findings[i].URL == "" {
			findings[i].URL = page.FinalURL
		}
	}

	var rec *shopwatch.EvidenceRecord
	if len(findings) > 0 || c.CaptureAll {
		var err error
		rec, err = evidence.Capture(vctx, r.Store, r.Signer, page, findings, evidence.CaptureMeta{
			Operator:    c.Operator,
			Host:        c.Host,
			ClockSource: c.ClockSource,
			Environment: c.Environment,
			Version:     shopwatch.Version,
			Now:         c.Now,
			Notary:      c.Notary,
		})
		if err != nil {
			// Evidence is never dropped silently: the visit is retried.
			lv := current()
			log.Error("evidence capture failed; visit will be retried", "err", err)
			if ferr := r.Queue.Fail(ctx, lv, fmt.Errorf("capture evidence: %w", err), c.MaxAttempts); ferr != nil {
				return nil, fmt.Errorf("record capture failure of %s: %w", v.URL, ferr)
			}
			return &outcome{errText: "evidence capture failed"}, nil
		}
		for i := range findings {
			findings[i].EvidenceID = rec.ID
		}
	}

	children := r.children(v, page, now)
	lv := current()
	if err := r.Queue.Complete(ctx, lv, db.Result{Findings: findings, Evidence: rec, Children: children, Error: errString(ferr)}); err != nil {
		return nil, fmt.Errorf("complete visit %s: %w", v.URL, err)
	}
	out := &outcome{done: true, findings: findings, evidence: rec != nil}
	if ferr != nil {
		out.errText = errorClass(ferr, v.URL)
		log.Info("visit done with fetch error", "err", ferr)
	}
	return out, nil
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

// errorClass is an error's text without the URL, for counting like errors.
func errorClass(err error, u string) string {
	return strings.ReplaceAll(err.Error(), u, "URL")
}
