package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"shopwatch"
	"shopwatch/evidence/warc/warctest"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// syncBuffer is an output buffer that goroutines may write into while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sw runs the shopwatch command line in-process, with output buffers of
// its own.
func sw(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e syncBuffer
	// Run makes a logger writing into e the slog default, which also
	// points the log package (net/http's error log, for one) at e; slog
	// does not point it back when Run restores the default. Put it back
	// here, so that nothing logged after this run lands in its buffer.
	w, flags, prefix := log.Writer(), log.Flags(), log.Prefix()
	defer func() {
		log.SetOutput(w)
		log.SetFlags(flags)
		log.SetPrefix(prefix)
	}()
	code = Run(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

func mustSW(t *testing.T, args ...string) string {
	t.Helper()
	o, e, code := sw(t, args...)
	if code != 0 {
		t.Fatalf("shopwatch %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, o, e)
	}
	return o
}

// checkWARCFiles reads every *.warc.gz file under dir with gowarc in
// strict mode (evidence/warc/warctest) and returns how many there were.
func checkWARCFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".warc.gz") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := warctest.Read(b); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func market(t *testing.T, shops int) (*marketsim.Market, string) {
	t.Helper()
	m := marketsim.New(marketsim.Config{Seed: 11, Shops: shops})
	return m, marketsim.ServeFor(t, m)
}

func TestWorkflow(t *testing.T) {
	m, base := market(t, 6)
	data := t.TempDir()
	resp, err := http.Get(base + "/_targets.csv")
	if err != nil {
		t.Fatal(err)
	}
	csvBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csvPath := filepath.Join(t.TempDir(), "targets.csv")
	if err := os.WriteFile(csvPath, csvBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	out := mustSW(t, "--data", data, "target", "import", csvPath)
	if !strings.Contains(out, "imported") {
		t.Errorf("import said %q", out)
	}
	// Importing again adds nothing.
	if out := mustSW(t, "--data", data, "target", "import", csvPath); !strings.Contains(out, "imported 0 targets") {
		t.Errorf("second import said %q", out)
	}
	var targets []map[string]any
	if err := json.Unmarshal([]byte(mustSW(t, "target", "list", "--json", "--data", data)), &targets); err != nil {
		t.Fatal(err)
	}
	want := countTargets(t, m, base)
	if len(targets) != want {
		t.Fatalf("target list has %d targets, want %d", len(targets), want)
	}

	var sum struct {
		Done, Failed, Findings, Evidence int
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "--allow-private", "sweep", "--json", "--workers", "4")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Done != m.Pages() || sum.Failed != 0 || sum.Findings == 0 || sum.Evidence == 0 {
		t.Fatalf("sweep summary %+v, want %d pages done with findings and evidence", sum, m.Pages())
	}

	var findings []map[string]any
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "findings", "--json")), &findings); err != nil {
		t.Fatal(err)
	}
	if len(findings) != sum.Findings {
		t.Errorf("findings lists %d, sweep reported %d", len(findings), sum.Findings)
	}
	for _, key := range []string{"rule", "category", "law", "match", "severity", "url"} {
		if _, ok := findings[0][key]; !ok {
			t.Errorf("finding JSON lacks %q: %v", key, findings[0])
		}
	}

	var recs []struct {
		ID       string `json:"id"`
		Findings int    `json:"findings"`
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != sum.Evidence {
		t.Fatalf("evidence list has %d records, sweep reported %d", len(recs), sum.Evidence)
	}
	bundle := filepath.Join(t.TempDir(), "case.zip")
	mustSW(t, "--data", data, "evidence", "export", recs[0].ID, "-o", bundle)
	// Every WARC file the sweep wrote, and the one in the bundle, read by
	// an independent reader in strict mode.
	if n := checkWARCFiles(t, data); n != sum.Evidence {
		t.Errorf("%d WARC files under the data directory, %d evidence records", n, sum.Evidence)
	}
	if b, ok := zipFile(t, bundle, "archive/capture.warc.gz"); !ok {
		t.Error("the bundle has no archive/capture.warc.gz")
	} else {
		warctest.Check(t, b)
	}
	if out := mustSW(t, "evidence", "verify", bundle); !strings.Contains(out, "VERIFIED") {
		t.Errorf("verify output: %s", out)
	}
	// Exporting over an existing file is refused.
	if _, e, code := sw(t, "--data", data, "evidence", "export", recs[0].ID, "-o", bundle); code == 0 || !strings.Contains(e, "exists") {
		t.Errorf("export over an existing bundle: exit %d, %s", code, e)
	}

	// One flipped byte in one artifact: exit 1, the artifact named.
	tampered := filepath.Join(t.TempDir(), "tampered.zip")
	flipByte(t, bundle, tampered, "page.html")
	o, _, code := sw(t, "evidence", "verify", tampered)
	if code != exitFailed || !strings.Contains(o, "page.html") {
		t.Errorf("verify of a tampered bundle: exit %d, output:\n%s", code, o)
	}
	// The bundle is sealed: timestamp and ledger proof checked.
	for _, want := range []string{"timestamp.tsr", "ledger-proof.json"} {
		if !strings.Contains(mustSW(t, "--data", data, "evidence", "verify", bundle), want) {
			t.Errorf("verify output does not mention %s", want)
		}
	}
	if out := mustSW(t, "--data", data, "evidence", "ledger", "verify"); !strings.Contains(out, "ledger intact") {
		t.Errorf("ledger verify: %s", out)
	}
	// Exports and verifications are in the custody log, and it is intact.
	var audit []struct{ Action, Detail string }
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "audit", "list", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range audit {
		actions[e.Action]++
	}
	if actions["evidence.exported"] != 1 || actions["evidence.verified"] < 2 {
		t.Errorf("audit actions %v, want one export and the verifications", actions)
	}
	if out := mustSW(t, "--data", data, "audit", "verify"); !strings.Contains(out, "intact") {
		t.Errorf("audit verify: %s", out)
	}
	// An unknown evidence id is a clear error.
	if _, e, code := sw(t, "--data", data, "evidence", "export", "ev-nope"); code == 0 || !strings.Contains(e, "ev-nope") {
		t.Errorf("export of unknown id: exit %d, %s", code, e)
	}
}

func countTargets(t *testing.T, m *marketsim.Market, base string) int {
	t.Helper()
	n := 0
	if err := m.Targets(base, func(shopwatch.Target) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// flipByte copies a zip, flipping one byte of the named entry.
func flipByte(t *testing.T, src, dst, name string) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := zip.NewWriter(out)
	found := false
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == name {
			b[len(b)/2] ^= 0x20
			found = true
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("bundle has no %s", name)
	}
}

func TestTargetAddRejectsBadInput(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"target", "add", "ftp://example.com/x"}, "ftp://example.com/x"},
		{[]string{"target", "add", "not a url"}, "not a url"},
		{[]string{"target", "add", "http://127.0.0.1:9/", "--kind", "shop"}, "shop"},
	} {
		_, e, code := sw(t, append([]string{"--data", data}, tc.args...)...)
		if code == 0 || !strings.Contains(e, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error naming %q", tc.args, code, e, tc.want)
		}
	}
	mustSW(t, "--data", data, "target", "add", "http://127.0.0.1:9/shop/1/", "--category", "food")
	if _, e, code := sw(t, "--data", data, "target", "add", "http://127.0.0.1:9/shop/1/"); code == 0 || !strings.Contains(e, "127.0.0.1:9/shop/1/") {
		t.Errorf("duplicate target: exit %d, %s", code, e)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("url,kind\nhttp://127.0.0.1:9/a,storefront\nhttp://127.0.0.1:9/b,warehouse\n"), 0o644)
	if _, e, code := sw(t, "--data", data, "target", "import", bad); code == 0 || !strings.Contains(e, "bad.csv:3") {
		t.Errorf("bad CSV: exit %d, %s", code, e)
	}
}

