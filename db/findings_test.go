package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

func TestFindingsAndEvidence(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	a := visit("s-a", "https://shop.example.com/1", 0)
	a.TargetID = "t-1"
	b := visit("s-b", "https://shop.example.com/2", 0)
	b.TargetID = "t-2"
	mustEnqueue(t, d, a, b)

	for _, v := range mustLease(t, d, "w", 2, time.Minute) {
		f1 := finding(v, 0)
		f2 := finding(v, 1)
		f2.Rule, f2.Category, f2.Match, f2.Offset = "licence.icp-missing", "licence", "", -1
		f2.ID = "caller-chosen" // ids are the database's to assign
		ev := evidenceFor(v)
		if v.Sweep == "s-b" {
			ev = nil
		}
		c.Advance(time.Second)
		if err := d.Complete(ctx, v, Result{Findings: []shopwatch.Finding{f1, f2}, Evidence: ev}); err != nil {
			t.Fatal(err)
		}
	}

	all, err := d.ListFindings(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d findings, want 4", len(all))
	}
	ids := map[string]bool{}
	for i, f := range all {
		if f.ID == "" || f.ID == "caller-chosen" || ids[f.ID] {
			t.Errorf("finding %d has id %q", i, f.ID)
		}
		ids[f.ID] = true
		if f.VisitID == "" || f.TargetID == "" || f.URL == "" || f.Kind != shopwatch.KindProduct || f.Time.IsZero() {
			t.Errorf("finding %d not filled in from its visit: %+v", i, f)
		}
		g, err := d.GetFinding(ctx, f.ID)
		if err != nil || g.Rule != f.Rule || g.VisitID != f.VisitID {
			t.Errorf("GetFinding(%s) = %+v, %v", f.ID, g, err)
		}
	}
	if !all[0].Time.Before(all[2].Time) {
		t.Errorf("findings not in the order recorded: %s then %s", all[0].Time, all[2].Time)
	}
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{Sweep: "s-a"}, 2},
		{Filter{Sweep: "s-"}, 0}, // sweep ids match whole
		{Filter{Sweep: "s-b", Category: "licence"}, 1},
		{Filter{Rule: "ad.absolute-term"}, 2},
		{Filter{TargetID: "t-2"}, 2},
		{Filter{URL: "https://shop.example.com/1", Rule: "licence.icp-missing"}, 1},
		{Filter{VisitID: VisitID("s-b", b.URL)}, 2},
		{Filter{Limit: 3}, 3},
		{Filter{Sweep: "s-a", Limit: 1}, 1},
	} {
		got, err := d.ListFindings(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Errorf("ListFindings(%+v): %d, want %d", c.f, len(got), c.want)
		}
	}
	_, err = d.GetFinding(ctx, "f-999")
	wantErr(t, err, ErrNotFound)
	_, err = d.GetFinding(ctx, "nonsense")
	wantErr(t, err, ErrNotFound)

	evs, err := d.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].VisitID != VisitID("s-a", a.URL) || evs[0].TargetID != "t-1" {
		t.Fatalf("evidence %+v", evs)
	}
	for _, f := range all {
		wantEv := ""
		if f.VisitID == evs[0].VisitID {
			wantEv = evs[0].ID
		}
		if f.EvidenceID != wantEv {
			t.Errorf("finding %s evidence %q, want %q", f.ID, f.EvidenceID, wantEv)
		}
	}
	_, err = d.GetEvidence(ctx, "e-none")
	wantErr(t, err, ErrNotFound)

	// Evidence made outside a visit; never overwritten.
	manual := &shopwatch.EvidenceRecord{URL: "https://shop.example.com/manual", CapturedAt: c.Now()}
	if err := d.PutEvidence(ctx, manual); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(manual.ID, "e-") {
		t.Errorf("assigned evidence id %q", manual.ID)
	}
	again := *manual
	again.URL = "https://elsewhere.example.com/"
	wantErr(t, d.PutEvidence(ctx, &again), ErrEvidenceExists)
	if got, _ := d.GetEvidence(ctx, manual.ID); got.URL != manual.URL {
		t.Errorf("evidence overwritten: %+v", got)
	}
	evs, _ = d.ListEvidence(ctx)
	if len(evs) != 2 || evs[1].ID != manual.ID {
		t.Errorf("ListEvidence order %+v", evs)
	}
}

