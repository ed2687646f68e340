package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence"
)

// Every command refuses arguments it does not take, with its usage line
// and exit 2, before it opens or starts anything.
func TestStrayArgumentsAreUsageErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"serve", "status"},
		{"findings", "bogus"},
		{"audit", "list", "x"},
		{"audit", "verify", "x"},
		{"evidence", "list", "x"},
		{"evidence", "ledger", "verify", "x"},
		{"evidence", "export", "ev-1", "ev-2"},
		{"evidence", "verify", "a.zip", "b.zip"},
		{"target", "list", "x"},
		{"target", "add", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"},
		{"target", "import", "a.csv", "b.csv"},
		{"rules", "list", "x"},
		{"rules", "check", "a.html", "b.html"},
		{"scan", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"},
		{"demo", "x"},
		{"marketsim", "x"},
		{"version", "x"},
		{"witness", "init", "x"},
		{"witness", "serve", "x"},
	} {
		_, e, code := sw(t, append([]string{"--data", data}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, code, exitUsage, e)
			continue
		}
		if args[0] != "version" && !strings.Contains(e, "usage: shopwatch "+args[0]) {
			t.Errorf("%v: stderr has no usage line: %q", args, e)
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("a command with a stray argument created the data directory")
	}
	// A missing argument is a usage error too.
	for _, args := range [][]string{{"target", "add"}, {"scan"}, {"evidence", "export"}, {"evidence", "verify"}} {
		if _, e, code := sw(t, args...); code != exitUsage || !strings.Contains(e, "usage: shopwatch "+strings.Join(args, " ")) {
			t.Errorf("%v: exit %d, stderr %q", args, code, e)
		}
	}
}

func TestHelpAndNoCommand(t *testing.T) {
	o, e, code := sw(t)
	if code != exitUsage || o != "" || !strings.Contains(e, "Commands:") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q; want help on stderr and exit 2", code, o, e)
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		if o, _, code := sw(t, args...); code != exitOK || !strings.Contains(o, "Commands:") {
			t.Errorf("%v: exit %d, %q", args, code, o)
		}
	}
	// Groups list their verbs with a one-line summary each.
	for group, verbs := range map[string][]string{
		"target":          {"add", "import", "list"},
		"evidence":        {"list", "export", "verify", "ledger"},
		"audit":           {"list", "verify"},
		"rules":           {"check", "list", "lint", "test"},
		"evidence ledger": {"verify"},
		"keys":            {"show", "rotate", "encrypt", "pkcs11-init"},
	} {
		o, e, code := sw(t, append(strings.Fields(group), "-h")...)
		if code != exitOK || e != "" {
			t.Errorf("%s -h: exit %d, stderr %q", group, code, e)
		}
		for _, v := range verbs {
			line := ""
			for _, l := range strings.Split(o, "\n") {
				if f := strings.Fields(l); len(f) > 1 && f[0] == v {
					line = l
				}
			}
			if line == "" {
				t.Errorf("%s -h does not list %s with a summary:\n%s", group, v, o)
			}
		}
	}
	// A command's -h prints its usage once, on standard output, exit 0,
	// and lists only the global flags that mean something for it.
	for _, tc := range []struct {
		args       []string
		want, not  []string
		helpPrefix string
	}{
		{[]string{"scan", "-h"}, []string{"-browser", "--allow-private"}, []string{"--data DIR"}, "Usage: shopwatch scan"},
		{[]string{"rules", "check", "-h"}, []string{"-category"}, []string{"--allow-private", "--data DIR"}, "Usage: shopwatch rules check"},
		{[]string{"audit", "list", "--help"}, []string{"--data DIR", "-json"}, []string{"--allow-private"}, "Usage: shopwatch audit list"},
		{[]string{"help", "evidence", "verify"}, []string{"-tsa-root"}, []string{"--allow-private"}, "Usage: shopwatch evidence verify"},
	} {
		o, e, code := sw(t, tc.args...)
		if code != exitOK || e != "" || strings.Count(o, "Usage:") != 1 || !strings.HasPrefix(o, tc.helpPrefix) {
			t.Errorf("%v: exit %d, stderr %q, stdout:\n%s", tc.args, code, e, o)
		}
		for _, w := range tc.want {
			if !strings.Contains(o, w) {
				t.Errorf("%v: usage lacks %s:\n%s", tc.args, w, o)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(o, n) {
				t.Errorf("%v: usage lists %s, which means nothing there:\n%s", tc.args, n, o)
			}
		}
	}
}

// pageServer serves fixed pages on loopback for the test's lifetime.
func pageServer(t *testing.T, pages map[string]func(w http.ResponseWriter)) string {
	t.Helper()
	mux := http.NewServeMux()
	for path, h := range pages {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { h(w) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func htmlPage(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// A page that could not be checked is an error (exit 3 naming why), never
// "0 findings"; --fail-on-findings makes findings exit 1.
func TestScanExitCodes(t *testing.T) {
	food := `<html><head><title>牛肉干 食品</title></head><body><p>全网最佳口碑，坚持食用可治疗糖尿病。</p></body></html>`
	base := pageServer(t, map[string]func(http.ResponseWriter){
		"/ok":  htmlPage(200, food),
		"/404": htmlPage(404, food),
		"/500": htmlPage(500, "<html><body>oops</body></html>"),
		"/pdf": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/pdf")
			io.WriteString(w, "%PDF-1.4 not a page")
		},
		"/big": htmlPage(200, "<html><body>"+strings.Repeat("最佳", 4000)+"</body></html>"),
	})
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("crawler:\n  max_body_size: 4096\n"), 0o644)
	for path, want := range map[string]string{"/404": "404", "/500": "500", "/pdf": "not html", "/big": "body too large"} {
		o, e, code := sw(t, "--config", cfg, "--allow-private", "scan", base+path)
		if code != exitRuntime || !strings.Contains(e, want) || !strings.Contains(e, "not checked") || strings.Contains(o, "findings") {
			t.Errorf("scan %s: exit %d, stdout %q, stderr %q; want exit 3 naming %q", path, code, o, e, want)
		}
	}
	if o := mustSW(t, "--allow-private", "scan", base+"/ok"); !strings.Contains(o, "ad.absolute-term") {
		t.Errorf("scan of a good page: %s", o)
	}
	if _, _, code := sw(t, "--allow-private", "scan", base+"/ok", "--fail-on-findings"); code != exitFailed {
		t.Errorf("scan --fail-on-findings of a page with findings: exit %d, want 1", code)
	}
	page := filepath.Join(t.TempDir(), "p.html")
	os.WriteFile(page, []byte(food), 0o644)
	if _, _, code := sw(t, "rules", "check", page, "--fail-on-findings"); code != exitFailed {
		t.Errorf("rules check --fail-on-findings: exit %d, want 1", code)
	}
	clean := filepath.Join(t.TempDir(), "clean.txt")
	os.WriteFile(clean, []byte("普通的商品介绍"), 0o644)
	if _, _, code := sw(t, "rules", "check", clean, "--fail-on-findings"); code != exitOK {
		t.Errorf("rules check --fail-on-findings without findings: exit %d, want 0", code)
	}
}

// sweptData returns a data directory holding one sweep of a one-shop
// market (targets, findings, evidence, audit entries) and a bundle of its
// first evidence record.
func sweptData(t *testing.T) (data, bundle, base string) {
	t.Helper()
	_, base = market(t, 1)
	data = t.TempDir()
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--category", "food", "--platform", "淘宝", "--jurisdiction", "杭州市西湖区")
	mustSW(t, "--data", data, "--allow-private", "sweep")
	var recs []struct{ ID string }
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs); err != nil || len(recs) == 0 {
		t.Fatalf("no evidence after the sweep: %v", err)
	}
	bundle = filepath.Join(t.TempDir(), "case.zip")
	mustSW(t, "--data", data, "evidence", "export", recs[0].ID, "-o", bundle, "--no-pdf")
	return data, bundle, base
}

var snakeKey = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// checkJSONConvention fails unless every key in doc is snake_case, every
// string that looks like a time is RFC 3339 with an offset, and no value is
// an empty object standing for an error.
func checkJSONConvention(t *testing.T, what, doc string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Errorf("%s: not JSON: %v\n%s", what, err, doc)
		return
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !snakeKey.MatchString(k) {
					t.Errorf("%s: key %q at %s is not snake_case", what, k, path)
				}
				if m, ok := e.(map[string]any); ok && len(m) == 0 && (k == "error" || k == "err") {
					t.Errorf("%s: error at %s.%s is an empty object", what, path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if len(x) >= 19 && x[4] == '-' && x[7] == '-' && x[10] == 'T' {
				if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
					t.Errorf("%s: time %q at %s is not RFC 3339 with offset", what, x, path)
				}
			}
		}
	}
	walk("$", v)
}

// JSON is one convention, and every list, verify and check command has
// --json.
func TestJSONConvention(t *testing.T) {
	data, bundle, _ := sweptData(t)
	tampered := filepath.Join(t.TempDir(), "tampered.zip")
	flipByte(t, bundle, tampered, "page.html")
	page := filepath.Join(t.TempDir(), "p.html")
	os.WriteFile(page, []byte(`<html><body>全网最佳</body></html>`), 0o644)
	for _, args := range [][]string{
		{"target", "list"},
		{"evidence", "list"},
		{"evidence", "verify", bundle},
		{"evidence", "verify", tampered},
		{"evidence", "ledger", "verify"},
		{"audit", "list"},
		{"audit", "verify"},
		{"rules", "list"},
		{"rules", "check", page},
		{"rules", "lint"},
		{"rules", "test"},
		{"findings"},
	} {
		o, e, code := sw(t, append(append([]string{"--data", data}, args...), "--json")...)
		if code != exitOK && code != exitFailed {
			t.Errorf("%v --json: exit %d, %s", args, code, e)
			continue
		}
		checkJSONConvention(t, strings.Join(args, " "), o)
	}
	o, _, code := sw(t, "evidence", "verify", tampered, "--json")
	var rep struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Item  string `json:"item"`
			Error string `json:"error"`
		} `json:"problems"`
		CaptureProblem string `json:"capture_problem"`
	}
	if err := json.Unmarshal([]byte(o), &rep); err != nil || code != exitFailed || rep.OK || len(rep.Problems) == 0 ||
		rep.Problems[0].Error == "" || !strings.Contains(o, "page.html") || rep.CaptureProblem != string(evidence.ProblemDamaged) {
		t.Errorf("verify --json of a tampered bundle: exit %d, %v, %+v", code, err, rep)
	}
}