func TestRulesCheckFileAndStdin(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "item.html")
	os.WriteFile(page, []byte(`<html><body><h1>牛肉干</h1><p>全网最佳口碑，坚持食用可治疗糖尿病。第一次使用请先阅读说明书。</p><script>var x="国家级";</script></body></html>`), 0o644)
	var fs []struct{ Rule, Match, Law, Severity string }
	if err := json.Unmarshal([]byte(mustSW(t, "rules", "check", page, "--category", "food", "--json")), &fs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range fs {
		got[f.Rule] = f.Match
	}
	if got["ad.absolute-term"] != "最佳" || got["ad.medical-claim-food"] != "治疗" || len(fs) != 2 {
		t.Errorf("findings %+v, want 最佳 and 治疗 only (script text and 第一次 are not claims)", fs)
	}
	stdin = strings.NewReader("ＮＯ．１ 爆款 温和清洁")
	defer func() { stdin = os.Stdin }()
	out := mustSW(t, "rules", "check", "-", "--category", "cosmetics")
	if !strings.Contains(out, "ＮＯ．１") || !strings.Contains(out, "1 findings") {
		t.Errorf("stdin check: %s", out)
	}
}

func TestMalformedRuleFileIsNamed(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.MkdirAll(rulesDir, 0o755)
	os.WriteFile(filepath.Join(rulesDir, "broken.yaml"), []byte("rules:\n  - id: x.y\n    title: {zh: 测试, en: test}\n    colour: red\n"), 0o644)
	cfg := filepath.Join(dir, "shopwatch.yaml")
	os.WriteFile(cfg, []byte("rules:\n  dir: "+rulesDir+"\n"), 0o644)
	_, e, code := sw(t, "--config", cfg, "rules", "list")
	if code == 0 || !strings.Contains(e, "broken.yaml:") || !strings.Contains(e, "colour") {
		t.Errorf("broken rule file: exit %d, stderr %q", code, e)
	}
	os.WriteFile(cfg, []byte("rulez: {}\n"), 0o644)
	if _, e, code := sw(t, "--config", cfg, "rules", "list"); code == 0 || !strings.Contains(e, "rulez") {
		t.Errorf("unknown config key: exit %d, stderr %q", code, e)
	}
}

