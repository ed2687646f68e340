package db

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// claim is a finding of rule on the page, at byte offset off.
func claim(rule, match string, off int) shopwatch.Finding {
	return shopwatch.Finding{Rule: rule, Title: rule, Category: "advertising", Law: "《中华人民共和国广告法》",
		Severity: shopwatch.SeverityViolation, Match: match, Snippet: "…" + match + "…", Offset: off}
}

// pass does one visit of url in sweep for target t-1 and completes it with
// found and an evidence record (none when noEvidence), or with res.Error
// set when problem is not empty.
func pass(t *testing.T, d *DB, c *clock, sweep, url string, found []shopwatch.Finding, problem string, noEvidence bool) shopwatch.Visit {
	t.Helper()
	v := visit(sweep, url, 0)
	v.TargetID = "t-1"
	mustEnqueue(t, d, v)
	lv := mustLeaseOne(t, d, "w", time.Minute)
	c.Advance(time.Hour)
	res := Result{Findings: found, Error: problem}
	if !noEvidence {
		res.Evidence = evidenceFor(lv)
	}
	if err := d.Complete(context.Background(), lv, res); err != nil {
		t.Fatal(err)
	}
	return mustVisit(t, d, lv.ID)
}

func byMatch(t *testing.T, d *DB, f Filter) map[string]shopwatch.Finding {
	t.Helper()
	fs, err := d.ListFindings(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]shopwatch.Finding{}
	for _, x := range fs {
		if _, dup := m[x.Match]; dup {
			t.Errorf("ListFindings(%+v) lists %q twice", f, x.Match)
		}
		m[x.Match] = x
	}
	return m
}

