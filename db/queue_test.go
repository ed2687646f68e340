package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

func TestEnqueueIsIdempotentAndAtomic(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := context.Background()
	a := visit("s-1", "https://shop.example.com/1", 0)
	b := visit("s-1", "https://shop.example.com/2", 0)
	if n := mustEnqueue(t, d, a, b, a); n != 2 {
		t.Errorf("added %d, want 2 (a repeat in one call is skipped)", n)
	}
	a.ID = VisitID("s-1", a.URL)
	if n := mustEnqueue(t, d, a, visit("s-1", "HTTPS://SHOP.EXAMPLE.COM/2#x", 0)); n != 0 {
		t.Errorf("re-enqueue added %d, want 0", n)
	}
	vs, err := d.ListVisits(ctx, "s-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].ID != a.ID || vs[0].State != shopwatch.VisitPending || vs[0].Enqueued.IsZero() {
		t.Fatalf("visits %+v", vs)
	}

	// One bad visit and nothing of the call is written.
	n, err := d.Enqueue(ctx, visit("s-1", "https://shop.example.com/3", 0), visit("s-1", "shop.example.com/4", 0))
	wantErr(t, err, ErrInvalid)
	if n != 0 || !strings.Contains(err.Error(), "shop.example.com/4") {
		t.Errorf("got %d, %v; want 0 and an error naming shop.example.com/4", n, err)
	}
	if _, err := d.Enqueue(ctx, shopwatch.Visit{URL: "https://shop.example.com/5"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("visit without sweep: %v, want ErrInvalid", err)
	}
	if st := mustStats(t, d, "s-1"); st.Pending != 2 {
		t.Errorf("stats %+v, want 2 pending", st)
	}
}

// TestLeaseExpiryHandsVisitToAnotherWorker: a worker's lease runs out, a
// second worker gets the visit, and the first worker's late Complete,
// Extend and Fail are refused without writing anything.
func TestLeaseExpiryHandsVisitToAnotherWorker(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	mustEnqueue(t, d, visit("s-1", "https://shop.example.com/1", 0))

	stale := mustLeaseOne(t, d, "worker-a", time.Minute)
	if stale.Attempts != 1 || stale.Worker != "worker-a" || stale.State != shopwatch.VisitLeased || !stale.LeaseUntil.Equal(c.Now().Add(time.Minute)) {
		t.Fatalf("leased %+v", stale)
	}
	if vs := mustLease(t, d, "worker-b", 5, time.Minute); len(vs) != 0 {
		t.Fatalf("worker-b got %d visits while worker-a's lease runs", len(vs))
	}
	c.Advance(time.Minute) // LeaseUntil == now: not yet expired
	if vs := mustLease(t, d, "worker-b", 5, time.Minute); len(vs) != 0 {
		t.Fatalf("worker-b got a visit whose lease ends exactly now")
	}
	c.Advance(time.Nanosecond)
	fresh := mustLeaseOne(t, d, "worker-b", time.Minute)
	if fresh.ID != stale.ID || fresh.Attempts != 2 || fresh.Worker != "worker-b" {
		t.Fatalf("worker-b leased %+v, want %s at attempt 2", fresh, stale.ID)
	}

	before := auditCount(t, d)
	res := Result{
		Findings: []shopwatch.Finding{finding(stale, 0)},
		Evidence: evidenceFor(stale),
		Children: []shopwatch.Visit{visit("s-1", "https://shop.example.com/child", 0)},
	}
	wantErr(t, d.Complete(ctx, stale, res), ErrLeaseLost)
	_, err := d.Extend(ctx, stale, time.Hour)
	wantErr(t, err, ErrLeaseLost)
	wantErr(t, d.Fail(ctx, stale, errors.New("timeout"), 5), ErrLeaseLost)
	wantErr(t, d.Release(ctx, stale), ErrLeaseLost)

	// Nothing of the stale worker's result was written.
	if fs, _ := d.ListFindings(ctx, Filter{}); len(fs) != 0 {
		t.Errorf("stale Complete stored %d findings", len(fs))
	}
	if _, err := d.GetEvidence(ctx, res.Evidence.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("stale Complete stored evidence: %v", err)
	}
	if _, err := d.GetVisit(ctx, VisitID("s-1", "https://shop.example.com/child")); !errors.Is(err, ErrNotFound) {
		t.Errorf("stale Complete enqueued a child: %v", err)
	}
	if got := mustVisit(t, d, stale.ID); got.State != shopwatch.VisitLeased || got.Worker != "worker-b" || got.Attempts != 2 || got.Error != "" {
		t.Errorf("visit after stale calls: %+v", got)
	}
	if n := auditCount(t, d); n != before {
		t.Errorf("stale calls added %d audit entries", n-before)
	}

	// The current holder completes.
	if err := d.Complete(ctx, fresh, Result{Findings: []shopwatch.Finding{finding(fresh, 0)}}); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, d, "s-1"); st != (Stats{Done: 1, Findings: 1}) {
		t.Errorf("stats %+v", st)
	}
	es, _ := d.ListAudit(ctx, 0, 0)
	var expired bool
	for _, e := range es {
		expired = expired || (e.Action == "visit.lease-expired" && strings.Contains(e.Detail, "worker-a"))
	}
	if !expired {
		t.Error("no audit entry for worker-a's expired lease")
	}
}