// Human tables have a header row, show times in the configured zone
// (Asia/Shanghai by default) and line Chinese text up by display width.
func TestTablesLocalTimeAndCJK(t *testing.T) {
	data, _, _ := sweptData(t)
	var recs []struct {
		ID         string    `json:"id"`
		CapturedAt time.Time `json:"captured_at"`
	}
	json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &recs)
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	out := mustSW(t, "--data", data, "evidence", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "CAPTURED (Asia/Shanghai)") {
		t.Errorf("evidence list header: %q", lines[0])
	}
	if want := recs[0].CapturedAt.In(shanghai).Format("2006-01-02 15:04:05"); !strings.Contains(out, want) {
		t.Errorf("evidence list does not show the capture time in Asia/Shanghai (%s):\n%s", want, out)
	}
	cfg := filepath.Join(t.TempDir(), "utc.yaml")
	os.WriteFile(cfg, []byte("timezone: UTC\n"), 0o644)
	out = mustSW(t, "--config", cfg, "--data", data, "evidence", "list")
	if want := recs[0].CapturedAt.UTC().Format("2006-01-02 15:04:05"); !strings.Contains(out, want) || !strings.Contains(out, "(UTC)") {
		t.Errorf("with timezone UTC, evidence list does not show %s:\n%s", want, out)
	}
	os.WriteFile(cfg, []byte("timezone: Mars/Olympus\n"), 0o644)
	if _, e, code := sw(t, "--config", cfg, "--data", data, "evidence", "list"); code != exitUsage || !strings.Contains(e, "Mars/Olympus") || !strings.Contains(e, "timezone") {
		t.Errorf("unknown timezone: exit %d, %s", code, e)
	}
	// The audit log shows local times and a header too.
	if out := mustSW(t, "--data", data, "audit", "list"); !strings.HasPrefix(out, "SEQ ") || !strings.Contains(out, "TIME (Asia/Shanghai)") {
		t.Errorf("audit list:\n%s", out)
	}
	// A column of Chinese text lines up by display width: the cell after it
	// starts at the same terminal column on every row.
	var b strings.Builder
	tw := newTable(&b)
	fmt.Fprintln(tw, "PLATFORM\tJURISDICTION\tURL")
	fmt.Fprintln(tw, "淘宝\t杭州市西湖区\thttp://a/")
	fmt.Fprintln(tw, "jd\tＮＯ．１ 区\thttp://b/")
	fmt.Fprintln(tw, "拼多多 shop\t-\thttp://c/")
	tw.Flush()
	col := -1
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		i := strings.Index(l, "http://")
		if strings.HasPrefix(l, "PLATFORM") {
			i = strings.Index(l, "URL")
		}
		c := displayWidth(l[:i])
		if col >= 0 && c != col {
			t.Errorf("URL column starts at %d, want %d:\n%s", c, col, b.String())
		}
		col = c
	}
}

