package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"shopwatch/configs"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/sweep"
)

// A bad configuration names the file, the line and the dotted key, never a
// Go type, and stops every command with exit 2.
func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "shopwatch.yaml")
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"operator: 张三\nrulez: {}\n", []string{"shopwatch.yaml:2", "unknown key rulez", "did you mean rules?"}},
		{"crawler:\n  timeout: 30s\n  user_agnt: x\n", []string{"shopwatch.yaml:3", "crawler.user_agnt", "did you mean user_agent?"}},
		{"crawler:\n  timeout: fast\n", []string{"shopwatch.yaml:2", "crawler.timeout", "duration", `"fast"`}},
		{"sweep:\n  workers: many\n", []string{"shopwatch.yaml:2", "sweep.workers", "whole number"}},
		{"sweep: 4\n", []string{"shopwatch.yaml:1", "sweep holds settings"}},
		{"crawler:\n  allow: 127.0.0.1\n", []string{"shopwatch.yaml:2", "crawler.allow", "list"}},
		{"store:\n  kind: s3\n", []string{"store.kind", `"s3"`}},
		{"sweep:\n  workers: -2\n", []string{"sweep.workers", "negative"}},
		{"crawler:\n  max_body_size: 99999999999\n", []string{"crawler", "1 GiB"}},
		{"crawler:\n  timeout: 3s\n timeout: 4s\n", []string{"shopwatch.yaml"}},
		{"witnesses:\n  - {url: \"http://127.0.0.1:1\", key_id: \"ed25519:0123456789abcdef\", nmae: x}\n", []string{"shopwatch.yaml:2", "witnesses[0].nmae", "did you mean name?"}},
		{"witnesses:\n  - {url: \"ftp://x\", key_id: \"x\"}\n", []string{"witnesses[0].url", "witnesses[0].key_id", "ed25519:<16 lowercase hex>"}},
	} {
		os.WriteFile(cfg, []byte(tc.yaml), 0o644)
		for _, args := range [][]string{{"rules", "list"}, {"audit", "list"}} {
			_, e, code := sw(t, append([]string{"--config", cfg, "--data", dir}, args...)...)
			if code != exitUsage {
				t.Errorf("%q, %v: exit %d, want 2; %s", tc.yaml, args, code, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(e, w) {
					t.Errorf("%q, %v: stderr lacks %q:\n%s", tc.yaml, args, w, e)
				}
			}
			if strings.Contains(e, "main.") || strings.Contains(e, "time.Duration") || strings.Contains(e, "!!") {
				t.Errorf("%q: the error shows Go or YAML types:\n%s", tc.yaml, e)
			}
		}
	}
	// Every command reads --config and fails on a missing file, before it
	// does anything.
	missing := filepath.Join(dir, "nope.yaml")
	for _, args := range [][]string{
		{"audit", "list"}, {"audit", "verify"}, {"rules", "list"}, {"rules", "check", cfg}, {"target", "list"},
		{"evidence", "list"}, {"evidence", "verify", cfg}, {"evidence", "ledger", "verify"}, {"findings"},
		{"scan", "http://127.0.0.1:9/"}, {"target", "add", "http://127.0.0.1:9/"}, {"marketsim", "--addr", "127.0.0.1:1"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		_, e, code := sw(t, append([]string{"--config", missing, "--data", data}, args...)...)
		if code != exitUsage || !strings.Contains(e, "nope.yaml") {
			t.Errorf("%v with a missing --config: exit %d, %s", args, code, e)
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("%v with a missing --config created the data directory", args)
		}
	}
}

// configs/shopwatch.yaml states the defaults; they must be the code's.
func TestDefaultConfigMatchesCode(t *testing.T) {
	var c Config
	if err := decodeConfig("built-in", configs.DefaultConfig, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the built-in configuration does not validate: %v", err)
	}
	cd := crawler.DefaultConfig()
	bd := crawler.DefaultBrowserConfig()
	wd := crawler.DefaultWatchOptions()
	for _, x := range []struct {
		key        string
		yaml, code any
	}{
		{"crawler.user_agent", c.Crawler.UserAgent, cd.UserAgent},
		{"crawler.timeout", c.Crawler.Timeout, cd.Timeout},
		{"crawler.max_body_size", c.Crawler.MaxBodySize, cd.MaxBodySize},
		{"crawler.max_redirects", c.Crawler.MaxRedirects, cd.MaxRedirects},
		{"crawler.per_host_parallel", c.Crawler.PerHostParallel, cd.PerHostParallel},
		{"crawler.per_host_delay", c.Crawler.PerHostDelay, cd.PerHostDelay},
		{"crawler.max_parallel", c.Crawler.MaxParallel, cd.MaxParallel},
		{"crawler.allow_private", c.Crawler.AllowPrivate, cd.AllowPrivate},
		{"browser.timeout", c.Browser.Timeout, bd.Timeout},
		{"browser.settle", c.Browser.Settle, bd.Settle},
		{"browser.width", c.Browser.Width, bd.Width},
		{"browser.height", c.Browser.Height, bd.Height},
		{"browser.tabs", c.Browser.Tabs, bd.Tabs},
		{"browser.recycle_after", c.Browser.RecycleAfter, bd.RecycleAfter},
		{"live.window", c.Live.Window, wd.Window},
		{"live.snapshot_every", c.Live.SnapshotEvery, wd.SnapshotEvery},
		{"live.sample", c.Live.Sample, wd.Sample},
		{"timezone", c.Timezone, defaultTimezone},
		{"targets.tracking_params", c.Targets.TrackingParams, db.DefaultTrackingParams},
		{"tsa.max_skew", c.TSA.MaxSkew, evidence.DefaultMaxTimestampSkew},
		{"capture.stop_on_environment_failure", c.Capture.StopOnEnvironmentFault, !sweep.Config{}.AllowEnvironmentFailure},
	} {
		if !reflect.DeepEqual(x.yaml, x.code) {
			t.Errorf("%s: configs/shopwatch.yaml says %v, the code's default is %v", x.key, x.yaml, x.code)
		}
	}
}

// rules.enable switches on rules that are off by default for every
// command that judges pages; an id the rule set lacks is refused.
func TestConfigRulesEnable(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.txt")
	if err := os.WriteFile(page, []byte("羊毛大衣 限时特价 仅限今天"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.yaml", "rules:\n  dir: \"\"\n")
	on := write("on.yaml", "rules:\n  enable: [price.urgency]\n")
	bad := write("bad.yaml", "rules:\n  enable: [price.nope]\n")
	data := filepath.Join(dir, "data")

	out, e, code := sw(t, "--config", plain, "--data", data, "rules", "check", page, "--json")
	if code != exitOK || strings.Contains(out, "price.urgency") {
		t.Fatalf("default rules: exit %d, price.urgency reported: %s %s", code, out, e)
	}
	out, e, code = sw(t, "--config", on, "--data", data, "rules", "check", page, "--json")
	if code != exitOK || !strings.Contains(out, `"price.urgency"`) {
		t.Fatalf("rules.enable [price.urgency]: exit %d, want a price.urgency finding: %s %s", code, out, e)
	}
	_, e, code = sw(t, "--config", bad, "--data", data, "rules", "check", page)
	if code == exitOK || !strings.Contains(e, "rules.enable") || !strings.Contains(e, "price.nope") {
		t.Fatalf("rules.enable with an unknown id: exit %d, %s", code, e)
	}
}
