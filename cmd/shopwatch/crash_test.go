package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
	"shopwatch/marketsim"
)

// crashPlan is how hard TestSweepSurvivesKills hits the sweep. The default
// fits in about a minute on two cores; SHOPWATCH_SOAK=1 (make soak) runs
// the long variant. SHOPWATCH_CRASH_SEED replays the same choices (the
// timing of a loaded machine still varies).
type crashPlan struct {
	kills, shops int
	seed         uint64
}

func crashPlanFromEnv(t *testing.T) crashPlan {
	p := crashPlan{kills: 20, shops: 55}
	if os.Getenv("SHOPWATCH_SOAK") != "" {
		p.kills, p.shops = 150, 400
	}
	p.seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("SHOPWATCH_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SHOPWATCH_CRASH_SEED=%q: %v", s, err)
		}
		p.seed = n
	}
	return p
}

// buildShopwatch builds the command into a temporary folder, once per test.
func buildShopwatch(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "shopwatch")
	start := time.Now()
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// Phases a kill can find the dead process's visits in.
const (
	phaseIdle       = "startup or between visits" // no visit leased
	phaseFetch      = "fetch or rule check"       // leased, no capture started by this attempt
	phasePartial    = "capture, partly stored"    // capture started, no manifest yet
	phaseUncommited = "captured, not committed"   // manifest stored, visit not completed
)

