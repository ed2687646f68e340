//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/internal/testparts"
)

// sweepRows runs `sweep list --json`.
func sweepRows(t *testing.T, data string) []sweepRow {
	t.Helper()
	var rows []sweepRow
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "sweep", "list", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// cliFindings runs `findings --json`.
func cliFindings(t *testing.T, data string, args ...string) []shopwatch.Finding {
	t.Helper()
	var fs []shopwatch.Finding
	if err := json.Unmarshal([]byte(mustSW(t, append([]string{"--data", data, "findings", "--json"}, args...)...)), &fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

// A sweep whose evidence store is full fails the pages with findings,
// names them with their URLs, keeps their findings marked evidence
// missing and exits 3; once there is space, the next sweep captures them
// and the findings get their evidence, none twice.
func TestSweepWithFullStoreExits3(t *testing.T) {
	_, base := market(t, 2)
	vol := testparts.Tmpfs(t, "size=32m,mode=0700")
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("store:\n  folder: "+filepath.Join(vol, "store")+"\nsweep:\n  max_attempts: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSW(t, "--data", data, "--config", cfg, "target", "add", base+"/shop/1/", "--depth", "1")
	mustSW(t, "--data", data, "--config", cfg, "target", "add", base+"/shop/2/", "--depth", "1")
	if err := os.MkdirAll(filepath.Join(vol, "store", ".tmp"), 0o750); err != nil {
		t.Fatal(err)
	}
	filler := testparts.FillBytes(t, vol)

	out, errOut, code := sw(t, "--data", data, "--config", cfg, "--allow-private", "sweep")
	if code != exitRuntime {
		t.Fatalf("sweep into a full store: exit %d, want %d\n%s\n%s", code, exitRuntime, out, errOut)
	}
	if !strings.Contains(out, "FAILED: ") || !strings.Contains(out, base+"/shop/") || !strings.Contains(out, "no space left on device") ||
		!strings.Contains(out, "WITHOUT EVIDENCE") || strings.Contains(out, " URL ") {
		t.Errorf("summary does not name the failed pages with their URLs and reason:\n%s", out)
	}
	if !strings.Contains(errOut, "pages of 2 targets failed") {
		t.Errorf("stderr does not say how many targets failed:\n%s", errOut)
	}
	kept := cliFindings(t, data)
	if len(kept) == 0 {
		t.Fatal("no finding kept although the pages were checked")
	}
	for _, f := range kept {
		if f.EvidenceID != "" || !strings.Contains(f.EvidenceMissing, "no space left on device") {
			t.Errorf("finding %s on %s: evidence %q, evidence missing %q", f.ID, f.URL, f.EvidenceID, f.EvidenceMissing)
		}
	}
	rows := sweepRows(t, data)
	if len(rows) != 1 || rows[0].Failed == 0 || rows[0].State != "finished with failures" {
		t.Fatalf("sweep list: %+v", rows)
	}
	first := rows[0].ID

	// The incomplete captures of the failed attempts are set aside, listed
	// with their objects.
	var partial []partialRow
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "--config", cfg, "evidence", "partial", "list", "--json", "--objects")), &partial); err != nil {
		t.Fatal(err)
	}
	full := 0
	for _, p := range partial {
		if p.Sweep != first || p.Reason == "" || p.Objects == nil {
			t.Errorf("partial capture %+v", p)
		}
		if strings.Contains(p.Reason, "no space left on device") {
			full++
		}
	}
	if full == 0 {
		t.Errorf("evidence partial list shows none of the captures that failed on the full store: %+v", partial)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// A temporary file a killed capture left is removed when a sweep starts.
	leftover := filepath.Join(vol, "store", ".tmp", "put-123456")
	if err := os.WriteFile(leftover, []byte("half an object"), 0o444); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = sw(t, "--data", data, "--config", cfg, "--allow-private", "sweep", "--resume", first)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover temporary file after the sweep started: %v", err)
	}
	if code != exitOK {
		t.Fatalf("resume with space again: exit %d\n%s\n%s", code, out, errOut)
	}
	after := cliFindings(t, data, "--sweep", first)
	if len(after) != len(kept) {
		t.Errorf("%d findings after the resume, %d before", len(after), len(kept))
	}
	for _, f := range after {
		if f.EvidenceID == "" || f.EvidenceMissing != "" {
			t.Errorf("finding %s on %s after the resume: evidence %q, evidence missing %q", f.ID, f.URL, f.EvidenceID, f.EvidenceMissing)
		}
	}
	if rows := sweepRows(t, data); len(rows) != 1 || rows[0].State != "finished" || rows[0].Failed != 0 || rows[0].Finished.IsZero() {
		t.Errorf("sweep list after the resume: %+v", rows)
	}
}

// Stray arguments are refused, target ids sweep just those targets, and a
// sweep killed after planning is resumed by a plain `sweep` instead of
// being planned again on top.
func TestSweepArgumentsAndInterruptedSweeps(t *testing.T) {
	_, base := market(t, 2)
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--depth", "1")
	mustSW(t, "--data", data, "target", "add", base+"/shop/2/", "--depth", "1")
	var targets []shopwatch.Target
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json")), &targets); err != nil {
		t.Fatal(err)
	}

	_, e, code := sw(t, "--data", data, "--allow-private", "sweep", "bogus", targets[0].ID)
	if code != exitUsage || !strings.Contains(e, `"bogus"`) || !strings.Contains(e, "usage: shopwatch sweep") {
		t.Errorf("sweep bogus: exit %d, %s", code, e)
	}
	if _, e, code := sw(t, "--data", data, "--allow-private", "sweep", "--resume", "s-nope"); code != exitUsage || !strings.Contains(e, "s-nope") {
		t.Errorf("sweep --resume of an unknown sweep: exit %d, %s", code, e)
	}
	if rows := sweepRows(t, data); len(rows) != 0 {
		t.Fatalf("refused commands left sweeps: %+v", rows)
	}

	// Just one target.
	mustSW(t, "--data", data, "--allow-private", "sweep", targets[1].ID)
	for _, f := range cliFindings(t, data) {
		if f.TargetID != targets[1].ID {
			t.Errorf("sweep of %s recorded a finding of %s", targets[1].ID, f.TargetID)
		}
	}
	rows := sweepRows(t, data)
	if len(rows) != 1 || rows[0].Pages < 2 || rows[0].State != "finished" {
		t.Fatalf("sweep list after sweeping one target: %+v", rows)
	}

	// A sweep planned by a run that was killed right after: plain `sweep`
	// resumes it and plans nothing new.
	d, err := db.Open(filepath.Join(data, "shopwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	visits := []shopwatch.Visit{{TargetID: targets[0].ID, URL: targets[0].URL, Kind: targets[0].Kind, Depth: targets[0].Depth}}
	killed, _, err := d.PlanSweep(context.Background(), "manual", visits, []string{targets[0].ID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if rows := sweepRows(t, data); len(rows) != 2 || rows[1].ID != killed || rows[1].State != "interrupted" {
		t.Fatalf("sweep list with an interrupted sweep: %+v", rows)
	}
	out, e, code := sw(t, "--data", data, "--allow-private", "sweep")
	if code != exitOK || !strings.Contains(e, "resuming interrupted sweep "+killed) || !strings.Contains(out, "sweep "+killed+":") {
		t.Fatalf("plain sweep with an interrupted one: exit %d\n%s\n%s", code, out, e)
	}
	rows = sweepRows(t, data)
	if len(rows) != 2 || rows[1].State != "finished" {
		t.Fatalf("plain sweep planned another sweep instead of resuming: %+v", rows)
	}
	// Nothing interrupted any more: the next plain sweep plans anew.
	mustSW(t, "--data", data, "--allow-private", "sweep")
	if rows := sweepRows(t, data); len(rows) != 3 {
		t.Errorf("sweep list: %+v, want a third sweep", rows)
	}

	// A sweep created without its pages (what a kill between the two
	// steps left before planning was one transaction) is not resumed as
	// a success.
	d, err = db.Open(filepath.Join(data, "shopwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := d.CreateSweep(context.Background(), "manual")
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, e, code := sw(t, "--data", data, "--allow-private", "sweep", "--resume", empty); code != exitRuntime || !strings.Contains(e, "no pages") {
		t.Errorf("resume of a sweep without pages: exit %d, %s", code, e)
	}
}

// Ctrl-C during a sweep: the leases go back at once, no ERROR line is
// logged for the cut-short visits, and the resume command is printed.
func TestSweepStopsCleanly(t *testing.T) {
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	data := t.TempDir()
	for _, p := range []string{"/a", "/b", "/c"} {
		mustSW(t, "--data", data, "target", "add", srv.URL+p, "--kind", "product")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	var o, e strings.Builder
	code := Run(ctx, []string{"--data", data, "--allow-private", "sweep", "--workers", "2"}, &o, &e)
	if code != exitRuntime || !strings.Contains(e.String(), "resume it with: shopwatch sweep --resume s-") {
		t.Errorf("stopped sweep: exit %d\n%s\n%s", code, o.String(), e.String())
	}
	if strings.Contains(e.String(), "level=ERROR") {
		t.Errorf("a stopped sweep logged errors:\n%s", e.String())
	}
	d, err := db.Open(filepath.Join(data, "shopwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	leased, err := d.ListVisits(context.Background(), "", shopwatch.VisitLeased)
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 0 {
		t.Errorf("%d visits still leased after the stop", len(leased))
	}
	pending, err := d.ListVisits(context.Background(), "", shopwatch.VisitPending)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 {
		t.Error("no visit left pending for the resume")
	}
}