func TestScanOnePage(t *testing.T) {
	m, base := market(t, 40)
	// Find a food product page that the truth says violates.
	var url, rule string
	_ = m.Truth(base, func(pt marketsim.PageTruth) error {
		if url == "" && pt.Category == "food" && pt.Kind == "product" {
			for _, e := range pt.Expect {
				if e.Rule == marketsim.RuleMedicalClaimFood {
					url, rule = pt.URL, e.Rule
				}
			}
		}
		return nil
	})
	if url == "" {
		t.Fatal("market has no food page with a medical claim")
	}
	// The URL guard refuses the loopback marketplace unless allowed, and
	// says which address it refused.
	if _, e, code := sw(t, "scan", url, "--category", "food"); code == 0 || !strings.Contains(e, "127.0.0.1") || !strings.Contains(e, "refused") {
		t.Errorf("scan of a loopback URL without --allow-private: exit %d, %s", code, e)
	}
	out := mustSW(t, "scan", url, "--category", "food", "--json", "--allow-private")
	if !strings.Contains(out, rule) {
		t.Errorf("scan %s: %s", url, out)
	}
	if _, e, code := sw(t, "scan", "http://"); code == 0 || !strings.Contains(e, "invalid url") {
		t.Errorf("scan of an invalid URL: exit %d, %s", code, e)
	}
}