// TestSweepSurvivesKills runs `shopwatch sweep` as a child process against
// a marketplace served by the test and kills it with SIGKILL after random
// delays, many times, resuming the sweep after each kill, then lets it
// finish. Whatever the kills interrupted (start-up, fetches, captures half
// stored, captures stored but not committed, database commits), the result
// must be as if each visit had been done exactly once: every expected
// finding and no other, no finding twice, one evidence record per visit
// with findings, each exporting and verifying with its timestamp and
// ledger proof, every manifest once in the ledger, the ledger and audit
// log intact, and every object in the store belonging to a capture the
// database accounts for (indexed, or abandoned with no manifest).
func TestSweepSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process many times; not a short test")
	}
	plan := crashPlanFromEnv(t)
	t.Logf("seed %d (SHOPWATCH_CRASH_SEED=%d replays it): %d kills, %d shops", plan.seed, plan.seed, plan.kills, plan.shops)
	rng := rand.New(rand.NewPCG(plan.seed, 0x5eed))
	began := time.Now()
	bin := buildShopwatch(t)

	m := marketsim.New(marketsim.Config{Seed: int64(plan.seed % 1000), Shops: plan.shops})
	base := marketsim.ServeFor(t, m)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("sweep:\n  workers: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfg, "--data", data, "--allow-private"}, args...)...)
		cmd.Env = append(os.Environ(), "HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=")
		return cmd
	}
	resp, err := http.Get(base + "/_targets.csv")
	if err != nil {
		t.Fatal(err)
	}
	csvBytes, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "targets.csv")
	if err := os.WriteFile(csvPath, csvBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(context.Background(), "target", "import", csvPath).CombinedOutput(); err != nil {
		t.Fatalf("target import: %v\n%s", err, out)
	}
	store, err := folderstore.New(filepath.Join(data, "store"))
	if err != nil {
		t.Fatal(err)
	}

	// Kill, inspect, resume. One kill in five comes after a random time
	// (mostly during start-up and planning); the others after a random
	// number of new captures has appeared in the store, plus a random
	// moment, so that they land among fetches, captures and commits.
	var sweepID string
	phases := map[string]int{}
	kills, finishedEarly := 0, false
	for kills < plan.kills {
		args := []string{"sweep", "--all", "--json"}
		if sweepID != "" {
			args = []string{"sweep", "--resume", sweepID, "--json"}
		}
		var when string
		var delay time.Duration
		captures := 0
		if rng.IntN(5) == 0 {
			delay = 10*time.Millisecond + time.Duration(rng.Int64N(int64(450*time.Millisecond)))
			when = fmt.Sprintf("after %dms", delay.Milliseconds())
		} else {
			captures = 1 + rng.IntN(6)
			delay = time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
			when = fmt.Sprintf("%dms after %d new captures", delay.Milliseconds(), captures)
		}
		before := captureFolders(t, data)
		cmd := run(context.Background(), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		started := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var exitErr error
		ran := false
		for captures > 0 && !ran {
			select {
			case exitErr = <-exited:
				ran = true
			case <-time.After(3 * time.Millisecond):
				if captureFolders(t, data) >= before+captures {
					captures = 0
				}
			}
		}
		if !ran {
			select {
			case exitErr = <-exited:
				ran = true
			case <-time.After(delay):
				_ = cmd.Process.Kill() // SIGKILL
				if exitErr = <-exited; exitErr == nil {
					ran = true // it finished just before the kill
				}
			}
		}
		if ran {
			if exitErr != nil {
				t.Fatalf("run %d ended by itself with %v before its kill (%s):\n%s", kills+1, exitErr, when, stderr.String())
			}
			finishedEarly = true
			break
		}
		kills++
		hit, id := inspectKill(t, data, store, sweepID, cmd.Process.Pid)
		if sweepID == "" {
			sweepID = id
		}
		for _, ph := range hit {
			phases[ph]++
		}
		t.Logf("kill %2d at %4dms (%s): %s", kills, time.Since(started).Milliseconds(), when, strings.Join(hit, ", "))
	}
	if finishedEarly {
		t.Logf("the sweep finished after %d kills, before the next one", kills)
	}
	t.Logf("kills done %v after the test began", time.Since(began).Round(time.Millisecond))
	if kills < plan.kills/2 {
		t.Fatalf("only %d of %d kills landed before the sweep finished; make the market bigger", kills, plan.kills)
	}
	if phases[phasePartial]+phases[phaseUncommited] == 0 {
		t.Errorf("no kill landed during a capture (phases %v); the test did not exercise exactly-once evidence", phases)
	}

	// Run to completion.
	if sweepID == "" {
		t.Fatal("no sweep was planned by the killed runs")
	}
	fctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	final := run(fctx, "sweep", "--resume", sweepID, "--json")
	final.Stdout, final.Stderr = &out, &stderr
	if err := final.Run(); err != nil {
		t.Fatalf("final run: %v\n%s", err, stderr.String())
	}
	var sum struct {
		Done, Failed, Evidence int
		Reused                 int `json:"reused_captures"`
		Abandoned              int `json:"abandoned_captures"`
	}
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("final run printed %q: %v", out.String(), err)
	}
	t.Logf("final run: %+v; %v since the test began", sum, time.Since(began).Round(time.Millisecond))

	checkCrashedSweep(t, m, base, data, store, sweepID)
	ledgerOut, err := run(context.Background(), "evidence", "ledger", "verify").CombinedOutput()
	if err != nil || !strings.Contains(string(ledgerOut), "ledger intact") {
		t.Errorf("evidence ledger verify: %v\n%s", err, ledgerOut)
	}
	auditOut, err := run(context.Background(), "audit", "verify").CombinedOutput()
	if err != nil || !strings.Contains(string(auditOut), "intact") {
		t.Errorf("audit verify: %v\n%s", err, auditOut)
	}
	// The command line exports and verifies too (a few records: each is a
	// process of its own).
	d := openCrashDB(t, data)
	recs, err := d.ListEvidence(context.Background())
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2 && len(recs) > 0; i++ {
		rec := recs[rng.IntN(len(recs))]
		bundle := filepath.Join(dir, fmt.Sprintf("cli-%d-%s.zip", i, rec.ID))
		if o, err := run(context.Background(), "evidence", "export", rec.ID, "-o", bundle).CombinedOutput(); err != nil {
			t.Errorf("evidence export %s: %v\n%s", rec.ID, err, o)
			continue
		}
		if o, err := run(context.Background(), "evidence", "verify", bundle).CombinedOutput(); err != nil || !strings.Contains(string(o), "VERIFIED") {
			t.Errorf("evidence verify %s: %v\n%s", rec.ID, err, o)
		}
	}
	keys := make([]string, 0, len(phases))
	for k := range phases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var fig []string
	for _, k := range keys {
		fig = append(fig, fmt.Sprintf("%s: %d", k, phases[k]))
	}
	t.Logf("%d kills in %v; kills that found a visit in each phase: %s", kills, time.Since(began).Round(time.Millisecond), strings.Join(fig, "; "))
}