func TestParseSince(t *testing.T) {
	a := &app{}
	now := time.Date(2026, 6, 18, 12, 0, 0, 0, time.UTC)
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for in, want := range map[string]time.Time{
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"24h":                       now.Add(-24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"2026-06-01":                time.Date(2026, 6, 1, 0, 0, 0, 0, shanghai),
		"2026-06-01 09:30":          time.Date(2026, 6, 1, 9, 30, 0, 0, shanghai),
		"2026-06-01T09:30:00+02:00": time.Date(2026, 6, 1, 7, 30, 0, 0, time.UTC),
	} {
		got, err := a.parseSince("since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"7x", "yesterday", "2026-13-01"} {
		if _, err := a.parseSince("since", in, now); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("parseSince(%q): %v, want an error naming it", in, err)
		}
	}
}

// evidence list --since --target and audit list --since --actor filter;
// an unknown target is an error naming it.
func TestListFilters(t *testing.T) {
	data, _, base := sweptData(t)
	type rec struct {
		ID       string `json:"id"`
		TargetID string `json:"target_id"`
	}
	list := func(args ...string) []rec {
		t.Helper()
		var rs []rec
		if err := json.Unmarshal([]byte(mustSW(t, append([]string{"--data", data, "evidence", "list", "--json"}, args...)...)), &rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	all := list()
	if len(all) == 0 {
		t.Fatal("no evidence")
	}
	tid := all[0].TargetID
	for _, args := range [][]string{{"--since", "1h"}, {"--since", "7d"}, {"--target", tid}, {"--target", base + "/shop/1/"}, {"--since", "2000-01-01", "--target", tid}} {
		if got := list(args...); len(got) != len(all) {
			t.Errorf("evidence list %v: %d records, want %d", args, len(got), len(all))
		}
	}
	if got := list("--since", time.Now().Add(time.Hour).Format(time.RFC3339)); len(got) != 0 {
		t.Errorf("evidence list --since an hour ahead: %d records", len(got))
	}
	for _, ref := range []string{"t-nope", "http://127.0.0.1:9/elsewhere"} {
		if _, e, code := sw(t, "--data", data, "evidence", "list", "--target", ref); code != exitUsage || !strings.Contains(e, ref) {
			t.Errorf("evidence list --target %s: exit %d, %s", ref, code, e)
		}
	}
	if _, e, code := sw(t, "--data", data, "evidence", "list", "--since", "last week"); code != exitUsage || !strings.Contains(e, "last week") {
		t.Errorf("evidence list --since 'last week': exit %d, %s", code, e)
	}

	type entry struct {
		Actor  string    `json:"actor"`
		Action string    `json:"action"`
		Time   time.Time `json:"time"`
	}
	audit := func(args ...string) []entry {
		t.Helper()
		var es []entry
		if err := json.Unmarshal([]byte(mustSW(t, append([]string{"--data", data, "audit", "list", "--json"}, args...)...)), &es); err != nil {
			t.Fatal(err)
		}
		return es
	}
	es := audit()
	byActor := map[string]int{}
	for _, e := range es {
		byActor[e.Actor]++
	}
	for actor, n := range byActor {
		got := audit("--actor", actor, "--since", "24h")
		if len(got) != n {
			t.Errorf("audit list --actor %q: %d entries, want %d", actor, len(got), n)
		}
		for _, e := range got {
			if e.Actor != actor {
				t.Errorf("audit list --actor %q lists an entry of %q", actor, e.Actor)
			}
		}
	}
	if got := audit("--actor", "nobody-such"); len(got) != 0 {
		t.Errorf("audit list --actor nobody-such: %d entries", len(got))
	}
	if got := audit("--since", "2099-01-01"); len(got) != 0 {
		t.Errorf("audit list --since 2099-01-01: %d entries", len(got))
	}
}

// An unknown category is refused wherever one is given; scan, rules check
// and sweep judge the same page under the same category, detected from the
// page when none is given.
func TestCategories(t *testing.T) {
	data := t.TempDir()
	page := filepath.Join(t.TempDir(), "p.html")
	os.WriteFile(page, []byte("<html><body>x</body></html>"), 0o644)
	csvFile := filepath.Join(t.TempDir(), "t.csv")
	os.WriteFile(csvFile, []byte("url,category\nhttp://127.0.0.1:9/a,fod\n"), 0o644)
	for _, args := range [][]string{
		{"target", "add", "http://127.0.0.1:9/a", "--category", "fod"},
		{"target", "import", csvFile},
		{"scan", "http://127.0.0.1:9/a", "--category", "fod"},
		{"rules", "check", page, "--category", "fod"},
	} {
		_, e, code := sw(t, append([]string{"--data", data}, args...)...)
		want := exitUsage
		if args[1] == "import" {
			// A problem inside an import file is named with its line and
			// exits 1, like every other problem in the file.
			want = exitFailed
			if !strings.Contains(e, csvFile+":2:") {
				t.Errorf("%v: stderr %q does not name the line", args, e)
			}
		}
		if code != want || !strings.Contains(e, `"fod"`) || !strings.Contains(e, "food") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming fod and the known categories", args, code, e, want)
		}
	}
	// The refused commands stored nothing: not even a database was made.
	if _, err := os.Stat(filepath.Join(data, "shopwatch.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused commands left a database (stat: %v)", err)
	}
	// Case does not matter.
	mustSW(t, "--data", data, "target", "add", "http://127.0.0.1:9/b", "--category", "Food")

	// One food page without a category: every path detects food and cites
	// the food law for the medical claim.
	food := `<html><head><title>手工牛肉干 休闲食品 零食</title></head><body><h1>牛肉干</h1><p>坚持食用可治疗糖尿病。</p></body></html>`
	base := pageServer(t, map[string]func(http.ResponseWriter){"/item/1": htmlPage(200, food)})
	os.WriteFile(page, []byte(food), 0o644)
	rulesOf := func(doc string) string {
		t.Helper()
		var fs []struct{ Rule, Law, Article string }
		if err := json.Unmarshal([]byte(doc), &fs); err != nil {
			t.Fatalf("%v: %s", err, doc)
		}
		var out []string
		for _, f := range fs {
			out = append(out, f.Rule+" "+f.Law+f.Article)
		}
		sort.Strings(out)
		return strings.Join(out, "; ")
	}
	fromCheck := rulesOf(mustSW(t, "rules", "check", page, "--json"))
	fromScan := rulesOf(mustSW(t, "--allow-private", "scan", base+"/item/1", "--json"))
	sweepData := t.TempDir()
	mustSW(t, "--data", sweepData, "target", "add", base+"/item/1", "--kind", "product")
	mustSW(t, "--data", sweepData, "--allow-private", "sweep")
	fromSweep := rulesOf(mustSW(t, "--data", sweepData, "findings", "--json"))
	if !strings.Contains(fromCheck, "食品安全法") || fromCheck != fromScan || fromScan != fromSweep {
		t.Errorf("the same food page judged differently:\nrules check: %s\nscan:        %s\nsweep:       %s", fromCheck, fromScan, fromSweep)
	}
	if out := mustSW(t, "--allow-private", "scan", base+"/item/1"); !strings.Contains(out, "category: food (detected") {
		t.Errorf("scan does not say it detected the category:\n%s", out)
	}
}

// target add refuses ports out of range and depths above the maximum,
// strips credentials (never stored, logged or audited) and treats URLs that
// differ only in tracking parameters as one target.
func TestTargetAddChecks(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"http://127.0.0.1:70000/shop"}, "70000"},
		{[]string{"http://127.0.0.1:9/shop", "--depth", "6"}, "maximum of 5"},
	} {
		_, e, code := sw(t, append([]string{"--data", data, "target", "add"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(e, tc.want) {
			t.Errorf("target add %v: exit %d, %s; want exit 2 naming %s", tc.args, code, e, tc.want)
		}
	}
	o, e, code := sw(t, "--data", data, "-v", "target", "add", "https://inspector:s3cret@127.0.0.1:9/shop/7")
	if code != exitOK || !strings.Contains(e, "removed the user name and password") || strings.Contains(o+e, "s3cret") {
		t.Errorf("target add with credentials: exit %d, stdout %q, stderr %q", code, o, e)
	}
	for _, args := range [][]string{{"target", "list", "--json"}, {"audit", "list", "--json"}} {
		if out := mustSW(t, append([]string{"--data", data}, args...)...); strings.Contains(out, "s3cret") || strings.Contains(out, "inspector@") {
			t.Errorf("%v shows the credentials:\n%s", args, out)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(data, "shopwatch.db"))
	if strings.Contains(string(raw), "s3cret") {
		t.Error("the database file holds the password")
	}

	mustSW(t, "--data", data, "target", "add", "http://127.0.0.1:9/item?id=42&spm=a21.b")
	for _, dup := range []string{
		"http://127.0.0.1:9/item?id=42",
		"http://127.0.0.1:9/item?spm=zzz&id=42&utm_source=wechat&scm=1.2",
		"HTTP://127.0.0.1:9/item?id=42&utm_campaign=618#reviews",
	} {
		if _, e, code := sw(t, "--data", data, "target", "add", dup); code != exitUsage || !strings.Contains(e, "already exists") {
			t.Errorf("target add %s: exit %d, %s; want a duplicate", dup, code, e)
		}
	}
	mustSW(t, "--data", data, "target", "add", "http://127.0.0.1:9/shop/8")
	if _, e, code := sw(t, "--data", data, "target", "add", "http://127.0.0.1:9/shop/8?"); code != exitUsage || !strings.Contains(e, "already exists") {
		t.Errorf("a bare ? is a new target: exit %d, %s", code, e)
	}
	// Other parameters still tell pages apart.
	mustSW(t, "--data", data, "target", "add", "http://127.0.0.1:9/item?id=43&spm=a21.b")
	// Configurable: with no tracking parameters, spm tells pages apart.
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("targets:\n  tracking_params: []\n"), 0o644)
	mustSW(t, "--config", cfg, "--data", data, "target", "add", "http://127.0.0.1:9/item?id=42&spm=other")
}

// target show, edit, pause, resume and remove; target list shows schedule,
// platform, jurisdiction, last sweep, last status and failures.
func TestTargetLifecycle(t *testing.T) {
	data, _, base := sweptData(t)
	var ts []struct {
		ID           string `json:"id"`
		URL          string `json:"url"`
		Platform     string `json:"platform"`
		Jurisdiction string `json:"jurisdiction"`
		Paused       bool   `json:"paused"`
		Priority     int    `json:"priority"`
		Schedule     string `json:"schedule"`
		LastVisit    *struct {
			State  string `json:"state"`
			Pages  int    `json:"pages"`
			Failed int    `json:"failed"`
		} `json:"last_visit"`
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json")), &ts); err != nil || len(ts) != 1 {
		t.Fatalf("target list: %v %+v", err, ts)
	}
	id := ts[0].ID
	if lv := ts[0].LastVisit; lv == nil || lv.State != "done" || lv.Pages < 2 || lv.Failed != 0 {
		t.Errorf("last visit of the swept target: %+v", lv)
	}
	out := mustSW(t, "--data", data, "target", "list")
	head := strings.SplitN(out, "\n", 2)[0]
	for _, col := range []string{"ID", "SCHEDULE", "PLATFORM", "JURISDICTION", "LAST SWEPT", "LAST STATUS", "FAILED", "URL"} {
		if !strings.Contains(head, col) {
			t.Errorf("target list header lacks %s: %q", col, head)
		}
	}
	if !strings.Contains(out, "淘宝") || !strings.Contains(out, "杭州市西湖区") || !strings.Contains(out, "done") || !strings.Contains(out, "0/") {
		t.Errorf("target list:\n%s", out)
	}
	// show, by id and by URL.
	for _, ref := range []string{id, base + "/shop/1/?spm=x"} {
		if o := mustSW(t, "--data", data, "target", "show", ref); !strings.Contains(o, id) || !strings.Contains(o, "last status") || !strings.Contains(o, "淘宝") {
			t.Errorf("target show %s:\n%s", ref, o)
		}
	}
	if _, e, code := sw(t, "--data", data, "target", "show", "t-nope"); code != exitUsage || !strings.Contains(e, "t-nope") {
		t.Errorf("target show t-nope: exit %d, %s", code, e)
	}
	// edit changes only what is given, checks it, and is audited.
	mustSW(t, "--data", data, "target", "edit", id, "--priority", "7", "--schedule", "0 3 * * *")
	for _, bad := range [][]string{{"--depth", "9"}, {"--category", "fod"}, {"--schedule", "61 * * * *"}, {"--kind", "shop"}, {}} {
		if _, e, code := sw(t, append([]string{"--data", data, "target", "edit", id}, bad...)...); code != exitUsage {
			t.Errorf("target edit %v: exit %d, %s", bad, code, e)
		}
	}
	json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json")), &ts)
	if ts[0].Priority != 7 || ts[0].Schedule != "0 3 * * *" || ts[0].Platform != "淘宝" {
		t.Errorf("after edit: %+v", ts[0])
	}
	// pause: sweeps leave it out, even --all; resume puts it back.
	mustSW(t, "--data", data, "target", "pause", id)
	if o := mustSW(t, "--data", data, "target", "list"); !strings.Contains(o, "paused") {
		t.Errorf("target list does not show the pause:\n%s", o)
	}
	if o, e, code := sw(t, "--data", data, "--allow-private", "sweep", "--all"); code == exitOK && strings.Contains(o, "pages done") {
		t.Errorf("a sweep visited a paused target:\n%s%s", o, e)
	}
	mustSW(t, "--data", data, "target", "resume", id)
	if o := mustSW(t, "--data", data, "--allow-private", "sweep", "--all"); !strings.Contains(o, "pages done") {
		t.Errorf("sweep after resume:\n%s", o)
	}
	// remove: the target goes, its findings and evidence stay, the audit
	// log keeps every step.
	nFindings := strings.Count(mustSW(t, "--data", data, "findings", "--json"), `"rule"`)
	nEvidence := strings.Count(mustSW(t, "--data", data, "evidence", "list", "--json"), `"manifest_key"`)
	mustSW(t, "--data", data, "target", "remove", id)
	if o := mustSW(t, "--data", data, "target", "list", "--json"); strings.TrimSpace(o) != "[]" {
		t.Errorf("target list after remove: %s", o)
	}
	if n := strings.Count(mustSW(t, "--data", data, "findings", "--json"), `"rule"`); n != nFindings || n == 0 {
		t.Errorf("findings after remove: %d, before %d", n, nFindings)
	}
	if n := strings.Count(mustSW(t, "--data", data, "evidence", "list", "--json"), `"manifest_key"`); n != nEvidence || n == 0 {
		t.Errorf("evidence after remove: %d, before %d", n, nEvidence)
	}
	audit := mustSW(t, "--data", data, "audit", "list")
	for _, action := range []string{"target.edited", "target.paused", "target.resumed", "target.deleted"} {
		if !strings.Contains(audit, action) {
			t.Errorf("audit log lacks %s", action)
		}
	}
	if !strings.Contains(audit, "priority=0→7") {
		t.Errorf("audit log does not say what the edit changed:\n%s", audit)
	}
	mustSW(t, "--data", data, "audit", "verify")
	// The URL can be added again.
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/")
}

// A category may be given by a Chinese name of the lexicon: 食品 is food.
func TestCategoryChineseNames(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct{ url, given string }{
		{"http://127.0.0.1:9/a", "食品"},
		{"http://127.0.0.1:9/b", " 保健食品 "},
		{"http://127.0.0.1:9/c", "Cosmetics"},
	} {
		mustSW(t, "--data", data, "target", "add", c.url, "--category", c.given)
	}
	var ts []shopwatch.Target
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json")), &ts); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range ts {
		got[x.URL] = x.Category
	}
	for _, c := range []struct{ url, want string }{
		{"http://127.0.0.1:9/a", "food"}, {"http://127.0.0.1:9/b", "healthfood"}, {"http://127.0.0.1:9/c", "cosmetics"},
	} {
		if got[c.url] != c.want {
			t.Errorf("%s stored with category %q, want %q", c.url, got[c.url], c.want)
		}
	}
	if _, e, code := sw(t, "--data", data, "target", "add", "http://127.0.0.1:9/d", "--category", "食"); code != exitUsage || !strings.Contains(e, `"食"`) {
		t.Errorf("a part of a category name: exit %d, %s", code, e)
	}
}
