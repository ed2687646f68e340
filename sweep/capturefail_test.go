//go:build linux

package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/miniostore"
	"shopwatch/evidence/tsa"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
	"shopwatch/sweep"
)

// A capture that fails (the store is full, out of inodes or down, the TSA
// unreachable) must never look like success. Each test below sweeps the
// marketplace while one part is broken and checks that every page with
// findings is reported failed, with its URL and reason, and its findings
// kept in the database marked evidence missing; then it repairs the part,
// puts the failed visits back (as the next sweep or a resume does), and
// checks the finished sweep against the ground truth: every finding once,
// each with verified evidence, none still marked.

// pagesWithFindings returns the URLs of the marketplace pages whose ground
// truth expects a finding, sorted.
func pagesWithFindings(t *testing.T, m *marketsim.Market, base string) []string {
	t.Helper()
	var out []string
	err := m.Truth(base, func(p marketsim.PageTruth) error {
		if len(p.Expect) > 0 {
			out = append(out, p.URL)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// checkCaptureFailed checks the sweep run while captures failed: it ended
// without error; every page with findings, and only those, is reported
// failed with evidence missing and a reason containing want; the findings
// of those pages are all stored (exactly the ground truth), none with
// evidence, each saying why; no evidence record exists; the database is
// consistent.
func (g *outageRig) checkCaptureFailed(t *testing.T, sum *sweep.Summary, err error, want string) {
	t.Helper()
	ctx := context.Background()
	if err != nil {
		t.Fatalf("sweep with failing captures: %v", err)
	}
	pages := pagesWithFindings(t, g.m, g.base)
	var failed []string
	targets := map[string]bool{}
	for _, f := range sum.FailedVisits {
		failed = append(failed, f.URL)
		targets[f.TargetID] = true
		if !f.EvidenceMissing || f.Findings == 0 || !strings.Contains(f.Error, want) {
			t.Errorf("failed visit %s: evidence missing %v, %d findings kept, error %q (want it to say %q)", f.URL, f.EvidenceMissing, f.Findings, f.Error, want)
		}
	}
	sort.Strings(failed)
	if fmt.Sprint(failed) != fmt.Sprint(pages) {
		t.Errorf("summary lists %d failed pages:\n%v\nwant the %d pages with findings:\n%v", len(failed), failed, len(pages), pages)
	}
	if sum.Failed != len(pages) || sum.FailedTargets != len(targets) || sum.FailedTargets == 0 {
		t.Errorf("summary: %d failed, %d failed targets; want %d failed of %d targets", sum.Failed, sum.FailedTargets, len(pages), len(targets))
	}
	found, err := g.db.ListFindings(ctx, db.Filter{Sweep: g.sweep})
	if err != nil {
		t.Fatal(err)
	}
	checkScore(t, g.m, g.base, found)
	if sum.Findings != len(found) || sum.EvidenceMissing != len(found) {
		t.Errorf("summary counts %d findings, %d without evidence; the database keeps %d", sum.Findings, sum.EvidenceMissing, len(found))
	}
	for _, f := range found {
		if f.EvidenceID != "" || !strings.Contains(f.EvidenceMissing, want) {
			t.Errorf("finding %s %s on %s: evidence %q, evidence missing %q (want the reason, saying %q)", f.ID, f.Rule, f.URL, f.EvidenceID, f.EvidenceMissing, want)
		}
	}
	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("%d evidence records although every capture failed", len(recs))
	}
	st, err := g.db.SweepStats(ctx, g.sweep)
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != len(pages) || st.Done != g.m.Pages()-len(pages) || st.Findings != len(found) {
		t.Errorf("sweep stats %+v; want %d failed, %d done, %d findings", st, len(pages), g.m.Pages()-len(pages), len(found))
	}
	if err := g.db.Check(ctx); err != nil {
		t.Errorf("database check: %v", err)
	}
}

// retryAndCheck puts the failed visits back, runs the sweep again with the
// part repaired and checks the result against the ground truth, reading
// the evidence from store: no finding twice, none still marked evidence
// missing, each with a verified evidence record of its page.
func (g *outageRig) retryAndCheck(t *testing.T, store evidence.Store, failed int) {
	t.Helper()
	ctx := context.Background()
	before, err := g.db.ListFindings(ctx, db.Filter{Sweep: g.sweep})
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.db.RetryMissingEvidence(ctx, g.sweep)
	if err != nil {
		t.Fatal(err)
	}
	if n != failed {
		t.Fatalf("%d visits put back for their evidence, want %d", n, failed)
	}
	sum, err := g.runner.Run(ctx, g.sweep)
	if err != nil {
		t.Fatalf("sweep after the repair: %v", err)
	}
	if sum.Failed != 0 || len(sum.FailedVisits) != 0 || sum.Done != failed {
		t.Errorf("sweep after the repair: %d done, %d failed (%v); want %d done", sum.Done, sum.Failed, sum.FailedVisits, failed)
	}
	g.checkSweep(t, store) // ground truth, no duplicates, evidence verified
	after, err := g.db.ListFindings(ctx, db.Filter{Sweep: g.sweep})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, f := range after {
		ids[f.ID] = true
		if f.EvidenceMissing != "" || f.EvidenceID == "" {
			t.Errorf("finding %s %s on %s: evidence %q, still marked %q", f.ID, f.Rule, f.URL, f.EvidenceID, f.EvidenceMissing)
		}
	}
	for _, f := range before {
		if !ids[f.ID] {
			t.Errorf("finding %s kept without evidence is gone after the retry", f.ID)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d findings after the retry, %d before", len(after), len(before))
	}
	failedVisits, err := g.db.ListVisits(ctx, g.sweep, shopwatch.VisitFailed)
	if err != nil {
		t.Fatal(err)
	}
	if len(failedVisits) != 0 {
		t.Errorf("%d visits still failed", len(failedVisits))
	}
}

func TestCaptureFailsStoreFull(t *testing.T) {
	vol := testparts.Tmpfs(t, "size=48m,mode=0700")
	store, err := folderstore.New(filepath.Join(vol, "store"))
	if err != nil {
		t.Fatal(err)
	}
	filler := testparts.FillBytes(t, vol)
	g := newOutageRig(t, 8, store)
	sum, err := g.runner.Run(context.Background(), g.sweep)
	g.checkCaptureFailed(t, sum, err, "no space left on device")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	g.retryAndCheck(t, store, sum.Failed)
}

func TestCaptureFailsStoreOutOfInodes(t *testing.T) {
	vol := testparts.Tmpfs(t, "size=48m,nr_inodes=6000,mode=0700")
	store, err := folderstore.New(filepath.Join(vol, "store"))
	if err != nil {
		t.Fatal(err)
	}
	filler := testparts.FillInodes(t, vol)
	g := newOutageRig(t, 8, store)
	sum, err := g.runner.Run(context.Background(), g.sweep)
	g.checkCaptureFailed(t, sum, err, "no space left on device")

	if err := os.RemoveAll(filler); err != nil {
		t.Fatal(err)
	}
	g.retryAndCheck(t, store, sum.Failed)
}

// TestCaptureFailsTSADown timestamps at an external RFC 3161 authority
// served over HTTP on a loopback port that is closed during the first run
// and served again for the retry.
func TestCaptureFailsTSADown(t *testing.T) {
	store, err := folderstore.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	g := newOutageRig(t, 8, store)
	authority, ok := g.notary.TSA.(*tsa.Authority)
	if !ok {
		t.Fatalf("the rig's notary has a %T, want the built-in authority", g.notary.TSA)
	}
	addr, err := testparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	g.notary.TSA = &tsa.Client{URL: "http://" + addr + "/", TrustedRoots: authority.Roots()}
	sum, err := g.runner.Run(context.Background(), g.sweep)
	g.checkCaptureFailed(t, sum, err, "connection refused")

	// The TSA comes back on the same address.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: authority.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("TSA server: %v", err)
		}
	})
	g.retryAndCheck(t, store, sum.Failed)
}

// TestCaptureFailsMinIODown captures straight into a real MinIO server (no
// spool in front) that is stopped for the first run and started again for
// the retry.
func TestCaptureFailsMinIODown(t *testing.T) {
	mi := testparts.StartMinIO(t)
	ctx := context.Background()
	cfg := miniostore.Config{Endpoint: mi.Endpoint, AccessKey: mi.AccessKey, SecretKey: mi.SecretKey,
		Bucket: "down-evidence", MaxRetries: 1}
	store, err := miniostore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := newOutageRig(t, 8, store)
	if err := mi.Stop(); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, g.sweep)
	g.checkCaptureFailed(t, sum, err, "connection refused")

	mi.Start(t)
	g.retryAndCheck(t, store, sum.Failed)
}
