package db

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"shopwatch"
)

// TestConcurrentWorkers runs 8 workers on one queue with short, random
// leases so that leases expire mid-visit and visits change hands, some
// attempts fail and are retried, and pages discover the same children.
// Every visit must end done exactly once, with the findings and evidence
// of the attempt that completed it stored exactly once and nothing of the
// attempts that lost their lease.
func TestConcurrentWorkers(t *testing.T) {
	const (
		workers = 8
		roots   = 200
		items   = 50
		sweep   = "s-race"
	)
	d, _ := newTestDB(t, WithNoSync())
	ctx := context.Background()
	var vs []shopwatch.Visit
	for i := range roots {
		vs = append(vs, visit(sweep, fmt.Sprintf("https://shop%d.example.com/", i), i%4))
	}
	mustEnqueue(t, d, vs...)

	findingsOf := func(id string) int {
		h := fnv.New32a()
		h.Write([]byte(id))
		return int(h.Sum32() % 3)
	}

	var (
		mu        sync.Mutex
		completed = map[string]int{} // visit id → successful Completes
		winner    = map[string]int{} // visit id → attempt that completed it
		lost      int
		failed    int
	)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			name := fmt.Sprintf("w%d", w)
			idle := 0
			for {
				ttl := time.Duration(1+rng.IntN(30)) * time.Millisecond
				leased, err := d.Lease(ctx, name, 1+rng.IntN(3), ttl)
				if err != nil {
					errc <- err
					return
				}
				if len(leased) == 0 {
					st, err := d.SweepStats(ctx, sweep)
					if err != nil {
						errc <- err
						return
					}
					if st.Pending == 0 && st.Leased == 0 {
						return
					}
					if idle++; idle > 20000 {
						errc <- fmt.Errorf("%s: queue never drained: %+v", name, st)
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				for _, v := range leased {
					time.Sleep(time.Duration(rng.IntN(12)) * time.Millisecond)
					if rng.IntN(4) == 0 {
						if nv, err := d.Extend(ctx, v, ttl); err == nil {
							v = nv
						} else if !errors.Is(err, ErrLeaseLost) {
							errc <- err
							return
						}
					}
					if rng.IntN(10) == 0 {
						err := d.Fail(ctx, v, errors.New("injected failure"), 1000)
						switch {
						case errors.Is(err, ErrLeaseLost):
							mu.Lock()
							lost++
							mu.Unlock()
						case err != nil:
							errc <- err
							return
						default:
							mu.Lock()
							failed++
							mu.Unlock()
						}
						continue
					}
					res := Result{Evidence: evidenceFor(v)}
					for n := range findingsOf(v.ID) {
						res.Findings = append(res.Findings, finding(v, n))
					}
					if strings.HasSuffix(v.URL, ".com/") {
						var i int
						fmt.Sscanf(v.URL, "https://shop%d.example.com/", &i)
						for _, j := range []int{i % items, (i * 7) % items} {
							res.Children = append(res.Children, shopwatch.Visit{
								ID:  VisitID(sweep, fmt.Sprintf("https://shared.example.com/item/%d", j)),
								URL: fmt.Sprintf("https://shared.example.com/item/%d", j), Kind: shopwatch.KindProduct,
							})
						}
					}
					err := d.Complete(ctx, v, res)
					mu.Lock()
					switch {
					case errors.Is(err, ErrLeaseLost):
						lost++
					case err == nil:
						completed[v.ID]++
						winner[v.ID] = v.Attempts
					}
					mu.Unlock()
					if err != nil && !errors.Is(err, ErrLeaseLost) {
						errc <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	all, err := d.ListVisits(ctx, sweep, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != roots+items {
		t.Fatalf("%d visits, want %d", len(all), roots+items)
	}
	wantFindings := 0
	for _, v := range all {
		if v.State != shopwatch.VisitDone {
			t.Errorf("visit %s is %s", v.ID, v.State)
		}
		if completed[v.ID] != 1 {
			t.Errorf("visit %s completed %d times", v.ID, completed[v.ID])
		}
		if v.Attempts != winner[v.ID] {
			t.Errorf("visit %s at attempt %d, completed by attempt %d", v.ID, v.Attempts, winner[v.ID])
		}
		if v.Findings != findingsOf(v.ID) {
			t.Errorf("visit %s records %d findings, want %d", v.ID, v.Findings, findingsOf(v.ID))
		}
		wantFindings += v.Findings
	}
	fs, err := d.ListFindings(ctx, Filter{Sweep: sweep})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != wantFindings {
		t.Errorf("%d findings stored, want %d", len(fs), wantFindings)
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Match] {
			t.Errorf("finding %s stored twice", f.Match)
		}
		seen[f.Match] = true
		if want := fmt.Sprintf("%s#%d#", f.VisitID, winner[f.VisitID]); !strings.HasPrefix(f.Match, want) {
			t.Errorf("finding %s comes from an attempt that lost its lease (winner %s)", f.Match, want)
		}
		if f.EvidenceID != fmt.Sprintf("e-%s-%d", f.VisitID, winner[f.VisitID]) {
			t.Errorf("finding %s points at evidence %s", f.Match, f.EvidenceID)
		}
	}
	evs, err := d.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(all) {
		t.Errorf("%d evidence records, want one per visit (%d)", len(evs), len(all))
	}
	for _, e := range evs {
		if e.ID != fmt.Sprintf("e-%s-%d", e.VisitID, winner[e.VisitID]) {
			t.Errorf("evidence %s from a losing attempt", e.ID)
		}
	}
	st := mustStats(t, d, sweep)
	if st != (Stats{Done: roots + items, Findings: wantFindings}) {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d visits, %d stale calls refused with ErrLeaseLost, %d injected failures retried", len(all), lost, failed)
	if lost == 0 {
		t.Error("no lease was ever lost: the test did not exercise expiry")
	}
}