// TestCompleteWithDuplicateEvidenceWritesNothing: evidence ids are never
// reused; a Complete that would overwrite one fails as a whole.
func TestCompleteWithDuplicateEvidenceWritesNothing(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := context.Background()
	mustEnqueue(t, d, visit("s-1", "https://shop.example.com/1", 0), visit("s-1", "https://shop.example.com/2", 0))
	vs := mustLease(t, d, "w", 2, time.Minute)
	ev := evidenceFor(vs[0])
	if err := d.Complete(ctx, vs[0], Result{Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	before := auditCount(t, d)
	err := d.Complete(ctx, vs[1], Result{Evidence: ev, Findings: []shopwatch.Finding{finding(vs[1], 0)}})
	wantErr(t, err, ErrEvidenceExists)
	if got := mustVisit(t, d, vs[1].ID); got.State != shopwatch.VisitLeased {
		t.Errorf("visit %s after the refused Complete", got.State)
	}
	if fs, _ := d.ListFindings(ctx, Filter{}); len(fs) != 0 || auditCount(t, d) != before {
		t.Errorf("refused Complete left %d findings, %d audit entries", len(fs), auditCount(t, d)-before)
	}
	if err := d.Complete(ctx, vs[1], Result{}); err != nil {
		t.Fatal(err)
	}
}

func TestAuditLog(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	tg := shopwatch.Target{URL: "https://shop.example.com/", Kind: shopwatch.KindStorefront}
	if err := d.AddTarget(WithActor(ctx, "inspector-zhang"), &tg); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, d, visit("s-1", tg.URL, 0))
	v := mustLeaseOne(t, d, "node1/w3", time.Minute)
	if err := d.Complete(ctx, v, Result{Findings: []shopwatch.Finding{finding(v, 0)}, Evidence: evidenceFor(v)}); err != nil {
		t.Fatal(err)
	}
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Actor+" "+e.Action)
	}
	want := []string{"inspector-zhang target.added", "system visits.enqueued", "node1/w3 evidence.recorded", "node1/w3 visit.completed"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit %q, want %q", got, want)
	}
	if !strings.Contains(es[3].Detail, v.ID) || !strings.Contains(es[3].Detail, "1 finding(s)") || !strings.Contains(es[2].Detail, evidenceFor(v).ID) {
		t.Errorf("audit details do not name what happened: %q / %q", es[2].Detail, es[3].Detail)
	}
	if es[0].Prev != "" || es[1].Prev != es[0].Hash || !strings.HasPrefix(es[1].Hash, "sha256:") {
		t.Errorf("hash chain %+v", es[:2])
	}
	page, err := d.ListAudit(ctx, es[1].Seq, 1)
	if err != nil || len(page) != 1 || page[0].Seq != es[2].Seq {
		t.Errorf("ListAudit(after %d, 1) = %+v, %v", es[1].Seq, page, err)
	}
	if err := d.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

