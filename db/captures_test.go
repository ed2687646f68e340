package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// captureStates returns evidence id → state of every capture.
func captureStates(tb testing.TB, d *DB) map[string]CaptureState {
	tb.Helper()
	cs, err := d.ListCaptures(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]CaptureState{}
	for _, c := range cs {
		out[c.EvidenceID] = c.State
	}
	return out
}

func auditActions(tb testing.TB, d *DB) map[string]int {
	tb.Helper()
	es, err := d.ListAudit(context.Background(), 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range es {
		out[e.Action]++
	}
	return out
}

// A capture started by an attempt that died is found by the next attempt,
// which abandons it and completes with its own; the dead attempt's token
// can no longer start or abandon anything.
func TestCaptureOfDeadAttemptIsSettledByTheNext(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	d, _ := newTestDB(t, WithClock(clk.Now))
	mustEnqueue(t, d, visit("s1", "https://shop.example.com/a", 1))
	first := mustLeaseOne(t, d, "w1", time.Minute)
	e1 := "ev-first-" + first.ID[:6]
	if err := d.StartCapture(ctx, first, e1); err != nil {
		t.Fatal(err)
	}
	if err := d.StartCapture(ctx, first, e1); err != nil {
		t.Fatalf("starting the same capture again: %v, want a no-op", err)
	}
	// w1 dies; its lease runs out and w2 takes the visit.
	clk.Advance(2 * time.Minute)
	second := mustLeaseOne(t, d, "w2", time.Minute)
	if second.Attempts != 2 {
		t.Fatalf("second lease is attempt %d, want 2", second.Attempts)
	}
	wantErr(t, d.StartCapture(ctx, first, "ev-stale"), ErrLeaseLost)
	wantErr(t, d.AbandonCapture(ctx, first, e1, "stale"), ErrLeaseLost)

	cs, err := d.VisitCaptures(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].EvidenceID != e1 || cs[0].State != CaptureStarted || cs[0].Attempt != 1 || cs[0].Worker != "w1" {
		t.Fatalf("captures of the visit: %+v, want %s started by attempt 1 of w1", cs, e1)
	}
	wantErr(t, d.AbandonCapture(ctx, second, e1, "  "), ErrInvalid)
	if err := d.AbandonCapture(ctx, second, e1, "incomplete: no manifest.json"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.AbandonCapture(ctx, second, e1, "again"), ErrInvalid)
	wantErr(t, d.AbandonCapture(ctx, second, "ev-none", "never started"), ErrNotFound)
	// An abandoned capture is never indexed, and its id is not reused.
	ev := evidenceFor(second)
	ev.ID = e1
	wantErr(t, d.Complete(ctx, second, Result{Evidence: ev}), ErrInvalid)
	wantErr(t, d.StartCapture(ctx, second, e1), ErrEvidenceExists)

	e2 := "ev-second-" + second.ID[:6]
	if err := d.StartCapture(ctx, second, e2); err != nil {
		t.Fatal(err)
	}
	ev.ID = e2
	if err := d.Complete(ctx, second, Result{Findings: []shopwatch.Finding{finding(second, 0)}, Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	if got := captureStates(t, d); got[e1] != CaptureAbandoned || got[e2] != CaptureIndexed || len(got) != 2 {
		t.Errorf("capture states %v, want %s abandoned and %s indexed", got, e1, e2)
	}
	cs, _ = d.VisitCaptures(ctx, second.ID)
	if cs[0].Reason != "incomplete: no manifest.json" || cs[0].Settled.IsZero() || cs[1].Settled.IsZero() {
		t.Errorf("settled captures: %+v", cs)
	}
	if v := mustVisit(t, d, second.ID); v.EvidenceID != e2 || v.State != shopwatch.VisitDone {
		t.Errorf("visit %+v, want done with evidence %s", v, e2)
	}
	acts := auditActions(t, d)
	if acts["evidence.capture-started"] != 2 || acts["evidence.abandoned"] != 1 || acts["evidence.recorded"] != 1 {
		t.Errorf("audit actions %v, want 2 captures started, 1 abandoned, 1 recorded", acts)
	}
	if err := d.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// An evidence id belongs to one visit: another visit cannot start it, and
// a visit cannot be completed with a capture another visit started.
func TestCaptureBelongsToOneVisit(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	mustEnqueue(t, d, visit("s1", "https://shop.example.com/a", 2), visit("s1", "https://shop.example.com/b", 1))
	a := mustLeaseOne(t, d, "w1", time.Minute)
	b := mustLeaseOne(t, d, "w2", time.Minute)
	if err := d.StartCapture(ctx, a, "ev-a"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.StartCapture(ctx, b, "ev-a"), ErrEvidenceExists)
	wantErr(t, d.AbandonCapture(ctx, b, "ev-a", "not mine"), ErrInvalid)
	ev := evidenceFor(b)
	ev.ID = "ev-a"
	ev.VisitID = ""
	wantErr(t, d.Complete(ctx, b, Result{Evidence: ev}), ErrInvalid)
	wantErr(t, d.StartCapture(ctx, a, ""), ErrInvalid)
	// A visit completed with evidence it did not start (a one-off record)
	// still closes its own started captures.
	if err := d.Complete(ctx, a, Result{Evidence: evidenceFor(a)}); err != nil {
		t.Fatal(err)
	}
	cs, err := d.VisitCaptures(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].State != CaptureAbandoned || !strings.Contains(cs[0].Reason, evidenceFor(a).ID) {
		t.Fatalf("captures of a: %+v, want ev-a abandoned naming the evidence used", cs)
	}
	if err := d.Complete(ctx, b, Result{}); err != nil {
		t.Fatal(err)
	}
}

// A visit that fails for good abandons its started captures; one that is
// retried keeps them for the next attempt to settle.
func TestFailSettlesCapturesOnlyWhenFinal(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	mustEnqueue(t, d, visit("s1", "https://shop.example.com/a", 1))
	v := mustLeaseOne(t, d, "w1", time.Minute)
	if err := d.StartCapture(ctx, v, "ev-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Fail(ctx, v, errors.New("store unreachable"), 2); err != nil {
		t.Fatal(err)
	}
	if got := captureStates(t, d); got["ev-1"] != CaptureStarted {
		t.Fatalf("after a retryable failure: %v, want ev-1 still started", got)
	}
	v = mustLeaseOne(t, d, "w1", time.Minute)
	if err := d.StartCapture(ctx, v, "ev-2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Fail(ctx, v, errors.New("store unreachable"), 2); err != nil {
		t.Fatal(err)
	}
	cs, err := d.ListCaptures(ctx, CaptureAbandoned)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].EvidenceID != "ev-1" || cs[1].EvidenceID != "ev-2" || !strings.Contains(cs[1].Reason, "store unreachable") {
		t.Fatalf("abandoned captures after the final failure: %+v", cs)
	}
	if _, err := d.ListCaptures(ctx, "lost"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ListCaptures of an unknown state: %v", err)
	}
}

// Leases of workers known to be gone are revoked and handed out at once;
// others are left to run out.
func TestRevokeLeasesOfGoneWorkers(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	mustEnqueue(t, d,
		visit("s1", "https://shop.example.com/a", 3),
		visit("s1", "https://shop.example.com/b", 2),
		visit("s2", "https://shop.example.com/c", 1))
	dead := mustLeaseOne(t, d, "host/100/w0", time.Hour)
	alive := mustLeaseOne(t, d, "host/200/w0", time.Hour)
	otherSweep := mustLeaseOne(t, d, "host/100/w1", time.Hour)
	if dead.Sweep != "s1" || otherSweep.Sweep != "s2" {
		t.Fatalf("leased %s and %s", dead.URL, otherSweep.URL)
	}
	gone := func(w string) bool { return strings.HasPrefix(w, "host/100/") }
	if _, err := d.RevokeLeases(ctx, "s1", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil gone: %v", err)
	}
	n, err := d.RevokeLeases(ctx, "s1", gone)
	if err != nil || n != 1 {
		t.Fatalf("RevokeLeases = %d, %v; want 1", n, err)
	}
	if n, err := d.RevokeLeases(ctx, "s1", gone); err != nil || n != 0 {
		t.Fatalf("second RevokeLeases = %d, %v; want 0", n, err)
	}
	got := mustLease(t, d, "host/300/w0", 10, time.Minute)
	if len(got) != 1 || got[0].ID != dead.ID || got[0].Attempts != 2 {
		t.Fatalf("after the revocation leased %+v, want only %s at attempt 2", got, dead.URL)
	}
	wantErr(t, d.Complete(ctx, dead, Result{}), ErrLeaseLost)
	for _, v := range []shopwatch.Visit{got[0], alive} {
		if err := d.Complete(ctx, v, Result{}); err != nil {
			t.Fatal(err)
		}
	}
	// Every sweep: the other sweep's dead lease goes too.
	if n, err := d.RevokeLeases(ctx, "", gone); err != nil || n != 1 {
		t.Fatalf("RevokeLeases of every sweep = %d, %v; want 1", n, err)
	}
	again := mustLeaseOne(t, d, "host/300/w0", time.Minute)
	if err := d.Complete(ctx, again, Result{}); err != nil {
		t.Fatal(err)
	}
	if acts := auditActions(t, d); acts["visit.lease-revoked"] != 2 || acts["visit.lease-expired"] != 2 {
		t.Errorf("audit actions %v, want 2 revocations and 2 reclaims", acts)
	}
}

// Check reports capture records that disagree with their visit or the
// evidence index, naming the capture.
func TestCheckFindsCaptureInconsistencies(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/shopwatch.db"
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mustEnqueue(t, d, visit("s1", "https://shop.example.com/a", 2), visit("s1", "https://shop.example.com/b", 1))
	a := mustLeaseOne(t, d, "w1", time.Minute)
	b := mustLeaseOne(t, d, "w1", time.Minute)
	for _, id := range []string{"ev-a1", "ev-a2"} {
		if err := d.StartCapture(ctx, a, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.StartCapture(ctx, b, "ev-b"); err != nil {
		t.Fatal(err)
	}
	ev := evidenceFor(a)
	ev.ID = "ev-a1"
	if err := d.Complete(ctx, a, Result{Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(ctx); err != nil {
		t.Fatalf("consistent database: %v", err)
	}
	// Damage: the indexed capture claims to be still started, and b's
	// capture loses its place in the per-visit index.
	err = d.bolt.Update(func(tx *bolt.Tx) error {
		x := &txn{db: d, tx: tx}
		c, err := x.getCapture("ev-a1")
		if err != nil {
			return err
		}
		c.State = CaptureStarted
		if err := x.putCapture(c); err != nil {
			return err
		}
		cb, err := x.getCapture("ev-b")
		if err != nil {
			return err
		}
		return tx.Bucket(bCapturesByVisit).Delete(captureVisitKey(cb.VisitID, cb.Seq))
	})
	if err != nil {
		t.Fatal(err)
	}
	var ce *CheckError
	if err := d.Check(ctx); !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	var a1Done, a1Recorded, bIndex bool
	for _, p := range ce.Problems {
		a1Done = a1Done || (p.Bucket == "captures" && p.Key == "ev-a1" && strings.Contains(p.Msg, "still started but visit"))
		a1Recorded = a1Recorded || (p.Bucket == "captures" && p.Key == "ev-a1" && strings.Contains(p.Msg, "evidence record has its id"))
		bIndex = bIndex || (p.Bucket == "captures" && p.Key == "ev-b" && strings.Contains(p.Msg, "captures_by_visit"))
	}
	if !a1Done || !a1Recorded || !bIndex || len(ce.Problems) != 3 {
		t.Errorf("problems: %v", ce)
	}
}
