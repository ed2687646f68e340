package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/miniostore"
	"shopwatch/evidence/spool"
	"shopwatch/evidence/tsa"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
	"shopwatch/rules"
	"shopwatch/sweep"
)

// outageRig is a sweep of a marketplace on loopback into a given store,
// with captures signed, timestamped and entered in a ledger.
type outageRig struct {
	m      *marketsim.Market
	base   string
	db     *db.DB
	notary *evidence.Notary
	runner *sweep.Runner
	sweep  string
}

func newOutageRig(t *testing.T, shops int, store evidence.Store) *outageRig {
	t.Helper()
	ctx := context.Background()
	m := marketsim.New(marketsim.Config{Seed: 23, Shops: shops})
	base := marketsim.ServeFor(t, m)
	dir := t.TempDir()
	d, err := db.Open(filepath.Join(dir, "shopwatch.db"), db.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	sg, err := evidence.LoadOrCreateSigner(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
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
	rs, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	cc := crawler.DefaultConfig()
	cc.AllowLoopback()
	f, err := crawler.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	notary := &evidence.Notary{TSA: authority, TSARoot: authority.RootPEM(), Ledger: lg}
	g := &outageRig{m: m, base: base, db: d, notary: notary}
	g.runner = &sweep.Runner{Queue: d, Fetcher: f, Rules: rs, Store: store, Signer: sg,
		Config: sweep.Config{Workers: 4, LeaseTTL: 30 * time.Second, MaxAttempts: 3, Operator: "test", Notary: notary}}
	var ts []shopwatch.Target
	err = m.Targets(base, func(x shopwatch.Target) error {
		if err := d.AddTarget(ctx, &x); err != nil {
			return err
		}
		ts = append(ts, x)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.sweep, err = d.CreateSweep(ctx, "outage"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, g.sweep, ts); err != nil {
		t.Fatal(err)
	}
	return g
}

// checkSweep checks the finished sweep against the ground truth and its
// evidence against store: every visit done; findings exactly the expected
// ones, none twice; one evidence record per visit with findings and none
// for the others; every record exports from store and verifies with its
// timestamp and ledger proof; the ledger holds each manifest once and
// nothing else. It returns the evidence records.
func (g *outageRig) checkSweep(t *testing.T, store evidence.Store) []shopwatch.EvidenceRecord {
	t.Helper()
	ctx := context.Background()
	st, err := g.db.SweepStats(ctx, g.sweep)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != g.m.Pages() || st.Failed != 0 || st.Pending+st.Leased != 0 {
		t.Fatalf("sweep stats %+v, want all %d pages done", st, g.m.Pages())
	}
	found, err := g.db.ListFindings(ctx, db.Filter{Sweep: g.sweep})
	if err != nil {
		t.Fatal(err)
	}
	checkScore(t, g.m, g.base, found)
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
	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byVisit := map[string]int{}
	for _, rec := range recs {
		byVisit[rec.VisitID]++
	}
	for v := range withFindings {
		if byVisit[v] != 1 {
			t.Errorf("visit %s with findings has %d evidence records, want 1", v, byVisit[v])
		}
	}
	if len(recs) != len(withFindings) {
		t.Errorf("%d evidence records for %d visits with findings", len(recs), len(withFindings))
	}
	out := t.TempDir()
	for i := range recs {
		rec := &recs[i]
		path := filepath.Join(out, rec.ID+".zip")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		err = evidence.Export(ctx, store, rec, f, evidence.WithNotary(g.notary))
		f.Close()
		if err != nil {
			t.Errorf("export %s: %v", rec.ID, err)
			continue
		}
		rep, err := evidence.VerifyBundle(path)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Errorf("bundle of %s does not verify: %v", rec.ID, rep.Err())
		}
	}
	if n := g.notary.Ledger.Size(); n != uint64(len(recs)) {
		t.Errorf("ledger holds %d manifests, the sweep indexed %d", n, len(recs))
	}
	for _, rec := range recs {
		if _, ok := g.notary.Ledger.Lookup([]byte(rec.ManifestDigest)); !ok {
			t.Errorf("manifest of %s is not in the ledger", rec.ID)
		}
	}
	if err := g.db.Check(ctx); err != nil {
		t.Errorf("database check: %v", err)
	}
	return recs
}

// manifestTap passes Puts to a store and calls after (once, synchronously,
// inside the Put that stored it) when the n-th manifest has been stored.
type manifestTap struct {
	evidence.Store
	n     int64
	after func()

	stored atomic.Int64
	once   sync.Once
	mu     sync.Mutex
	late   map[string]bool // evidence ids whose manifest was stored after the n-th
}

func (s *manifestTap) Put(ctx context.Context, key string, r io.Reader, size int64, sum evidence.Digest) error {
	if err := s.Store.Put(ctx, key, r, size, sum); err != nil {
		return err
	}
	if !strings.HasSuffix(key, "/"+evidence.ManifestFile) {
		return nil
	}
	if k := s.stored.Add(1); k > s.n {
		s.mu.Lock()
		if s.late == nil {
			s.late = map[string]bool{}
		}
		s.late[strings.Split(key, "/")[1]] = true
		s.mu.Unlock()
	} else if k == s.n {
		s.once.Do(s.after)
	}
	return nil
}

// TestSweepThroughMinIOOutage stops the MinIO server behind the spool in
// the middle of a sweep. The sweep goes on (captures are spooled) and
// finishes while the server is down; then the server comes back, the spool
// drains, and every capture of the sweep is in the bucket, read through a
// fresh client, and exports and verifies from there.
func TestSweepThroughMinIOOutage(t *testing.T) {
	mi := testparts.StartMinIO(t)
	ctx := context.Background()
	cfg := miniostore.Config{Endpoint: mi.Endpoint, AccessKey: mi.AccessKey, SecretKey: mi.SecretKey,
		Bucket: "outage-evidence", MaxRetries: 1}
	backend, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.New(filepath.Join(t.TempDir(), "spool"), backend,
		spool.WithBackoff(20*time.Millisecond, 250*time.Millisecond), spool.WithAttemptTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopUploads := context.WithCancel(ctx)
	uploads := make(chan error, 1)
	go func() { uploads <- sp.Run(runCtx) }()
	t.Cleanup(func() {
		stopUploads()
		if err := <-uploads; err != nil && !errors.Is(err, spool.ErrClosed) {
			t.Errorf("spool Run: %v", err)
		}
		sp.Close()
	})

	const before = 4 // captures stored while MinIO is up
	var stoppedAt time.Time
	tap := &manifestTap{Store: sp, n: before, after: func() {
		if err := mi.Stop(); err != nil {
			t.Errorf("stop MinIO: %v", err)
		}
		stoppedAt = time.Now()
	}}
	g := newOutageRig(t, 12, tap)

	// A stalled sweep is a failure, not a hang.
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	start := time.Now()
	sum, err := g.runner.Run(sctx, g.sweep)
	if err != nil {
		t.Fatal(err)
	}
	if stoppedAt.IsZero() {
		t.Fatalf("the sweep stored fewer than %d captures; MinIO was never stopped (summary %+v)", before, sum)
	}
	if mi.Running() {
		t.Fatal("MinIO is running again before the test restarted it")
	}
	late := len(tap.late)
	if late == 0 {
		t.Fatalf("no capture was made after MinIO stopped (summary %+v); the market is too small", sum)
	}
	spooled, err := sp.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(spooled) == 0 {
		t.Fatal("nothing is spooled although MinIO is down")
	}
	t.Logf("sweep: %d pages, %d evidence records, %d captured after MinIO stopped; %v in all, %v of it with MinIO down; %d objects spooled",
		sum.Done, sum.Evidence, late, time.Since(start).Round(time.Millisecond), time.Since(stoppedAt).Round(time.Millisecond), len(spooled))

	mi.Start(t)
	restarted := time.Now()
	for {
		ferr := sp.Flush(ctx)
		es, err := sp.Pending()
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		if time.Since(restarted) > 2*time.Minute {
			t.Fatalf("%d objects still spooled 2 minutes after MinIO came back (last flush: %v)", len(es), ferr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("spool drained %v after the restart", time.Since(restarted).Round(time.Millisecond))

	// Everything is read back from the bucket itself, not the spool.
	fresh, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := g.checkSweep(t, fresh)
	indexed := map[string]bool{}
	for _, rec := range recs {
		indexed[rec.ID] = true
	}
	for id := range tap.late {
		if !indexed[id] {
			t.Errorf("capture %s stored during the outage is not indexed", id)
		}
	}
	// The bucket holds the sweep's captures and nothing else.
	inBucket := map[string]bool{}
	err = fresh.List(ctx, evidence.KeyPrefix, func(info evidence.Info) error {
		inBucket[strings.Split(info.Key, "/")[1]] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inBucket) != len(indexed) {
		t.Errorf("the bucket holds %d captures, the database indexes %d", len(inBucket), len(indexed))
	}
	for id := range inBucket {
		if !indexed[id] {
			t.Errorf("the bucket holds capture %s, which nothing indexes", id)
		}
	}
}

// faultyStore fails the Put of one capture's manifest for each of the
// first n captures, as a store without a spool does when its server goes
// away between two objects: the capture is left partial.
type faultyStore struct {
	evidence.Store
	n      int64
	failed atomic.Int64
	mu     sync.Mutex
	ids    []string
}

var errStoreDown = errors.New("connection refused (store down)")

func (s *faultyStore) Put(ctx context.Context, key string, r io.Reader, size int64, sum evidence.Digest) error {
	if strings.HasSuffix(key, "/"+evidence.ManifestFile) && s.failed.Add(1) <= s.n {
		s.mu.Lock()
		s.ids = append(s.ids, strings.Split(key, "/")[1])
		s.mu.Unlock()
		return fmt.Errorf("put %s: %w", key, errStoreDown)
	}
	return s.Store.Put(ctx, key, r, size, sum)
}

// lostCommits fails the first n Completes that carry evidence without
// committing anything, as a process dying between storing a capture and
// its database commit leaves it.
type lostCommits struct {
	sweep.Queue
	n    int64
	lost atomic.Int64
	mu   sync.Mutex
	ids  []string
}

var errCommitLost = errors.New("commit lost")

func (q *lostCommits) Complete(ctx context.Context, v shopwatch.Visit, res db.Result) error {
	if res.Evidence != nil && q.lost.Add(1) <= q.n {
		q.mu.Lock()
		q.ids = append(q.ids, res.Evidence.ID)
		q.mu.Unlock()
		return errCommitLost
	}
	return q.Queue.Complete(ctx, v, res)
}

// TestSweepEvidenceExactlyOnceAcrossFailures makes captures fail half-way
// (the store goes away before the manifest) and loses the commits of
// complete captures (as a kill between capture and commit does). The
// retried visits abandon the partial captures, reuse the complete ones
// without capturing or entering them in the ledger again, and the sweep
// ends with exactly one verified evidence record per visit with findings.
func TestSweepEvidenceExactlyOnceAcrossFailures(t *testing.T) {
	folder, err := folderstore.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	const partial, lost = 3, 3
	store := &faultyStore{Store: folder, n: partial}
	g := newOutageRig(t, 8, store)
	queue := &lostCommits{Queue: g.db, n: lost}
	g.runner.Queue = queue
	// The leases of the "dead" attempts run out soon (the runner revokes
	// only leases of dead processes, and this one lives on).
	g.runner.Config.LeaseTTL = 3 * time.Second
	ctx := context.Background()

	// A lost commit stops the run, as a crash would; run again until done.
	var reused, abandoned, runs int
	for runs = 1; ; runs++ {
		sum, err := g.runner.Run(ctx, g.sweep)
		if sum != nil {
			reused += sum.Reused
			abandoned += sum.Abandoned
		}
		if err == nil {
			break
		}
		if !errors.Is(err, errCommitLost) || runs > 2*lost {
			t.Fatalf("run %d: %v", runs, err)
		}
	}
	if len(store.ids) != partial || len(queue.ids) != lost {
		t.Fatalf("%d partial captures and %d lost commits happened, want %d and %d", len(store.ids), len(queue.ids), partial, lost)
	}
	// A reused capture's commit may be lost again; it is reused again.
	distinct := map[string]bool{}
	for _, id := range queue.ids {
		distinct[id] = true
	}
	t.Logf("%d runs; %d captures reused, %d abandoned", runs, reused, abandoned)
	if reused != len(distinct) || abandoned != partial {
		t.Errorf("summaries count %d reused and %d abandoned captures, want %d and %d", reused, abandoned, len(distinct), partial)
	}

	recs := g.checkSweep(t, folder)
	indexed := map[string]bool{}
	for _, rec := range recs {
		indexed[rec.ID] = true
	}
	for _, id := range queue.ids {
		if !indexed[id] {
			t.Errorf("capture %s, whose commit was lost, is not the one indexed for its visit", id)
		}
	}
	caps, err := g.db.ListCaptures(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	states := map[db.CaptureState]int{}
	for _, c := range caps {
		states[c.State]++
		switch c.State {
		case db.CaptureIndexed:
			if !indexed[c.EvidenceID] {
				t.Errorf("capture %s is indexed but has no evidence record", c.EvidenceID)
			}
		case db.CaptureAbandoned:
			if _, err := folder.Stat(ctx, evidence.RecordKey(c.EvidenceID, evidence.ManifestFile)); !errors.Is(err, evidence.ErrNotFound) {
				t.Errorf("abandoned capture %s has a manifest (%v)", c.EvidenceID, err)
			}
			if !strings.Contains(c.Reason, "no manifest.json") {
				t.Errorf("abandoned capture %s: reason %q", c.EvidenceID, c.Reason)
			}
		default:
			t.Errorf("capture %s left %s", c.EvidenceID, c.State)
		}
	}
	if states[db.CaptureIndexed] != len(recs) || states[db.CaptureAbandoned] != partial {
		t.Errorf("capture states %v, want %d indexed and %d abandoned", states, len(recs), partial)
	}
	// Every object in the store belongs to a recorded capture.
	recorded := map[string]bool{}
	for _, c := range caps {
		recorded[c.EvidenceID] = true
	}
	err = folder.List(ctx, evidence.KeyPrefix, func(info evidence.Info) error {
		if id := strings.Split(info.Key, "/")[1]; !recorded[id] {
			return fmt.Errorf("object %s belongs to no recorded capture", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