// TestCheckReportsDamage damages a database behind the package's back, one
// way at a time, and expects Check or VerifyAudit to name the damage.
func TestCheckReportsDamage(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*DB, shopwatch.Visit, shopwatch.Visit) {
		d, err := Open(filepath.Join(t.TempDir(), "damaged.db"), WithClock(newClock().Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		mustEnqueue(t, d, visit("s-1", "https://shop.example.com/1", 0), visit("s-1", "https://shop.example.com/2", 0), visit("s-1", "https://shop.example.com/3", 0))
		vs := mustLease(t, d, "w", 2, time.Minute)
		if err := d.Complete(ctx, vs[0], Result{Findings: []shopwatch.Finding{finding(vs[0], 0)}}); err != nil {
			t.Fatal(err)
		}
		if err := d.Check(ctx); err != nil {
			t.Fatalf("healthy database: %v", err)
		}
		return d, mustVisit(t, d, vs[0].ID), vs[1] // one done, one leased
	}
	patchVisit := func(tx *bolt.Tx, id string, f func(*visitRec)) error {
		b := tx.Bucket(bVisits)
		var rec visitRec
		if _, err := getJSON(b, []byte(id), &rec); err != nil {
			return err
		}
		f(&rec)
		return putJSON(b, []byte(id), &rec)
	}
	for _, c := range []struct {
		name   string
		damage func(tx *bolt.Tx, done, leased shopwatch.Visit) error
		want   []string
	}{
		{"done visit still in the lease index", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			return patchVisit(tx, leased.ID, func(r *visitRec) { r.State = shopwatch.VisitDone; r.Finished = time.Now() })
		}, []string{"queue_leased", "which is done", "still holds a lease", "counters"}},
		{"done visit without Finished", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			return patchVisit(tx, done.ID, func(r *visitRec) { r.Finished = time.Time{} })
		}, []string{"visits " + "v-", "done without Finished"}},
		{"pending index entry lost", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			c := tx.Bucket(bPending).Cursor()
			k, _ := c.First()
			return tx.Bucket(bPending).Delete(k)
		}, []string{"visit is pending but queue_pending has"}},
		{"findings count disagrees", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			return patchVisit(tx, done.ID, func(r *visitRec) { r.Findings = 3 })
		}, []string{"says 3 finding(s), 1 stored"}},
		{"counter drift", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			return putJSON(tx.Bucket(bSweepStats), []byte("s-1"), &Stats{Pending: 1, Leased: 1, Done: 2})
		}, []string{"sweep_stats s-1"}},
		{"audit entry edited", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			b := tx.Bucket(bAudit)
			var e AuditEntry
			if _, err := getJSON(b, u64(2), &e); err != nil {
				return err
			}
			e.Detail = "nothing happened"
			return putJSON(b, u64(2), &e)
		}, []string{"audit 2: hash"}},
		{"audit tail cut", func(tx *bolt.Tx, done, leased shopwatch.Visit) error {
			k, _ := tx.Bucket(bAudit).Cursor().Last()
			return tx.Bucket(bAudit).Delete(k)
		}, []string{"log ends at entry"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, done, leased := setup(t)
			if err := d.bolt.Update(func(tx *bolt.Tx) error { return c.damage(tx, done, leased) }); err != nil {
				t.Fatal(err)
			}
			err := d.Check(ctx)
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check = %v, want a *CheckError", err)
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestListVisitsFilters(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := context.Background()
	for i := range 3 {
		mustEnqueue(t, d, visit("s-1", fmt.Sprintf("https://shop.example.com/%d", i), 0))
	}
	mustEnqueue(t, d, visit("s-10", "https://shop.example.com/x", 0))
	v := mustLeaseOne(t, d, "w", time.Minute)
	for _, c := range []struct {
		sweep string
		state shopwatch.VisitState
		want  int
	}{{"s-1", "", 3}, {"s-1", shopwatch.VisitLeased, 1}, {"s-1", shopwatch.VisitPending, 2}, {"s-10", "", 1}, {"", "", 4}, {"s-2", "", 0}} {
		got, err := d.ListVisits(ctx, c.sweep, c.state)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Errorf("ListVisits(%q, %q): %d, want %d", c.sweep, c.state, len(got), c.want)
		}
	}
	if _, err := d.ListVisits(ctx, "s-1", "sleeping"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
	if err := d.Complete(ctx, v, Result{}); err != nil {
		t.Fatal(err)
	}
}

func TestRecordAuditJoinsTheChain(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := WithActor(context.Background(), "inspector-3")
	if err := d.RecordAudit(ctx, "evidence.exported", "ev-1 to case.zip"); err != nil {
		t.Fatal(err)
	}
	if err := d.RecordAudit(ctx, "", "x"); err == nil {
		t.Error("empty action accepted")
	}
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if last.Action != "evidence.exported" || last.Actor != "inspector-3" || last.Detail != "ev-1 to case.zip" {
		t.Errorf("last audit entry %+v", last)
	}
	if err := d.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}
