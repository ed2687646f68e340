package main

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch/internal/testparts"
)

// environmentClock returns the clock record of the environment.json of
// capture id.
func environmentClock(t *testing.T, cfg, data, id string) (ok bool, clock map[string]any) {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), id+".zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", id, "-o", bundle, "--no-pdf")
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open("environment.json")
	if err != nil {
		t.Fatalf("bundle has no environment.json: %v", err)
	}
	defer rc.Close()
	var env struct {
		OK    bool           `json:"ok"`
		Clock map[string]any `json:"clock"`
	}
	if err := json.NewDecoder(rc).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env.OK, env.Clock
}

// The clock check compares the host with an independent source: an
// external authority (tsa.url) by default when one is configured, or an
// NTP server named in config. A source 10 minutes away from the host
// fails the check and stops the session before anything is captured.
func TestClockCheckIndependentSource(t *testing.T) {
	_, base := market(t, 1)

	t.Run("external authority", func(t *testing.T) {
		ext := testparts.StartOpenSSLTSA(t)
		// Second-resolution tokens prove the offset to about 3s at best.
		_, _, ok, clock := sweptClock(t, base, "tsa:\n  url: "+ext.URL+"\n  root_file: "+ext.RootFile+"\ncapture:\n  max_clock_offset: 5s\n")
		src, _ := clock["source"].(string)
		if !ok || clock["verified"] != true || clock["self_referential"] == true || !strings.Contains(src, "External TSA test authority") {
			t.Errorf("environment ok=%v clock %v: want verified against the external authority", ok, clock)
		}
	})

	t.Run("NTP server", func(t *testing.T) {
		good := testparts.StartNTPServer(t, 0, false)
		data, ids, ok, clock := sweptClock(t, base, "capture:\n  clock_source: ntp\n  ntp_server: "+good.Addr+"\n")
		if src, _ := clock["source"].(string); !ok || clock["verified"] != true || !strings.HasPrefix(src, "ntp "+good.Addr) {
			t.Errorf("environment ok=%v clock %v: want verified against the NTP server", ok, clock)
		}

		// The host is 10 minutes behind this server: the session stops.
		skewed := testparts.StartNTPServer(t, 10*time.Minute, false)
		bad := filepath.Join(t.TempDir(), "skewed.yaml")
		if err := os.WriteFile(bad, []byte("capture:\n  clock_source: ntp\n  ntp_server: "+skewed.Addr+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, e, code := sw(t, "--config", bad, "--data", data, "--allow-private", "sweep", "--all")
		if code != exitFailed || !strings.Contains(e, "clock: ") || !strings.Contains(e, "ntp "+skewed.Addr) || !strings.Contains(e, "host clock ") {
			t.Errorf("sweep with the host clock 10 minutes off: exit %d\n%s", code, e)
		}
		if got := evidenceIDs(t, data); len(got) != len(ids) {
			t.Errorf("the stopped session captured: %d captures, %d before", len(got), len(ids))
		}
	})

	t.Run("config", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
		if err := os.WriteFile(cfg, []byte("capture:\n  clock_source: ntp\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, e, code := sw(t, "--config", cfg, "--data", t.TempDir(), "--allow-private", "sweep")
		if code == exitOK || !strings.Contains(e, "capture.ntp_server") {
			t.Errorf("clock_source ntp without ntp_server: exit %d\n%s", code, e)
		}
	})
}

// sweptClock sweeps one shop of the market at base with the configuration
// yaml and returns its data directory, its captures and the clock check
// the first one recorded.
func sweptClock(t *testing.T, base, yaml string) (data string, ids []string, ok bool, clock map[string]any) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	data = t.TempDir()
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")
	mustSW(t, "--config", cfg, "--data", data, "--allow-private", "sweep")
	if ids = evidenceIDs(t, data); len(ids) == 0 {
		t.Fatal("no evidence")
	}
	ok, clock = environmentClock(t, cfg, data, ids[0])
	return data, ids, ok, clock
}
