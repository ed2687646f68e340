package server_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/internal/sandbox"
	"shopwatch/internal/testparts"
	"shopwatch/server"
)

// seedFinding records a finding of rule ad.absolute-term on a target of
// jurisdiction j, as a sweep would, and returns its id.
func seedFinding(t *testing.T, d *db.DB, j string) string {
	t.Helper()
	ctx := context.Background()
	tg := shopwatch.Target{URL: "http://127.0.0.1:9/shop/" + j, Kind: shopwatch.KindStorefront, Jurisdiction: j}
	if err := d.AddTarget(ctx, &tg); err != nil {
		t.Fatal(err)
	}
	v := shopwatch.Visit{URL: tg.URL, Kind: tg.Kind, TargetID: tg.ID}
	if _, _, err := d.PlanSweep(ctx, "s", []shopwatch.Visit{v}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	vs, err := d.Lease(ctx, "w", 1, time.Minute)
	if err != nil || len(vs) != 1 {
		t.Fatalf("lease: %v %v", vs, err)
	}
	f := shopwatch.Finding{Rule: "ad.absolute-term", Title: "使用绝对化用语", Category: "advertising", Law: "《广告法》", Article: "第九条第三项",
		Severity: shopwatch.SeverityViolation, Match: "全网第一", Snippet: "本店宝贝全网第一，欢迎选购", URL: tg.URL, TargetID: tg.ID, VisitID: vs[0].ID, Time: time.Now()}
	if err := d.Complete(ctx, vs[0], db.Result{Findings: []shopwatch.Finding{f}}); err != nil {
		t.Fatal(err)
	}
	fs, err := d.ListFindings(ctx, db.Filter{TargetID: tg.ID})
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings: %v %v", fs, err)
	}
	return fs[0].ID
}

