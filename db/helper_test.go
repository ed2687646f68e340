package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"shopwatch"
)

// newTestDB opens a database in a fresh temporary folder. See openTestDB.
func newTestDB(tb testing.TB, opts ...Option) (*DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "shopwatch.db")
	return openTestDB(tb, path, opts...), path
}

// openTestDB opens the database at path. When the test ends it closes it,
// opens the file again and fails the test if Check finds any
// inconsistency: queue indexes that disagree with visit states, a visit
// both leased and done, a done visit without Finished, counters that do not
// add up, a broken audit chain.
func openTestDB(tb testing.TB, path string, opts ...Option) *DB {
	tb.Helper()
	opts = append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	d, err := Open(path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Error(err)
		}
		re, err := Open(path, WithLockTimeout(5*time.Second))
		if err != nil {
			tb.Errorf("reopen for the invariant check: %v", err)
			return
		}
		defer re.Close()
		if err := re.Check(context.Background()); err != nil {
			tb.Errorf("invariants broken at the end of the test: %v", err)
		}
	})
	return d
}

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// visit makes a root visit of url in sweep.
func visit(sweep, url string, priority int) shopwatch.Visit {
	return shopwatch.Visit{Sweep: sweep, URL: url, Kind: shopwatch.KindProduct, Priority: priority, TargetID: "t-test"}
}

// finding makes a finding whose Match identifies the attempt that made it.
func finding(v shopwatch.Visit, n int) shopwatch.Finding {
	return shopwatch.Finding{
		Rule: "ad.absolute-term", Title: "absolute term", Category: "advertising",
		Law: "《中华人民共和国广告法》第九条第三项", Severity: shopwatch.SeverityViolation,
		Match: fmt.Sprintf("%s#%d#%d", v.ID, v.Attempts, n), Snippet: "全网最佳口碑", Offset: 6,
	}
}

// evidenceFor makes an evidence record for an attempt of v.
func evidenceFor(v shopwatch.Visit) *shopwatch.EvidenceRecord {
	id := fmt.Sprintf("e-%s-%d", v.ID, v.Attempts)
	return &shopwatch.EvidenceRecord{
		ID: id, URL: v.URL, CapturedAt: time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC), ClockSource: "system clock",
		ManifestKey: id + "/manifest.json", ManifestDigest: "sha256:00",
		Artifacts: []shopwatch.Artifact{{Name: "page.html", Key: id + "/page.html", MediaType: "text/html", Size: 3, SHA256: "sha256:00"}},
	}
}

func mustEnqueue(tb testing.TB, d *DB, vs ...shopwatch.Visit) int {
	tb.Helper()
	n, err := d.Enqueue(context.Background(), vs...)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func mustLease(tb testing.TB, d *DB, worker string, max int, ttl time.Duration) []shopwatch.Visit {
	tb.Helper()
	vs, err := d.Lease(context.Background(), worker, max, ttl)
	if err != nil {
		tb.Fatal(err)
	}
	return vs
}

func mustLeaseOne(tb testing.TB, d *DB, worker string, ttl time.Duration) shopwatch.Visit {
	tb.Helper()
	vs := mustLease(tb, d, worker, 1, ttl)
	if len(vs) != 1 {
		tb.Fatalf("%s leased %d visits, want 1", worker, len(vs))
	}
	return vs[0]
}

func mustStats(tb testing.TB, d *DB, sweep string) Stats {
	tb.Helper()
	st, err := d.SweepStats(context.Background(), sweep)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func mustVisit(tb testing.TB, d *DB, id string) shopwatch.Visit {
	tb.Helper()
	v, err := d.GetVisit(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return *v
}

func auditCount(tb testing.TB, d *DB) int {
	tb.Helper()
	es, err := d.ListAudit(context.Background(), 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return len(es)
}

func wantErr(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("got error %v, want one wrapping %v", err, target)
	}
}

// queue is the interface the sweep package declares for its queue; *DB
// must keep satisfying it.
type queue interface {
	Enqueue(ctx context.Context, visits ...shopwatch.Visit) (int, error)
	Lease(ctx context.Context, worker string, max int, ttl time.Duration) ([]shopwatch.Visit, error)
	Extend(ctx context.Context, v shopwatch.Visit, ttl time.Duration) (shopwatch.Visit, error)
	Complete(ctx context.Context, v shopwatch.Visit, res Result) error
	Fail(ctx context.Context, v shopwatch.Visit, cause error, maxAttempts int) error
	SweepStats(ctx context.Context, sweep string) (Stats, error)
	StartCapture(ctx context.Context, v shopwatch.Visit, evidenceID string) error
	AbandonCapture(ctx context.Context, v shopwatch.Visit, evidenceID, reason string) error
	VisitCaptures(ctx context.Context, visitID string) ([]Capture, error)
	RevokeLeases(ctx context.Context, sweep string, gone func(worker string) bool) (int, error)
}

var _ queue = (*DB)(nil)