// TestFindingsOverTime: the same problems seen by two sweeps are one finding
// each, seen twice with two evidence ids; a claim the page no longer shows
// on a full visit is gone, and open again when it comes back; failed or
// partial visits mark nothing gone.
func TestFindingsOverTime(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	const page = "https://shop.example.com/item/1"
	first := []shopwatch.Finding{
		claim("ad.absolute-term", "最佳", 10),
		claim("ad.absolute-term", "最 佳", 90), // the same text again further down: one finding
		claim("ad.medical", "治愈", 40),
		claim("licence.icp-missing", "", -1),
	}
	v1 := pass(t, d, c, "s-1", page, first, "", false)
	if v1.Findings != 3 {
		t.Errorf("first visit counts %d findings, want 3 distinct", v1.Findings)
	}
	// Unrelated text moved everything: other offsets, full-width spelling.
	second := []shopwatch.Finding{
		claim("ad.absolute-term", "最佳", 31),
		claim("ad.medical", "治愈", 75),
		claim("licence.icp-missing", "", -1),
	}
	v2 := pass(t, d, c, "s-2", page, second, "", false)

	all := byMatch(t, d, Filter{})
	if len(all) != 3 {
		t.Fatalf("%d findings after two sweeps, want 3: %+v", len(all), all)
	}
	for m, f := range all {
		if f.TimesSeen != 2 || !slices.Equal(f.EvidenceIDs, []string{v1.EvidenceID, v2.EvidenceID}) {
			t.Errorf("%q: seen %d times, evidence %v; want 2, [%s %s]", m, f.TimesSeen, f.EvidenceIDs, v1.EvidenceID, v2.EvidenceID)
		}
		if !f.FirstSeen.Equal(v1.Finished) || !f.LastSeen.Equal(v2.Finished) || f.State != shopwatch.FindingOpen {
			t.Errorf("%q: first %s last %s state %s; want %s, %s, open", m, f.FirstSeen, f.LastSeen, f.State, v1.Finished, v2.Finished)
		}
		if f.VisitID != v2.ID || f.EvidenceID != v2.EvidenceID {
			t.Errorf("%q: latest sighting %s/%s, want %s/%s", m, f.VisitID, f.EvidenceID, v2.ID, v2.EvidenceID)
		}
	}
	if got := all["最佳"].Offset; got != 31 {
		t.Errorf("offset %d, want the latest sighting's 31", got)
	}
	for _, s := range []string{"s-1", "s-2"} {
		if n := len(byMatch(t, d, Filter{Sweep: s})); n != 3 {
			t.Errorf("sweep %s lists %d findings, want 3", s, n)
		}
		if st := mustStats(t, d, s); st.Findings != 3 {
			t.Errorf("sweep %s counts %d findings, want 3", s, st.Findings)
		}
	}
	if n := len(byMatch(t, d, Filter{VisitID: v1.ID})); n != 3 {
		t.Errorf("visit %s lists %d findings, want 3", v1.ID, n)
	}

	// The medical claim was removed and a new claim added.
	third := []shopwatch.Finding{
		claim("ad.absolute-term", "最佳", 12),
		claim("ad.absolute-term", "第一", 50),
		claim("licence.icp-missing", "", -1),
	}
	v3 := pass(t, d, c, "s-3", page, third, "", false)
	all = byMatch(t, d, Filter{})
	if len(all) != 4 {
		t.Fatalf("%d findings, want 4", len(all))
	}
	med := all["治愈"]
	if med.State != shopwatch.FindingGone || !med.GoneAt.Equal(v3.Finished) || med.TimesSeen != 2 || !med.LastSeen.Equal(v2.Finished) {
		t.Errorf("removed claim: state %s gone %s seen %d last %s; want gone at %s, seen 2, last %s", med.State, med.GoneAt, med.TimesSeen, med.LastSeen, v3.Finished, v2.Finished)
	}
	if len(med.History) != 1 || med.History[0].VisitID != v3.ID || !strings.Contains(med.History[0].Note, v3.ID) {
		t.Errorf("removed claim history %+v", med.History)
	}
	if n := all["第一"]; n.State != shopwatch.FindingOpen || n.TimesSeen != 1 || !n.FirstSeen.Equal(v3.Finished) {
		t.Errorf("new claim %+v", n)
	}
	if x := all["最佳"]; x.TimesSeen != 3 || x.State != shopwatch.FindingOpen {
		t.Errorf("kept claim %+v", x)
	}
	gone := byMatch(t, d, Filter{State: shopwatch.FindingGone})
	if len(gone) != 1 || gone["治愈"].ID != med.ID {
		t.Errorf("gone filter: %v", gone)
	}

	// Visits that did not read the page in full mark nothing gone: a
	// failed visit, a visit that met a problem, a visit with findings but
	// no capture.
	before := byMatch(t, d, Filter{})
	v := visit("s-4", page, 0)
	v.TargetID = "t-1"
	mustEnqueue(t, d, v)
	lv := mustLeaseOne(t, d, "w", time.Minute)
	c.Advance(time.Hour)
	if err := d.Fail(ctx, lv, errors.New("connection refused"), 1); err != nil {
		t.Fatal(err)
	}
	pass(t, d, c, "s-5", page, nil, "page is not HTML (application/pdf)", false)
	pass(t, d, c, "s-6", page, []shopwatch.Finding{claim("ad.absolute-term", "最佳", 12)}, "", true)
	after := byMatch(t, d, Filter{})
	for m, f := range after {
		if f.State != before[m].State {
			t.Errorf("%q went from %s to %s on a visit that did not read the page in full", m, before[m].State, f.State)
		}
	}
	if x := after["最佳"]; x.TimesSeen != 4 || len(x.EvidenceIDs) != 3 {
		t.Errorf("sighting without evidence: seen %d, evidence %v", x.TimesSeen, x.EvidenceIDs)
	}

	// The removed claim comes back: open again, with a note.
	v7 := pass(t, d, c, "s-7", page, []shopwatch.Finding{claim("ad.medical", "治 愈", 8)}, "", false)
	back := byMatch(t, d, Filter{Rule: "ad.medical"})
	if len(back) != 1 {
		t.Fatalf("medical findings %v", back)
	}
	for _, f := range back {
		if f.ID != med.ID || f.State != shopwatch.FindingOpen || !f.GoneAt.IsZero() || f.TimesSeen != 3 {
			t.Errorf("reappeared claim %+v", f)
		}
		if len(f.History) != 2 || f.History[1].State != shopwatch.FindingOpen || !strings.Contains(f.History[1].Note, "gone since") {
			t.Errorf("reappeared claim history %+v", f.History)
		}
	}
	// and that full visit marked the others gone.
	for m, f := range byMatch(t, d, Filter{}) {
		if f.Rule != "ad.medical" && (f.State != shopwatch.FindingGone || !f.GoneAt.Equal(v7.Finished)) {
			t.Errorf("%q not gone after the full visit %s: %s", m, v7.ID, f.State)
		}
	}
	if n := countAudit(t, d, "findings.gone"); n != 2 {
		t.Errorf("%d findings.gone audit entries, want 2", n)
	}
	if n := countAudit(t, d, "findings.reopened"); n != 1 {
		t.Errorf("%d findings.reopened audit entries, want 1", n)
	}
}