// The console end to end, in real headless Chromium against a real
// server: an inspector logs in, sees the finding of their jurisdiction in
// the review queue with the matched text marked, confirms it with one
// click; a viewer sees the queue without the buttons and is refused when
// posting the form anyway; a wrong password is refused on the page.
func TestConsoleInChromium(t *testing.T) {
	chromium := testparts.Chromium(t)
	r := start(t, server.Options{})
	base := r.tcp(t)
	ctx := context.Background()
	mine := seedFinding(t, r.db, "上海市/杨浦区")
	theirs := seedFinding(t, r.db, "上海市/黄浦区")
	for _, p := range []struct {
		name string
		role db.Role
	}{{"检查员", db.RoleInspector}, {"查看员", db.RoleViewer}, {"办案员", db.RoleCaseHandler}} {
		if err := r.db.AddUser(ctx, &db.User{Name: p.name, Role: p.role, Jurisdiction: "上海市/杨浦区"}); err != nil {
			t.Fatal(err)
		}
		hash, err := server.HashPassword("口令 " + p.name + " 123")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.db.SetPasswordHash(ctx, p.name, hash); err != nil {
			t.Fatal(err)
		}
	}

	profile, err := os.MkdirTemp("", "shopwatch-console-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.UserDataDir(profile),
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	sandboxed, err := sandbox.Options(profile)
	if err != nil {
		testparts.Unavailable(t, "Chromium sandbox account", err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(opts, sandboxed...)...)
	t.Cleanup(acancel)
	browser, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// session opens a fresh browser context (its own cookies) and logs in.
	session := func(t *testing.T, name, password string) context.Context {
		t.Helper()
		tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		tctx, tcancel := context.WithTimeout(tab, 60*time.Second)
		t.Cleanup(tcancel)
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#name"), name), chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS("header, #err"))); err != nil {
			t.Fatalf("log in as %s: %v", name, err)
		}
		return tctx
	}
	text := func(t *testing.T, ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	t.Run("wrong password", func(t *testing.T) {
		tctx := session(t, "检查员", "not the password")
		if got := text(t, tctx, "#err"); !strings.Contains(got, "wrong name or password") {
			t.Errorf("login page after a wrong password says %q", got)
		}
	})

	t.Run("inspector confirms", func(t *testing.T) {
		tctx := session(t, "检查员", "口令 检查员 123")
		if got := text(t, tctx, "#new"); got != "1" {
			t.Errorf("dashboard counts %q findings to review, want 1 (their jurisdiction only)", got)
		}
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/console/findings"), chromedp.WaitVisible(chromedp.CSS("#row-"+mine))); err != nil {
			t.Fatal(err)
		}
		marked := text(t, tctx, "#row-"+mine+" mark")
		others, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll("#row-`+theirs+`").length`))
		if err != nil {
			t.Fatal(err)
		}
		if marked != "全网第一" || others != 0 {
			t.Errorf("queue marks %q and shows %d rows of another jurisdiction", marked, others)
		}
		if err := chromedp.Do(tctx, chromedp.SendKeys(chromedp.CSS("#row-"+mine+" input[name=note]"), "标题使用绝对化用语"),
			chromedp.Click(chromedp.CSS("#row-"+mine+" button.confirm")), chromedp.WaitVisible(chromedp.CSS("#msg"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, tctx, "#msg"); !strings.Contains(got, mine+" → confirmed") {
			t.Errorf("after confirm the page says %q", got)
		}
		f, err := r.db.GetFinding(ctx, mine)
		if err != nil || f.Stage != shopwatch.StageConfirmed || len(f.Reviews) != 1 || f.Reviews[0].By != "检查员" || f.Reviews[0].Note != "标题使用绝对化用语" {
			t.Errorf("finding after the click: %+v %v", f, err)
		}
	})

	t.Run("inspector hands over, case handler files a case", func(t *testing.T) {
		tctx := session(t, "检查员", "口令 检查员 123")
		fill := `(() => { const r = document.querySelector("#row-` + mine + `"); r.querySelector("input[name=assignee]").value = "办案员";
			r.querySelector("input[name=due]").value = "2026-12-31"; return r.querySelector("input[name=jurisdiction]").value; })()`
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/console/findings?stage=confirmed"), chromedp.WaitVisible(chromedp.CSS("#row-"+mine))); err != nil {
			t.Fatal(err)
		}
		if j, err := chromedp.Run(tctx, chromedp.Evaluate[string](fill)); err != nil || j != "上海市/杨浦区" {
			t.Fatalf("the hand-over form's jurisdiction is %q (%v), want the inspector's", j, err)
		}
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS("#row-"+mine+" button.lead")), chromedp.WaitVisible(chromedp.CSS("#msg"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, tctx, "#msg"); !strings.Contains(got, mine+" → lead") {
			t.Fatalf("after hand-over the page says %q", got)
		}
		handler := session(t, "办案员", "口令 办案员 123")
		if err := chromedp.Do(handler, chromedp.Navigate(base+"/console/findings?stage=lead"), chromedp.WaitVisible(chromedp.CSS("#row-"+mine)),
			chromedp.SendKeys(chromedp.CSS("#row-"+mine+" input[name=case_no]"), "沪市监杨处〔2026〕9号"),
			chromedp.Click(chromedp.CSS("#row-"+mine+" button.case")), chromedp.WaitVisible(chromedp.CSS("#msg"))); err != nil {
			t.Fatal(err)
		}
		f, err := r.db.GetFinding(ctx, mine)
		if err != nil || f.Stage != shopwatch.StageCase || f.CaseNo != "沪市监杨处〔2026〕9号" || f.Lead == nil || f.Lead.Assignee != "办案员" {
			t.Errorf("finding after hand-over and filing: %+v %v", f, err)
		}
	})

	t.Run("viewer may not", func(t *testing.T) {
		tctx := session(t, "查看员", "口令 查看员 123")
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/console/findings?stage=case"), chromedp.WaitVisible(chromedp.CSS("#row-"+mine))); err != nil {
			t.Fatal(err)
		}
		buttons, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll("td form button").length`))
		if err != nil {
			t.Fatal(err)
		}
		if buttons != 0 {
			t.Errorf("a viewer sees %d review buttons", buttons)
		}
		// The form posted anyway, from the console's own page.
		post := `(() => { const f = document.createElement("form"); f.method = "post"; f.action = "/console/findings/` + mine + `/review";
			for (const [k, v] of [["to", "closed"], ["note", "x"], ["back", "case"]]) { const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i); }
			document.body.appendChild(f); f.submit(); return true; })()`
		if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](post)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS("#err"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, tctx, "#err"); !strings.Contains(got, "not allowed") {
			t.Errorf("a viewer's review says %q", got)
		}
		if f, _ := r.db.GetFinding(ctx, mine); f.Stage != shopwatch.StageCase {
			t.Errorf("a viewer moved the finding to %s", f.Stage)
		}
	})
}