// TestSlowWorkerCompletesWhenNobodyTookOver: a lease that ran out but was
// not handed to anyone is still the current lease.
func TestSlowWorkerCompletesWhenNobodyTookOver(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	mustEnqueue(t, d, visit("s-1", "https://shop.example.com/1", 0))
	v := mustLeaseOne(t, d, "worker-a", time.Second)
	c.Advance(time.Minute)
	if err := d.Complete(ctx, v, Result{}); err != nil {
		t.Fatalf("late Complete with nobody else holding the visit: %v", err)
	}
	if vs := mustLease(t, d, "worker-b", 1, time.Second); len(vs) != 0 {
		t.Errorf("done visit leased again: %+v", vs)
	}
}

func TestFinishedVisitIsNeverLeasedAgain(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	root := visit("s-1", "https://shop.example.com/", 0)
	item := visit("s-1", "https://shop.example.com/item/1", 0)
	mustEnqueue(t, d, root, item)

	iv := mustLease(t, d, "w1", 2, time.Minute)
	var rv shopwatch.Visit
	for _, v := range iv {
		if v.URL == item.URL {
			if err := d.Complete(ctx, v, Result{Findings: []shopwatch.Finding{finding(v, 0)}, Evidence: evidenceFor(v)}); err != nil {
				t.Fatal(err)
			}
		} else {
			rv = v
		}
	}
	done := mustVisit(t, d, VisitID("s-1", item.URL))
	if done.State != shopwatch.VisitDone || done.Finished.IsZero() || done.Findings != 1 || done.EvidenceID == "" || !done.LeaseUntil.IsZero() {
		t.Fatalf("completed visit %+v", done)
	}
	// Completing twice is refused.
	leased := done
	leased.State = shopwatch.VisitLeased
	wantErr(t, d.Complete(ctx, leased, Result{}), ErrLeaseLost)

	// Enqueue of the id, directly or as a child found by another page,
	// does not revive it.
	if n := mustEnqueue(t, d, item); n != 0 {
		t.Errorf("Enqueue of a done visit added %d", n)
	}
	if err := d.Complete(ctx, rv, Result{Children: []shopwatch.Visit{
		{URL: item.URL, Kind: shopwatch.KindProduct},
		{URL: "https://shop.example.com/item/2", Kind: shopwatch.KindProduct, Depth: 0},
	}}); err != nil {
		t.Fatal(err)
	}
	c.Advance(24 * time.Hour)
	vs := mustLease(t, d, "w2", 10, time.Minute)
	if len(vs) != 1 || vs[0].URL != "https://shop.example.com/item/2" || vs[0].Parent != rv.ID || vs[0].TargetID != rv.TargetID {
		t.Fatalf("leased %+v, want only the new child item/2 with parent and target from %s", vs, rv.ID)
	}
	if got := mustVisit(t, d, done.ID); got.State != shopwatch.VisitDone || got.Attempts != 1 || !got.Finished.Equal(done.Finished) {
		t.Errorf("done visit changed: %+v", got)
	}
	if fs, _ := d.ListFindings(ctx, Filter{VisitID: done.ID}); len(fs) != 1 {
		t.Errorf("%d findings for the done visit, want 1", len(fs))
	}
}