// TestFindingIdentity: what makes two findings one problem.
func TestFindingIdentity(t *testing.T) {
	base := shopwatch.Finding{TargetID: "t-1", URL: "https://shop.example.com/a?x=1", Rule: "ad.absolute-term", Match: "最佳", Offset: 5}
	same := []func(*shopwatch.Finding){
		func(f *shopwatch.Finding) { f.Offset = 500 },
		func(f *shopwatch.Finding) { f.Match = "最 佳" },
		func(f *shopwatch.Finding) { f.Match = "最.佳" },
		func(f *shopwatch.Finding) { f.URL = "HTTPS://Shop.Example.com:443/a?x=1#top" },
		func(f *shopwatch.Finding) {
			f.Snippet, f.Time, f.VisitID, f.EvidenceID = "other", time.Now(), "v-x", "e-x"
		},
	}
	other := []func(*shopwatch.Finding){
		func(f *shopwatch.Finding) { f.TargetID = "t-2" },
		func(f *shopwatch.Finding) { f.URL = "https://shop.example.com/b?x=1" },
		func(f *shopwatch.Finding) { f.Rule = "ad.first" },
		func(f *shopwatch.Finding) { f.Match = "最好" },
		func(f *shopwatch.Finding) { f.Offset = -1 },
	}
	for i, change := range same {
		f := base
		change(&f)
		if findingIdentity(&f) != findingIdentity(&base) {
			t.Errorf("same problem %d has another identity: %+v", i, f)
		}
	}
	for i, change := range other {
		f := base
		change(&f)
		if findingIdentity(&f) == findingIdentity(&base) {
			t.Errorf("other problem %d has the same identity: %+v", i, f)
		}
	}
	if got := normalizeMatch("ＮＯ．１"); got != "no1" {
		t.Errorf("normalizeMatch(ＮＯ．１) = %q", got)
	}
}

