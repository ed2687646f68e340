package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"shopwatch/evidence/spool"
	"shopwatch/internal/testparts"
)

// spoolStatusJSON is what the tests read of `spool status --json`.
type spoolStatusJSON struct {
	Dir         string   `json:"dir"`
	InUse       bool     `json:"in_use"`
	Objects     int      `json:"objects"`
	Captures    int      `json:"captures"`
	Bytes       int64    `json:"bytes"`
	Oldest      *string  `json:"oldest"`
	Stuck       []string `json:"stuck"`
	BackendDown bool     `json:"backend_down"`
	LastError   string   `json:"last_error"`
}

// sweepWithMinIODown sets up a MinIO store with a spool, two targets on a
// loopback market, stops MinIO and sweeps. It returns the server, the
// config file and data directory, and the sweep's output and exit code.
func sweepWithMinIODown(t *testing.T) (mi *testparts.MinIO, cfg, data, stdout, stderr string, code int) {
	t.Helper()
	mi = testparts.StartMinIO(t)
	_, base := market(t, 3)
	dir := t.TempDir()
	cfg = filepath.Join(dir, "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte(`store:
  kind: minio
  minio:
    endpoint: "`+mi.Endpoint+`"
    access_key: "`+mi.AccessKey+`"
    secret_key: "`+mi.SecretKey+`"
    bucket: case-evidence
    object_lock: true
    retention_days: 1
    max_retries: 1
  spool:
    attempt_timeout: 5s
    min_backoff: 50ms
    max_backoff: 200ms
    drain_timeout: 1s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/2/", "--category", "food")
	if err := mi.Stop(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = sw(t, "--config", cfg, "--data", data, "--allow-private", "sweep")
	return mi, cfg, data, stdout, stderr, code
}

// TestSweepWithMinIODown: a sweep whose MinIO is stopped spools every
// capture, waits store.spool.drain_timeout for the spool to drain, then
// names the objects and captures left only on local disk and exits with
// exitSpooled. `spool status --json` reports the same counts (also while
// MinIO is down), `spool drain` fails while MinIO is down, and once MinIO
// is back `spool drain` empties the spool, exits 0, and the evidence
// exports and verifies from the bucket.
func TestSweepWithMinIODown(t *testing.T) {
	mi, cfg, data, o, e, code := sweepWithMinIODown(t)
	dir := filepath.Dir(cfg)
	sw1 := func(args ...string) (string, string, int) {
		return sw(t, append([]string{"--config", cfg, "--data", data}, args...)...)
	}
	m := regexp.MustCompile(`(?m)(\d+) objects of (\d+) captures .* are only in the local spool (\S+)$`).FindStringSubmatch(e)
	if code != exitSpooled || m == nil || !strings.Contains(e, "spool drain") {
		t.Fatalf("sweep with MinIO down: exit %d, want %d naming what is left in the spool\nstdout: %s\nstderr: %s", code, exitSpooled, o, e)
	}
	t.Logf("sweep with MinIO down, exit %d:\n%s%s", code, o, e)
	objects, _ := strconv.Atoi(m[1])
	captures, _ := strconv.Atoi(m[2])
	if objects == 0 || captures == 0 || objects < captures {
		t.Fatalf("sweep reports %d objects of %d captures spooled", objects, captures)
	}
	if m[3] != filepath.Join(data, "spool") {
		t.Errorf("message names spool %s, want %s", m[3], filepath.Join(data, "spool"))
	}
	var recs []struct{ ID string }
	if err := json.Unmarshal([]byte(mustSW(t, "--config", cfg, "--data", data, "evidence", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != captures {
		t.Errorf("sweep made %d evidence records, the spool holds %d captures", len(recs), captures)
	}

	status := func() (st spoolStatusJSON) {
		t.Helper()
		out := mustSW(t, "--config", cfg, "--data", data, "spool", "status", "--json")
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("spool status --json: %v\n%s", err, out)
		}
		for _, k := range []string{"oldest_age_seconds", "down_since", "failures", "last_error_at"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("spool status --json lacks %q:\n%s", k, out)
			}
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := status()
	if !st.InUse || st.Objects != objects || st.Captures != captures || st.Bytes == 0 || st.Oldest == nil || len(st.Stuck) != 0 ||
		!st.BackendDown || st.LastError == "" || st.Dir != filepath.Join(data, "spool") {
		t.Errorf("spool status with MinIO down: %+v; want %d objects of %d captures, MinIO down with its error", st, objects, captures)
	}
	out := mustSW(t, "--config", cfg, "--data", data, "spool", "status")
	t.Logf("spool status:\n%s", out)
	if !strings.Contains(out, strconv.Itoa(objects)+" objects of "+strconv.Itoa(captures)+" captures") {
		t.Errorf("spool status:\n%s", out)
	}

	if _, e, code := sw1("spool", "drain", "--timeout", "500ms"); code != exitSpooled || !strings.Contains(e, strconv.Itoa(objects)+" objects") {
		t.Errorf("spool drain with MinIO down: exit %d, want %d naming the objects left\n%s", code, exitSpooled, e)
	}

	mi.Start(t)
	out = mustSW(t, "--config", cfg, "--data", data, "spool", "drain", "--timeout", "2m")
	if !strings.Contains(out, "uploaded "+strconv.Itoa(objects)+" spooled objects") || !strings.Contains(out, "empty") {
		t.Errorf("spool drain with MinIO back:\n%s", out)
	}
	st = status()
	if st.Objects != 0 || st.Captures != 0 || st.Oldest != nil || st.BackendDown {
		t.Errorf("spool status after the drain: %+v; want empty, MinIO up", st)
	}
	if es, _ := os.ReadDir(filepath.Join(data, "spool", "entries")); len(es) != 0 {
		t.Errorf("%d entry files left after the drain", len(es))
	}
	// The evidence comes from the bucket now.
	bundle := filepath.Join(dir, "case.zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", recs[0].ID, "-o", bundle, "--no-pdf")
	if out := mustSW(t, "evidence", "verify", bundle); !strings.Contains(out, "VERIFIED") {
		t.Errorf("verify: %s", out)
	}
}

// TestSpoolCommandsWithoutSpool: with the folder store there is no spool:
// status says so and reports nothing waiting (creating nothing), drain is
// an error; stray arguments are usage errors.
func TestSpoolCommandsWithoutSpool(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out := mustSW(t, "--data", data, "spool", "status")
	if !strings.Contains(out, "spool not in use") || !strings.Contains(out, "empty") {
		t.Errorf("spool status with the folder store:\n%s", out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("spool status created the data directory (%v)", err)
	}
	if _, e, code := sw(t, "--data", data, "spool", "drain"); code != exitRuntime || !strings.Contains(e, "nothing to drain") {
		t.Errorf("spool drain with the folder store: exit %d\n%s", code, e)
	}
	for _, args := range [][]string{{"spool"}, {"spool", "bogus"}, {"spool", "status", "extra"}, {"spool", "drain", "extra"}} {
		if _, e, code := sw(t, append([]string{"--data", data}, args...)...); code != exitUsage {
			t.Errorf("shopwatch %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, e)
		}
	}
}

// TestServeUploadsSpool: serve uploads what an earlier sweep left in the
// spool while it runs, not only when it stops; spool status works beside
// it (it takes no lock).
func TestServeUploadsSpool(t *testing.T) {
	mi, cfg, data, o, e, code := sweepWithMinIODown(t)
	if code != exitSpooled {
		t.Fatalf("sweep with MinIO down: exit %d, want %d\n%s%s", code, exitSpooled, o, e)
	}
	mi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var so, se bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--config", cfg, "--data", data, "--allow-private", "serve", "--tick", "1h"}, &so, &se)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := spool.Inspect(filepath.Join(data, "spool"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Objects == 0 {
			break
		}
		select {
		case c := <-done:
			t.Fatalf("serve exited (%d) with %d objects still spooled\n%s%s", c, st.Objects, so.String(), se.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("serve left %d objects in the spool for 2 minutes\n%s%s", st.Objects, so.String(), se.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case c := <-done:
		t.Fatalf("serve exited (%d) before the spool was seen empty\n%s%s", c, so.String(), se.String())
	default:
	}
	cancel()
	if c := <-done; c != exitOK {
		t.Errorf("serve stopped with exit %d\n%s%s", c, so.String(), se.String())
	}
}