func TestUsageErrors(t *testing.T) {
	if _, _, code := sw(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if _, _, code := sw(t, "evidence", "verify"); code != exitUsage {
		t.Errorf("verify without a file: exit %d", code)
	}
	if o, _, code := sw(t, "help"); code != 0 || !strings.Contains(o, "evidence") {
		t.Errorf("help: exit %d %s", code, o)
	}
}

func TestScanWithBrowser(t *testing.T) {
	testparts.Chromium(t)
	m, base := market(t, 40)
	var url string
	_ = m.Truth(base, func(pt marketsim.PageTruth) error {
		for _, e := range pt.Expect {
			if url == "" && pt.Kind == shopwatch.KindProduct && e.Rule == marketsim.RuleAbsoluteTerm {
				url = pt.URL
			}
		}
		return nil
	})
	if url == "" {
		t.Fatal("market has no page with an absolute term")
	}
	var fs []struct{ Rule, URL string }
	if err := json.Unmarshal([]byte(mustSW(t, "scan", url, "--browser", "--json", "--allow-private")), &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 || fs[0].Rule != marketsim.RuleAbsoluteTerm || fs[0].URL != url {
		t.Errorf("browser scan of %s: %+v", url, fs)
	}
}

// Schedules decide what a sweep visits: a target runs when its cron time
// has come since its last sweep, once, and serve finishes due work.
func TestSchedules(t *testing.T) {
	m, base := market(t, 2)
	_ = m
	data := t.TempDir()
	if _, e, code := sw(t, "--data", data, "target", "add", base+"/shop/1/", "--schedule", "61 * * * *"); code != exitUsage || !strings.Contains(e, "61") {
		t.Errorf("bad cron: exit %d, %s", code, e)
	}
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--schedule", "0 3 * * *")
	first := mustSW(t, "--data", data, "--allow-private", "sweep")
	if !strings.Contains(first, "pages done") {
		t.Fatalf("first sweep of a never-swept target: %s", first)
	}
	if out := mustSW(t, "--data", data, "--allow-private", "sweep"); !strings.Contains(out, "no target is due") {
		t.Errorf("second sweep right after: %s", out)
	}
	if out := mustSW(t, "--data", data, "--allow-private", "sweep", "--all"); !strings.Contains(out, "pages done") {
		t.Errorf("sweep --all: %s", out)
	}
	// A target without a schedule is swept by serve once per
	// sweep.default_interval (a day by default), not on every check.
	mustSW(t, "--data", data, "target", "add", base+"/shop/2/")
	out := mustSW(t, "--data", data, "--allow-private", "serve", "--tick", "1s", "--cycles", "2")
	if strings.Count(out, "targets due") != 1 || !strings.Contains(out, "1 targets due") {
		t.Errorf("serve with two checks and the daily default:\n%s", out)
	}
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("sweep:\n  default_interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustSW(t, "--data", data, "--config", cfg, "--allow-private", "serve", "--tick", "1s", "--cycles", "2")
	if strings.Count(out, "1 targets due") != 2 {
		t.Errorf("serve with two checks and default_interval 1s:\n%s", out)
	}
	if _, e, code := sw(t, "--data", data, "serve", "status"); code != exitUsage || !strings.Contains(e, `"status"`) {
		t.Errorf("serve status: exit %d, %s", code, e)
	}
}

// With store kind minio the sweep's evidence lands in a real MinIO server
// (WORM bucket, through the spool) and exports and verifies from there.
func TestSweepIntoMinIO(t *testing.T) {
	mi := testparts.StartMinIO(t)
	_, base := market(t, 3)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "shopwatch.yaml")
	os.WriteFile(cfg, []byte(`store:
  kind: minio
  minio:
    endpoint: "`+mi.Endpoint+`"
    access_key: "`+mi.AccessKey+`"
    secret_key: "`+mi.SecretKey+`"
    bucket: case-evidence
    object_lock: true
    retention_days: 1
`), 0o644)
	data := filepath.Join(dir, "data")
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")
	var sum struct{ Done, Evidence int }
	if err := json.Unmarshal([]byte(mustSW(t, "--config", cfg, "--data", data, "--allow-private", "sweep", "--json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Done == 0 {
		t.Fatalf("sweep did nothing: %+v", sum)
	}
	var recs []struct{ ID string }
	json.Unmarshal([]byte(mustSW(t, "--config", cfg, "--data", data, "evidence", "list", "--json")), &recs)
	if len(recs) != sum.Evidence || len(recs) == 0 {
		t.Fatalf("evidence list %d, sweep said %d", len(recs), sum.Evidence)
	}
	// Nothing is left in the spool once the command has ended.
	if es, _ := os.ReadDir(filepath.Join(data, "spool", "entries")); len(es) != 0 {
		t.Errorf("%d objects still spooled after the sweep", len(es))
	}
	bundle := filepath.Join(dir, "case.zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", recs[0].ID, "-o", bundle)
	if out := mustSW(t, "evidence", "verify", bundle); !strings.Contains(out, "VERIFIED") {
		t.Errorf("verify: %s", out)
	}
}

func TestRulesLintAndTest(t *testing.T) {
	if out := mustSW(t, "rules", "lint"); !strings.Contains(out, "no problems") {
		t.Errorf("lint of the built-in rules: %s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: x.y\n    colour: red\n    severity: fatal\n"), 0o644)
	o, e, code := sw(t, "rules", "lint", bad)
	all := o + e
	if code != exitFailed || !strings.Contains(all, "bad.yaml:3:") || !strings.Contains(all, "colour") || !strings.Contains(all, `"law"`) {
		t.Errorf("lint of a broken file: exit %d\n%s", code, all)
	}
	// A file that loads but shadows one of its patterns: lint names it.
	shadow := filepath.Join(t.TempDir(), "shadow.yaml")
	os.WriteFile(shadow, []byte(`version: 1
rules:
  - id: t.one
    title: {zh: 甲规则, en: Rule A}
    category: test
    law: 《测试法》
    article: 第一条
    penalty: 《测试法》第二条
    severity: violation
    type: terms
    patterns: [甲乙, 丙丁]
    exceptions: [丙 丁]
    examples:
      positive: [x甲乙x]
      negative: [甲乙丙]
`), 0o644)
	o, e, code = sw(t, "rules", "lint", shadow)
	if code != exitFailed || !strings.Contains(o, "shadow.yaml:3:") || !strings.Contains(o, `"丙丁" can never fire`) {
		t.Errorf("lint of a shadowed pattern: exit %d\n%s%s", code, o, e)
	}
	o, _, code = sw(t, "rules", "lint", shadow, "--json")
	if code != exitFailed || !strings.Contains(o, `"ok": false`) || !strings.Contains(o, "can never fire") {
		t.Errorf("lint --json of a shadowed pattern: exit %d\n%s", code, o)
	}
	out := mustSW(t, "rules", "test")
	if !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("rules test: %s", out)
	}
}

// Every capture carries the environment check of its session; a proxy in
// the environment fails it, which stops the session by default. Set
// explicitly, stop_on_environment_failure: false captures anyway, and
// evidence verify reports the failed check of such a capture.
func TestCaptureEnvironment(t *testing.T) {
	_, base := market(t, 2)
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")
	mustSW(t, "--data", data, "target", "add", base+"/shop/2/", "--category", "food")
	mustSW(t, "--data", data, "--allow-private", "sweep")
	var recs []struct{ ID string }
	json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs)
	if len(recs) == 0 {
		t.Fatal("no evidence")
	}
	bundle := filepath.Join(t.TempDir(), "b.zip")
	mustSW(t, "--data", data, "evidence", "export", recs[0].ID, "-o", bundle)
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var env struct {
		OK    bool `json:"ok"`
		Clock struct {
			Source          string `json:"source"`
			Verified        bool   `json:"verified"`
			SelfReferential bool   `json:"self_referential"`
		} `json:"clock"`
	}
	rc, err := zr.Open("environment.json")
	if err != nil {
		t.Fatalf("bundle has no environment.json: %v", err)
	}
	json.NewDecoder(rc).Decode(&env)
	rc.Close()
	// With no external source configured the clock is compared with the
	// built-in authority only: recorded as self-referential, not verified.
	if !env.OK || env.Clock.Verified || !env.Clock.SelfReferential || !strings.HasPrefix(env.Clock.Source, "rfc3161") {
		t.Errorf("environment record: %+v", env)
	}

	if o, e, code := sw(t, "--data", data, "evidence", "verify", bundle); code != exitOK || !strings.Contains(o, "ok   environment environment.json") {
		t.Errorf("verify of a capture whose environment check passed: exit %d\n%s%s", code, o, e)
	}

	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	_, e, code := sw(t, "--data", data, "--allow-private", "sweep", "--all")
	if code != exitFailed || !strings.Contains(e, "HTTPS_PROXY") || !strings.Contains(e, "stop_on_environment_failure: false") {
		t.Errorf("sweep with a proxy: exit %d, %s", code, e)
	}
	if got := evidenceIDs(t, data); len(got) != len(recs) {
		t.Errorf("the stopped session captured: %d captures, %d before", len(got), len(recs))
	}

	// Explicitly allowed, the session captures, and verify reports the
	// failed check of its captures.
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("capture:\n  stop_on_environment_failure: false\n"), 0o644)
	mustSW(t, "--config", cfg, "--data", data, "--allow-private", "sweep", "--all")
	all := evidenceIDs(t, data)
	after := slices.DeleteFunc(slices.Clone(all), func(id string) bool {
		return slices.ContainsFunc(recs, func(r struct{ ID string }) bool { return r.ID == id })
	})
	if len(after) == 0 {
		t.Fatalf("with stop_on_environment_failure: false nothing was captured (%d captures, %d before)", len(all), len(recs))
	}
	t.Setenv("HTTPS_PROXY", "")
	bad := filepath.Join(t.TempDir(), "bad.zip")
	mustSW(t, "--data", data, "evidence", "export", after[0], "-o", bad)
	o, e, code := sw(t, "--data", data, "evidence", "verify", bad)
	if code != exitFailed || !strings.Contains(o, "FAIL environment environment.json") || !strings.Contains(o, "HTTPS_PROXY") || !strings.Contains(e, "environment.json") {
		t.Errorf("verify of a capture whose environment check failed: exit %d\n%s%s", code, o, e)
	}

	// The stopped session planned nothing: no sweep has pending visits.
	out := mustSW(t, "--data", data, "--allow-private", "serve", "--tick", "1s", "--cycles", "1")
	if strings.Contains(out, "resuming sweep") {
		t.Errorf("a stopped session left a planned sweep behind:\n%s", out)
	}
}
