package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/envcheck"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
	"shopwatch/rules"
	"shopwatch/sweep"
)

// rig is one sweep's parts on a real marketplace served on loopback.
type rig struct {
	m      *marketsim.Market
	base   string
	db     *db.DB
	runner *sweep.Runner
	store  evidence.Store
	dir    string
}

func newRig(t *testing.T, shops int, fetch sweep.Fetcher) *rig {
	t.Helper()
	cfg := crawler.DefaultConfig()
	cfg.AllowLoopback()
	cfg.MaxBodySize = 1 << 20
	return newRigWith(t, shops, fetch, cfg)
}

// withBrowser gives the rig's runner a real headless Chromium (at
// chromium) that may open loopback pages, closed when the test ends.
func (g *rig) withBrowser(t *testing.T, chromium string) *crawler.LazyBrowser {
	t.Helper()
	bc := crawler.DefaultBrowserConfig()
	bc.AllowLoopback()
	bc.ExecPath = chromium
	lb := crawler.NewLazyBrowser(bc)
	t.Cleanup(func() { lb.Close() })
	g.runner.Browser = lb
	return lb
}

func newRigWith(t *testing.T, shops int, fetch sweep.Fetcher, cc crawler.Config) *rig {
	t.Helper()
	m := marketsim.New(marketsim.Config{Seed: 7, Shops: shops})
	base := marketsim.ServeFor(t, m)
	dir := t.TempDir()
	d, err := db.Open(filepath.Join(dir, "shopwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := folderstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	sg, err := evidence.LoadOrCreateSigner(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	if fetch == nil {
		f, err := crawler.New(cc)
		if err != nil {
			t.Fatal(err)
		}
		fetch = f
	}
	authority, err := tsa.LoadOrCreateAuthority(filepath.Join(dir, "tsa"))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(filepath.Join(dir, "ledger"), sg, authority)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	notary := &evidence.Notary{TSA: authority, TSARoot: authority.RootPEM(), Ledger: lg}
	r := &sweep.Runner{Queue: d, Fetcher: fetch, Rules: rs, Store: st, Signer: sg,
		Config: sweep.Config{Workers: 6, LeaseTTL: 3 * time.Second, MaxAttempts: 2, Operator: "test", Notary: notary}}
	return &rig{m: m, base: base, db: d, runner: r, store: st, dir: dir}
}

func (g *rig) targets(t *testing.T) []shopwatch.Target {
	t.Helper()
	var ts []shopwatch.Target
	err := g.m.Targets(g.base, func(x shopwatch.Target) error {
		if err := g.db.AddTarget(context.Background(), &x); err != nil {
			return err
		}
		ts = append(ts, x)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func assertTruth(t *testing.T, g *rig, sweepID string) []shopwatch.Finding {
	t.Helper()
	found, err := g.db.ListFindings(context.Background(), db.Filter{Sweep: sweepID})
	if err != nil {
		t.Fatal(err)
	}
	checkScore(t, g.m, g.base, found)
	return found
}

// checkScore compares found with the marketplace's ground truth: every
// expected finding present, none unexpected.
func checkScore(t *testing.T, m *marketsim.Market, base string, found []shopwatch.Finding) {
	t.Helper()
	score, err := marketsim.Compare(m, base, found)
	if err != nil {
		t.Fatal(err)
	}
	if score.Expected == 0 {
		t.Fatal("ground truth expects no finding at all; the marketplace is not exercising the rules")
	}
	for _, x := range score.Missed {
		t.Errorf("missed: %s %s %q", x.URL, x.Rule, x.Match)
	}
	for _, x := range score.Unexpected {
		t.Errorf("unexpected: %s %s %q", x.URL, x.Rule, x.Match)
	}
}

// TestSweepMatchesGroundTruth sweeps a few hundred marketplace pages and
// compares every finding with the marketplace's ground truth: every expected
// finding present, none on compliant pages.
func TestSweepMatchesGroundTruth(t *testing.T) {
	g := newRig(t, 60, nil)
	ctx := context.Background()
	ts := g.targets(t)
	sweepID, err := g.db.CreateSweep(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != g.m.Pages() {
		t.Errorf("sweep did %d pages, marketplace has %d", sum.Done, g.m.Pages())
	}
	if sum.Failed != 0 {
		t.Errorf("%d visits failed: %v", sum.Failed, sum.Errors)
	}
	found := assertTruth(t, g, sweepID)
	if sum.Findings != len(found) {
		t.Errorf("summary counts %d findings, db holds %d", sum.Findings, len(found))
	}

	// Every finding points at evidence; every evidence record verifies as a bundle.
	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]shopwatch.EvidenceRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, f := range found {
		if _, ok := byID[f.EvidenceID]; !ok {
			t.Fatalf("finding %s on %s has evidence id %q that is not recorded", f.Rule, f.URL, f.EvidenceID)
		}
	}
	checked := 0
	for _, r := range recs[:min(3, len(recs))] {
		path := filepath.Join(t.TempDir(), r.ID+".zip")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := evidence.Export(ctx, g.store, &r, f, evidence.WithNotary(g.runner.Config.Notary)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		rep, err := evidence.VerifyBundle(path)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Errorf("bundle of %s does not verify: %+v", r.URL, rep)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no evidence to export")
	}
}

// TestSweepResumesAfterInterruption stops a sweep part-way, throws its
// worker state away, resumes with a fresh runner and checks the result is
// the same as an uninterrupted sweep: nothing lost, nothing twice.
func TestSweepResumesAfterInterruption(t *testing.T) {
	g := newRig(t, 30, nil)
	ts := g.targets(t)
	ctx := context.Background()
	sweepID, err := g.db.CreateSweep(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	// Cancel the first run after some visits complete.
	var done atomic.Int32
	cctx, cancel := context.WithCancel(ctx)
	g.runner.Config.Progress = nil
	inner := g.runner.Fetcher
	g.runner.Fetcher = fetchFunc(func(ctx context.Context, u string) (*shopwatch.Page, error) {
		if done.Add(1) == 25 {
			cancel()
		}
		return inner.Fetch(ctx, u)
	})
	if _, err := g.runner.Run(cctx, sweepID); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	st, err := g.db.SweepStats(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done == 0 || st.Pending+st.Leased == 0 {
		t.Fatalf("interruption came at the wrong moment: %+v", st)
	}
	// Leases of the interrupted workers expire; a new runner resumes.
	g.runner.Fetcher = inner
	if _, err := g.runner.Run(ctx, sweepID); err != nil {
		t.Fatal(err)
	}
	st, err = g.db.SweepStats(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != g.m.Pages() || st.Pending != 0 || st.Leased != 0 {
		t.Fatalf("after resume: %+v, want %d done", st, g.m.Pages())
	}
	found := assertTruth(t, g, sweepID)
	seen := map[string]bool{}
	for _, f := range found {
		k := f.URL + "|" + f.Rule + "|" + f.Match + "|" + fmt.Sprint(f.Offset)
		if seen[k] {
			t.Errorf("finding recorded twice: %s", k)
		}
		seen[k] = true
	}
}

type fetchFunc func(ctx context.Context, u string) (*shopwatch.Page, error)

func (f fetchFunc) Fetch(ctx context.Context, u string) (*shopwatch.Page, error) { return f(ctx, u) }

// TestSweepGoesOnPastBadTargets mixes broken targets into a sweep: each
// ends as a failed visit with an error naming the problem, and the good
// targets are still done.
func TestSweepGoesOnPastBadTargets(t *testing.T) {
	g := newRig(t, 3, nil)
	ctx := context.Background()
	ts := g.targets(t)
	closed := closedPort(t)
	bad := []struct{ url, want string }{
		{"http://" + closed + "/shop/1/", "connect"},
		{g.base + "/bad/redirect-loop", "redirect"},
		{g.base + "/bad/binary", "html"},
		{g.base + "/bad/status500", "500"},
		{g.base + "/bad/malformed", ""},
		{g.base + "/bad/huge?mb=4", "too large"},
	}
	for _, b := range bad {
		ts = append(ts, shopwatch.Target{ID: "bad-" + b.url, URL: b.url, Kind: shopwatch.KindProduct})
	}
	sweepID, err := g.db.CreateSweep(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	g.runner.Config.CaptureAll = true
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	if want := g.m.Pages() + 3; sum.Done < want {
		t.Errorf("done %d, want at least %d (every good page plus the malformed, huge and 500 pages)", sum.Done, want)
	}
	visits, err := g.db.ListVisits(ctx, sweepID, "")
	if err != nil {
		t.Fatal(err)
	}
	byURL := map[string]shopwatch.Visit{}
	for _, v := range visits {
		byURL[v.URL] = v
	}
	for _, b := range bad {
		v, ok := byURL[b.url]
		if !ok {
			t.Errorf("%s: no visit", b.url)
			continue
		}
		if b.want != "" && !strings.Contains(strings.ToLower(v.Error), b.want) {
			t.Errorf("%s: state %s error %q, want it to mention %q", b.url, v.State, v.Error, b.want)
		}
	}
	if v := byURL[bad[0].url]; v.State != shopwatch.VisitFailed {
		t.Errorf("unreachable host: state %s, want failed", v.State)
	}
	// The truncated huge body is preserved, its truncation recorded.
	if v := byURL[g.base+"/bad/huge?mb=4"]; v.EvidenceID == "" {
		t.Errorf("huge body: no evidence recorded (state %s, error %q)", v.State, v.Error)
	} else {
		rec, err := g.db.GetEvidence(ctx, v.EvidenceID)
		if err != nil {
			t.Fatal(err)
		}
		var size int64
		for _, a := range rec.Artifacts {
			if strings.HasSuffix(a.Name, "-response.http") {
				size = a.Size
			}
		}
		if size < 1<<20 || size > 1<<20+4096 {
			t.Errorf("huge body: stored response is %d bytes, want the 1 MiB cap plus headers", size)
		}
	}
	var keys []string
	for k := range sum.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("errors: %v", keys)
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestSweepBrowserTargets sends targets flagged for the browser through real
// headless Chromium: their findings match the ground truth and their
// evidence carries a screenshot.
func TestSweepBrowserTargets(t *testing.T) {
	chromium := testparts.Chromium(t)
	g := newRig(t, 8, nil)
	g.withBrowser(t, chromium)
	g.runner.Config.Workers = 2
	ctx := context.Background()
	var ts []shopwatch.Target
	if err := g.m.Truth(g.base, func(pt marketsim.PageTruth) error {
		if pt.Kind == shopwatch.KindProduct && len(pt.Expect) > 0 && len(ts) < 3 {
			ts = append(ts, shopwatch.Target{ID: "t-" + pt.URL, URL: pt.URL, Kind: pt.Kind, Category: pt.Category, Browser: true})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 {
		t.Fatal("no violating product page to render")
	}
	sweepID, err := g.db.CreateSweep(ctx, "browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != len(ts) || sum.Failed != 0 {
		t.Fatalf("browser sweep: %+v", sum)
	}
	found, err := g.db.ListFindings(ctx, db.Filter{Sweep: sweepID})
	if err != nil {
		t.Fatal(err)
	}
	expected := map[string]bool{}
	_ = g.m.Truth(g.base, func(pt marketsim.PageTruth) error {
		for _, e := range pt.Expect {
			expected[pt.URL+"|"+e.Rule+"|"+e.Match] = true
		}
		return nil
	})
	got := map[string]bool{}
	for _, f := range found {
		k := f.URL + "|" + f.Rule + "|" + f.Match
		if !expected[k] {
			t.Errorf("unexpected finding from the rendered page: %s", k)
		}
		got[k] = true
	}
	for _, tg := range ts {
		any := false
		for k := range got {
			if strings.HasPrefix(k, tg.URL+"|") {
				any = true
			}
		}
		if !any {
			t.Errorf("%s: no finding from the rendered page", tg.URL)
		}
	}
	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkWARCs(t, g, recs)
	for _, r := range recs {
		shot := false
		for _, a := range r.Artifacts {
			if a.Name == "screenshot.png" && a.Size > 1000 {
				shot = true
			}
		}
		if !shot {
			t.Errorf("evidence %s of %s has no screenshot", r.ID, r.URL)
		}
	}
}

// TestSweepBrowserTargetWithoutBrowser fails such a visit with a clear error
// instead of fetching it the static way.
func TestSweepBrowserTargetWithoutBrowser(t *testing.T) {
	g := newRig(t, 1, nil)
	ctx := context.Background()
	sweepID, _ := g.db.CreateSweep(ctx, "nobrowser")
	u := g.base + "/shop/1/"
	if _, err := g.runner.Plan(ctx, sweepID, []shopwatch.Target{{ID: "t1", URL: u, Kind: shopwatch.KindStorefront, Browser: true}}); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.db.GetVisit(ctx, db.VisitID(sweepID, u))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || v.State != shopwatch.VisitFailed || !strings.Contains(v.Error, "browser") {
		t.Errorf("summary %+v, visit %s %q", sum, v.State, v.Error)
	}
}

// TestSweepDetectsCategory removes the configured category of every target:
// the sweep reads it off each page, and the findings still match the truth.
func TestSweepDetectsCategory(t *testing.T) {
	g := newRig(t, 30, nil)
	ctx := context.Background()
	ts := g.targets(t)
	for i := range ts {
		ts[i].Category = ""
	}
	sweepID, err := g.db.CreateSweep(ctx, "nocategory")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Run(ctx, sweepID); err != nil {
		t.Fatal(err)
	}
	found := assertTruth(t, g, sweepID)
	rules := map[string]bool{}
	for _, f := range found {
		rules[f.Rule] = true
	}
	for _, r := range []string{marketsim.RuleMedicalClaimFood, marketsim.RuleMedicalClaimCosmetics, marketsim.RuleFoodPermitMissing} {
		if !rules[r] {
			t.Errorf("no %s finding: the category-specific rule never applied", r)
		}
	}
}

// A session whose capture-environment check failed (a proxy in the
// environment) captures nothing: Run refuses before the first visit. Set
// explicitly, AllowEnvironmentFailure lets it capture, and every capture
// carries the failed record.
func TestSweepRefusesFailedEnvironment(t *testing.T) {
	g := newRig(t, 3, nil)
	ctx := context.Background()
	ts := g.targets(t)
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	rep, err := envcheck.Check(ctx, envcheck.Config{Targets: []string{g.base}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("the environment check passed with HTTPS_PROXY set")
	}
	env, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	g.runner.Config.Environment = env
	sweepID, err := g.db.CreateSweep(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, sweepID)
	if !errors.Is(err, sweep.ErrEnvironmentFailed) || !strings.Contains(err.Error(), "HTTPS_PROXY") {
		t.Fatalf("Run with a failed environment check = %v, want ErrEnvironmentFailed naming HTTPS_PROXY", err)
	}
	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	objects := 0
	if err := g.store.List(ctx, evidence.KeyPrefix, func(evidence.Info) error { objects++; return nil }); err != nil {
		t.Fatal(err)
	}
	if sum.Done != 0 || len(recs) != 0 || objects != 0 {
		t.Fatalf("the refused session visited %d pages, recorded %d captures, stored %d objects", sum.Done, len(recs), objects)
	}

	g.runner.Config.AllowEnvironmentFailure = true
	sum, err = g.runner.Run(ctx, sweepID)
	if err != nil {
		t.Fatalf("Run with AllowEnvironmentFailure: %v", err)
	}
	if recs, _ = g.db.ListEvidence(ctx); sum.Done == 0 || len(recs) == 0 {
		t.Fatalf("with AllowEnvironmentFailure: %d pages, %d captures", sum.Done, len(recs))
	}
	rc, err := g.store.Get(ctx, evidence.RecordKey(recs[0].ID, evidence.EnvironmentFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ok": false`) {
		t.Errorf("the capture's environment.json does not record the failure:\n%s", b)
	}
}
