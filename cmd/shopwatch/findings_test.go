package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/marketsim"
)

// importMarket adds the marketplace's targets to the data directory.
func importMarket(t *testing.T, data, base string) {
	t.Helper()
	resp, err := http.Get(base + "/_targets.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "targets.csv")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSW(t, "--data", data, "target", "import", path)
}

type sweepSummary struct {
	Sweep                            string
	Done, Failed, Findings, Evidence int
}

func sweepJSON(t *testing.T, args ...string) sweepSummary {
	t.Helper()
	var s sweepSummary
	if err := json.Unmarshal([]byte(mustSW(t, append(args, "--allow-private", "sweep", "--json")...)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func findingsJSON(t *testing.T, args ...string) []shopwatch.Finding {
	t.Helper()
	var fs []shopwatch.Finding
	if err := json.Unmarshal([]byte(mustSW(t, append([]string{"findings", "--json"}, args...)...)), &fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestFindingsOverTwoSweeps sweeps the same marketplace twice: each problem
// is listed once, seen twice, with the evidence of both sweeps, and still
// matches the marketplace's ground truth.
func TestFindingsOverTwoSweeps(t *testing.T) {
	m, base := market(t, 4)
	data := t.TempDir()
	importMarket(t, data, base)
	s1 := sweepJSON(t, "--data", data)
	s2 := sweepJSON(t, "--data", data)
	if s1.Failed+s2.Failed != 0 || s1.Findings == 0 || s1.Sweep == s2.Sweep {
		t.Fatalf("sweeps %+v and %+v", s1, s2)
	}
	found := findingsJSON(t, "--data", data)
	if len(found) != s1.Findings || s2.Findings != s1.Findings {
		t.Errorf("findings lists %d problems after two sweeps that found %d and %d", len(found), s1.Findings, s2.Findings)
	}
	score, err := marketsim.Compare(m, base, found)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range append(score.Missed, score.Unexpected...) {
		t.Errorf("differs from the ground truth: %s %s %q", x.URL, x.Rule, x.Match)
	}
	for _, f := range found {
		if f.TimesSeen != 2 || len(f.EvidenceIDs) != 2 || f.EvidenceIDs[0] == f.EvidenceIDs[1] || f.EvidenceID != f.EvidenceIDs[1] {
			t.Errorf("%s %s %q: seen %d times, evidence %v (latest %s); want 2 distinct, the latest last", f.ID, f.Rule, f.Match, f.TimesSeen, f.EvidenceIDs, f.EvidenceID)
		}
		if f.State != shopwatch.FindingOpen || f.FirstSeen.IsZero() || !f.FirstSeen.Before(f.LastSeen) {
			t.Errorf("%s: state %s, first %s, last %s", f.ID, f.State, f.FirstSeen, f.LastSeen)
		}
	}
	for _, s := range []sweepSummary{s1, s2} {
		if n := len(findingsJSON(t, "--data", data, "--sweep", s.Sweep)); n != s.Findings {
			t.Errorf("sweep %s: findings --sweep lists %d, the sweep reported %d", s.Sweep, n, s.Findings)
		}
	}

	// JSON: snake_case keys, RFC 3339 times.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "findings", "--json")), &raw); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, key := range []string{"id", "rule", "severity", "url", "target_id", "first_seen", "last_seen", "times_seen", "evidence_ids", "state"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("finding JSON lacks %q: %v", key, raw[0])
		}
	}
	for k, v := range raw[0] {
		if !snake.MatchString(k) {
			t.Errorf("JSON key %q is not snake_case", k)
		}
		if strings.HasSuffix(k, "_seen") && k != "times_seen" {
			if _, err := time.Parse(time.RFC3339, v.(string)); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
	}

	// The table: a header, one row per problem with its latest evidence id.
	out := mustSW(t, "--data", data, "findings")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], "LATEST EVIDENCE") || !strings.Contains(lines[0], "FIRST SEEN") || len(lines) != len(found)+2 {
		t.Errorf("table has %d lines for %d findings:\n%s", len(lines), len(found), out)
	}
	if !strings.HasPrefix(lines[len(lines)-1], fmt.Sprintf("%d findings (%d open, 0 gone)", len(found), len(found))) {
		t.Errorf("table footer %q", lines[len(lines)-1])
	}
	for _, f := range found {
		if !strings.Contains(out, f.EvidenceID) {
			t.Errorf("table lacks the latest evidence %s of %s", f.EvidenceID, f.ID)
		}
	}
	// The evidence id in the table exports as it stands.
	bundle := filepath.Join(t.TempDir(), "case.zip")
	row := strings.Fields(lines[1]) // … LATEST EVIDENCE, URL
	mustSW(t, "--data", data, "evidence", "export", row[len(row)-2], "-o", bundle)
}

// page is a loopback shop page whose content a test changes between sweeps.
type page struct {
	body atomic.Pointer[string]
	mode atomic.Int32 // 0 serve body, 1 answer 500, 2 drop the connection
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.mode.Load() {
	case 1:
		http.Error(w, "服务器繁忙", http.StatusInternalServerError)
	case 2:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><head><title>牛肉干</title></head><body><h1>牛肉干</h1><p>%s</p></body></html>`, *p.body.Load())
	}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func matches(fs []shopwatch.Finding) map[string]shopwatch.Finding {
	m := map[string]shopwatch.Finding{}
	for _, f := range fs {
		m[f.Match] = f
	}
	return m
}

// TestFindingsWhenPagesChange: a claim removed from the page is gone after
// the next full visit and a new one appears; a visit that failed or got an
// error page marks nothing gone. Then every filter, and the errors for
// unknown rule ids, targets and categories.
func TestFindingsWhenPagesChange(t *testing.T) {
	shop := &page{}
	body := "全网最佳口碑，坚持食用可治疗糖尿病。"
	shop.body.Store(&body)
	other := &page{}
	otherBody := "坚持食用可治疗糖尿病。"
	other.body.Store(&otherBody)
	mux := http.NewServeMux()
	mux.Handle("/item/1", shop)
	mux.Handle("/item/2", other)
	base := serve(t, mux)
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("sweep:\n  max_attempts: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := []string{"--data", data, "--config", cfg}
	t1 := strings.TrimSpace(mustSW(t, append(g, "target", "add", base+"/item/1", "--kind", "product", "--category", "food", "--platform", "taobao", "--jurisdiction", "杭州")...))
	t2 := strings.TrimSpace(mustSW(t, append(g, "target", "add", base+"/item/2", "--kind", "product", "--category", "food", "--platform", "jd", "--jurisdiction", "上海")...))

	sweepJSON(t, g...)
	first := matches(findingsJSON(t, append(g, "--target", t1)...))
	if len(first) != 2 || first["最佳"].ID == "" || first["治疗"].ID == "" {
		t.Fatalf("first sweep found %v, want 最佳 and 治疗", first)
	}
	unchanged := func(when string) {
		t.Helper()
		for m, f := range matches(findingsJSON(t, append(g, "--target", t1)...)) {
			if f.State != shopwatch.FindingOpen || f.TimesSeen != first[m].TimesSeen {
				t.Errorf("after %s, %q is %s, seen %d times", when, m, f.State, f.TimesSeen)
			}
		}
	}
	// An error page and a dropped connection: nothing is gone.
	shop.mode.Store(1)
	if s := sweepJSON(t, g...); s.Done != 2 || s.Findings != 1 {
		t.Errorf("sweep with a 500 page: %+v", s)
	}
	unchanged("a visit that got a 500 page")
	shop.mode.Store(2)
	o, _, _ := sw(t, append(g, "--allow-private", "sweep", "--json")...) // exits as the sweep command decides for failed visits
	var s sweepSummary
	if err := json.Unmarshal([]byte(o), &s); err != nil || s.Failed != 1 || s.Done != 1 {
		t.Errorf("sweep with a dropped connection: %+v, %v, want 1 failed", s, err)
	}
	unchanged("a failed visit")

	// The medical claim is removed, a new claim appears.
	shop.mode.Store(0)
	changed := "全网最佳口碑，国家级工艺。"
	shop.body.Store(&changed)
	before := time.Now()
	sweepJSON(t, g...)
	now := matches(findingsJSON(t, append(g, "--target", t1)...))
	if len(now) != 3 {
		t.Fatalf("after the change: %v", now)
	}
	if f := now["治疗"]; f.State != shopwatch.FindingGone || f.GoneAt.Before(before) || f.ID != first["治疗"].ID || len(f.History) != 1 {
		t.Errorf("removed claim: %+v", f)
	}
	if f := now["国家级"]; f.State != shopwatch.FindingOpen || f.TimesSeen != 1 || f.FirstSeen.Before(before) {
		t.Errorf("new claim: %+v", f)
	}
	if f := now["最佳"]; f.State != shopwatch.FindingOpen || f.TimesSeen != 2 || len(f.EvidenceIDs) != 2 {
		t.Errorf("kept claim (seen on the first and the last visit): %+v", f)
	}
	out := mustSW(t, append(g, "findings", "--target", t1)...)
	if !strings.Contains(out, "gone ") || !strings.Contains(out, "3 findings (2 open, 1 gone)") {
		t.Errorf("table after the change:\n%s", out)
	}

	// Filters.
	ids := func(args ...string) []string {
		t.Helper()
		var out []string
		for _, f := range findingsJSON(t, append(g, args...)...) {
			out = append(out, f.Match+"@"+strings.TrimPrefix(f.URL, base))
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"国家级@/item/1", "最佳@/item/1", "治疗@/item/1", "治疗@/item/2"}},
		{[]string{"--rule", "ad.medical-claim-food"}, []string{"治疗@/item/1", "治疗@/item/2"}},
		{[]string{"--rule", "ad.medical-claim-food, ad.absolute-term"}, []string{"国家级@/item/1", "最佳@/item/1", "治疗@/item/1", "治疗@/item/2"}},
		{[]string{"--severity", "violation", "--rule", "ad.absolute-term"}, []string{"国家级@/item/1", "最佳@/item/1"}},
		{[]string{"--severity", "info"}, nil},
		{[]string{"--category", "advertising", "--state", "gone"}, []string{"治疗@/item/1"}},
		{[]string{"--state", "open", "--platform", "jd"}, []string{"治疗@/item/2"}},
		{[]string{"--jurisdiction", "杭州", "--state", "open"}, []string{"国家级@/item/1", "最佳@/item/1"}},
		{[]string{"--target", base + "/item/2"}, []string{"治疗@/item/2"}},
		{[]string{"--target", t2, "--platform", "jd"}, []string{"治疗@/item/2"}},
		{[]string{"--since", before.Format(time.RFC3339Nano)}, []string{"国家级@/item/1", "最佳@/item/1", "治疗@/item/2"}},
		{[]string{"--since", "1h"}, []string{"国家级@/item/1", "最佳@/item/1", "治疗@/item/1", "治疗@/item/2"}},
		{[]string{"--since", "7d", "--until", before.Format(time.RFC3339Nano)}, []string{"最佳@/item/1", "治疗@/item/1", "治疗@/item/2"}},
		{[]string{"--until", "2020-01-01"}, nil},
		{[]string{"--since", time.Now().Add(24 * time.Hour).Format(time.DateOnly)}, nil},
	} {
		if got := ids(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("findings %q = %q, want %q", c.args, got, c.want)
		}
	}
	// --exit-code: 1 when something is listed, 0 when nothing is.
	if _, _, code := sw(t, append(g, "findings", "--exit-code", "--state", "gone")...); code != exitFailed {
		t.Errorf("findings --exit-code with a finding listed: exit %d", code)
	}
	if _, _, code := sw(t, append(g, "findings", "--exit-code", "--json", "--severity", "info")...); code != exitOK {
		t.Errorf("findings --exit-code with nothing listed: exit %d", code)
	}

	// Unknown names are usage errors naming them.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rule", "ad.absolute-term,ad.nonesuch"}, `"ad.nonesuch"`},
		{[]string{"--category", "advertsing"}, `"advertsing"`},
		{[]string{"--target", "t-nonesuch"}, `"t-nonesuch"`},
		{[]string{"--target", base + "/item/9"}, base + "/item/9"},
		{[]string{"--platform", "pdd"}, `"pdd"`},
		{[]string{"--jurisdiction", "北京"}, `"北京"`},
		{[]string{"--severity", "high"}, `"high"`},
		{[]string{"--state", "closed"}, `"closed"`},
		{[]string{"--since", "yesterday"}, `"yesterday"`},
		{[]string{"--sweep", "s-nonesuch"}, `"s-nonesuch"`},
		{[]string{"bogus"}, "bogus"},
	} {
		o, e, code := sw(t, append(append(g, "findings"), c.args...)...)
		if code != exitUsage || !strings.Contains(e, c.want) || o != "" {
			t.Errorf("findings %q: exit %d, stdout %q, stderr %q; want exit %d naming %s", c.args, code, o, e, exitUsage, c.want)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.Local)
	for _, c := range []struct {
		in       string
		endOfDay bool
		want     time.Time
	}{
		{"7d", false, now.AddDate(0, 0, -7)},
		{"2w", false, now.AddDate(0, 0, -14)},
		{"24h", false, now.Add(-24 * time.Hour)},
		{"1h30m", false, now.Add(-90 * time.Minute)},
		{"2026-03-01", false, time.Date(2026, 3, 1, 0, 0, 0, 0, time.Local)},
		{"2026-03-01", true, time.Date(2026, 3, 2, 0, 0, 0, 0, time.Local).Add(-time.Nanosecond)},
		{"2026-03-01T08:00:00+08:00", false, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := parseWhen(c.in, now, c.endOfDay)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "d", "7x", "-3h", "2026-13-01", "yesterday"} {
		if _, err := parseWhen(bad, now, false); err == nil {
			t.Errorf("parseWhen(%q) accepted", bad)
		}
	}
}
