package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

// A visit whose capture fails for good keeps its findings, marked evidence
// missing, and its links; a retry that captures the page attaches the
// evidence to the findings it finds again (none stored twice), adds the
// new ones and leaves a finding it did not find again marked.
func TestFailCaptureKeepsFindingsUntilEvidence(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	mustEnqueue(t, d, visit("s1", "https://shop.example.com/a", 1))
	v := mustLeaseOne(t, d, "w1", time.Minute)
	f1, f2 := finding(v, 1), finding(v, 2)
	child := visit("s1", "https://shop.example.com/a/item", 1)
	res := Result{Findings: []shopwatch.Finding{f1, f2}, Children: []shopwatch.Visit{child}}
	cause := errors.New("capture evidence: no space left on device")

	// A retryable failure stores nothing.
	if err := d.FailCapture(ctx, v, cause, 2, res); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, d, "s1"); st.Findings != 0 || st.Pending != 1 {
		t.Fatalf("after a retryable capture failure: %+v", st)
	}
	v = mustLeaseOne(t, d, "w1", time.Minute)
	if err := d.FailCapture(ctx, v, cause, 2, res); err != nil {
		t.Fatal(err)
	}
	got := mustVisit(t, d, v.ID)
	if got.State != shopwatch.VisitFailed || !got.EvidenceMissing || got.Findings != 2 {
		t.Fatalf("visit after the final capture failure: %+v", got)
	}
	kept, err := d.ListFindings(ctx, Filter{Sweep: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0].EvidenceMissing != cause.Error() || kept[0].EvidenceID != "" {
		t.Fatalf("findings kept: %+v", kept)
	}
	if st := mustStats(t, d, "s1"); st.Failed != 1 || st.Pending != 1 || st.Findings != 2 {
		t.Fatalf("stats after the final failure (the child queued): %+v", st)
	}

	// Put back with a fresh budget; the page now shows f2 and a new f3.
	n, err := d.RetryMissingEvidence(ctx, "s1")
	if err != nil || n != 1 {
		t.Fatalf("RetryMissingEvidence: %d, %v", n, err)
	}
	if n, err := d.RetryMissingEvidence(ctx, "s1"); err != nil || n != 0 {
		t.Fatalf("second RetryMissingEvidence: %d, %v", n, err)
	}
	var again shopwatch.Visit
	for again.ID != v.ID {
		again = mustLeaseOne(t, d, "w1", time.Minute)
		if again.ID != v.ID {
			if err := d.Complete(ctx, again, Result{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if again.RetryBase != 2 || again.Attempts != 3 {
		t.Fatalf("retried visit: attempts %d, retry base %d", again.Attempts, again.RetryBase)
	}
	f3 := finding(again, 3)
	ev := evidenceFor(again)
	if err := d.Complete(ctx, again, Result{Findings: []shopwatch.Finding{f2, f3}, Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	all, err := d.ListFindings(ctx, Filter{Sweep: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d findings after the retry, want 3 (f1 kept, f2 updated, f3 new): %+v", len(all), all)
	}
	byID := map[string]shopwatch.Finding{}
	for _, f := range all {
		byID[f.ID] = f
	}
	if f := byID[kept[1].ID]; f.EvidenceID != ev.ID || f.EvidenceMissing != "" {
		t.Errorf("f2, found again: evidence %q, missing %q", f.EvidenceID, f.EvidenceMissing)
	}
	if f := byID[kept[0].ID]; f.EvidenceID != "" || !strings.Contains(f.EvidenceMissing, "did not find it again") {
		t.Errorf("f1, not found again: evidence %q, missing %q", f.EvidenceID, f.EvidenceMissing)
	}
	got = mustVisit(t, d, v.ID)
	if got.State != shopwatch.VisitDone || got.EvidenceMissing || got.Findings != 3 {
		t.Fatalf("visit after the retry: %+v", got)
	}
	if st := mustStats(t, d, "s1"); st.Findings != 3 || st.Done != 2 || st.Failed != 0 {
		t.Fatalf("stats after the retry: %+v", st)
	}
}

// Planning a sweep is one transaction: a bad visit or an unknown target
// leaves no sweep at all, and a good plan leaves the sweep, its visits
// and the targets marked swept together.
func TestPlanSweepIsAtomic(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	tg := shopwatch.Target{URL: "https://shop.example.com/", Kind: shopwatch.KindStorefront}
	if err := d.AddTarget(ctx, &tg); err != nil {
		t.Fatal(err)
	}
	good := shopwatch.Visit{TargetID: tg.ID, URL: tg.URL, Kind: tg.Kind}
	bad := shopwatch.Visit{TargetID: tg.ID, URL: "not a url", Kind: tg.Kind}
	at := time.Date(2026, 6, 18, 8, 0, 0, 0, time.UTC)
	if _, _, err := d.PlanSweep(ctx, "manual", []shopwatch.Visit{good, bad}, []string{tg.ID}, at); err == nil {
		t.Fatal("a plan with an invalid visit succeeded")
	}
	if _, _, err := d.PlanSweep(ctx, "manual", []shopwatch.Visit{good}, []string{tg.ID, "t-nope"}, at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a plan with an unknown target: %v", err)
	}
	if _, _, err := d.PlanSweep(ctx, "manual", nil, nil, at); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a plan without visits: %v", err)
	}
	if ss, err := d.ListSweeps(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("failed plans left sweeps: %+v, %v", ss, err)
	}
	id, n, err := d.PlanSweep(ctx, "manual", []shopwatch.Visit{good, good}, []string{tg.ID}, at)
	if err != nil || n != 1 {
		t.Fatalf("PlanSweep: %s %d %v", id, n, err)
	}
	if st := mustStats(t, d, id); st.Pending != 1 {
		t.Errorf("planned sweep stats %+v", st)
	}
	got, err := d.GetTarget(ctx, tg.ID)
	if err != nil || !got.LastSwept.Equal(at) {
		t.Errorf("target last swept %v (%v), want %v", got.LastSwept, err, at)
	}
	// The sweep records when it ran out of work.
	v := mustLeaseOne(t, d, "w1", time.Minute)
	if err := d.Complete(ctx, v, Result{}); err != nil {
		t.Fatal(err)
	}
	s, err := d.GetSweep(ctx, id)
	if err != nil || s.Finished.IsZero() {
		t.Errorf("finished sweep: %+v, %v", s, err)
	}
}