func TestLeaseOrderIsPriorityThenFIFO(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	prios := []int{1, 5, 1, 5, 3, -2, 5, 0, -7, 100}
	var vs []shopwatch.Visit
	for i, p := range prios {
		vs = append(vs, visit("s-1", fmt.Sprintf("https://shop.example.com/%d", i), p))
	}
	// Enqueue in three calls to show order survives across transactions.
	mustEnqueue(t, d, vs[:3]...)
	c.Advance(time.Second)
	mustEnqueue(t, d, vs[3:7]...)
	mustEnqueue(t, d, vs[7:]...)
	want := []int{9, 1, 3, 6, 4, 0, 2, 7, 5, 8}

	first := mustLease(t, d, "w", 3, time.Minute)
	rest := mustLease(t, d, "w", 100, time.Minute)
	var got []int
	for _, v := range append(first, rest...) {
		var i int
		fmt.Sscanf(v.URL, "https://shop.example.com/%d", &i)
		got = append(got, i)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lease order %v, want %v", got, want)
	}
	for _, v := range append(first, rest...) {
		if err := d.Complete(ctx, v, Result{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRequeuedVisitsKeepOrder: an expired or released lease goes back to
// its old place; a failed attempt goes to the back of its priority.
func TestRequeuedVisitsKeepOrder(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	for i := range 4 {
		mustEnqueue(t, d, visit("s-1", fmt.Sprintf("https://shop.example.com/%d", i), 0))
	}
	url := func(v shopwatch.Visit) string { return v.URL[len("https://shop.example.com/"):] }

	v0 := mustLeaseOne(t, d, "w", time.Second)
	c.Advance(2 * time.Second) // v0's lease expires
	if v := mustLeaseOne(t, d, "w", time.Minute); url(v) != "0" || v.Attempts != 2 {
		t.Fatalf("after expiry leased %s attempt %d, want 0 attempt 2", url(v), v.Attempts)
	} else {
		v0 = v
	}
	if err := d.Release(ctx, v0); err != nil {
		t.Fatal(err)
	}
	v0 = mustLeaseOne(t, d, "w", time.Minute)
	if url(v0) != "0" || v0.Attempts != 3 {
		t.Fatalf("after release leased %s attempt %d, want 0 attempt 3", url(v0), v0.Attempts)
	}
	if err := d.Fail(ctx, v0, errors.New("connection reset"), 5); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range mustLease(t, d, "w", 10, time.Minute) {
		got = append(got, url(v))
		if err := d.Complete(ctx, v, Result{}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != "1,2,3,0" {
		t.Errorf("order after a failed attempt: %v, want 1,2,3,0", got)
	}
}

func TestExtendKeepsTheLease(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	mustEnqueue(t, d, visit("s-1", "https://shop.example.com/1", 0))
	v := mustLeaseOne(t, d, "w1", 10*time.Second)
	for range 5 {
		c.Advance(8 * time.Second)
		nv, err := d.Extend(ctx, v, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !nv.LeaseUntil.Equal(c.Now().Add(10*time.Second)) || nv.Attempts != v.Attempts {
			t.Fatalf("extended to %+v", nv)
		}
		if vs := mustLease(t, d, "w2", 1, time.Second); len(vs) != 0 {
			t.Fatalf("w2 took a visit whose lease was extended")
		}
		v = nv
	}
	if _, err := d.Extend(ctx, v, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Extend with ttl 0: %v", err)
	}
	if err := d.Complete(ctx, v, Result{}); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseValidatesArguments(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := context.Background()
	for _, c := range []struct {
		worker string
		max    int
		ttl    time.Duration
	}{{"", 1, time.Second}, {"w", 0, time.Second}, {"w", 1, 0}} {
		if _, err := d.Lease(ctx, c.worker, c.max, c.ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("Lease(%q, %d, %s): %v, want ErrInvalid", c.worker, c.max, c.ttl, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Lease(cctx, "w", 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Lease with a cancelled context: %v", err)
	}
}

func TestMaxLeasesFailsAPoisonVisit(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now), WithMaxLeases(2))
	mustEnqueue(t, d, visit("s-1", "https://shop.example.com/crash", 0))
	mustLeaseOne(t, d, "w1", time.Second)
	c.Advance(2 * time.Second)
	mustLeaseOne(t, d, "w2", time.Second)
	c.Advance(2 * time.Second)
	if vs := mustLease(t, d, "w3", 1, time.Second); len(vs) != 0 {
		t.Fatalf("visit leased a third time")
	}
	v := mustVisit(t, d, VisitID("s-1", "https://shop.example.com/crash"))
	if v.State != shopwatch.VisitFailed || !strings.Contains(v.Error, "lease expired 2 times") || v.Finished.IsZero() {
		t.Errorf("visit %+v, want failed after 2 expired leases", v)
	}
}

// TestFailRetriesThenFailsAndStatePersists: a visit is retried until it
// has used maxAttempts, then failed; all of it, and a completed visit with
// its findings and evidence, is there after the database is reopened.
func TestFailRetriesThenFailsAndStatePersists(t *testing.T) {
	c := newClock()
	d, path := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	bad := visit("s-1", "https://shop.example.com/broken", 9)
	good := visit("s-1", "https://shop.example.com/fine", 0)
	mustEnqueue(t, d, bad, good)

	for attempt := 1; attempt <= 3; attempt++ {
		v := mustLeaseOne(t, d, "w", time.Minute)
		if v.URL != bad.URL || v.Attempts != attempt {
			t.Fatalf("attempt %d: leased %s attempt %d", attempt, v.URL, v.Attempts)
		}
		if err := d.Fail(ctx, v, fmt.Errorf("fetch %s: status 503 (try %d)", v.URL, attempt), 3); err != nil {
			t.Fatal(err)
		}
		got := mustVisit(t, d, v.ID)
		wantState := shopwatch.VisitPending
		if attempt == 3 {
			wantState = shopwatch.VisitFailed
		}
		if got.State != wantState || !strings.Contains(got.Error, fmt.Sprintf("try %d", attempt)) {
			t.Fatalf("after attempt %d: %s %q, want %s", attempt, got.State, got.Error, wantState)
		}
	}
	g := mustLeaseOne(t, d, "w", time.Minute)
	if g.URL != good.URL {
		t.Fatalf("leased %s, want %s", g.URL, good.URL)
	}
	ev := evidenceFor(g)
	if err := d.Complete(ctx, g, Result{Findings: []shopwatch.Finding{finding(g, 0), finding(g, 1)}, Evidence: ev, Error: "page is not HTML"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openTestDB(t, path)
	if st := mustStats(t, d, "s-1"); st != (Stats{Done: 1, Failed: 1, Findings: 2}) {
		t.Errorf("stats after reopen %+v", st)
	}
	b := mustVisit(t, d, VisitID("s-1", bad.URL))
	if b.State != shopwatch.VisitFailed || b.Attempts != 3 || b.Finished.IsZero() || !strings.Contains(b.Error, "status 503 (try 3)") {
		t.Errorf("failed visit after reopen %+v", b)
	}
	gv := mustVisit(t, d, g.ID)
	if gv.State != shopwatch.VisitDone || gv.EvidenceID != ev.ID || gv.Findings != 2 || gv.Error != "page is not HTML" {
		t.Errorf("done visit after reopen %+v", gv)
	}
	rec, err := d.GetEvidence(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.VisitID != g.ID || rec.TargetID != g.TargetID || rec.ManifestKey != ev.ManifestKey || len(rec.Artifacts) != 1 {
		t.Errorf("evidence after reopen %+v", rec)
	}
	fs, err := d.ListFindings(ctx, Filter{Sweep: "s-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].EvidenceID != ev.ID || fs[0].VisitID != g.ID || fs[0].ID == "" || fs[0].ID == fs[1].ID {
		t.Errorf("findings after reopen %+v", fs)
	}
	if vs := mustLease(t, d, "w", 10, time.Minute); len(vs) != 0 {
		t.Errorf("leased %d visits after reopen, want none", len(vs))
	}
	if err := d.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}