func TestFindingFilters(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	start := c.Now()
	a := claim("ad.absolute-term", "最佳", 1)
	b := claim("ad.medical", "治愈", 2)
	b.Severity = shopwatch.SeverityReview
	l := claim("licence.icp-missing", "", -1)
	l.Category = "licence"
	pass(t, d, c, "s-1", "https://shop.example.com/1", []shopwatch.Finding{a, b}, "", false) // at start+1h
	pass(t, d, c, "s-1", "https://shop.example.com/2", []shopwatch.Finding{l}, "", false)    // at start+2h
	pass(t, d, c, "s-2", "https://shop.example.com/1", []shopwatch.Finding{a}, "", false)    // at start+3h: b gone
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{Rules: []string{"ad.medical", "licence.icp-missing"}}, []string{"治愈", ""}},
		{Filter{Severity: shopwatch.SeverityReview}, []string{"治愈"}},
		{Filter{Category: "licence"}, []string{""}},
		{Filter{State: shopwatch.FindingOpen}, []string{"最佳", ""}},
		{Filter{Since: start.Add(150 * time.Minute)}, []string{"最佳"}},
		{Filter{Until: start.Add(90 * time.Minute)}, []string{"最佳", "治愈"}},
		{Filter{Since: start.Add(90 * time.Minute), Until: start.Add(150 * time.Minute)}, []string{"最佳", ""}},
		{Filter{URL: "https://shop.example.com/2"}, []string{""}},
		{Filter{TargetID: "t-2"}, nil},
	} {
		fs, err := d.ListFindings(context.Background(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Match)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListFindings(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestFindingsFromBeforeIdentities opens a database written before findings
// had identities (one row per visit) and expects the rows merged into one
// per problem, with their ids kept as merged, and the database consistent.
func TestFindingsFromBeforeIdentities(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "old.db")
	d := openTestDB(t, path, WithClock(c.Now))
	const page = "https://shop.example.com/1"
	v1 := pass(t, d, c, "s-1", page, []shopwatch.Finding{claim("ad.absolute-term", "最佳", 1)}, "", false)
	v2 := pass(t, d, c, "s-2", page, []shopwatch.Finding{claim("ad.absolute-term", "最 佳", 9)}, "", false)
	// Rewrite the findings as the old layout had them.
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bFindings, bFindingsBySwp, bFindingKeys, bFindingsByPage} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		b, err := tx.CreateBucket(bFindings)
		if err != nil {
			return err
		}
		bs, err := tx.CreateBucket(bFindingsBySwp)
		if err != nil {
			return err
		}
		for i, v := range []shopwatch.Visit{v1, v2} {
			seq := uint64(i + 1)
			f := claim("ad.absolute-term", []string{"最佳", "最 佳"}[i], 1+8*i)
			f.ID, f.TargetID, f.URL, f.Kind, f.VisitID, f.EvidenceID, f.Time = findingID(seq), v.TargetID, v.URL, v.Kind, v.ID, v.EvidenceID, v.Finished
			if err := putJSON(b, u64(seq), &struct {
				shopwatch.Finding
				Sweep string `json:"sweep"`
			}{f, v.Sweep}); err != nil {
				return err
			}
			if err := bs.Put(sweepKey(v.Sweep, seq), nil); err != nil {
				return err
			}
		}
		return b.SetSequence(2)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Before the upgrade (as a read-only reader sees it): the old rows,
	// each seen once, and consistent.
	legacy, err := d.ListFindings(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(legacy) != 2 || legacy[0].TimesSeen != 1 || legacy[0].State != shopwatch.FindingOpen || !legacy[0].FirstSeen.Equal(v1.Finished) || !slices.Equal(legacy[1].EvidenceIDs, []string{v2.EvidenceID}) {
		t.Errorf("old rows read as %+v", legacy)
	}
	if err := d.Check(context.Background()); err != nil {
		t.Errorf("old layout: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openTestDB(t, path, WithClock(c.Now))
	fs, err := d.ListFindings(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("%d findings after the upgrade, want 1: %+v", len(fs), fs)
	}
	f := fs[0]
	if f.ID != "f-1" || f.TimesSeen != 2 || !slices.Equal(f.EvidenceIDs, []string{v1.EvidenceID, v2.EvidenceID}) ||
		!f.FirstSeen.Equal(v1.Finished) || !f.LastSeen.Equal(v2.Finished) || f.Match != "最 佳" || f.State != shopwatch.FindingOpen {
		t.Errorf("merged finding %+v", f)
	}
	for _, s := range []string{"s-1", "s-2"} {
		if n := len(byMatch(t, d, Filter{Sweep: s})); n != 1 {
			t.Errorf("sweep %s lists %d findings after the upgrade", s, n)
		}
	}
	if err := d.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The next sweep goes on from the merged row.
	pass(t, d, c, "s-3", page, nil, "", false)
	if g, err := d.GetFinding(context.Background(), "f-1"); err != nil || g.State != shopwatch.FindingGone {
		t.Errorf("after a full visit without it: %+v, %v", g, err)
	}
}

func countAudit(t *testing.T, d *DB, action string) int {
	t.Helper()
	es, err := d.ListAudit(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestCheckReportsFindingDamage damages the finding records and indexes one
// way at a time and expects Check to name the damage.
func TestCheckReportsFindingDamage(t *testing.T) {
	ctx := context.Background()
	patch := func(tx *bolt.Tx, f func(*findingRec)) error {
		b := tx.Bucket(bFindings)
		var r findingRec
		if _, err := getJSON(b, u64(1), &r); err != nil {
			return err
		}
		f(&r)
		return putJSON(b, u64(1), &r)
	}
	for _, c := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"identity index entry lost", func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bFindingKeys).Cursor().First()
			return tx.Bucket(bFindingKeys).Delete(k)
		}, "identity index has"},
		{"page index entry lost", func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bFindingsByPage).Cursor().First()
			return tx.Bucket(bFindingsByPage).Delete(k)
		}, "missing from findings_by_page"},
		{"gone without a time", func(tx *bolt.Tx) error {
			return patch(tx, func(r *findingRec) { r.State = shopwatch.FindingGone })
		}, "state gone with gone_at"},
		{"evidence id unknown", func(tx *bolt.Tx) error {
			return patch(tx, func(r *findingRec) { r.EvidenceIDs = append(r.EvidenceIDs, "e-nonesuch") })
		}, "evidence e-nonesuch is not recorded"},
		{"sighting of a visit not indexed under its sweep", func(tx *bolt.Tx) error {
			c := tx.Bucket(bFindingsBySwp).Cursor()
			k, _ := c.Last()
			return tx.Bucket(bFindingsBySwp).Delete(k)
		}, "missing from findings_by_sweep"},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			d, err := Open(filepath.Join(t.TempDir(), "damaged.db"), WithClock(clk.Now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			pass(t, d, clk, "s-1", "https://shop.example.com/1", []shopwatch.Finding{claim("ad.absolute-term", "最佳", 1)}, "", false)
			pass(t, d, clk, "s-2", "https://shop.example.com/1", []shopwatch.Finding{claim("ad.absolute-term", "最佳", 1)}, "", false)
			if err := d.Check(ctx); err != nil {
				t.Fatalf("healthy database: %v", err)
			}
			if err := d.bolt.Update(c.damage); err != nil {
				t.Fatal(err)
			}
			err = d.Check(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestUpgradeLeavesUnreadableRows: a damaged finding row does not stop an
// old database from opening; it stays as it is and Check names it.
func TestUpgradeLeavesUnreadableRows(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "old.db")
	d, err := Open(path, WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	pass(t, d, c, "s-1", "https://shop.example.com/1", []shopwatch.Finding{claim("ad.absolute-term", "最佳", 1)}, "", false)
	err = d.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bFindingKeys); err != nil {
			return err
		}
		return tx.Bucket(bFindings).Put(u64(1), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(path, WithClock(c.Now))
	if err != nil {
		t.Fatalf("open with a damaged finding row: %v", err)
	}
	defer d.Close()
	if err := d.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "findings") {
		t.Errorf("Check = %v, want the damaged finding named", err)
	}
}
