package db

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

// The kill test runs its own test binary a second time as the worker to be
// killed; this variable tells the copy which database to work on.
const killChildEnv = "SHOPWATCH_DB_KILL_CHILD"

const killChildTTL = 2 * time.Second

// TestKillWorkerMidVisit kills, with SIGKILL, a worker process that holds a
// lease on a visit. The lock on the file dies with it; a new worker gets
// the visit once the dead worker's lease expires and completes it, the dead
// worker's token is refused, and no visit is lost or done twice.
func TestKillWorkerMidVisit(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		killChild(path)
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shopwatch.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustEnqueue(t, d, visit("s-kill", fmt.Sprintf("https://shop.example.com/%d", i), 10-i))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillWorkerMidVisit$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Wait for the child to say what it leased.
	leasedc := make(chan shopwatch.Visit, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if js, ok := strings.CutPrefix(sc.Text(), "LEASED "); ok {
				var v shopwatch.Visit
				if json.Unmarshal([]byte(js), &v) == nil {
					leasedc <- v
					return
				}
			}
		}
		close(leasedc)
	}()
	var held shopwatch.Visit
	select {
	case v, ok := <-leasedc:
		if !ok {
			t.Fatalf("child worker exited without leasing: %s", stderr.String())
		}
		held = v
	case <-time.After(30 * time.Second):
		t.Fatalf("child worker did not lease within 30s: %s", stderr.String())
	}
	if held.URL != "https://shop.example.com/0" || held.Attempts != 1 || held.Worker != "doomed" {
		t.Fatalf("child leased %+v, want shop.example.com/0 attempt 1", held)
	}

	// While the child lives, the file is locked.
	if _, err := Open(path, WithLockTimeout(100*time.Millisecond)); !errors.Is(err, ErrLocked) {
		t.Fatalf("open while the child holds the file: %v, want ErrLocked", err)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v, want killed", err)
	}

	d = openTestDB(t, path, WithLockTimeout(5*time.Second))
	got := mustVisit(t, d, held.ID)
	if got.State != shopwatch.VisitLeased || got.Worker != "doomed" || got.Attempts != 1 {
		t.Fatalf("after the kill the visit is %+v, want still leased by the dead worker", got)
	}
	// The other visits are free at once; the dead worker's is not while
	// its lease runs.
	rescued := mustLease(t, d, "rescuer", 10, time.Minute)
	if time.Now().Before(got.LeaseUntil) {
		for _, v := range rescued {
			if v.ID == held.ID {
				t.Fatalf("visit %s handed out before the dead worker's lease ended", v.ID)
			}
		}
		if len(rescued) != 4 {
			t.Fatalf("rescuer leased %d visits, want the 4 free ones", len(rescued))
		}
	}
	time.Sleep(time.Until(got.LeaseUntil) + 20*time.Millisecond)
	rescued = append(rescued, mustLease(t, d, "rescuer", 10, time.Minute)...)
	if len(rescued) != 5 {
		t.Fatalf("rescuer has %d visits after the lease expired, want 5", len(rescued))
	}
	for _, v := range rescued {
		if v.ID == held.ID && (v.Attempts != 2 || v.Worker != "rescuer") {
			t.Errorf("re-leased %+v, want attempt 2 by rescuer", v)
		}
		if err := d.Complete(ctx, v, Result{Findings: []shopwatch.Finding{finding(v, 0)}, Evidence: evidenceFor(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// Had the dead worker come back, its token would be refused.
	wantErr(t, d.Complete(ctx, held, Result{Findings: []shopwatch.Finding{finding(held, 0)}}), ErrLeaseLost)

	if st := mustStats(t, d, "s-kill"); st != (Stats{Done: 5, Findings: 5}) {
		t.Errorf("stats %+v, want 5 done with 5 findings", st)
	}
	fs, err := d.ListFindings(ctx, Filter{Sweep: "s-kill"})
	if err != nil {
		t.Fatal(err)
	}
	byVisit := map[string]int{}
	for _, f := range fs {
		byVisit[f.VisitID]++
	}
	if len(fs) != 5 || len(byVisit) != 5 {
		t.Errorf("findings %d over %d visits, want one per visit", len(fs), len(byVisit))
	}
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var expiry bool
	for _, e := range es {
		expiry = expiry || (e.Action == "visit.lease-expired" && strings.Contains(e.Detail, held.ID) && strings.Contains(e.Detail, "doomed"))
	}
	if !expiry {
		t.Error("audit log does not record the dead worker's expired lease")
	}
}

// killChild is the worker that gets killed: it leases one visit, reports
// it on stdout and waits to die.
func killChild(path string) {
	d, err := Open(path, WithLockTimeout(10*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	vs, err := d.Lease(context.Background(), "doomed", 1, killChildTTL)
	if err != nil || len(vs) != 1 {
		fmt.Fprintln(os.Stderr, "lease:", len(vs), err)
		os.Exit(3)
	}
	js, _ := json.Marshal(vs[0])
	fmt.Printf("LEASED %s\n", js)
	time.Sleep(time.Minute) // the parent kills us long before this
	os.Exit(4)
}