// captureFolders counts the captures in the folder store (one folder per
// evidence id below store/evidence), complete or not.
func captureFolders(t *testing.T, data string) int {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(data, "store", "evidence"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(es)
}

func openCrashDB(t *testing.T, data string) *db.DB {
	t.Helper()
	d, err := db.Open(filepath.Join(data, "shopwatch.db"), db.WithLockTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// inspectKill reads what the killed run (process pid) left: the phases the
// visits its workers held were in, and the sweep id once one has visits.
// Leases of earlier runs that this one did not get to revoke are not its.
func inspectKill(t *testing.T, data string, store evidence.Store, sweepID string, pid int) ([]string, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := os.Stat(filepath.Join(data, "shopwatch.db")); err != nil {
		return []string{phaseIdle}, ""
	}
	d := openCrashDB(t, data)
	defer d.Close()
	if sweepID == "" {
		sweeps, err := d.ListSweeps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sweeps {
			st, err := d.SweepStats(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Visits() > 0 {
				if sweepID != "" {
					t.Fatalf("two sweeps have visits: %s and %s", sweepID, s.ID)
				}
				sweepID = s.ID
			}
		}
		if sweepID == "" {
			return []string{phaseIdle}, ""
		}
	}
	leased, err := d.ListVisits(ctx, sweepID, shopwatch.VisitLeased)
	if err != nil {
		t.Fatal(err)
	}
	hit := map[string]bool{}
	for _, v := range leased {
		if !strings.Contains(v.Worker, fmt.Sprintf("/%d/w", pid)) {
			continue
		}
		caps, err := d.VisitCaptures(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		ph := phaseFetch
		for _, c := range caps {
			if c.Attempt != v.Attempts || c.State != db.CaptureStarted {
				continue
			}
			_, err := store.Stat(ctx, evidence.RecordKey(c.EvidenceID, evidence.ManifestFile))
			switch {
			case err == nil:
				ph = phaseUncommited
			case errors.Is(err, evidence.ErrNotFound):
				ph = phasePartial
			default:
				t.Fatal(err)
			}
		}
		hit[ph] = true
	}
	if len(hit) == 0 {
		hit[phaseIdle] = true
	}
	var out []string
	for ph := range hit {
		out = append(out, ph)
	}
	sort.Strings(out)
	return out, sweepID
}

// checkCrashedSweep checks the finished sweep against the ground truth and
// its evidence against the store and the ledger.
func checkCrashedSweep(t *testing.T, m *marketsim.Market, base, data string, store evidence.Store, sweepID string) {
	t.Helper()
	ctx := context.Background()
	d := openCrashDB(t, data)
	defer d.Close()
	if err := d.Check(ctx); err != nil {
		t.Errorf("database check: %v", err)
	}
	st, err := d.SweepStats(ctx, sweepID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != m.Pages() || st.Failed != 0 || st.Pending+st.Leased != 0 {
		t.Errorf("sweep %s: %+v, want all %d pages done", sweepID, st, m.Pages())
	}

	// Findings: the ground truth, each once.
	found, err := d.ListFindings(ctx, db.Filter{Sweep: sweepID})
	if err != nil {
		t.Fatal(err)
	}
	score, err := marketsim.Compare(m, base, found)
	if err != nil {
		t.Fatal(err)
	}
	if score.Expected == 0 {
		t.Fatal("the ground truth expects no finding: the market does not exercise the rules")
	}
	for _, x := range score.Missed {
		t.Errorf("missed: %s %s %q", x.URL, x.Rule, x.Match)
	}
	for _, x := range score.Unexpected {
		t.Errorf("unexpected: %s %s %q", x.URL, x.Rule, x.Match)
	}
	type once struct {
		visit, rule string
		offset      int
	}
	seen := map[once]bool{}
	withFindings := map[string]bool{}
	for _, f := range found {
		k := once{f.VisitID, f.Rule, f.Offset}
		if seen[k] {
			t.Errorf("finding recorded twice: visit %s rule %s offset %d", f.VisitID, f.Rule, f.Offset)
		}
		seen[k] = true
		withFindings[f.VisitID] = true
	}

	// Evidence: one record per visit with findings, nothing else.
	recs, err := d.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byVisit := map[string]int{}
	indexed := map[string]bool{}
	for _, rec := range recs {
		byVisit[rec.VisitID]++
		indexed[rec.ID] = true
	}
	for v := range withFindings {
		if byVisit[v] != 1 {
			t.Errorf("visit %s with findings has %d evidence records, want 1", v, byVisit[v])
		}
	}
	if len(recs) != len(withFindings) {
		t.Errorf("%d evidence records for %d visits with findings", len(recs), len(withFindings))
	}

	// Captures: all settled; indexed ones are the records; abandoned ones
	// never got a manifest; every object in the store belongs to one.
	caps, err := d.ListCaptures(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	var reused, abandoned int
	attempts := map[string]int{}
	for _, v := range mustVisits(t, d, sweepID) {
		attempts[v.ID] = v.Attempts
	}
	for _, c := range caps {
		recorded[c.EvidenceID] = true
		switch c.State {
		case db.CaptureIndexed:
			if !indexed[c.EvidenceID] {
				t.Errorf("capture %s is indexed but no evidence record has its id", c.EvidenceID)
			}
			if c.Attempt != attempts[c.VisitID] {
				reused++
			}
		case db.CaptureAbandoned:
			abandoned++
			if _, err := store.Stat(ctx, evidence.RecordKey(c.EvidenceID, evidence.ManifestFile)); !errors.Is(err, evidence.ErrNotFound) {
				t.Errorf("abandoned capture %s (%s) has a manifest: %v", c.EvidenceID, c.Reason, err)
			}
		default:
			t.Errorf("capture %s of visit %s left %s", c.EvidenceID, c.VisitID, c.State)
		}
	}
	for id := range indexed {
		if !recorded[id] {
			t.Errorf("evidence record %s has no capture record", id)
		}
	}
	objects := 0
	err = store.List(ctx, evidence.KeyPrefix, func(info evidence.Info) error {
		objects++
		if id := strings.Split(info.Key, "/")[1]; !recorded[id] {
			t.Errorf("object %s belongs to no capture the database knows", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d evidence records (%d completed with a capture an earlier, killed attempt stored), %d partial captures abandoned, %d objects in the store",
		len(recs), reused, abandoned, objects)

	// Every record exports and verifies, sealed; the ledger holds each
	// manifest once and nothing else.
	sg, err := evidence.LoadOrCreateSigner(filepath.Join(data, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	au, err := tsa.LoadOrCreateAuthority(filepath.Join(data, "tsa"))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(filepath.Join(data, "ledger"), sg, au, ledger.WithTSARoots(au.Roots()))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	if n := lg.Size(); n != uint64(len(recs)) {
		t.Errorf("the ledger holds %d manifests for %d evidence records", n, len(recs))
	}
	notary := &evidence.Notary{TSA: au, TSARoot: au.RootPEM(), Ledger: lg}
	out := t.TempDir()
	// The first export makes the checkpoint the proofs refer to; the rest
	// run on every core.
	exportAndVerify := func(rec *shopwatch.EvidenceRecord) error {
		if _, ok := lg.Lookup([]byte(rec.ManifestDigest)); !ok {
			return fmt.Errorf("manifest of %s is not in the ledger", rec.ID)
		}
		path := filepath.Join(out, rec.ID+".zip")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = evidence.Export(ctx, store, rec, f, evidence.WithNotary(notary))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", rec.ID, err)
		}
		rep, err := evidence.VerifyBundle(path)
		if err != nil {
			return err
		}
		if !rep.OK() {
			return fmt.Errorf("bundle of %s does not verify: %w", rec.ID, rep.Err())
		}
		return nil
	}
	if len(recs) == 0 {
		return
	}
	if err := exportAndVerify(&recs[0]); err != nil {
		t.Error(err)
	}
	next := make(chan *shopwatch.EvidenceRecord)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for rec := range next {
				if err := exportAndVerify(rec); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := 1; i < len(recs); i++ {
		next <- &recs[i]
	}
	close(next)
	wg.Wait()
}

func mustVisits(t *testing.T, d *db.DB, sweepID string) []shopwatch.Visit {
	t.Helper()
	vs, err := d.ListVisits(context.Background(), sweepID, "")
	if err != nil {
		t.Fatal(err)
	}
	return vs
}