// The tasks page lists the tasks of the person's jurisdiction with their
// totals; the audit page is for admins only, and only they see its link.
func TestConsoleTasksAndAudit(t *testing.T) {
	ctx := context.Background()
	r := start(t, server.Options{})
	base := r.tcp(t)
	seedFinding(t, r.db, "上海市/杨浦区")
	for _, p := range []struct {
		name string
		role db.Role
		j    string
	}{{"检查员", db.RoleInspector, "上海市/杨浦区"}, {"管理员", db.RoleAdmin, ""}} {
		if err := r.db.AddUser(ctx, &db.User{Name: p.name, Role: p.role, Jurisdiction: p.j}); err != nil {
			t.Fatal(err)
		}
		hash, _ := server.HashPassword("口令 " + p.name + " 123")
		if err := r.db.SetPasswordHash(ctx, p.name, hash); err != nil {
			t.Fatal(err)
		}
	}
	mine := &db.Task{Name: "杨浦双十二监测", From: time.Now().Add(-time.Hour), Scope: db.TaskScope{Jurisdiction: "上海市/杨浦区"}}
	theirs := &db.Task{Name: "黄浦专项", From: time.Now().Add(-time.Hour), Scope: db.TaskScope{Jurisdiction: "上海市/黄浦区"}}
	for _, tk := range []*db.Task{mine, theirs} {
		if err := r.db.AddTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	login := func(name string) *http.Client {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.PostForm(base+"/console/login", url.Values{"name": {name}, "password": {"口令 " + name + " 123"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c
	}
	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	inspector := login("检查员")
	code, page := get(inspector, "/console/tasks")
	if code != http.StatusOK || !strings.Contains(page, "杨浦双十二监测") || strings.Contains(page, "黄浦专项") || !strings.Contains(page, `id="task-`+mine.ID+`"><td>`+mine.ID+`</td><td>杨浦双十二监测</td><td></td>`) {
		t.Errorf("the inspector's tasks page: %d\n%s", code, page)
	}
	if strings.Contains(page, `href="/console/audit"`) {
		t.Error("an inspector sees the audit link")
	}
	if code, page := get(inspector, "/console/audit"); code != http.StatusForbidden || strings.Contains(page, "target.added") {
		t.Errorf("the audit page for an inspector: %d", code)
	}
	admin := login("管理员")
	code, page = get(admin, "/console/audit")
	if code != http.StatusOK || !strings.Contains(page, "task.added") || !strings.Contains(page, "target.added") || !strings.Contains(page, `href="/console/audit"`) {
		t.Errorf("the audit page for an admin: %d\n%s", code, page)
	}
	if i, j := strings.Index(page, "task.added"), strings.Index(page, "target.added"); i > j {
		t.Error("the audit page is not newest first")
	}
}

// A bundle uploaded on the verify page is judged by the server's verifier
// and its verdict shown; a damaged one shows its problems; the
// verification is recorded under the person.
func TestConsoleVerify(t *testing.T) {
	ctx := context.Background()
	type problem struct {
		Item  string `json:"item"`
		Check string `json:"check"`
		Error string `json:"error"`
	}
	type view struct {
		OK         bool      `json:"ok"`
		Verdict    string    `json:"verdict"`
		EvidenceID string    `json:"evidence_id"`
		Problems   []problem `json:"problems"`
	}
	verify := func(_ context.Context, r io.ReaderAt, size int64) (any, string, error) {
		rep, err := evidence.VerifyBundleReader(r, size)
		if err != nil {
			return nil, "", err
		}
		v := view{OK: rep.OK(), Verdict: rep.Verdict(), EvidenceID: rep.EvidenceID, Problems: []problem{}}
		for _, p := range rep.Problems {
			v.Problems = append(v.Problems, problem{Item: p.Item, Check: p.Check, Error: p.Err.Error()})
		}
		return v, rep.EvidenceID + " " + rep.Verdict(), nil
	}
	r := start(t, server.Options{Verify: verify})
	base := r.tcp(t)
	if err := r.db.AddUser(ctx, &db.User{Name: "查看员", Role: db.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	hash, _ := server.HashPassword("口令 查看员 123")
	if err := r.db.SetPasswordHash(ctx, "查看员", hash); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/console/login", url.Values{"name": {"查看员"}, "password": {"口令 查看员 123"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	bundle, err := os.ReadFile(filepath.Join("..", "evidence", "testdata", "reference", "bundle.zip"))
	if err != nil {
		t.Fatal(err)
	}
	upload := func(b []byte) (int, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("bundle", "case.zip")
		fw.Write(b)
		mw.Close()
		resp, err := c.Post(base+"/console/verify", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(page)
	}
	code, page := upload(bundle)
	if code != http.StatusOK || !strings.Contains(page, `<h2 id="verdict">SELF-CONSISTENT ONLY</h2>`) || strings.Contains(page, `id="problems"`) {
		t.Errorf("verify page of the reference bundle: %d\n%s", code, page)
	}
	damaged := bytes.Clone(bundle)
	i := bytes.LastIndex(damaged, []byte("report.html")) // its name in the zip's central directory
	damaged[i] ^= 1
	if code, page := upload(damaged); code == http.StatusOK && !strings.Contains(page, "NOT VERIFIED") || code != http.StatusOK && !strings.Contains(page, "not a bundle") {
		t.Errorf("verify page of a damaged bundle: %d\n%s", code, page)
	}
	es, _ := r.db.ListAudit(ctx, 0, 0)
	found := false
	for _, e := range es {
		found = found || e.Action == "evidence.verified" && e.Actor == "查看员" && strings.Contains(e.Detail, "through the console")
	}
	if !found {
		t.Error("the verification is not in the audit log under 查看员")
	}
}
